"""The chat window: layout, menus, shortcuts, status bar, and the engine's events applied per tick.

This module owns the main window once the user is signed in. ``ChatWindow`` lays out the
conversations list, the topic bar, the message view, the members list, the input line and the status
bar, builds the menu bar, the right-click menus (``menus.py``) and the keyboard shortcuts, and is
the Tk side of the ``Frontend`` interface: ``receive`` takes every event the engine queued since the
last tick, applies each to the scrollback mirror, keeps only the newest state snapshot, and then
draws once: one sidebar update and at most one ``Text`` insert of new lines, however many events
arrived. The window never calls the network; every request goes to an ``EngineControl`` (the engine
thread), and the state it shows is the engine's, so the Tk and Textual frontends cannot disagree.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tkinter as tk
from collections.abc import Callable, Iterable
from tkinter import ttk
from typing import Final

from app.client.edits import last_editable
from app.client.events import (
    ConnectionChanged,
    ErrorReported,
    FrontendEvent,
    LineAdded,
    LineUpdated,
    PresenceChanged,
    ScrollbackReset,
    SearchChanged,
    StateChanged,
    TopicChanged,
    unhandled,
)
from app.client.outbox import quit_question, quits
from app.client.paste import PasteQuestion, paste_lines
from app.client.state import (
    DEFAULT_SCROLLBACK,
    ConnectionState,
    ConnectionStatus,
    ConversationKind,
    ConversationView,
    Line,
    StateSnapshot,
)
from frontends.base import EngineControl
from frontends.tk.dialogs import CommandsHelp, Dialog, PasteDialog, Prompt, QuitDialog
from frontends.tk.entry import InputLine
from frontends.tk.menus import ContextMenus
from frontends.tk.messages import MessageView, Scrollbacks
from frontends.tk.newbelow import NewBelow
from frontends.tk.notify import DesktopNotifier
from frontends.tk.render import DEFAULT_TEXT_SIZE, TEXT_SIZES
from frontends.tk.search import SearchDialog
from frontends.tk.sidebar import ConversationList, MemberList

log = logging.getLogger("parley.tk")

APP_NAME: Final = "Parley"
COUNTDOWN_MS: Final = 500
# Shortcuts that leave an open dialog open: they change nothing it is about.
_KEEP_DIALOG_OPEN: Final = frozenset(
    {"<F1>", "<Control-plus>", "<Control-equal>", "<Control-minus>", "<Control-Key-0>"}
)

_STATUS_STYLE: Final = {
    ConnectionState.CONNECTING: "Connecting.Status.TLabel",
    ConnectionState.CONNECTED: "Connected.Status.TLabel",
    ConnectionState.RECONNECTING: "Reconnecting.Status.TLabel",
    ConnectionState.CLOSED: "Closed.Status.TLabel",
}


def describe_status(status: ConnectionStatus, now: float | None = None) -> str:
    """The connection as the status bar says it, with the reconnect countdown."""
    if status.state is ConnectionState.CONNECTED:
        return f"● Connected to {status.server}"
    if status.state is ConnectionState.CONNECTING:
        return f"○ Connecting to {status.server}…"
    if status.state is ConnectionState.RECONNECTING:
        wait = status.retry_in(now)
        when = f"retrying in {wait:.0f} s" if wait is not None and wait > 0 else "retrying now"
        why = f" ({status.detail})" if status.detail else ""
        return f"◌ Disconnected{why}: {when}, attempt {status.attempt}"
    why = f": {status.detail}" if status.detail and status.detail != "quit" else ""
    return f"✕ Closed{why}"


def window_title(state: StateSnapshot | None) -> str:
    """``(unread) #room - nick - Parley``; the unread count is the total over conversations."""
    if state is None:
        return APP_NAME
    unread = sum(view.unread for view in state.conversations)
    active = state.active_view
    parts = [active.name] if active is not None else []
    parts += [state.nick, APP_NAME]
    title = " — ".join(parts)
    return f"({unread}) {title}" if unread else title


class ChatWindow(ttk.Frame):
    """The signed-in window. Only the Tk thread calls anything here."""

    def __init__(
        self,
        master: tk.Tk,
        control: EngineControl,
        *,
        on_connect: Callable[[], None],
        on_quit: Callable[[], None],
        scrollback: int = DEFAULT_SCROLLBACK,
        text_size: int | None = None,
        on_text_size: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(master)
        self.root = master
        self.control = control
        self.on_connect = on_connect
        self.on_quit = on_quit
        self.snapshot: StateSnapshot | None = None
        self.status: ConnectionStatus | None = None
        self.last_error: str | None = None
        self.prompt: Prompt | PasteDialog | QuitDialog | None = None
        self.help: CommandsHelp | None = None
        self.search_dialog: SearchDialog | None = None
        self.scrollbacks = Scrollbacks(scrollback)
        self._next_state: StateSnapshot | None = None
        # Chat lines of the shown conversation added below the view in this batch (None: the
        # view is at the bottom, where they come into sight).
        self._unseen: int | None = None
        self._countdown: str | None = None
        self.notifier = DesktopNotifier(master)
        self.on_text_size = on_text_size
        self._build()
        if text_size is not None:
            self.view.set_text_size(text_size)
        self._build_menu()
        self._bind_shortcuts()
        self.entry.focus_set()

    # --- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        panes = ttk.Panedwindow(self, orient="horizontal")
        self.conversations = ConversationList(panes, self.select)
        middle = ttk.Frame(panes)
        self.members = MemberList(panes)
        panes.add(self.conversations, weight=0)
        panes.add(middle, weight=1)
        panes.add(self.members, weight=0)

        header = ttk.Frame(middle, style="Header.TFrame", padding=(10, 6))
        self.room_label = ttk.Label(header, text="", style="Room.TLabel")
        self.room_label.pack(side="left")
        self.topic_label = ttk.Label(header, text="", style="Topic.TLabel")
        self.topic_label.pack(side="left", padx=(10, 0), fill="x", expand=True)
        header.pack(fill="x")
        self.view = MessageView(middle, self.scrollbacks)
        self.view.on_top = self._load_older
        self.view.pack(fill="both", expand=True)
        self.new_below = NewBelow(self.view)
        self.entry = InputLine(
            middle,
            self.submit,
            lambda: self.snapshot,
            self.ask_paste,
            editable=self._last_editable,
            on_edit=self.control.edit,
            on_mode=self._show_editing,
        )
        self.entry.pack(fill="x", padx=6, pady=6)
        self.edit_hint = ttk.Label(
            middle, text="Editing your message · Enter saves · Escape cancels", style="Info.TLabel"
        )
        self.members.tree.bind("<Double-1>", self._member_chosen)
        self.context_menus = ContextMenus(
            self.members, self.view, lambda: self.snapshot, self.submit
        )

        bar = ttk.Frame(self, style="Status.TFrame", padding=(8, 3))
        self.status_label = ttk.Label(bar, text="", style="Connecting.Status.TLabel")
        self.status_label.pack(side="left")
        self.identity_label = ttk.Label(bar, text="", style="Status.TLabel")
        self.identity_label.pack(side="right")

        # The status bar first: pack gives later slaves only the space that is left.
        bar.pack(fill="x", side="bottom")
        panes.pack(fill="both", expand=True)

    def _build_menu(self) -> None:
        menu = tk.Menu(self.root, tearoff=False)
        parley = tk.Menu(menu, tearoff=False)
        parley.add_command(label="Connect…", accelerator="Ctrl+K", command=self.on_connect)
        parley.add_separator()
        parley.add_command(label="Quit", accelerator="Ctrl+Q", command=self.request_quit)
        room = tk.Menu(menu, tearoff=False)
        room.add_command(label="Join…", accelerator="Ctrl+J", command=self.ask_join)
        room.add_command(label="Leave", accelerator="Ctrl+W", command=self.leave)
        room.add_command(label="Set topic…", accelerator="Ctrl+T", command=self.ask_topic)
        room.add_command(label="Search…", accelerator="Ctrl+F", command=self.ask_search)
        room.add_separator()
        room.add_command(
            label="Next conversation", accelerator="Ctrl+N", command=lambda: self.cycle(1)
        )
        room.add_command(
            label="Previous conversation", accelerator="Ctrl+P", command=lambda: self.cycle(-1)
        )
        view = tk.Menu(menu, tearoff=False)
        view.add_command(
            label="Larger text", accelerator="Ctrl++", command=lambda: self.text_size_by(1)
        )
        view.add_command(
            label="Smaller text", accelerator="Ctrl+-", command=lambda: self.text_size_by(-1)
        )
        view.add_command(label="Normal text size", accelerator="Ctrl+0", command=self.reset_size)
        view.add_separator()
        self.notifications = tk.BooleanVar(self.root, value=True)
        view.add_checkbutton(
            label="Notify on mentions and direct messages",
            variable=self.notifications,
            command=self._toggle_notifications,
        )
        help_menu = tk.Menu(menu, tearoff=False)
        help_menu.add_command(label="Commands", accelerator="F1", command=self.show_help)
        menu.add_cascade(label="Parley", menu=parley, underline=0)
        menu.add_cascade(label="Room", menu=room, underline=0)
        menu.add_cascade(label="View", menu=view, underline=0)
        menu.add_cascade(label="Help", menu=help_menu, underline=0)
        self.menu = menu
        self.menus = {"Parley": parley, "Room": room, "View": view, "Help": help_menu}
        self.root.configure(menu=menu)

    def _bind_shortcuts(self) -> None:
        keys: dict[str, Callable[[], object]] = {
            "<Control-k>": self.on_connect,
            "<Control-q>": self.request_quit,
            "<Control-j>": self.ask_join,
            "<Control-w>": self.leave,
            "<Control-t>": self.ask_topic,
            "<Control-f>": self.ask_search,
            "<Control-n>": lambda: self.cycle(1),
            "<Control-p>": lambda: self.cycle(-1),
            "<F1>": self.show_help,
            "<Control-plus>": lambda: self.text_size_by(1),
            "<Control-equal>": lambda: self.text_size_by(1),
            "<Control-minus>": lambda: self.text_size_by(-1),
            "<Control-Key-0>": self.reset_size,
        }
        for digit in range(1, 10):
            keys[f"<Alt-Key-{digit}>"] = functools.partial(self.go_to, digit - 1)
        # These work in dialogs too (``Dialog.forward``); the view's keys below only here, since
        # in a dialog's entry End and the page keys have their own meaning.
        self.shortcuts = dict(keys)
        keys |= {
            "<Prior>": self.view.page_up,
            "<Next>": self.view.page_down,
            "<End>": self.new_below.jump,
            "<Control-End>": self.new_below.jump,
        }
        for sequence, action in keys.items():
            self.root.bind(sequence, self._shortcut(action))

    @staticmethod
    def _shortcut(action: Callable[[], object]) -> Callable[[tk.Event[tk.Misc]], str]:
        def run(_event: tk.Event[tk.Misc]) -> str:
            action()
            return "break"

        return run

    def destroy(self) -> None:
        if self._countdown is not None:
            self.after_cancel(self._countdown)
            self._countdown = None
        for sequence in self.root.bind():
            self.root.unbind(sequence)
        self.root.configure({"menu": ""})
        self.notifier.close()
        super().destroy()

    # --- the engine's events, one batch per tick ----------------------------------------------

    def receive(self, events: Iterable[FrontendEvent]) -> None:
        """Apply every queued engine event, then draw once."""
        # Scrolled back, the view stays where it is: what arrives now is out of sight.
        self._unseen = None if self.view.at_bottom() else 0
        for event in events:
            self._apply(event)
        if self._next_state is not None:
            state, self._next_state = self._next_state, None
            self._apply_state(state)
        self.view.flush()
        if self._unseen:
            self.new_below.arrived(self._unseen)

    def _apply(self, event: FrontendEvent) -> None:
        match event:
            case StateChanged(state):
                # Only the newest snapshot of a batch is drawn; the ones before it are stale.
                self._next_state = state
            case LineAdded(conversation, line):
                self.scrollbacks.append(conversation, line)
                self.view.appended(conversation)
                if self._unseen is not None and conversation == self.view.key and line.is_chat:
                    self._unseen += 1
                self._maybe_notify(conversation, line)
            case LineUpdated(conversation, line):
                if self.scrollbacks.update(conversation, line) is not None:
                    self.view.updated(conversation, line)
            case ScrollbackReset(conversation, lines, _active, marker):
                # Every conversation is mirrored, so ``active`` is not needed: the next snapshot
                # says which one the view shows. The view goes first: it reads the old mirror to
                # keep the reader's place.
                self.view.reset(conversation)
                self.scrollbacks.reset(conversation, lines, marker)
            case PresenceChanged(change):
                # Members and away flags arrive in the next state snapshot; the line is in the log.
                log.debug("presence %s %s in %s", change.event, change.nick, change.conversation)
            case TopicChanged(conversation, _topic, by):
                log.debug("topic of %s set by %s", conversation, by)
            case ConnectionChanged(status):
                self.status = status
                self._show_status()
            case ErrorReported(text, conversation):
                self.last_error = text
                if conversation is None:
                    # Nowhere in the log to put it (no conversation yet): the status bar says it.
                    self.status_label.configure(text=f"⚠ {text}", style="Closed.Status.TLabel")
            case SearchChanged(search):
                self.ask_search().show(search)
            case _:
                unhandled(event)

    # --- drawing the state --------------------------------------------------------------------

    def _apply_state(self, state: StateSnapshot) -> None:
        previous = self.snapshot
        self.snapshot = state
        if previous is not None:
            gone = {view.key for view in previous.conversations}
            gone -= {view.key for view in state.conversations}
            self.scrollbacks.forget(gone)
        if previous is not None and previous.active != state.active:
            self.entry.stop_editing()
        if state.active != self.view.key:
            # Another conversation is drawn from its bottom; what came below the last one is
            # in its unread count.
            self._unseen = None
            self.new_below.reset()
        self.view.show(state.active)
        self.conversations.update_views(state.conversations, state.active)
        active = state.active_view
        self._show_active(active, state.nick)
        self.identity_label.configure(
            text=f"{state.nick}{' (away)' if state.away is not None else ''} @ {state.server}"
        )
        self.root.title(window_title(state))
        if self.status != state.connection or previous is None or previous.outbox != state.outbox:
            self.status = state.connection
            self._show_status()

    def _show_active(self, active: ConversationView | None, nick: str) -> None:
        if active is None:
            self.room_label.configure(text="")
            self.topic_label.configure(text="Join a room with /join #room (Ctrl+J)")
            self.members.update_members((), nick)
            return
        self.room_label.configure(text=active.name)
        if active.kind is ConversationKind.DIRECT:
            self.topic_label.configure(text="direct messages")
            self.members.update_members((), nick)
        else:
            topic = active.topic or "no topic (Ctrl+T sets one)"
            self.topic_label.configure(text=f"{topic}  (locked)" if active.locked else topic)
            self.members.update_members(active.members, nick)

    def _show_status(self) -> None:
        status = self.status
        if status is None:
            return
        text = describe_status(status)
        queued = self.snapshot.outbox if self.snapshot is not None else 0
        if queued:
            text += f"  ·  {queued} waiting to send (/cancel)"
        self.status_label.configure(text=text, style=_STATUS_STYLE[status.state])
        waiting = status.state is ConnectionState.RECONNECTING and status.retry_at is not None
        if waiting and self._countdown is None:
            self._countdown = self.after(COUNTDOWN_MS, self._tick_countdown)

    def _tick_countdown(self) -> None:
        self._countdown = None
        self._show_status()

    def status_text(self) -> str:
        return str(self.status_label.cget("text"))

    # --- what the user asks -------------------------------------------------------------------

    def submit(self, text: str) -> None:
        if text.strip() and not text.startswith("/"):
            # As in the terminal: what we say is shown where it goes, at the bottom.
            self.new_below.jump()
        if quits(text) and self._ask_before_quitting(lambda: self.control.submit(text)):
            return
        self.control.submit(text)

    def _last_editable(self) -> Line | None:
        """Our last message in the conversation shown that may be edited (Up edits it)."""
        active = self.snapshot.active if self.snapshot is not None else None
        return last_editable(self.scrollbacks.lines(active)) if active else None

    def _show_editing(self, editing: bool) -> None:
        if editing:
            self.edit_hint.pack(fill="x", padx=6, before=self.entry)
        else:
            self.edit_hint.pack_forget()

    def request_quit(self) -> None:
        """Ctrl+Q, Parley > Quit or closing the window: quit, asking first if lines wait to be
        sent; asked already, this is the answer "quit anyway"."""
        if isinstance(self.prompt, QuitDialog) and self.prompt.winfo_exists():
            self.prompt.accept()
        elif not self._ask_before_quitting(self.on_quit):
            self.on_quit()

    def _ask_before_quitting(self, on_quit: Callable[[], None]) -> bool:
        """Ask whether to quit if the outbox holds lines; whether it asked."""
        question = quit_question(self.snapshot.unsent if self.snapshot is not None else 0)
        if question is None:
            return False
        if self.prompt is not None and self.prompt.winfo_exists():
            self.prompt.destroy()
        self.prompt = QuitDialog(self, question, on_quit)
        self._opened(self.prompt)
        return True

    def select(self, key: str) -> None:
        if self.snapshot is None or key != self.snapshot.active:
            self.control.switch_to(key)
        self.entry.focus_set()

    def _keys(self) -> list[str]:
        return [view.key for view in self.snapshot.conversations] if self.snapshot else []

    def cycle(self, step: int) -> None:
        keys = self._keys()
        if not keys or self.snapshot is None:
            return
        here = keys.index(self.snapshot.active) if self.snapshot.active in keys else 0
        self.select(keys[(here + step) % len(keys)])

    def go_to(self, index: int) -> None:
        keys = self._keys()
        if index < len(keys):
            self.select(keys[index])

    def leave(self) -> None:
        self.control.submit("/part")

    def _load_older(self) -> None:
        active = self.snapshot.active_view if self.snapshot is not None else None
        if active is not None and active.has_older:
            self.control.load_older(active.key)

    def _member_chosen(self, _event: object) -> None:
        selection = self.members.tree.selection()
        nick = self.members.nick_at(selection[0]) if selection else None
        if nick is not None:
            self.control.submit(f"/msg {nick}")  # opens the direct conversation, sends nothing
            self.entry.focus_set()

    def _ask(self, title: str, label: str, initial: str, on_ok: Callable[[str], None]) -> None:
        if self.prompt is not None and self.prompt.winfo_exists():
            self.prompt.destroy()
        self.prompt = Prompt(self, title=title, label=label, initial=initial, on_ok=on_ok)
        self._opened(self.prompt)

    # --- text size and notifications ---------------------------------------------------------

    def text_size_by(self, step: int) -> None:
        size = self.view.text_size + step
        if size in TEXT_SIZES:
            self.view.set_text_size(size)
            if self.on_text_size is not None:
                self.on_text_size(size)

    def reset_size(self) -> None:
        self.text_size_by(DEFAULT_TEXT_SIZE - self.view.text_size)

    def _toggle_notifications(self) -> None:
        self.notifier.enabled = bool(self.notifications.get())

    def _maybe_notify(self, conversation: str, line: Line) -> None:
        """A mention or a direct message the user is not looking at: tell the desktop."""
        direct = not conversation.startswith("#")
        if not line.is_chat or line.own or not (line.mention or direct):
            return
        looking = self.root.focus_displayof() is not None and self.view.key == conversation
        if looking:
            return
        where = f"{line.sender} in {conversation}" if not direct else f"{line.sender} (direct)"
        self.notifier.notify(where, line.text)

    def ask_paste(self, text: str) -> None:
        """A paste of several lines: ask once, then one message per line."""
        active = self.snapshot.active_view if self.snapshot is not None else None
        lines = paste_lines(text)
        if active is None or not lines:
            return
        where = active.name if active.kind is ConversationKind.ROOM else f"@{active.name}"
        key = active.key

        def send() -> None:
            if self.snapshot is not None and self.snapshot.active == key:
                self.control.paste(lines)

        if self.prompt is not None and self.prompt.winfo_exists():
            self.prompt.destroy()
        self.prompt = PasteDialog(self, PasteQuestion(len(lines), where), send)
        self._opened(self.prompt)

    def ask_join(self) -> None:
        def join(room: str) -> None:
            if room.strip():
                self.control.submit(f"/join {room.strip()}")

        self._ask("Join a room", "Room to join (created if new):", "#", join)

    def ask_topic(self) -> None:
        active = self.snapshot.active_view if self.snapshot is not None else None
        if active is None or active.kind is not ConversationKind.ROOM:
            self.control.submit("/topic")  # the engine explains why there is nothing to set
            return

        def set_topic(topic: str) -> None:
            if topic.strip():
                self.control.submit(f"/topic {topic.strip()}")

        self._ask(f"Topic of {active.name}", "New topic:", active.topic, set_topic)

    def ask_search(self) -> SearchDialog:
        """The search dialog (Ctrl+F), opened or brought to the front with today's rooms."""
        views = self.snapshot.conversations if self.snapshot is not None else ()
        rooms = [v.name for v in views if v.kind is ConversationKind.ROOM and v.joined]
        dialog = self.search_dialog
        if dialog is None or not dialog.winfo_exists():
            dialog = SearchDialog(
                self.root,
                rooms=rooms,
                on_search=self.control.search,
                on_jump=self.control.jump_to_result,
                on_more=self.control.search_more,
            )
            self.search_dialog = dialog
        else:
            dialog.set_rooms(rooms)
            dialog.lift()
        return dialog

    def show_help(self) -> None:
        if self.help is not None and self.help.winfo_exists():
            self.help.lift()
            return
        self.help = CommandsHelp(self)
        self._opened(self.help)

    def _opened(self, dialog: Dialog) -> None:
        """Let the window's shortcuts work in ``dialog`` and give the input line the keyboard
        again when it closes.

        Shortcuts bound on the root do not reach a Toplevel's widgets, so a dialog gets its own
        copies. Without the focus back, a window manager (or none, under Xvfb) may leave the
        focus nowhere, and the shortcuts bound on the main window stop answering.
        """
        dialog.forward(self.shortcuts, keep_open=_KEEP_DIALOG_OPEN)

        def back(event: tk.Event[tk.Misc]) -> None:
            if event.widget is dialog and self.entry.winfo_exists():
                with contextlib.suppress(tk.TclError):  # the whole app may be closing
                    self.entry.focus_force()

        dialog.bind("<Destroy>", back, add=True)
