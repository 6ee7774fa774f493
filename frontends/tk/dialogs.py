"""The Tk window's forms: the login form, a one-line prompt, and the commands help.

This module owns every place where the window asks the user something. ``LoginForm`` asks for a
nick, a ``host:port``, an optional password (masked; for a registered nick) and whether to use
TLS, checks nick and server before anything is sent, and shows what went wrong (``nick_taken``,
``bad_password``, a refused connection) in place so the user can correct it and retry. The
password goes to the engine only, never to the client config.
``Prompt`` is a small non-modal dialog with one entry (Join…, Set topic…): non-modal because a
modal ``wait_window`` would run a nested event loop inside a menu callback, and because a test can
fill it and press its button like a user. ``PasteDialog`` asks once before a paste of several
lines is sent (``app.client.paste.PasteQuestion``), with Cancel the default for a large one.
``QuitDialog`` asks before quitting drops lines the outbox has not sent
(``app.client.outbox.quit_question``); Cancel is the default, a second Ctrl+Q quits.
``CommandsHelp`` lists the command language from
``app.client.commands.help_lines``, the same text ``/help`` prints. Each of the three is a
``Dialog``: Escape closes it, Return presses the focused button (else the default one), and the
chat window's shortcuts work in it too (``Dialog.forward``): a dialog that asks something is
closed first, as Escape would, so that Ctrl+N never leaves a topic prompt aimed at the room it
has just left; the help stays open, as a reference.
"""

from __future__ import annotations

import contextlib
import functools
import tkinter as tk
from collections.abc import Callable, Collection, Mapping
from tkinter import ttk

from app.client.commands import help_lines
from app.client.outbox import QUIT_DETAIL
from app.client.paste import PasteQuestion
from app.protocol import DEFAULT_PORT, is_valid_nick


def parse_server(text: str) -> tuple[str, int]:
    """``(host, port)`` from ``host``, ``host:port`` or ``[v6]:port``; raises ``ValueError``."""
    text = text.strip()
    if not text:
        raise ValueError("enter the server as host:port")
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            raise ValueError(f"cannot read the server {text!r}: use [address]:port")
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise ValueError("the server needs a host name or address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"the port must be a number from 1 to 65535, not {port!r}")
    return host, int(port)


def fill(entry: ttk.Entry, text: str) -> None:
    """Replace what ``entry`` holds.

    Entries here hold their own text rather than a ``StringVar``: a ``Variable`` unsets itself
    in Tk from ``__del__``, which the garbage collector may run on the engine's thread.
    """
    entry.delete(0, "end")
    entry.insert(0, text)


def format_server(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class LoginForm(ttk.Frame):
    """Nick, server, password and TLS; ``on_connect(nick, host, port, tls, password)`` once nick
    and server are valid (``password`` None when left empty: a guest)."""

    def __init__(
        self,
        master: tk.Misc,
        *,
        nick: str,
        server: str,
        on_connect: Callable[[str, str, int, bool, str | None], None],
        on_quit: Callable[[], None],
        tls: bool = False,
        password: str = "",
    ) -> None:
        super().__init__(master, padding=24)
        self.on_connect = on_connect
        ttk.Label(self, text="Parley", style="Title.TLabel").grid(
            row=0, column=0, columnspan=2, pady=(0, 4)
        )
        ttk.Label(self, text="Sign in to a chat server").grid(
            row=1, column=0, columnspan=2, pady=(0, 16)
        )
        ttk.Label(self, text="Nick").grid(row=2, column=0, sticky="w", padx=(0, 8), pady=4)
        self.nick_entry = ttk.Entry(self, width=28)
        fill(self.nick_entry, nick)
        self.nick_entry.grid(row=2, column=1, sticky="ew", pady=4)
        ttk.Label(self, text="Server").grid(row=3, column=0, sticky="w", padx=(0, 8), pady=4)
        self.server_entry = ttk.Entry(self, width=28)
        fill(self.server_entry, server)
        self.server_entry.grid(row=3, column=1, sticky="ew", pady=4)
        ttk.Label(self, text="Password").grid(row=4, column=0, sticky="w", padx=(0, 8), pady=4)
        self.password_entry = ttk.Entry(self, width=28, show="•")
        fill(self.password_entry, password)
        self.password_entry.grid(row=4, column=1, sticky="ew", pady=4)
        ttk.Label(self, text="only for a registered nick", style="Info.TLabel").grid(
            row=5, column=1, sticky="w"
        )
        # No variable: the check button keeps its state itself (see ``fill`` on Variables).
        self.tls_check = ttk.Checkbutton(
            self, text="TLS: encrypted, the server's certificate verified"
        )
        self.tls_check.state(["!alternate", "selected" if tls else "!selected"])
        self.tls_check.grid(row=6, column=1, sticky="w", pady=4)
        self.message = ttk.Label(self, text="", style="Error.TLabel", wraplength=320)
        self.message.grid(row=7, column=0, columnspan=2, sticky="w", pady=(8, 8))
        buttons = ttk.Frame(self)
        buttons.grid(row=8, column=0, columnspan=2, sticky="e")
        self.quit_button = ttk.Button(buttons, text="Quit", command=on_quit)
        self.quit_button.pack(side="right")
        self.connect_button = ttk.Button(
            buttons, text="Connect", command=self.submit, default="active"
        )
        self.connect_button.pack(side="right", padx=(0, 8))
        self.columnconfigure(1, weight=1)
        for entry in (self.nick_entry, self.server_entry, self.password_entry):
            entry.bind("<Return>", lambda _event: self.submit())
        self.nick_entry.focus_set()
        self.nick_entry.select_range(0, "end")

    def submit(self) -> None:
        nick = self.nick_entry.get().strip()
        if not is_valid_nick(nick):
            self.show_error(
                "A nick is 1-24 letters, digits, _ or -, starting with a letter."
                if nick
                else "Choose a nick."
            )
            self.nick_entry.focus_set()
            return
        try:
            host, port = parse_server(self.server_entry.get())
        except ValueError as exc:
            self.show_error(str(exc).capitalize() + ".")
            self.server_entry.focus_set()
            return
        how = " over TLS" if self.tls else ""
        self.set_busy(f"Connecting to {format_server(host, port)}{how}…")
        self.on_connect(nick, host, port, self.tls, self.password_entry.get() or None)

    @property
    def tls(self) -> bool:
        """Whether the TLS box is ticked."""
        return bool(self.tls_check.instate(["selected"]))

    def set_busy(self, text: str) -> None:
        self.message.configure(text=text, style="Info.TLabel")
        self.connect_button.state(["disabled"])

    def show_error(self, text: str) -> None:
        """Show why the last attempt failed and let the user try again."""
        self.message.configure(text=text, style="Error.TLabel")
        self.connect_button.state(["!disabled"])
        if "password" in text:
            # Wrong, missing or refused in clear text: the password field is where to act.
            self.password_entry.focus_set()
            self.password_entry.select_range(0, "end")


class Dialog(tk.Toplevel):
    """A small window over the chat window, with the keys a user expects of one."""

    # Whether the chat window's shortcuts close the dialog before they act.
    closes_for_shortcuts = True

    def __init__(self, master: tk.Misc, title: str) -> None:
        super().__init__(master)
        self.title(title)
        self.transient(master.winfo_toplevel())
        self.default_button: ttk.Button | None = None
        self.bind("<Escape>", self._escape)
        self.bind("<Return>", self._enter)
        self.bind("<KP_Enter>", self._enter)

    def forward(
        self, shortcuts: Mapping[str, Callable[[], object]], *, keep_open: Collection[str] = ()
    ) -> None:
        """Make the chat window's ``shortcuts`` work while the keyboard is here too. Unless it is
        a key of ``keep_open`` (text size, help), one closes the dialog first; keys the dialog
        binds itself keep their own meaning."""
        for sequence, action in shortcuts.items():
            if not self.bind(sequence):
                closes = self.closes_for_shortcuts and sequence not in keep_open
                self.bind(sequence, functools.partial(self._shortcut, action, closes))

    def _shortcut(self, action: Callable[[], object], closes: bool, _event: object) -> str:
        if closes:
            self.destroy()
        action()
        return "break"

    def _escape(self, _event: object) -> str:
        self.destroy()
        return "break"

    def _enter(self, _event: object) -> str:
        focused: tk.Misc | None = None
        with contextlib.suppress(KeyError):  # focus_get fails on some Tk-internal widgets
            focused = self.focus_get()
        if isinstance(focused, ttk.Button) and focused.winfo_toplevel() is self:
            focused.invoke()
        elif self.default_button is not None:
            self.default_button.invoke()
        return "break"


class Prompt(Dialog):
    """A one-line question; ``on_ok(text)`` when the user presses OK or Enter."""

    def __init__(
        self,
        master: tk.Misc,
        *,
        title: str,
        label: str,
        initial: str = "",
        on_ok: Callable[[str], None],
    ) -> None:
        super().__init__(master, title)
        self.resizable(False, False)
        self.on_ok = on_ok
        frame = ttk.Frame(self, padding=14)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=label).pack(anchor="w")
        self.entry = ttk.Entry(frame, width=40)
        fill(self.entry, initial)
        self.entry.pack(fill="x", pady=(6, 12))
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e")
        self.cancel_button = ttk.Button(buttons, text="Cancel", command=self.destroy)
        self.cancel_button.pack(side="right")
        self.ok_button = ttk.Button(buttons, text="OK", command=self.accept, default="active")
        self.ok_button.pack(side="right", padx=(0, 8))
        self.default_button = self.ok_button
        self.entry.focus_set()
        self.entry.select_range(0, "end")

    def accept(self) -> None:
        text = self.entry.get()
        self.destroy()
        self.on_ok(text)


class PasteDialog(Dialog):
    """Send a paste of several lines? ``on_send()`` when the user says yes."""

    def __init__(
        self, master: tk.Misc, question: PasteQuestion, on_send: Callable[[], None]
    ) -> None:
        super().__init__(master, "Paste")
        self.resizable(False, False)
        self.on_send = on_send
        frame = ttk.Frame(self, padding=14)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=question.title, font="TkHeadingFont").pack(anchor="w")
        ttk.Label(frame, text=question.detail, wraplength=360).pack(anchor="w", pady=(6, 12))
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e")
        self.cancel_button = ttk.Button(buttons, text="Cancel", command=self.destroy)
        self.cancel_button.pack(side="right")
        self.send_button = ttk.Button(
            buttons, text=f"Send {question.count} lines", command=self.accept
        )
        self.send_button.pack(side="right", padx=(0, 8))
        # Enter presses the focused button; for a large paste that is Cancel.
        default = self.cancel_button if question.large else self.send_button
        default.configure(default="active")
        default.focus_set()
        self.default_button = default

    def accept(self) -> None:
        self.destroy()
        self.on_send()


class QuitDialog(Dialog):
    """Quit with lines not sent yet? ``on_quit()`` when the user says yes."""

    def __init__(self, master: tk.Misc, question: str, on_quit: Callable[[], None]) -> None:
        super().__init__(master, "Quit")
        self.resizable(False, False)
        self.on_quit = on_quit
        self.question = question
        frame = ttk.Frame(self, padding=14)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=question, font="TkHeadingFont").pack(anchor="w")
        ttk.Label(frame, text=QUIT_DETAIL, wraplength=360).pack(anchor="w", pady=(6, 12))
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e")
        self.cancel_button = ttk.Button(
            buttons, text="Cancel", command=self.destroy, default="active"
        )
        self.cancel_button.pack(side="right")
        self.quit_button = ttk.Button(buttons, text="Quit anyway", command=self.accept)
        self.quit_button.pack(side="right", padx=(0, 8))
        # What was typed is not dropped by a reflexive Enter; asked again, Ctrl+Q means it.
        self.default_button = self.cancel_button
        self.cancel_button.focus_set()
        self.bind("<Control-q>", lambda _event: self.accept())

    def accept(self) -> None:
        self.destroy()
        self.on_quit()


class CommandsHelp(Dialog):
    """The list of commands, as ``/help`` prints it."""

    closes_for_shortcuts = False  # a reference, read while trying what it says

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master, "Parley commands")
        lines = help_lines(None)
        text = tk.Text(
            self,
            width=max(len(line) for line in lines) + 2,
            height=len(lines) + 1,
            font="TkFixedFont",
            relief="flat",
            padx=12,
            pady=10,
        )
        text.insert("1.0", "\n".join(lines))
        text.configure(state="disabled")
        text.pack(fill="both", expand=True)
        shortcuts = (
            "Enter send · ↑/↓ history · Tab complete · Ctrl+N/Ctrl+P next/previous conversation\n"
            "Alt+1…9 go to conversation · Ctrl+J join · Ctrl+W leave · Ctrl+Q quit\n"
            "↑ in the empty entry: edit your last message (Enter saves, Escape cancels)"
        )
        ttk.Label(self, text=shortcuts, padding=(12, 0, 12, 8)).pack(anchor="w")
        self.close_button = ttk.Button(self, text="Close", command=self.destroy)
        self.close_button.pack(pady=(0, 10))
        self.default_button = self.close_button
        self.text = text
