"""One client connection: bytes in, frames to the hub, bounded output, flood control.

A ``Session`` is the asyncio ``Protocol`` of one TCP connection, and the only code that touches
that connection's protocol state (its ``LineDecoder``). It feeds what it reads to the decoder,
answers bad lines with a typed error, charges each frame to a token bucket, and hands good frames
to the ``Hub``. Output is written straight to the transport, whose buffer is bounded by
``--sendq``: when a client stops reading and the buffer passes that bound, asyncio pauses writing
and the session drops the client with ``slow_consumer``, so one slow reader never holds up the
others or grows the server's memory. Replies caused by one read are corked into a single write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, cast

from app import protocol as p

if TYPE_CHECKING:
    from app.server.hub import Hub

log = logging.getLogger("parley.server")

# How long a dropped client's last words (error, bye) may take to drain before we abort.
_CLOSE_GRACE = 2.0


class Session(asyncio.Protocol):
    """The server side of one connection."""

    __slots__ = (
        "_cork",
        "_decoder",
        "_refilled",
        "_tokens",
        "away",
        "closing",
        "connected_at",
        "hub",
        "id",
        "ip",
        "key",
        "last_seen",
        "leaving",
        "nick",
        "peer",
        "ping_sent",
        "rooms",
        "transport",
    )

    def __init__(self, hub: Hub, session_id: int) -> None:
        self.hub = hub
        self.id = session_id
        self.peer = "?"
        self.ip = ""
        self.nick = ""
        self.key = ""  # folded nick, "" until registered
        self.away: str | None = None
        self.rooms: set[str] = set()
        self.connected_at = self.last_seen = time.monotonic()
        self.ping_sent: float | None = None
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.leaving = False  # quit was received; its goodbye waits for earlier effects
        self._decoder = p.LineDecoder(hub.config.max_line)
        self._tokens = float(hub.config.msg_burst)
        self._refilled = self.connected_at
        self._cork: list[bytes] | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but they have its methods.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.ip = str(peer[0])
            self.peer = f"{peer[0]}:{peer[1]}"
        sendq = self.hub.config.sendq
        transport.set_write_buffer_limits(high=sendq, low=sendq // 2)
        log.info("connect %s", self.peer)
        self.hub.live[self.id] = self
        self.hub.connect(self)

    def data_received(self, data: bytes) -> None:
        if self.closing or self.leaving or self._decoder.too_large:
            return
        self.last_seen = time.monotonic()
        self.ping_sent = None
        self._cork = []
        decoder = self._decoder
        try:
            # Lines before an over-long one are still served; then the connection closes.
            self._serve(decoder.feed(data))
            if decoder.too_large:
                # Their replies (a pong, an echo) may wait on the store: say goodbye after them.
                err = decoder.error
                self.hub.after_effects(lambda: self.drop(err.code, err.message, error=True))
        finally:
            self._flush_cork()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.hub.live.pop(self.id, None)
        self.hub.disconnect(self, "connection lost" if exc else "closed")
        log.info("disconnect %s%s", self.peer, f" ({exc})" if exc else "")

    def pause_writing(self) -> None:
        # The client has let more than --sendq bytes pile up unread.
        self.drop("slow_consumer", "you are not reading fast enough", error=True)

    # --- input ---

    def _serve(self, lines: list[bytes]) -> None:
        handle = self.hub.handle
        for line in lines:
            if self.closing or self.leaving:
                return
            try:
                frame = p.decode_client_frame(line)
            except p.RemoteProtocolError as err:
                if self._charge(err.ref):
                    self.send(p.error_frame(err))
                    log.debug("refused from %s: %s %s", self.peer, err.code, err.message)
                continue
            if type(frame) is not p.Pong and not self._charge(frame.ref):
                continue
            handle(self, frame)

    def _charge(self, ref: p.Ref | p.UnsetType = p.UNSET) -> bool:
        """Take one token for a frame; answer ``rate_limited`` and refuse it when none is left."""
        config = self.hub.config
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
        else:
            self.transport.write(data)

    def _flush_cork(self) -> None:
        cork, self._cork = self._cork, None
        if cork and not self.closing and self.transport is not None:
            self.transport.write(cork[0] if len(cork) == 1 else b"".join(cork))

    def drop(self, reason: str, message: str, *, error: bool = False) -> None:
        """Say why (``error`` then ``bye``), half-close, and abort if the client lingers."""
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
        self.hub.disconnect(self, (message or None) if reason == "quit" else reason)
