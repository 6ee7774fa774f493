"""The client engine: one connection's life, reconnects, and what the user's commands do.

This module owns ``Engine``, the object every frontend drives. It connects, says ``hello``, joins
``#general`` and the rooms remembered from last time, and keeps the connection state (connecting,
connected, reconnecting with jittered exponential backoff, closed): the link, whether we are
registered, and the server's goodbye. After a reconnect it rejoins its rooms and the ``Receiver``
fetches what was missed (signed in to an account, in direct conversations too:
``directs.py``); the receiver owns the requests waiting for a reply and the rejoins and
history pages in progress, and the engine asks it through methods. A typed line is parsed by
``commands.py`` and carried out by ``actions.py``; our messages go out through the receiver's
outbox (``outbox.py``). When a connection that stalled still holds our nick, the reconnect gets in
under an alternate and takes it back (``nicks.py``). A server operator's ``kill`` or a
server-wide ban ends it for good: reconnecting would undo the one or be refused. Everything runs
on one asyncio loop; the request methods (``submit``, ``paste``, ``switch_to``, ``load_older``,
``search``, ``search_more``, ``jump_to_result``, ``quit``, and ``edit`` for a frontend's edit
mode) must be called on it, and the frontend is handed its events on it (``events.py``,
``frontends/base.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from app.client.accounts import SSHIdentity, hello_frame, plain_password_refusal
from app.client.actions import Actions
from app.client.commands import (
    CommandError,
    parse,
)
from app.client.completion import Completion, complete
from app.client.config import DEFAULT_HOST, ConfigStore, server_key
from app.client.edits import last_editable
from app.client.errors import hello_refusal, quit_reason
from app.client.events import ConnectionChanged, ErrorReported, Frontend, Notifier
from app.client.link import (
    Link,
    LinkDead,
    Timings,
    TLSFailed,
    backoff_delay,
    client_context,
    silence_reason,
)
from app.client.moderation_receive import REMOVED_REASONS, goodbye_text
from app.client.nicks import NickKeeper
from app.client.receive import Receiver, Request
from app.client.search_view import SearchView
from app.client.state import (
    DEFAULT_SCROLLBACK,
    ChatState,
    ConnectionState,
    ConnectionStatus,
    ConversationKind,
    Line,
    StateSnapshot,
)
from app.protocol import (
    DEFAULT_PORT,
    DEFAULT_ROOM,
    Away,
    Bye,
    ClientFrame,
    Error,
    Join,
    Nick,
    Quit,
    Welcome,
    fold,
)

log = logging.getLogger("parley.client")

T = TypeVar("T")


class Engine:
    """A chat client with no user interface: drive it with requests, watch it through a frontend.

    ``start()`` (or ``await run()``) connects and keeps reconnecting until ``quit()``; the state
    ends ``closed`` then, or when the very first ``hello`` is refused (``closed_reason`` says why).
    With ``give_up_before_welcome`` (for a sign-in form) it also ends ``closed`` when the server
    cannot be reached, or drops or turns us away, before it has welcomed us once; after the
    first welcome it reconnects as always. With ``tls`` it connects in TLS, verifying the server
    against the system's CAs or the PEM file ``ca``; a certificate that does not verify, or a
    server that does not speak TLS, ends it ``closed`` too: no retry would help.
    """

    def __init__(
        self,
        frontend: Frontend,
        *,
        nick: str,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        rooms: Iterable[str] = (),
        store: ConfigStore | None = None,
        timings: Timings | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
        catchup_pages: int = 10,
        rng: random.Random | None = None,
        give_up_before_welcome: bool = False,
        tls: bool = False,
        ca: str | None = None,
        password: str | None = None,
        allow_plain_password: bool = False,
        ssh_key: SSHIdentity | None = None,
        pin: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls or ca is not None
        self.ca = ca
        # In memory only: never handed to the config store.
        self._password = password
        self._allow_plain_password = allow_plain_password
        self._ssh_key = ssh_key  # an SSH gateway's visitor: see ``accounts.hello_frame``
        self._pin = pin
        self.state = ChatState(nick, server_key(host, port), scrollback)
        self.closed_reason = ""
        self.closed_code = ""  # the code of the error that refused hello for good, if one did
        self._timings = timings or Timings()
        self._store = store
        self._rng = rng or random.Random()
        self._give_up_before_welcome = give_up_before_welcome
        self._notify = Notifier(frontend, self.state)
        self._receiver = Receiver(
            self.state, self._notify, self._send, self._remember, catchup_pages, self._online_now
        )
        self._outbox = self._receiver.outbox
        self._nicks = NickKeeper(nick, self._reclaim_nick, self._timings.nick_reclaim)
        self._actions = Actions(
            self.state,
            self._receiver,
            self._nicks,
            connected=lambda: self._connected,
            switch_to=self.switch_to,
            quit=self.quit,
            password_refusal=lambda: plain_password_refusal(
                self.host, self.tls, self._allow_plain_password
            ),
        )
        wanted = [DEFAULT_ROOM, *rooms]
        if store is not None:
            wanted += store.load().rooms_for(self.state.server)
        self._first_rooms = list({fold(room): room for room in wanted}.values())
        self._link: Link | None = None
        self._connected = False
        self._registered_once = False
        self._quitting = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run the engine in a task on the current loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="parley-engine")
        return self._task

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until ``quit()`` or a fatal refusal."""
        attempt = 0
        reason = ""
        try:
            if self._password is not None:
                refusal = plain_password_refusal(self.host, self.tls, self._allow_plain_password)
                if refusal is not None:
                    self.closed_reason = refusal
                    self._notify.emit(ErrorReported(refusal, None))
                    return
            while not self._quitting:
                if attempt == 0:
                    self._set_status(ConnectionState.CONNECTING)
                else:
                    self._set_status(ConnectionState.RECONNECTING, attempt, detail=reason)
                registered, reason, fatal = await self._session()
                if fatal or self._quitting:
                    break
                if registered:
                    # In every conversation, so that wherever one looks the gap is explained.
                    self._receiver.show_everywhere(f"Connection lost ({reason}); reconnecting.")
                if self._give_up_before_welcome and not self._registered_once:
                    log.info("giving up before the first welcome: %s", reason)
                    break
                attempt = 1 if registered else attempt + 1
                delay = backoff_delay(attempt, self._timings, self._rng)
                log.info("connection lost (%s); retrying in %.1f s", reason, delay)
                retry_at = time.monotonic() + delay
                self._set_status(ConnectionState.RECONNECTING, attempt, retry_at, reason)
                await self._until_quit(asyncio.sleep(delay))
        finally:
            self.closed_reason = self.closed_reason or reason
            self._set_status(ConnectionState.CLOSED, detail=self.closed_reason)

    async def close(self, text: str | None = None) -> None:
        """Quit and wait until the engine has stopped."""
        self.quit(text)
        if self._task is not None:
            await self._task

    @property
    def status(self) -> ConnectionStatus:
        return self.state.connection

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def outstanding(self) -> int:
        """Requests sent to the server and not yet answered (joins, history pages, sends...)."""
        return self._receiver.outstanding

    def snapshot(self) -> StateSnapshot:
        return self.state.snapshot()

    def lines(self, conversation: str) -> tuple[Line, ...]:
        found = self.state.get(conversation)
        return tuple(found.lines) if found is not None else ()

    def complete(self, text: str, cursor: int | None = None) -> Completion:
        """Completion candidates for the word before ``cursor`` in the input line."""
        return complete(self.state.snapshot(), text, cursor)

    def _set_status(
        self,
        state: ConnectionState,
        attempt: int = 0,
        retry_at: float | None = None,
        detail: str = "",
    ) -> None:
        status = ConnectionStatus(state, self.state.server, attempt, retry_at, detail)
        self.state.connection = status
        self._notify.emit(ConnectionChanged(status))
        self._notify.changed()

    async def _until_quit(self, awaitable: Awaitable[T]) -> T | None:
        """Await ``awaitable`` unless ``quit()`` comes first (then it is cancelled: None)."""
        work = asyncio.ensure_future(awaitable)
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if work.done():
            return work.result()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        return None

    async def _session(self) -> tuple[bool, str, bool]:
        """One connection from open to close: (registered, why it ended, fatal)."""
        try:
            context = client_context(self.ca) if self.tls else None
        except (OSError, ssl.SSLError) as exc:
            return self._give_up(f"cannot use the CA file {self.ca}: {exc.strerror or exc}")
        try:
            link = await self._until_quit(Link.open(self.host, self.port, self._timings, context))
        except TLSFailed as exc:
            if not exc.final:
                return False, str(exc), False
            if self._registered_once:
                return self._give_up(f"{exc}; stopped reconnecting")
            return self._give_up(str(exc))
        except (OSError, asyncio.TimeoutError) as exc:
            return False, f"cannot connect to {self.state.server}: {exc or 'timed out'}", False
        if link is None or self._quitting:
            # quit() may land in the same loop turn as the connection completing.
            if link is not None:
                link.abort()
            return False, "quit", True
        self._link = link
        registered = False
        bye: Bye | None = None
        try:
            nick = self._nicks.hello_nick()
            pin = self._pin and not self._registered_once
            link.send(hello_frame(nick, self._password, self._ssh_key, pin=pin))
            async with contextlib.aclosing(link.frames()) as frames:
                async for frame in frames:
                    if registered and isinstance(frame, Bye):
                        bye = frame
                    elif registered:
                        self._receiver.handle(frame)
                        self._nicks.current(self.state.nick)
                    elif isinstance(frame, Welcome):
                        registered = True
                        self._on_registered(frame)
                    elif isinstance(frame, Error):
                        alternate = self._alternate_hello(frame)
                        if alternate is not None:
                            # Our old connection still holds the nick: in under another.
                            link.send(hello_frame(alternate, None, None, pin=False))
                            continue
                        refusal = self._refused(frame)
                        if refusal is not None:
                            return False, *refusal
            if not registered and not self.tls and not link.frames_seen:
                silent = silence_reason(self.state.server, link.first_bytes)
                if silent is not None:
                    return False, silent, False
            if bye is not None and bye.reason in REMOVED_REASONS:
                return self._removed(bye)
            return registered, _goodbye(bye), False
        except LinkDead as exc:
            return registered, str(exc), False
        except OSError as exc:
            return registered, f"connection lost: {exc}", False
        finally:
            self._nicks.stop()
            self._on_disconnected()
            link.abort()
            await link.wait_closed()

    def _alternate_hello(self, error: Error) -> str | None:
        """The alternate nick to say hello with after ``nick_taken`` on a reconnect (our old
        connection lingering on the server), or None."""
        if error.code != "nick_taken" or not self._registered_once:
            return None
        return self._nicks.alternate()

    def _reclaim_nick(self, nick: str) -> None:
        """Ask quietly for our own nick back (a refusal is not shown)."""
        self._send(Nick(nick=nick), Request("nick", None, show=False))

    def _give_up(self, text: str) -> tuple[bool, str, bool]:
        """End the engine with ``text`` as its reason: a session that no retry can fix."""
        self.closed_reason = text
        self._notify.emit(ErrorReported(text, None))
        return False, text, True

    def _removed(self, bye: Bye) -> tuple[bool, str, bool]:
        """Killed or banned from the server: said in the conversation, and no reconnecting."""
        self.closed_reason = goodbye_text(bye)
        self._receiver.show_error(self.closed_reason)
        return True, self.closed_reason, True

    def _refused(self, error: Error) -> tuple[str, bool] | None:
        """Why ``hello`` failed and whether retrying is pointless; None if not about ``hello``."""
        refusal = hello_refusal(
            error, self.state.nick, first=not self._registered_once, connected=self._connected
        )
        if refusal is not None and refusal[1]:
            self.closed_reason = refusal[0]
            self.closed_code = error.code
            self._notify.emit(ErrorReported(refusal[0], None))
        return refusal

    def _on_registered(self, welcome: Welcome) -> None:
        self.state.nick = welcome.nick
        self.state.oper = welcome.oper
        self._connected = True
        self._receiver.directs.signed_in(welcome.account)
        self._outbox.signed_in(welcome.limits)
        # The newest id seen anywhere: where a direct conversation with no message yet resumes.
        watermark = max((c.last_id or 0 for c in self.state), default=0)
        reconnected = self._registered_once
        if reconnected:
            rooms = []
            for conversation in self.state:
                if conversation.kind is ConversationKind.ROOM and conversation.joined:
                    rooms.append(conversation.name)
                    self._receiver.rooms.rejoining(conversation)
        else:
            rooms = self._first_rooms
        self._registered_once = True
        self._actions.connected_again()
        self._nicks.current(welcome.nick)
        if self._nicks.reclaiming:
            self._receiver.show_everywhere(
                f"{self._nicks.wanted} is still held by our old connection: you are"
                f" {welcome.nick} until the server lets it go, then {self._nicks.wanted} again."
            )
        self._set_status(ConnectionState.CONNECTED)
        for room in rooms:
            self._send(Join(room=room), Request("join", fold(room), show=False))
        if reconnected:
            self._receiver.directs.resume(watermark)
        if self.state.away is not None:
            self._send(Away(text=self.state.away), Request("away", None))
        self._outbox.pump()

    def _on_disconnected(self) -> None:
        self._connected = False
        self._link = None
        self._receiver.connection_lost()

    def _online_now(self) -> bool:
        return self._connected and self._link is not None

    def _send(self, frame: ClientFrame, request: Request | None = None) -> bool:
        link = self._link
        if link is None or not self._connected:
            return False
        if request is not None:
            frame.ref = self._receiver.expect(request)
        if not link.send(frame):
            return False
        self._outbox.spent()  # each frame takes one of the server's flood-control tokens
        return True

    def _remember(self) -> None:
        if self._store is not None and self._registered_once:
            self._store.remember(
                host=self.host,
                port=self.port,
                nick=self._nicks.wanted,
                rooms=self.state.joined_rooms(),
                tls=self.tls,
                ca=self.ca,
            )

    # --- requests from the frontend -----------------------------------------------------

    def submit(self, text: str) -> None:
        """A typed line: a command, or text for the active conversation."""
        try:
            command = parse(text)
        except CommandError as exc:
            self._actions.refuse(str(exc))
            return
        if command is not None:
            self._actions.execute(command)

    def paste(self, lines: Iterable[str]) -> int:
        """Send pasted ``lines`` to the active conversation, one message each, through the
        outbox (a pasted ``/word`` is text, not a command); how many were queued."""
        active = self.state.active_conversation
        if active is None:
            self._actions.refuse("There is no conversation to paste into; /join a room first.")
            return 0
        queued = 0
        for line in lines:
            if line.strip():
                self._actions.say(active, line, action=False)
                queued += 1
        return queued

    @property
    def send_interval(self) -> float:
        """Seconds per line at the pace the server's flood control has shown (0: unknown)."""
        return self._outbox.interval

    def edit(self, message_id: int, text: str) -> None:
        """Change the text of our message ``message_id`` in the active room to ``text``: what a
        frontend's edit mode sends (``/edit text`` takes our last message there)."""
        self._actions.editor.edit(message_id, text)

    def last_editable(self, conversation: str | None = None) -> Line | None:
        """Our last message in ``conversation`` (default: the active one) that may be edited."""
        found = self.state.get(conversation) if conversation else self.state.active_conversation
        return None if found is None else last_editable(found.lines)

    def switch_to(self, conversation: str) -> None:
        """Make a conversation active, mark it read and redraw it."""
        found = self.state.activate(conversation)
        if found is None:
            log.debug("switch_to unknown conversation %r", conversation)
            return
        self._notify.reset(found)
        self._notify.changed()

    def load_older(self, conversation: str | None = None) -> None:
        """Ask for the page of history before the oldest line held; quiet if there is none."""
        found = self.state.get(conversation) if conversation else self.state.active_conversation
        if found is not None:
            self._receiver.rooms.load_older(found)

    def search(self, query: str, room: str | None = None) -> None:
        """Search the server's history for ``query`` in ``room`` (None: all our rooms); the
        results come as ``SearchChanged`` events and as lines where we are (``search.py``)."""
        self._actions.search(query, room)

    def search_more(self) -> None:
        """Ask for the next page of results of the current search."""
        self._actions.search(None, None)

    def jump_to_result(self, number: int) -> None:
        """Show result ``number`` (1 is the newest) in its room, among its neighbours."""
        self._actions.jump_to_result(number)

    @property
    def search_view(self) -> SearchView | None:
        """The current search, as the last ``SearchChanged`` showed it."""
        return self._receiver.searches.view

    def quit(self, text: str | None = None) -> None:
        """Say goodbye and stop for good; safe to call twice."""
        if self._quitting:
            return
        self._quitting = True
        self.closed_reason = self.closed_reason or "quit"
        self._wake.set()
        link = self._link
        if link is None:
            return
        if self._connected and self._send(Quit(text=text)):
            # The server answers with bye and closes; do not wait for it forever.
            asyncio.get_running_loop().call_later(self._timings.quit_timeout, link.abort)
        else:
            link.abort()


def _goodbye(bye: Bye | None) -> str:
    """Why a connection the server closed ended, in the words of its goodbye if it sent one."""
    if bye is None:
        return "the server closed the connection"
    return f"the server said goodbye: {bye.message or quit_reason(bye.reason)}"
