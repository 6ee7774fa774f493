"""One load-generator process: many client connections on one asyncio loop, driven over a pipe.

The driver (``benchmarks.driver``) starts several of these (``python -m benchmarks.loadgen``) and
talks to each with one JSON object per line: commands on stdin, events on stdout. A process owns
a contiguous range of the benchmark's clients. ``connect`` opens them (for Parley: ``hello``,
then ``join`` of the benchmark room; for the seed relay: a bare TCP connection, since it has no
registration), ``ready`` makes sure nothing from the set-up is still on its way (a ``ping``
barrier per Parley client), and each ``step`` has the process's senders send their share of a
paced message schedule while every client counts what it receives until it has all of it. With
``rooms`` above 1, client i joins room i % rooms instead of the one room, each sender sends to its
own room, and each client expects its room's share of the schedule.

The receive path is kept as cheap as Python allows, so that the generator is not what limits the
measurement: a receiver counts newlines (one frame or relayed line each) and never decodes JSON.
Every message's text starts with its send time on ``CLOCK_MONOTONIC``, which is one clock for all
processes of a Linux machine; a "probe" receiver (every ``probe_every``-th client, spread evenly
through the room's member order) finds every send time in what it reads with one regular
expression and records the delivery latency of each message into a histogram, and the others
record only the oldest message of each read, which is enough for an exact maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.procstat import own_cpu_seconds, raise_fd_limit

# Latency histogram buckets are 2**14 ns (16.4 us) wide: fine enough for a 50 ms bound.
BUCKET_SHIFT = 14
# A send time is digits then a space, so a stamp cut short by a read boundary never matches.
_STAMP = re.compile(rb'"text":"(\d+) ')
_SERVER_PING = b'"type":"ping"'
_ERROR = b'"type":"error"'
# The same for an IRC server (``irc`` mode): a PRIVMSG's text, its keepalive, its fatal error.
_IRC_STAMP = re.compile(rb"PRIVMSG \S+ :(\d+) ")
_IRC_PING = b"PING :"
_IRC_ERROR = b"ERROR :"
_IRC_PONG = b"PONG :bench\r\n"
_KEEPALIVE = b'{"type":"pong"}\n'
monotonic_ns = time.monotonic_ns


@dataclass
class Tally:
    """What one process's receivers saw during one step."""

    remaining: int = 0  # receivers still short of their expected count
    hist: Counter[int] = field(default_factory=Counter)
    max_ns: int = 0
    first_ns: int = 0
    last_ns: int = 0
    done: asyncio.Future[None] | None = None

    def receiver_finished(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


class Client(asyncio.Protocol):
    """One benchmark connection: a slow, exact set-up path and a fast counting path."""

    def __init__(
        self, index: int, probe: bool, tally: Tally, irc: bool = False, room: bytes = b"#bench"
    ) -> None:
        self.index = index
        self.room = room
        self.probe = probe
        self.tally = tally
        self.irc = irc
        self._stamp = _IRC_STAMP if irc else _STAMP
        self._ping = _IRC_PING if irc else _SERVER_PING
        self._error = _IRC_ERROR if irc else _ERROR
        self.transport: asyncio.Transport | None = None
        self.fast = False
        self.got = 0
        self.expected = 0
        self.finished = True
        self.lost_connection = False
        self._buffer = bytearray()
        self._want: tuple[bytes, asyncio.Future[bytes]] | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_connection = True
        if self._want is not None and not self._want[1].done():
            self._want[1].set_exception(ConnectionError(f"client {self.index} disconnected"))
        if not self.finished:
            self.finished = True
            self.tally.receiver_finished()

    def data_received(self, data: bytes) -> None:
        if not self.fast:
            self._setup_data(data)
            return
        now = monotonic_ns()
        got = self.got + data.count(b"\n")
        if self._ping in data:
            # A keepalive is not a message; the periodic pong in keepalive() answers Parley's,
            # and an IRC server's is answered here (it would drop a client that stays silent).
            got -= data.count(self._ping)
            if self.irc:
                self.write(_IRC_PONG)
        self.got = got
        tally = self.tally
        tally.last_ns = now
        if not tally.first_ns:
            tally.first_ns = now
        if self.probe:
            stamps = self._stamp.findall(data)
            if stamps:
                tally.hist.update([(now - int(s)) >> BUCKET_SHIFT for s in stamps])
                oldest = now - int(stamps[0])
                if oldest > tally.max_ns:
                    tally.max_ns = oldest
        else:
            match = self._stamp.search(data)
            if match is not None:
                oldest = now - int(match.group(1))
                if oldest > tally.max_ns:
                    tally.max_ns = oldest
        if got >= self.expected and not self.finished:
            self.finished = True
            tally.receiver_finished()

    # --- set-up: wait for one kind of frame, ignore the rest ---

    def _setup_data(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._want is None:
            cut = buffer.rfind(b"\n")
            del buffer[: cut + 1]
            return
        marker, future = self._want
        at = buffer.find(marker)
        if at < 0:
            at = buffer.find(self._error)
        if at < 0:
            cut = buffer.rfind(b"\n")
            del buffer[: cut + 1]
            return
        end = buffer.find(b"\n", at)
        if end < 0:
            return
        start = buffer.rfind(b"\n", 0, at) + 1
        line = bytes(buffer[start:end])
        del buffer[: end + 1]
        self._want = None
        if marker in line:
            future.set_result(line)
        else:
            future.set_exception(RuntimeError(f"client {self.index}: {line.decode()}"))

    async def request(self, frame: bytes, marker: bytes, timeout: float) -> bytes:
        """Send ``frame`` and wait for the first line containing ``marker``."""
        assert self.transport is not None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._want = (marker, future)
        self.transport.write(frame)
        return await asyncio.wait_for(future, timeout)

    def go_fast(self) -> None:
        """From now on only count: the set-up conversation is over."""
        self.fast = True
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.lost_connection:
            self.transport.write(data)


class Generator:
    """The clients of one process and the commands that drive them."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.mode: str = setup["mode"]  # "parley", "relay" (the seed-style relay) or "irc"
        self.host: str = setup["host"]
        self.port: int = setup["port"]
        self.first: int = setup["first"]
        self.count: int = setup["count"]
        self.room: str = setup.get("room", "#bench")
        # Clients are spread over this many rooms: client i is in room i % rooms.
        self.rooms: int = max(1, int(setup.get("rooms", 1)))
        self.probe_every: int = max(1, int(setup.get("probe_every", 8)))
        self.concurrency: int = int(setup.get("concurrency", 200))
        self.keepalive_s: float = float(setup.get("keepalive", 20.0))
        self.timeout: float = float(setup.get("timeout", 60.0))
        self.text_bytes: int = int(setup.get("text_bytes", 64))
        self.tally = Tally()
        self.clients: list[Client] = []
        self._keepalive_task: asyncio.Task[None] | None = None

    async def connect(self, join: bool) -> dict[str, Any]:
        """Open every client; Parley clients register and, with ``join``, enter the room."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        began = time.perf_counter()

        async def open_one(index: int) -> Client:
            async with gate:
                # Every probe_every-th member of each room, spread through its member order.
                probe = (index // self.rooms + index % self.rooms) % self.probe_every == 0
                room = self.room_of(index).encode()
                _, client = await loop.create_connection(
                    lambda: Client(index, probe, self.tally, self.mode == "irc", room),
                    self.host,
                    self.port,
                )
                if self.mode == "irc":
                    hello = b"NICK b%d\r\nUSER b%d 0 * :bench\r\n" % (index, index)
                    await client.request(hello, b" 001 ", self.timeout)
                    if join:
                        frame = b"JOIN %s\r\n" % room
                        await client.request(frame, b" 366 ", self.timeout)  # end of NAMES
                elif self.mode == "parley":
                    hello = b'{"type":"hello","nick":"b%d","proto":1}\n' % index
                    await client.request(hello, b'"type":"welcome"', self.timeout)
                    if join:
                        frame = b'{"type":"join","room":"%s"}\n' % room
                        await client.request(frame, b'"type":"history"', self.timeout)
                else:
                    client.go_fast()
                return client

        indices = range(self.first, self.first + self.count)
        self.clients = list(await asyncio.gather(*(open_one(i) for i in indices)))
        if self.mode == "parley" and self._keepalive_task is None:
            self._keepalive_task = asyncio.create_task(self._keepalive())
        return {"event": "connected", "seconds": time.perf_counter() - began}

    def room_of(self, index: int) -> str:
        """The room client ``index`` joins: the one room, or one of ``rooms`` in turn."""
        return self.room if self.rooms == 1 else f"{self.room}-{index % self.rooms}"

    async def ready(self) -> dict[str, Any]:
        """Drain the set-up: after its pong a client has seen every earlier event (the relay
        has no ping: its clients count from the start)."""
        if self.mode != "relay":
            irc = self.mode == "irc"
            ping = b"PING :r%d\r\n" if irc else b'{"type":"ping","id":%d}\n'
            pong = b"PONG" if irc else b'"type":"pong"'

            async def barrier(client: Client) -> None:
                await client.request(ping % client.index, pong, self.timeout)
                client.go_fast()

            await asyncio.gather(*(barrier(c) for c in self.clients))
        return {"event": "ready"}

    async def _keepalive(self) -> None:
        """Say something now and then, so that the server never has to ping a quiet receiver."""
        while True:
            for client in list(self.clients):
                client.write(_KEEPALIVE)
                await asyncio.sleep(self.keepalive_s / max(1, len(self.clients)))

    async def step(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Send this process's share of one paced step and count what every client receives."""
        loop = asyncio.get_running_loop()
        cpu_before = own_cpu_seconds()
        senders: list[int] = cmd["senders"]
        per_sender: int = cmd["per_sender"]
        total = per_sender * len(senders)
        # Senders are spread evenly over the rooms (``driver.sender_ids``): each room gets its
        # share of the schedule, and every member of a room expects all of its room's.
        per_room = total // self.rooms
        done: asyncio.Future[None] = loop.create_future()
        tally = self.tally = Tally(remaining=0, done=done)
        local = {
            rank: self.clients[index - self.first]
            for rank, index in enumerate(senders)
            if self.first <= index < self.first + self.count
        }
        own = {client.index for client in local.values()}
        for client in self.clients:
            client.tally = tally
            client.got = 0
            client.expected = per_room
            if self.mode != "parley" and client.index in own:
                client.expected -= per_sender  # the relay and IRC do not echo to the sender
            client.finished = client.lost_connection or client.expected <= 0
            if not client.finished:
                tally.remaining += 1
        if tally.remaining == 0:
            done.set_result(None)
        sent, lag_max, lag_sum = await self._send(cmd, local, total, len(senders))
        wait_ns = int(cmd["deadline_ns"]) - monotonic_ns()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), max(0.0, wait_ns / 1e9))
        received = sum(c.got for c in self.clients)
        expected = sum(c.expected for c in self.clients)
        return {
            "event": "step",
            "sent": sent,
            "received": received,
            "expected": expected,
            "short_clients": sum(1 for c in self.clients if c.got < c.expected),
            "lost_connections": sum(1 for c in self.clients if c.lost_connection),
            "hist": {str(k): v for k, v in tally.hist.items()},
            "max_ns": tally.max_ns,
            "first_ns": tally.first_ns,
            "last_ns": tally.last_ns,
            "lag_max_ns": lag_max,
            "lag_sum_ns": lag_sum,
            "cpu_s": own_cpu_seconds() - cpu_before,
        }

    async def _send(
        self, cmd: dict[str, Any], local: dict[int, Client], total: int, k: int
    ) -> tuple[int, int, int]:
        """Send this process's slots of the step's evenly spaced schedule, catching up if late.

        Slot ``j`` belongs to sender ``j % k`` and is due at ``start + j * interval``; the send
        time written into the message is the moment it is actually written, and how late that
        was is reported as the generator's lag.
        """
        start: int = cmd["start_ns"]
        interval: float = cmd["interval_ns"]
        line = (
            b"PRIVMSG %s :%s%s\r\n"
            if self.mode == "irc"
            else b'{"type":"say","room":"%s","text":"%s%s"}\n'
        )
        pad = b"x" * self.text_bytes
        sent = lag_max = lag_sum = 0
        j = 0
        while j < total:
            now = monotonic_ns()
            due = min(total, int((now - start) / interval) + 1) if now >= start else 0
            while j < due:
                client = local.get(j % k)
                if client is not None:
                    stamp = monotonic_ns()
                    head = b"%d %d " % (stamp, j)
                    text = pad[: max(0, self.text_bytes - len(head))]
                    client.write(line % (client.room, head, text))
                    lag = stamp - start - int(j * interval)
                    lag_sum += lag
                    if lag > lag_max:
                        lag_max = lag
                    sent += 1
                j += 1
            if j < total:
                next_due = start + int(j * interval)
                await asyncio.sleep(max(0.0, (next_due - monotonic_ns()) / 1e9))
        return sent, lag_max, lag_sum

    async def close(self) -> dict[str, Any]:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        for client in self.clients:
            if client.transport is not None:
                client.transport.close()
        await asyncio.sleep(0)
        return {"event": "closed"}


async def _commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def serve_commands() -> None:
    """Obey the driver's commands until ``close`` or the end of stdin."""
    reader = await _commands()
    generator: Generator | None = None
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            kind = cmd["cmd"]
            if kind == "setup":
                raise_fd_limit(int(cmd["count"]) + 256)
                generator = Generator(cmd)
                _emit({"event": "setup"})
            elif generator is None:
                raise RuntimeError("setup must come first")
            elif kind == "connect":
                _emit(await generator.connect(bool(cmd.get("join", True))))
            elif kind == "ready":
                _emit(await generator.ready())
            elif kind == "step":
                _emit(await generator.step(cmd))
            elif kind == "close":
                _emit(await generator.close())
                break
            else:
                raise RuntimeError(f"unknown command {kind!r}")
        except Exception as exc:
            _emit({"event": "failed", "error": f"{type(exc).__name__}: {exc}"})
            break


def main() -> int:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_commands())
    else:
        uvloop.run(serve_commands())
    return 0


if __name__ == "__main__":
    sys.exit(main())
