"""One client connection: bytes in, frames to the hub, bounded output, flood control.

A ``Session`` is the asyncio ``Protocol`` of one TCP connection, and the only code that touches
that connection's protocol state (its ``LineDecoder``). It feeds what it reads to the decoder,
answers bad lines with a typed error, charges each frame to a token bucket, and hands good frames
to its host (the ``Hub``, seen only through the ``SessionHost`` protocol, so that neither module
imports the other). Output is written straight to the transport. A client is *behind* while
its unread output is above a low-water mark (a quarter of ``--sendq``; asyncio's ``pause_writing``
and ``resume_writing`` say when it crosses): its own later frames then wait unread, so a burst of
requests cannot pile up replies faster than it reads them, and the registry's sweep drops it with
``slow_consumer`` if it stays behind for ``--sendq-timeout`` seconds. One large reply it asked for
therefore costs it nothing as long as it reads; the hard bound remains: past ``--sendq`` unread
bytes (room messages from others keep coming while it is behind) it is dropped at once, so one
slow reader never holds up the others or grows the server's memory. Replies caused by one read
are corked into a single write.
Handlers are coroutines, awaited one at a time in the order the frames arrived: the session runs
each one's first step itself (no task, so the message path costs what a call does), and only when
a handler has to wait (on the store, a lock, a thread pool) does it pause reading this connection
and finish the handler and then the rest of the read lines in a task. Other connections are served
meanwhile; this one's later frames, and its hang-up, are seen once the wait is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from app import protocol as p
from app.server.config import ServerConfig
from app.server.eager import Started

log = logging.getLogger("parley.server")

# How long a dropped client's last words (error, bye) may take to drain before we abort.
_CLOSE_GRACE = 2.0
# How many of its newest room messages a connection may delete as their author (``said``).
SAID_KEPT = 100


class SessionHost(Protocol):
    """What a session calls back (the ``Hub``): it never sees the hub's state, only this."""

    @property
    def config(self) -> ServerConfig: ...

    def opened(self, session: Session) -> None:
        """The connection was made (the session is registered, and admitted or dropped)."""
        ...

    def handle(self, session: Session, frame: p.ClientFrame) -> Coroutine[Any, Any, None]:
        """Do what ``frame`` asks."""
        ...

    def after_effects(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything this session caused so far has been sent."""
        ...

    def left(self, session: Session, text: str | None) -> None:
        """The session was dropped: it leaves the chat (its connection may linger)."""
        ...

    def closed(self, session: Session, text: str | None) -> None:
        """The connection is gone."""
        ...


class Session(asyncio.Protocol):
    """The server side of one connection."""

    __slots__ = (
        "_cork",
        "_corked",
        "_decoder",
        "_lines",
        "_refilled",
        "_tokens",
        "_waiting",
        "account",
        "away",
        "behind_since",
        "closing",
        "connected_at",
        "host",
        "id",
        "in_chat",
        "ip",
        "key",
        "last_seen",
        "leaving",
        "nick",
        "peer",
        "ping_sent",
        "said",
        "ssh_key",
        "transport",
    )

    def __init__(self, host: SessionHost, session_id: str) -> None:
        self.host = host
        self.id = session_id  # unique across processes (``registry.Sessions.new_id``)
        self.peer = "?"
        self.ip = ""
        self.nick = ""
        self.key = ""  # folded nick, "" until registered
        self.account = ""  # the folded nick of the account it signed in to; "" for a guest
        self.away: str | None = None
        # The SHA256 fingerprint of the SSH key an SSH gateway proved for it ("" if none).
        self.ssh_key = ""
        # Ids of the room messages this connection said last: its own to delete, even a guest's.
        self.said: deque[int] = deque(maxlen=SAID_KEPT)
        self.in_chat = False  # admitted and not yet departed; written by the registry only
        self.connected_at = self.last_seen = time.monotonic()
        self.ping_sent: float | None = None
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.leaving = False  # quit was received; its goodbye waits for earlier effects
        self._decoder = p.LineDecoder(host.config.max_line)
        self._tokens = float(host.config.msg_burst)
        self._refilled = self.connected_at
        self._cork: list[bytes] | None = None
        self._corked = 0  # bytes in the cork
        # When the unread output last rose above the low-water mark; None while below it.
        self.behind_since: float | None = None
        self._lines: deque[bytes] = deque()  # read, not yet handled
        self._waiting: asyncio.Task[None] | None = None  # a handler that had to wait

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but they have its methods.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.ip = str(peer[0])
            self.peer = f"{peer[0]}:{peer[1]}"
        mark = self.host.config.sendq // 4
        transport.set_write_buffer_limits(high=mark, low=mark // 2)
        log.info("connect %s", self.peer)
        self.host.opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closing or self.leaving or self._decoder.too_large:
            return
        self.last_seen = time.monotonic()
        self.ping_sent = None
        self._lines.extend(self._decoder.feed(data))
        if self._waiting is not None:
            return  # reading is paused; these wait behind the frame whose handler waits
        self._cork = []
        try:
            self._serve()
        finally:
            self._flush_cork()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            # A TLS transport on Python 3.10 is not marked closed when its peer goes first, and
            # warns when collected; closing a plain one that is gone does nothing.
            self.transport.close()
        if self._waiting is not None:
            self._waiting.cancel()  # what it would answer has nowhere to go
        self.host.closed(self, "connection lost" if exc else "closed")
        log.info("disconnect %s%s", self.peer, f" ({exc})" if exc else "")

    def pause_writing(self) -> None:
        # More than a quarter of --sendq is unread: the client is behind. Its own requests wait
        # until it catches up; the sweep drops it if it stays behind, ``write`` if it reaches
        # --sendq.
        if not self.closing:
            self.behind_since = time.monotonic()
            self._read_if_ready()

    def resume_writing(self) -> None:
        self.behind_since = None
        if self.closing:
            return
        if self._waiting is None and self._lines:
            self._cork = []
            try:
                self._serve()
            finally:
                self._flush_cork()
        self._read_if_ready()

    def _read_if_ready(self) -> None:
        """Read while no handler waits and the client is not behind; else leave input unread."""
        transport = self.transport
        if transport is None or self.closing or transport.is_closing():
            return
        if self._waiting is None and self.behind_since is None:
            transport.resume_reading()
        else:
            transport.pause_reading()

    # --- input ---

    def _serve(self) -> None:
        """Handle the queued lines in order until they run out or a handler has to wait."""
        handle = self.host.handle
        lines = self._lines
        mark = self.host.config.sendq // 4
        while lines:
            if self.closing or self.leaving:
                lines.clear()
                return
            if self._cork is not None and self._corked > mark:
                # Replies pile up: send them now, which tells whether the client keeps up.
                self._flush_cork()
                self._cork = []
            if self.behind_since is not None:
                return  # the rest waits until the client has read (``resume_writing``)
            line = lines.popleft()
            try:
                frame = p.decode_client_frame(line)
            except p.RemoteProtocolError as err:
                if self._charge(err.ref):
                    self.send(p.error_frame(err))
                    log.debug("refused from %s: %s %s", self.peer, err.code, err.message)
                continue
            if type(frame) is not p.Pong and not self._charge(frame.ref):
                continue
            # The handler's first step runs here, with no task: most finish within it.
            handler = handle(self, frame)
            try:
                waiting_on = handler.send(None)
            except StopIteration:
                continue
            self._wait_for(handler, waiting_on)
            return
        if self._decoder.too_large and not self.closing:
            # Replies to the lines before it (a pong, an echo) may wait on the store: say
            # goodbye after them.
            too_large = self._decoder.error
            self.host.after_effects(
                lambda: self.drop(too_large.code, too_large.message, error=True)
            )

    def _wait_for(self, handler: Coroutine[Any, Any, None], waiting_on: object) -> None:
        """Let a handler that waits (on the store, a lock, a thread) finish in a task.

        This connection reads nothing more meanwhile, so its later frames take effect after this
        one's; every other connection goes on being served.
        """
        loop = asyncio.get_running_loop()
        self._waiting = loop.create_task(self._finish(Started(handler, waiting_on)))
        self._read_if_ready()

    async def _finish(self, handler: Started[None]) -> None:
        try:
            await handler
        except Exception:
            # A bug of ours, as when a handler fails inside data_received: log, close.
            log.exception("handler failed for %s", self.peer)
            if self.transport is not None:
                self.transport.abort()
            return
        finally:
            self._waiting = None
        self._cork = []
        try:
            self._serve()
        finally:
            self._flush_cork()
        self._read_if_ready()

    def _charge(self, ref: p.Ref | p.UnsetType = p.UNSET) -> bool:
        """Take one token for a frame; answer ``rate_limited`` and refuse it when none is left."""
        config = self.host.config
        if config.msg_rate <= 0:
            return True
        now = time.monotonic()
        tokens = min(
            float(config.msg_burst), self._tokens + (now - self._refilled) * config.msg_rate
        )
        self._refilled = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        retry = int((1.0 - tokens) / config.msg_rate * 1000) + 1
        self.send(
            p.Error(
                code="rate_limited",
                message=f"too many frames; try again in {retry} ms",
                retry_after_ms=retry,
                ref=ref,
            )
        )
        return False

    # --- output ---

    def send(self, frame: p.ServerFrame) -> None:
        """Encode one frame for this client alone and write it."""
        self.write(p.encode(frame))

    def write(self, data: bytes) -> None:
        """Write bytes already encoded (possibly shared with other sessions)."""
        if self.closing or self.transport is None:
            return
        if self._cork is not None:
            self._cork.append(data)
            self._corked += len(data)
        else:
            self.transport.write(data)
            if self.behind_since is not None:
                self._check_sendq()

    def _flush_cork(self) -> None:
        cork, self._cork = self._cork, None
        self._corked = 0
        if cork and not self.closing and self.transport is not None:
            self.transport.write(cork[0] if len(cork) == 1 else b"".join(cork))
            if self.behind_since is not None:
                self._check_sendq()

    def _check_sendq(self) -> None:
        """The hard bound: a client with more than --sendq bytes unread is dropped at once."""
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > self.host.config.sendq:
            self.drop("slow_consumer", "you are not reading fast enough", error=True)

    def drop(
        self, reason: str, message: str, *, error: bool = False, parting: str | None = None
    ) -> None:
        """Say why (``error`` then ``bye``), half-close, and abort if the client lingers; its
        rooms see it quit with ``parting`` (by default the quit text, or else ``reason``)."""
        if self.closing or self.transport is None:
            return
        transport = self.transport
        words = p.encode(p.Bye(reason=reason, message=message))
        if error:
            words = p.encode(p.Error(code=reason, message=message)) + words
        cork, self._cork = self._cork, None
        transport.write(b"".join(cork or ()) + words)
        self.closing = True
        log.info("drop %s (%s): %s", self.peer, self.nick or "-", reason)
        if self._waiting is not None:
            # A handler still waiting has no one left to answer.
            self._waiting.cancel()
        # The lingering close below must read again (reading may be paused by a handler that
        # waited or by output piling up) to see the client hang up.
        transport.resume_reading()
        # A lingering close: send FIN but keep reading (and ignoring) until the client hangs up.
        # Closing with its input unread would make the kernel send a reset, and a reset can
        # destroy the error and bye before the client reads them.
        try:
            if transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        except OSError:
            # The peer reset the connection before we noticed: nothing is left to say.
            transport.abort()
        loop = asyncio.get_running_loop()
        loop.call_later(_CLOSE_GRACE, transport.abort)
        if parting is None:
            parting = (message or None) if reason == "quit" else reason
        self.host.left(self, parting)
