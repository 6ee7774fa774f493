"""One TCP connection from the client to a server, with keepalive, and the reconnect backoff.

This module owns the asyncio side of the client's wire: opening the connection (in TLS when asked:
``client_context`` verifies the server against the system's CAs or a private ``--ca``, and a failed
handshake becomes ``TLSFailed``, one sentence that says whether a retry can help), writing encoded
frames, and reading bytes through the sans-I/O ``LineDecoder`` and ``decode_server_frame`` into
typed frames, as websockets' asyncio layer does over its protocol object. It also owns liveness: it
answers the server's keepalive ``ping`` itself, pings the server after ``Timings.ping_after``
seconds of silence, and declares the link dead (``LinkDead``) when nothing at all has arrived for
``Timings.dead_after`` seconds. A frame the server got wrong is logged and skipped, because one bad
line must not cost the user the connection. ``backoff_delay`` computes the wait between reconnect
attempts. The engine decides what frames mean; this module never looks inside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Final

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

# Bytes handed to the decoder per read: about 130 chat messages. All the frames of one read are
# handled in one turn of the loop, which a TUI shares with drawing and keys; 64 KB (~500 frames)
# made that turn alone take 15-25 ms during a burst.
READ_SIZE: Final = 16_384
_KEEPALIVE_PREFIX = "keepalive-"
# The server's --max-line bounds what clients send; its own replies are longer: a history page
# of 200 messages of up to 4000 characters is megabytes on one line.
MAX_SERVER_LINE = 16 * 1024 * 1024
# OpenSSL's reasons when what came back is not TLS at all: a plain server on the other end.
_NOT_TLS: Final = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
    }
)
# The first byte of a TLS record: an alert or a handshake, from a TLS server to a plain client.
_TLS_RECORDS: Final = (b"\x15", b"\x16")


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
    # How often, under an alternate nick, we ask for our own back (nicks.py).
    nick_reclaim: float = 5.0


def backoff_delay(attempt: int, timings: Timings, rng: random.Random) -> float:
    """The wait before reconnect attempt ``attempt`` (1 for the first retry), with jitter."""
    base = timings.backoff_initial * timings.backoff_factor ** max(0, attempt - 1)
    base = min(base, timings.backoff_max)
    jitter = rng.uniform(1.0 - timings.backoff_jitter, 1.0 + timings.backoff_jitter)
    return min(timings.backoff_max, base * jitter)


class LinkDead(Exception):
    """Nothing arrived from the server for too long: the network or the server is gone."""


class TLSFailed(Exception):
    """The TLS handshake failed; the message is one sentence, ``final`` if no retry can help."""

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.final = final


def client_context(ca: str | None = None) -> ssl.SSLContext:
    """A context that verifies the server's chain and name against the system's CAs, or against
    the CA certificates in the PEM file ``ca`` alone (a private CA); TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_failure(exc: ssl.SSLError, host: str, where: str) -> TLSFailed:
    """The sentence for a failed handshake with ``host`` (``where`` is ``host:port``)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSFailed(
            f"the certificate of {host} is not trusted: {exc.verify_message}", final=True
        )
    if exc.reason in _NOT_TLS:
        return TLSFailed(
            f"the server did not answer TLS; is {where} a plain port? (connect without --tls)",
            final=True,
        )
    reason = str(exc.reason).replace("_", " ").lower() if exc.reason else str(exc)
    return TLSFailed(f"the TLS handshake with {where} failed: {reason}", final=False)


def silence_reason(where: str, first_bytes: bytes) -> str | None:
    """Why a plain connection that the server closed before any frame probably failed: the
    other end speaks TLS. None when it said something in lines (then it was Parley)."""
    if not first_bytes:
        return (
            f"the server closed the connection without a word; is {where} a TLS port? "
            "(connect with --tls)"
        )
    if first_bytes[:1] in _TLS_RECORDS:
        return f"{where} answered in TLS: connect with --tls"
    return None


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
        self.first_bytes = b""  # the start of what the server sent, to tell a TLS port by
        self.frames_seen = 0

    @classmethod
    async def open(
        cls, host: str, port: int, timings: Timings, tls: ssl.SSLContext | None = None
    ) -> Link:
        """Connect (and with ``tls``, finish the handshake); ``TLSFailed`` if that fails."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls), timings.connect_timeout
            )
        except ssl.SSLError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise tls_failure(exc, host, where) from None
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
                data = await asyncio.wait_for(self._reader.read(READ_SIZE), deadline - silent)
            except asyncio.TimeoutError:
                continue
            if not data:
                return
            if len(self.first_bytes) < 8:
                self.first_bytes += data[: 8 - len(self.first_bytes)]
            last_heard = loop.time()
            pinged = False
            for line in self._decoder.feed(data):
                frame = self._decode(line)
                if frame is None:
                    continue
                self.frames_seen += 1
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
