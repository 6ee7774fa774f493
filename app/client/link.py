"""One TCP connection from the client to a server, with keepalive, and the reconnect backoff.

This module owns the asyncio side of the client's wire: opening the connection, writing encoded
frames, and reading bytes through the sans-I/O ``LineDecoder`` and ``decode_server_frame`` into
typed frames, as websockets' asyncio layer does over its protocol object. It also owns liveness:
it answers the server's keepalive ``ping`` itself, pings the server after ``Timings.ping_after``
seconds of silence, and declares the link dead (``LinkDead``) when nothing at all has arrived for
``Timings.dead_after`` seconds. A frame the server got wrong is logged and skipped, because one
bad line must not cost the user the connection. ``backoff_delay`` computes the wait between
reconnect attempts. The engine decides what frames mean; this module never looks inside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from app.protocol import (
    ClientFrame,
    LineDecoder,
    Ping,
    Pong,
    RemoteProtocolError,
    ServerFrame,
    ServerPing,
    ServerPong,
    decode_server_frame,
    encode,
)

log = logging.getLogger("parley.client")

_KEEPALIVE_PREFIX = "keepalive-"
# The server's --max-line bounds what clients send; its own replies are longer: a history page
# of 200 messages of up to 4000 characters is megabytes on one line.
MAX_SERVER_LINE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timings:
    """Every interval the engine waits on, in seconds, so tests can shrink them."""

    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    # Each delay is scaled by a random factor in [1 - jitter, 1 + jitter], so a restarted server
    # is not hit by every client in the same instant.
    backoff_jitter: float = 0.25
    ping_after: float = 10.0
    dead_after: float = 30.0
    connect_timeout: float = 10.0
    # How long a /quit waits for the server to close before closing the socket itself.
    quit_timeout: float = 2.0


def backoff_delay(attempt: int, timings: Timings, rng: random.Random) -> float:
    """The wait before reconnect attempt ``attempt`` (1 for the first retry), with jitter."""
    base = timings.backoff_initial * timings.backoff_factor ** max(0, attempt - 1)
    base = min(base, timings.backoff_max)
    jitter = rng.uniform(1.0 - timings.backoff_jitter, 1.0 + timings.backoff_jitter)
    return min(timings.backoff_max, base * jitter)


class LinkDead(Exception):
    """Nothing arrived from the server for too long: the network or the server is gone."""


class Link:
    """An open connection: ``send`` frames, iterate ``frames()``, then ``close``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timings: Timings
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timings = timings
        self._decoder = LineDecoder(MAX_SERVER_LINE)
        self._ping_ids = itertools.count(1)

    @classmethod
    async def open(cls, host: str, port: int, timings: Timings) -> Link:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timings.connect_timeout
        )
        return cls(reader, writer, timings)

    @property
    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def send(self, frame: ClientFrame) -> bool:
        """Queue one frame for the server; False if the connection is already closing."""
        if self._writer.is_closing():
            return False
        self._writer.write(encode(frame))
        return True

    def close(self) -> None:
        """Close after flushing what was written; safe to call more than once."""
        if not self._writer.is_closing():
            self._writer.close()

    def abort(self) -> None:
        """Drop the connection at once, unsent bytes included."""
        self._writer.transport.abort()

    async def wait_closed(self) -> None:
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def frames(self) -> AsyncGenerator[ServerFrame, None]:
        """The server's frames until it closes the connection; raises ``LinkDead`` on silence."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        pinged = False
        while True:
            silent = loop.time() - last_heard
            if silent >= self._timings.dead_after:
                raise LinkDead(f"nothing heard from the server for {silent:.0f} s")
            if not pinged and silent >= self._timings.ping_after:
                self.send(Ping(id=f"{_KEEPALIVE_PREFIX}{next(self._ping_ids)}"))
                pinged = True
            deadline = self._timings.dead_after if pinged else self._timings.ping_after
            try:
                data = await asyncio.wait_for(self._reader.read(65536), deadline - silent)
            except asyncio.TimeoutError:
                continue
            if not data:
                return
            last_heard = loop.time()
            pinged = False
            for line in self._decoder.feed(data):
                frame = self._decode(line)
                if frame is None:
                    continue
                if isinstance(frame, ServerPing):
                    self.send(Pong(id=frame.id))
                    continue
                if isinstance(frame, ServerPong) and _is_keepalive(frame.id):
                    continue
                yield frame
            if self._decoder.too_large:
                # The stream cannot be resynchronised after an over-long line.
                raise LinkDead(self._decoder.error.message)

    @staticmethod
    def _decode(line: bytes) -> ServerFrame | None:
        try:
            return decode_server_frame(line)
        except RemoteProtocolError as exc:
            log.warning("ignoring a bad frame from the server (%s): %s", exc.code, exc.message)
            return None


def _is_keepalive(ping_id: object) -> bool:
    return isinstance(ping_id, str) and ping_id.startswith(_KEEPALIVE_PREFIX)
