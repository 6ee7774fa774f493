"""The Parley terminal app: the layout, the key bindings, and the glue between engine and widgets.

This module owns ``ParleyApp``. It runs the client ``Engine`` on Textual's own asyncio loop,
receives the engine's events through ``bridge.py`` ("messages up", a slice at a time) and hands the
values down to its widgets as attributes ("attributes down"): the conversation list, the message
log, the member list, the topic bar and the status line. It is also the only part of the TUI that
asks anything of the engine (submit a line, edit a message, switch conversation, load older history,
quit); the widgets never do. Without a nick it starts on the login screen, and it goes back there
when the server refuses the nick; an engine started from the login screen gives up (rather than
retrying) when it cannot get in, so the screen can say why. The demo's invite for a second person
is ``invite.py``'s, which says where it goes. With a
``login_screen_timeout`` (``parley tui --login-screen-timeout``, as an SSH gateway runs it) the app
exits, saying why in one line, unless it has signed in within that many seconds of starting: one
deadline for the whole way to the chat, which typing does not extend and a refusal that sends the
user back to the login screen does not restart; it is dropped once signed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Final

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Input

from app.client.accounts import SSHIdentity
from app.client.config import ConfigStore
from app.client.engine import Engine
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
from app.client.link import Timings
from app.client.outbox import quits
from app.client.paste import PasteQuestion, paste_lines
from app.client.state import (
    DEFAULT_SCROLLBACK,
    ConnectionState,
    ConversationKind,
    LineKind,
    StateSnapshot,
)
from frontends.flags import duration
from frontends.tui.bridge import EngineEvents, TextualFrontend
from frontends.tui.chatlog import DEFAULT_MAX_ROWS, ChatLog, printable
from frontends.tui.copyview import CopyScreen
from frontends.tui.invite import Invite
from frontends.tui.login import LoginScreen
from frontends.tui.panels import ConversationList, MemberList, StatusLine, TopicBar
from frontends.tui.prompt import ChatInput, read_alt_digits_as_alt_keys
from frontends.tui.questions import PasteScreen, QuitScreen, ask_first
from frontends.tui.search import SearchPanel

log = logging.getLogger("parley.tui")

# Below this many columns the member list is hidden unless asked for (F2).
WIDE_ENOUGH_FOR_MEMBERS: Final = 100
# How long a quit waits for the server's goodbye before the app exits anyway.
QUIT_GRACE: Final = 2.0


_CHAT_ACTIONS: Final = frozenset({"cycle", "go_to", "page_up", "page_down", "latest"}) | {
    "toggle_members",
    "toggle_bell",
    "search",
    "copy_view",
}


class ParleyApp(App[None]):
    """A chat client in the terminal, keyboard only."""

    # Absolute, so that a subclass defined elsewhere still finds the styles.
    CSS_PATH = Path(__file__).with_name("parley.tcss")
    TITLE = "Parley"
    ENABLE_COMMAND_PALETTE = False
    # The screen gets -wide from this many columns on; parley.tcss shows the member list then.
    # (Textual types this as an instance variable, so it cannot be annotated ClassVar here.)
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-narrow"),
        (WIDE_ENOUGH_FOR_MEMBERS, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "cycle(1)", "Next"),
        Binding("ctrl+p", "cycle(-1)", "Prev"),
        # Priority, because the input line is a scrollable widget with PgUp/PgDn of its own.
        Binding("pageup", "page_up", "Older", key_display="PgUp", priority=True),
        Binding("pagedown", "page_down", "Newer", show=False, priority=True),
        Binding("escape", "latest", "Latest", show=False),
        Binding("f2", "toggle_members", "Members"),
        Binding("f3", "toggle_bell", "Bell"),
        Binding("f4", "copy_view", "Copy"),
        Binding("ctrl+f", "search", "Search", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # Priority: a terminal's Alt+1 also carries the character "1", which the input would take.
        *(Binding(f"alt+{n}", f"go_to({n})", show=False, priority=True) for n in range(1, 10)),
    ]

    def __init__(
        self,
        *,
        host: str,
        port: int,
        nick: str | None = None,
        tls: bool = False,
        ca: str | None = None,
        bell: bool = True,
        store: ConfigStore | None = None,
        timings: Timings | None = None,
        invite: str = "",
        suggested_nick: str = "",
        scrollback: int = DEFAULT_SCROLLBACK,
        password: str | None = None,
        allow_plain_password: bool = False,
        server_fixed: bool = False,
        ssh_key: SSHIdentity | None = None,
        login_screen_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.login_screen_timeout = login_screen_timeout
        self._login_deadline: Timer | None = None
        read_alt_digits_as_alt_keys()
        # The visitor's key, vouched for by the SSH gateway that runs us: who they are.
        self.ssh_key = ssh_key
        # In memory only, handed to each engine; the config store never sees it.
        self.password = password
        self.allow_plain_password = allow_plain_password
        self.suggested_nick = suggested_nick
        self.host = host
        self.port = port
        self.nick = nick
        self.tls = tls or ca is not None
        self.ca = ca  # a private CA (--ca), used whenever TLS is on
        self.bell_on = bell
        self.bells = 0  # how many times we rang, so tests can see a mention was noticed
        self.engine: Engine | None = None
        self.snapshot: StateSnapshot | None = None
        # The command with which someone else joins (the demo's), while it is still wanted.
        self.invite = Invite(invite)
        self._store = store
        self._timings = timings
        self.scrollback = scrollback
        # Run for someone else by a gateway (parley ssh, parley web): the server is not theirs
        # to choose.
        self.server_fixed = server_fixed
        self._frontend: TextualFrontend | None = None
        self._shown: str | None = None  # the conversation the log is drawing
        self._quitting = False
        # Whether the current engine ever got in; until then its errors belong to the login.
        self._signed_in = False

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TopicBar(id="topic")
        with Horizontal(id="body"):
            yield ConversationList(id="conversations")
            # Rows include day separators: room for one per line keeps every line the engine holds.
            yield ChatLog(id="log", max_rows=max(DEFAULT_MAX_ROWS, 2 * self.scrollback))
            yield MemberList(id="members")
        yield SearchPanel(id="search")
        yield StatusLine(id="status")
        prompt = ChatInput(id="input", placeholder="Type a message, /help for commands")
        # For a gateway's visitor a blinking cursor is two redraws a second sent over the
        # network to every idle session, and most of its idle CPU.
        prompt.cursor_blink = not self.server_fixed
        yield prompt
        yield Footer()

    @property
    def chat_log(self) -> ChatLog:
        return self.query_one("#log", ChatLog)

    @property
    def chat_input(self) -> ChatInput:
        return self.query_one("#input", ChatInput)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    @property
    def login(self) -> LoginScreen | None:
        """The login screen while it is showing."""
        return self.screen if isinstance(self.screen, LoginScreen) else None

    def on_mount(self) -> None:
        self.status_line.invite = self.invite.text
        self.status_line.bell = self.bell_on
        self.chat_input.focus()
        if self.login_screen_timeout:
            self._login_deadline = self.set_timer(
                self.login_screen_timeout, self._login_screen_timed_out
            )
        if self.nick:
            self.connect(self.nick, self.host, self.port, tls=self.tls)
        elif self.ssh_key is not None:
            # Straight in if the key has a nick pinned to it; else the login screen asks.
            self.connect("", self.host, self.port, tls=self.tls, from_login=True)
        else:
            self.push_screen(self._login_screen(""))

    def _login_screen(self, error: str) -> LoginScreen:
        nick = self.nick or self.suggested_nick
        return LoginScreen(
            nick=nick,
            host=self.host,
            port=self.port,
            error=error,
            tls=self.tls,
            password=self.password or "",
            server_fixed=self.server_fixed,
            pin_offered=self.ssh_key is not None,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The chat's keys mean nothing on the login screen; this also hides them from the Footer.
        return self.login is None or action not in _CHAT_ACTIONS

    # --- the engine -----------------------------------------------------------------------

    def connect(
        self,
        nick: str,
        host: str,
        port: int,
        *,
        tls: bool = False,
        from_login: bool = False,
        pin: bool = False,
    ) -> None:
        """Start an engine for ``nick`` at ``host:port`` (in TLS if ``tls``), replacing any
        previous one.

        ``from_login``: the engine gives up if it cannot get in (refused, or the server cannot
        be reached), so the login screen can say why; with ``--nick`` it keeps retrying. With
        the visitor's SSH key, ``nick`` "" signs in to the nick pinned to it, and ``pin`` pins
        ``nick`` to it.
        """
        if self.engine is not None:
            self.engine.quit()
        self.nick, self.host, self.port, self.tls = nick, host, port, tls
        self._frontend = TextualFrontend(self)
        self._shown = None
        self._signed_in = False
        self.engine = Engine(
            self._frontend,
            nick=nick,
            host=host,
            port=port,
            store=self._store,
            timings=self._timings,
            scrollback=self.scrollback,
            give_up_before_welcome=from_login,
            tls=tls,
            ca=self.ca if tls else None,
            password=self.password,
            allow_plain_password=self.allow_plain_password,
            ssh_key=self.ssh_key,
            pin=pin,
        )
        self.status_line.nick = nick
        self.engine.start()

    def on_login_screen_submitted(self, message: LoginScreen.Submitted) -> None:
        self.password = message.password
        self.connect(
            message.nick,
            message.host,
            message.port,
            tls=message.tls,
            from_login=True,
            pin=message.pin,
        )

    def on_engine_events(self, message: EngineEvents) -> None:
        # Only the live engine is listened to, and only while the widgets still exist (while the
        # app shuts down, its screens go before the engine has finished).
        frontend = message.origin
        if frontend is not self._frontend or not self.is_running:
            return
        # A slice at a time, so a burst never holds keys and drawing up for long; the bridge
        # wakes us again after the loop has had its turn.
        frontend.work_through(self._engine_events)

    def _engine_events(self, events: list[FrontendEvent]) -> None:
        """Act on ``events`` in order; lines added one after another go to the log at once."""
        added: list[LineAdded] = []
        for event in events:
            if isinstance(event, LineAdded):
                if added and added[-1].conversation != event.conversation:
                    self._lines_added(added)
                    added = []
                added.append(event)
                continue
            if added:
                self._lines_added(added)
                added = []
            self._engine_event(event)
        if added:
            self._lines_added(added)

    def _engine_event(self, event: FrontendEvent) -> None:
        match event:
            case StateChanged():
                self._state_changed(event)
            case ScrollbackReset():
                self._scrollback_reset(event)
            case LineAdded():
                self._lines_added([event])
            case LineUpdated():
                self._line_updated(event)
            case ConnectionChanged():
                self._connection_changed(event)
            case ErrorReported():
                self._error_reported(event)
            case PresenceChanged() | TopicChanged():
                pass  # the member list and topic bar follow the next state; the log has a line
            case SearchChanged(search):
                panel = self.query_one("#search", SearchPanel)
                panel.view = search
                if (hit := panel.hit_to_reveal(self._shown)) is not None:
                    self.chat_log.reveal(hit)
            case _:
                unhandled(event)

    def _state_changed(self, event: StateChanged) -> None:
        state = event.state
        self.snapshot = state
        active = state.active_view
        conversations = self.query_one("#conversations", ConversationList)
        conversations.conversations = state.conversations
        conversations.active = state.active
        members = self.query_one("#members", MemberList)
        members.view = active
        members.nick = state.nick
        self.query_one("#topic", TopicBar).view = active
        status = self.status_line
        status.nick = state.nick
        status.away = state.away
        status.queued = state.outbox
        status.status = state.connection
        chat_input = self.chat_input
        chat_input.snapshot = state
        chat_input.conversation = state.active
        if active is not None:
            name = active.name if active.kind is ConversationKind.ROOM else f"@{active.name}"
            chat_input.placeholder = f"Message {name}  (/help for commands)"
        written = self.invite.follow(state)
        status.invite = self.invite.text
        if written is not None and written[0] == self._shown:
            self.chat_log.add_lines(list(written[1]))

    def _scrollback_reset(self, event: ScrollbackReset) -> None:
        # The engine redraws a conversation for several reasons; only the active one is shown.
        if event.active:
            self._shown = event.conversation
            self.chat_log.show(self.invite.into(event.conversation, event.lines), event.marker)

    def _lines_added(self, added: list[LineAdded]) -> None:
        """Lines added one after another to one conversation: drawn in one go."""
        conversation = added[0].conversation
        if conversation == self._shown:
            self.chat_log.add_lines([event.line for event in added])
        direct = not conversation.startswith("#")
        for event in added:
            line = event.line
            if self.bell_on and line.is_chat and not line.own and (line.mention or direct):
                self.ring()
            # Our own join (the one join notice without a sender) is where the invite goes.
            if line.kind is LineKind.JOIN and line.sender is None and not direct:
                self.invite.joined(conversation)

    def _line_updated(self, event: LineUpdated) -> None:
        if event.conversation == self._shown:
            self.chat_log.update(event.line)

    def _connection_changed(self, event: ConnectionChanged) -> None:
        status = event.status
        self.status_line.status = status
        login = self.login
        if status.state is ConnectionState.CONNECTED:
            self._signed_in = True
            if self._login_deadline is not None:
                self._login_deadline.stop()
                self._login_deadline = None
            if login is not None:
                self.pop_screen()
                self.chat_input.focus()
        elif status.state is ConnectionState.CLOSED:
            self._engine_closed(status.detail)

    def _engine_closed(self, reason: str) -> None:
        closed_code = self.engine.closed_code if self.engine is not None else ""
        if closed_code == "bad_key_proof":
            # The server does not take the gateway's word: the visitor can still be a guest.
            self.ssh_key = None
        self.engine = None
        if self._quitting or reason == "quit":
            self.exit()
            return
        # Refused for good (nick taken, bad nick), or, from the login screen, the server could
        # not be reached: ask again, saying why.
        if self.ssh_key is not None and closed_code == "no_account" and not self.nick:
            reason = "A new key: pick a nick."  # the key-only sign-in found none pinned
        login = self.login
        if login is None:
            self.push_screen(self._login_screen(reason))
        else:
            login.show_error(reason)

    def _login_screen_timed_out(self) -> None:
        if self._login_deadline is None:
            return  # signed in as the timer fired
        self._login_deadline = None
        assert self.login_screen_timeout is not None
        limit = duration(self.login_screen_timeout)
        log.info("not signed in within %s: exiting", limit)
        self.exit(return_code=1, message=f"Parley: closed after {limit} without signing in.")

    def _error_reported(self, event: ErrorReported) -> None:
        if event.conversation is not None:
            return  # errors in a conversation arrive there as lines too
        # Before sign-in such an error is a refusal: the engine closes with it as its reason,
        # which the login screen shows.
        if self._signed_in:
            self.notify(printable(event.text), severity="error", markup=False)

    def on_chat_log_reached_top(self, message: ChatLog.ReachedTop) -> None:
        if self.engine is not None:
            self.engine.load_older()

    def on_member_list_chosen(self, message: MemberList.Chosen) -> None:
        if self.engine is not None:
            self.engine.submit(f"/msg {message.nick}")  # opens the direct conversation
            self.chat_input.focus()

    def on_chat_log_scrolled(self, message: ChatLog.Scrolled) -> None:
        self.status_line.scrolled = not message.at_bottom
        self.status_line.new_below = message.new_below

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input is not self.chat_input:
            return
        text = message.value
        self.chat_input.remember(text)
        if self.engine is None:
            return
        if text.strip() and not text.startswith("/"):
            self.chat_log.scroll_end(animate=False, x_axis=False)
        engine = self.engine
        if quits(text) and self._ask_before_quitting(lambda: engine.submit(text)):
            return
        engine.submit(text)

    def on_chat_input_edit_last(self, message: ChatInput.EditLast) -> None:
        self.chat_input.edit(self.engine.last_editable() if self.engine is not None else None)

    def on_chat_input_edited(self, message: ChatInput.Edited) -> None:
        if self.engine is not None:
            self.engine.edit(message.id, message.text)

    def on_chat_input_pasted(self, message: ChatInput.Pasted) -> None:
        """A paste of several lines: ask once, then send one message per line."""
        engine, state = self.engine, self.snapshot
        lines = paste_lines(message.text)
        active = state.active_view if state is not None else None
        if engine is None or active is None or not lines:
            return
        where = active.name if active.kind is ConversationKind.ROOM else f"@{active.name}"
        key = active.key

        def answered(send: bool | None) -> None:
            if send and self.engine is engine and engine.state.active == key:
                self.chat_log.scroll_end(animate=False, x_axis=False)
                engine.paste(lines)
            self.chat_input.focus()

        question = PasteQuestion(len(lines), where, engine.send_interval)
        self.push_screen(PasteScreen(question), answered)

    def copy_to_clipboard(self, text: str) -> None:
        """Copy ``text``, unless it is empty: Ctrl+C over a selection of nothing (a drag across
        blank cells) would otherwise send an empty OSC 52 and wipe the terminal's clipboard."""
        if text:
            super().copy_to_clipboard(text)

    def ring(self) -> None:
        """Ring the terminal bell for a mention or a direct message."""
        self.bells += 1
        self.bell()

    # --- actions --------------------------------------------------------------------------

    def action_cycle(self, step: int) -> None:
        state = self.snapshot
        if state is None or self.engine is None or not state.conversations:
            return
        keys = [view.key for view in state.conversations]
        index = keys.index(state.active) if state.active in keys else 0
        self.engine.switch_to(keys[(index + step) % len(keys)])

    def action_go_to(self, number: int) -> None:
        state = self.snapshot
        if state is None or self.engine is None or number > len(state.conversations):
            return
        self.engine.switch_to(state.conversations[number - 1].key)

    def action_page_up(self) -> None:
        self.chat_log.page_up()

    def action_page_down(self) -> None:
        self.chat_log.page_down()

    def action_latest(self) -> None:
        self.chat_log.scroll_end(animate=False, x_axis=False)

    def action_toggle_members(self) -> None:
        # The width decides by default (parley.tcss); a toggle overrides it from then on.
        members = self.query_one("#members", MemberList)
        show = not members.display
        members.set_class(show, "-shown")
        members.set_class(not show, "-hidden")

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.status_line.bell = self.bell_on
        self.notify(f"Bell on mentions {'on' if self.bell_on else 'off'}", timeout=2)

    def action_search(self) -> None:
        """Ctrl+F: the prompt, holding "/search " for the words (results: ``SearchPanel``)."""
        self.chat_input.prefill("/search ")

    def action_copy_view(self) -> None:
        """F4: the conversation shown as plain lines, to select and copy (``CopyScreen``)."""
        active = self.snapshot.active_view if self.snapshot is not None else None
        if active is not None:
            where = active.name if active.kind is ConversationKind.ROOM else f"@{active.name}"
            self.push_screen(CopyScreen(where, self.chat_log.lines))

    def on_search_panel_chosen(self, message: SearchPanel.Chosen) -> None:
        if self.engine is not None and message.number is None:
            self.engine.search_more()
        elif self.engine is not None and message.number is not None:
            self.engine.jump_to_result(message.number)

    def on_search_panel_closed(self, message: SearchPanel.Closed) -> None:
        self.chat_input.focus()

    async def action_quit(self) -> None:
        """Quit, asking first if lines typed wait to be sent; asked already, Ctrl+Q again is the
        answer "quit anyway"."""
        if isinstance(self.screen, QuitScreen):
            self.screen.dismiss(True)
        elif not self._ask_before_quitting(self._quit_now):
            self._quit_now()

    def _ask_before_quitting(self, quit_now: Callable[[], None]) -> bool:
        """Ask whether to quit if the outbox holds lines, ``quit_now`` on yes; whether it asked."""
        waiting = self.engine.state.unsent if self.engine is not None else 0
        return ask_first(self, waiting, quit_now)

    def _quit_now(self) -> None:
        """Say goodbye to the server, then exit (at the latest after ``QUIT_GRACE``)."""
        self._quitting = True
        engine = self.engine
        if engine is None:
            self.exit()
            return
        engine.quit()
        self.set_timer(QUIT_GRACE, self.exit)

    async def on_unmount(self) -> None:
        self._frontend = None
        engine, self.engine = self.engine, None
        if engine is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(engine.close(), QUIT_GRACE)


__all__ = ["ParleyApp"]
