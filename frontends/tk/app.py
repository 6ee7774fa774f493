"""The Tk application: sign-in, the chat window, the poll loop that feeds it, and a clean exit.

This module owns the life of ``parley tk``. ``TkApp`` holds the root window, the current
``EngineThread`` and whichever screen is showing: the ``LoginForm`` (when no nick was given, or
after Parley > Connect…) or the ``ChatWindow``. One ``root.after`` poll, as in IDLE's
``poll_subprocess``, drains the events the engine queued since the last tick and hands them over
in batches, a flood a bounded slice per tick: to the chat window, or, while signing in, to a
watcher that waits for the first ``connected`` and sends the user back to the form with the
reason when the server refuses the nick or cannot be reached. Closing the window (or ``/quit``,
or Ctrl+Q; the chat window first asks if lines wait to be sent) sends ``quit``, joins the
engine thread and destroys the root, so nothing is left running. ``run`` is what the CLI calls.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Final

from app.client.config import ClientConfig, ConfigStore
from app.client.events import ConnectionChanged, ErrorReported, FrontendEvent
from app.client.link import Timings
from app.client.state import DEFAULT_SCROLLBACK, ConnectionState, ConnectionStatus
from frontends.base import freeze_startup_heap
from frontends.tk.dialogs import LoginForm, format_server
from frontends.tk.render import font
from frontends.tk.session import EngineThread
from frontends.tk.window import APP_NAME, ChatWindow

log = logging.getLogger("parley.tk")

POLL_MS: Final = 30
# A flood must not starve the Tk thread: a tick hands events over a chunk at a time (each chunk
# one Text insert) and stops once it has taken TICK_SECONDS; what is left goes in the next tick,
# due NEXT_TICK_MS later, so keys and redraws come in between.
EVENTS_PER_CHUNK: Final = 200
TICK_SECONDS: Final = 0.012
NEXT_TICK_MS: Final = 1
STOP_TIMEOUT: Final = 5.0


def apply_style(root: tk.Tk) -> None:
    """The ttk theme and the named styles the window and the form use."""
    style = ttk.Style(root)
    style.configure(".", font=font(root, 10))
    if "clam" in style.theme_names():
        style.theme_use("clam")
    style.configure("Title.TLabel", font=font(root, 20, "bold"))
    style.configure("Error.TLabel", foreground="#c62828")
    style.configure("Info.TLabel", foreground="#555555")
    style.configure("Heading.TLabel", font=font(root, 10, "bold"), foreground="#555555")
    style.configure("Header.TFrame", background="#eef1f5")
    style.configure("Room.TLabel", background="#eef1f5", font=font(root, 12, "bold"))
    style.configure("Topic.TLabel", background="#eef1f5", foreground="#44505c")
    style.configure("Status.TFrame", background="#e4e7eb")
    style.configure("Status.TLabel", background="#e4e7eb", foreground="#333333")
    for name, colour in (
        ("Connecting", "#8a6d00"),
        ("Connected", "#2e7d32"),
        ("Reconnecting", "#c77700"),
        ("Closed", "#c62828"),
    ):
        style.configure(f"{name}.Status.TLabel", background="#e4e7eb", foreground=colour)
    style.configure("Treeview", rowheight=22)
    # The root is a plain Tk widget: give it the theme's colour so the forms sit on one surface.
    root.configure(background=style.lookup("TFrame", "background"))


def _last_status(events: list[FrontendEvent]) -> ConnectionStatus | None:
    for event in reversed(events):
        if isinstance(event, ConnectionChanged):
            return event.status
    return None


def _unplaced_error(events: list[FrontendEvent]) -> str | None:
    """The last error the engine had no conversation for (``nick_taken`` on sign-in)."""
    for event in reversed(events):
        if isinstance(event, ErrorReported) and event.conversation is None:
            return event.text
    return None


class TkApp:
    """The root window, the engine thread, and the screen currently shown."""

    def __init__(
        self,
        root: tk.Tk,
        *,
        host: str | None = None,
        port: int | None = None,
        nick: str | None = None,
        tls: bool = False,
        ca: str | None = None,
        store: ConfigStore | None = None,
        timings: Timings | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
        password: str | None = None,
        allow_plain_password: bool = False,
    ) -> None:
        self.root = root
        # In memory only, handed to each engine; the config store never sees it.
        self.password = password
        self.allow_plain_password = allow_plain_password
        self.store = store
        config = store.load() if store is not None else ClientConfig()
        self.nick = nick or config.nick or ""
        # The remembered port and TLS belong to the remembered host, not to one named now.
        self.host, self.port, self.tls, self.ca = config.server_for(host, port, tls=tls, ca=ca)
        self.timings = timings
        self.scrollback = scrollback
        self.session: EngineThread | None = None
        self.window: ChatWindow | None = None
        self.login: LoginForm | None = None
        self.closed = False
        self.finished = False  # the root is destroyed and every engine thread has ended
        self._retiring: list[EngineThread] = []
        self._close_deadline = 0.0
        self._buffer: list[FrontendEvent] = []
        self._connected_once = False
        self._poll_id: str | None = None
        root.protocol("WM_DELETE_WINDOW", self.close_asked)

    def start(self, *, ask: bool) -> None:
        """Show the sign-in form (``ask``) or connect at once with the nick we have."""
        if ask or not self.nick:
            self.show_login()
        else:
            self._connect(self.nick, self.host, self.port, self.tls, straight_to_chat=True)
        self._poll_id = self.root.after(POLL_MS, self._poll)

    # --- the poll loop ------------------------------------------------------------------------

    def _poll(self) -> None:
        self._poll_id = None
        behind = False
        try:
            self.pump()
            session = self.session
            behind = session is not None and not session.events.empty()
            self._reap()
        finally:
            if not self.closed:
                delay = NEXT_TICK_MS if behind else POLL_MS
                self._poll_id = self.root.after(delay, self._poll)

    def pump(self) -> int:
        """Hand what the engine queued to the screen showing, in chunks, for at most about
        ``TICK_SECONDS``; how many events there were."""
        deadline = time.perf_counter() + TICK_SECONDS
        handed = 0
        while True:
            session = self.session
            if session is None:
                return handed
            events: list[FrontendEvent] = []
            try:
                while len(events) < EVENTS_PER_CHUNK:
                    events.append(session.events.get_nowait())
            except queue.Empty:
                pass
            if not events:
                return handed
            if self.window is not None:
                self._to_window(self.window, events)
            else:
                self._signing_in(events)
            handed += len(events)
            if time.perf_counter() >= deadline:
                return handed

    def _to_window(self, window: ChatWindow, events: list[FrontendEvent]) -> None:
        window.receive(events)
        status = _last_status(events)
        if status is None:
            return
        if status.state is ConnectionState.CONNECTED:
            self._connected_once = True
        elif status.state is ConnectionState.CLOSED:
            if status.detail == "quit":
                self.close()
            elif not self._connected_once:
                # Refused before ever getting in (nick_taken with --nick): back to the form.
                self.show_login(_unplaced_error(events) or status.detail)

    def _signing_in(self, events: list[FrontendEvent]) -> None:
        self._buffer.extend(events)
        status = _last_status(events)
        if status is None:
            return
        if status.state is ConnectionState.CONNECTED:
            buffered, self._buffer = self._buffer, []
            self._connected_once = True
            self._open_chat()
            assert self.window is not None
            self.window.receive(buffered)
        elif status.state is ConnectionState.CLOSED:
            # The form's engine gives up before its first welcome (refused, or the server could
            # not be reached): say why on the form. A refusal is already a sentence, which may
            # start with a nick, case and all.
            detail = status.detail or "the connection failed"
            why = _unplaced_error(self._buffer) or detail[:1].upper() + detail[1:]
            self._buffer = []
            self._retire_session()
            if self.login is not None:
                self.login.show_error(why)

    # --- screens ------------------------------------------------------------------------------

    def show_login(self, error: str | None = None) -> None:
        """Leave any chat and show the sign-in form, with ``error`` if the last try failed."""
        self._retire_session()
        if self.window is not None:
            self.window.destroy()
            self.window = None
        if self.login is None:
            self.login = LoginForm(
                self.root,
                nick=self.nick,
                server=format_server(self.host, self.port),
                on_connect=self._sign_in,
                on_quit=self.close,
                tls=self.tls,
                password=self.password or "",
            )
            self.login.place(relx=0.5, rely=0.45, anchor="center")
        self.root.title(f"Sign in — {APP_NAME}")
        if error:
            self.login.show_error(error)

    def _open_chat(self) -> None:
        assert self.session is not None
        if self.login is not None:
            self.login.destroy()
            self.login = None
        self.window = ChatWindow(
            self.root,
            self.session,
            on_connect=self.show_login,
            on_quit=self.close,
            scrollback=self.scrollback,
            text_size=self.store.load().text_size if self.store is not None else None,
            on_text_size=self.store.remember_text_size if self.store is not None else None,
        )
        self.window.pack(fill="both", expand=True)

    def _sign_in(self, nick: str, host: str, port: int, tls: bool, password: str | None) -> None:
        """The form's Connect: the password typed (or none, a guest) is used from now on."""
        self.password = password
        self._connect(nick, host, port, tls)

    def _connect(
        self, nick: str, host: str, port: int, tls: bool, *, straight_to_chat: bool = False
    ) -> None:
        self._retire_session()
        self.nick, self.host, self.port, self.tls = nick, host, port, tls
        self._connected_once = False
        self._buffer = []
        self.session = EngineThread(
            nick=nick,
            host=host,
            port=port,
            store=self.store,
            timings=self.timings,
            scrollback=self.scrollback,
            # From the form, a failure goes back to the form; from --nick, the window retries.
            give_up_before_welcome=not straight_to_chat,
            tls=tls,
            ca=self.ca if tls else None,
            password=self.password,
            allow_plain_password=self.allow_plain_password,
        )
        self.session.start()
        if straight_to_chat:
            self._open_chat()

    def _retire_session(self) -> None:
        """Tell the current engine to quit; its thread is joined once it has ended."""
        session, self.session = self.session, None
        if session is not None:
            session.quit()
            self._retiring.append(session)

    def _reap(self) -> None:
        # Joining only threads that have already ended never blocks the Tk thread.
        for session in [s for s in self._retiring if not s.alive]:
            session.thread.join()
            self._retiring.remove(session)

    # --- the end ------------------------------------------------------------------------------

    def close_asked(self) -> None:
        """The window manager's close button: the chat window asks first if lines wait."""
        if self.window is not None:
            self.window.request_quit()
        else:
            self.close()

    def close(self) -> None:
        """Say goodbye to the server, wait for the engine threads, then destroy the window.

        The wait is a poll, not a blocking join: the Tk thread keeps serving events, and the
        window is hidden at once so a slow goodbye never looks like a frozen window.
        """
        if self.closed:
            return
        self.closed = True
        if self._poll_id is not None:
            self.root.after_cancel(self._poll_id)
            self._poll_id = None
        self.root.withdraw()
        self._retire_session()
        self._close_deadline = time.monotonic() + STOP_TIMEOUT
        self._finish_close()

    def _finish_close(self) -> None:
        self._reap()
        if self._retiring and time.monotonic() < self._close_deadline:
            self.root.after(POLL_MS, self._finish_close)
            return
        for session in self._retiring:
            log.warning("the engine thread %s did not stop in time", session.thread.name)
        self.finished = True
        self.root.destroy()


def run(
    *,
    host: str | None,
    port: int | None,
    nick: str | None,
    tls: bool = False,
    ca: str | None = None,
    password: str | None = None,
    allow_plain_password: bool = False,
) -> int:
    """``parley tk``: open the window and run until it is closed; the process exit status.
    ``password`` (``PARLEY_PASSWORD``) signs in to an account; it is held in memory only."""
    try:
        root = tk.Tk(className=APP_NAME)
    except tk.TclError as exc:
        print(f"parley tk needs a graphical display: {exc}", file=sys.stderr)
        return 1
    root.geometry("1040x660")
    root.minsize(640, 400)
    apply_style(root)
    app = TkApp(
        root,
        host=host,
        port=port,
        nick=nick,
        tls=tls,
        ca=ca,
        store=ConfigStore.default(),
        password=password,
        allow_plain_password=allow_plain_password,
    )
    freeze_startup_heap()
    app.start(ask=nick is None)
    # Ctrl+C in the terminal closes the window properly instead of printing a traceback.
    previous: Callable[..., object] | int | None = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda _sig, _frame: root.after_idle(app.close))
    try:
        root.mainloop()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0
