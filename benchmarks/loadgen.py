"""One load-generator process: many client connections on one asyncio loop, driven over a pipe.

The driver (``benchmarks.driver``) starts several of these (``python -m benchmarks.loadgen``) and
talks to each with one JSON object per line: commands on stdin, events on stdout. A process owns
a contiguous range of the benchmark's clients. ``connect`` opens them and registers every one
(for Parley: ``hello``, written the moment the connection is made; for IRC: NICK and USER; for
the seed relay: a bare TCP connection, since it has no registration), then has them join the
benchmark room in waves with a ping barrier between them, so that the joins never run ahead of
what the process can read (each join is announced to every member: N^2/2 lines for a room of
N, read and dropped unparsed while nothing is awaited). ``ready`` makes sure nothing from the
set-up is still on its way (a ``ping`` barrier per client), and each ``step`` has the process's
senders send their share of a paced message schedule while every client counts what it receives
until it has all of it. With ``rooms`` above 1, client i joins room i % rooms instead of the one
room, each sender sends to its own room, and each client expects its room's share of the
schedule.

The receive path is kept as cheap as Python allows, so that the generator is not what limits the
measurement: a receiver counts newlines per read (``bytes.count``, one frame or relayed line
each, a keepalive found across read boundaries too) and never decodes JSON. Every message's text
starts with its send time on ``CLOCK_MONOTONIC``, which is one clock for all processes of a
Linux machine, and its slot number in the step's schedule; a "probe" receiver (every
``probe_every``-th client, spread evenly through the room's member order) reads whole lines,
finds every send time and slot with one regular expression, records the delivery latency of each
message into a histogram and checks at the end of the step that it got every slot of its room
exactly once; the others record only the oldest message of each read, which is enough for an
exact maximum. So a step proves nothing lost and nothing duplicated: counts per client, numbers
per probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.procstat import own_cpu_seconds, raise_fd_limit

# Latency histogram buckets are 2**14 ns (16.4 us) wide: fine enough for a 50 ms bound.
BUCKET_SHIFT = 14
# A message's text starts with its send time and its slot number, each followed by a space, so a
# stamp cut short by a read boundary never matches (probes match whole lines only anyway).
_STAMP = re.compile(rb'"text":"(\d+) ')
_PROBE = re.compile(rb'"text":"(\d+) (\d+) ')
_SERVER_PING = b'"type":"ping"'
_ERROR = b'"type":"error"'
# The same for an IRC server (``irc`` mode): a PRIVMSG's text, its keepalive, its fatal error.
_IRC_STAMP = re.compile(rb"PRIVMSG \S+ :(\d+) ")
_IRC_PROBE = re.compile(rb"PRIVMSG \S+ :(\d+) (\d+) ")
_IRC_PING = b"PING :"
_IRC_ERROR = b"ERROR :"
_IRC_PONG = b"PONG :bench\r\n"
_KEEPALIVE = b'{"type":"pong"}\n'
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux 4.2
monotonic_ns = time.monotonic_ns
# Clients joined between two pings to the first member, and joins awaited at once
# (``Generator.connect``): a join of a room of 10,000 costs its server about 50 ms of writes.
WAVE = 250
JOINS_AT_ONCE = 50


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
        self,
        index: int,
        probe: bool,
        tally: Tally,
        irc: bool = False,
        room: bytes = b"#bench",
        greeting: bytes = b"",
        want: tuple[bytes, asyncio.Future[bytes]] | None = None,
    ) -> None:
        self.index = index
        self.room = room
        self.probe = probe
        self.tally = tally
        self.irc = irc
        self._stamp = _IRC_STAMP if irc else _STAMP
        self._probe_stamp = _IRC_PROBE if irc else _PROBE
        self._ping = _IRC_PING if irc else _SERVER_PING
        self._error = _IRC_ERROR if irc else _ERROR
        self.transport: asyncio.Transport | None = None
        self.fast = False
        self.got = 0
        self.expected = 0
        self.finished = True
        self.lost_connection = False
        self.slots: list[int] = []  # a probe's slot numbers received this step
        self._tail = b""  # the end of the last read, where a keepalive may have begun
        self._partial = b""  # a probe's line not yet complete
        self._buffer = bytearray()
        # Sent as soon as the connection is made, before anything else is read, so that a
        # generator busy reading the room's presence never keeps a ``hello`` waiting.
        self._greeting = greeting
        self._want = want

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._greeting and self.transport is not None:
            self.transport.write(self._greeting)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_connection = True
        if self._want is not None and not self._want[1].done():
            self._want[1].set_exception(ConnectionError(f"client {self.index} disconnected"))
        if not self.finished:
            self.finished = True
            self.tally.receiver_finished()

    def data_received(self, data: bytes) -> None:
        if not self.fast:
            if self._want is not None:
                self._setup_data(data)
            # Else nothing is awaited: what arrives (others' joins) is dropped unread.
            return
        now = monotonic_ns()
        got = self.got + data.count(b"\n")
        ping = self._ping
        pings = data.count(ping)
        # A keepalive split over two reads has its newline counted in the second: find it
        # across the boundary too, or it would be counted as a message.
        keep = len(ping) - 1
        if self._tail:
            pings += (self._tail + data[:keep]).count(ping)
        self._tail = data[-keep:] if len(data) >= keep else (self._tail + data)[-keep:]
        if pings:
            # A keepalive is not a message; the periodic pong in keepalive() answers Parley's,
            # and an IRC server's is answered here (it would drop a client that stays silent).
            got -= pings
            if self.irc:
                self.write(_IRC_PONG)
        self.got = got
        tally = self.tally
        tally.last_ns = now
        if not tally.first_ns:
            tally.first_ns = now
        if self.probe:
            self._probe_data(data, now)
        else:
            match = self._stamp.search(data)
            if match is not None:
                oldest = now - int(match.group(1))
                if oldest > tally.max_ns:
                    tally.max_ns = oldest
        if got >= self.expected and not self.finished:
            self.finished = True
            tally.receiver_finished()

    def _probe_data(self, data: bytes, now: int) -> None:
        """A probe reads whole lines: every message's send time and slot number, exactly."""
        text = self._partial + data if self._partial else data
        end = text.rfind(b"\n") + 1
        self._partial = text[end:]
        found = self._probe_stamp.findall(text, 0, end)
        if not found:
            return
        tally = self.tally
        latencies = [now - int(stamp) for stamp, _ in found]
        tally.hist.update([latency >> BUCKET_SHIFT for latency in latencies])
        oldest = max(latencies)
        if oldest > tally.max_ns:
            tally.max_ns = oldest
        self.slots.extend([int(slot) for _, slot in found])

    # --- set-up: wait for one kind of frame, ignore the rest ---

    def _setup_data(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        assert self._want is not None
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
        del buffer[:]
        self._want = None
        if future.done():  # given up on (a timeout): nothing to tell
            return
        if marker in line:
            future.set_result(line)
        else:
            future.set_exception(RuntimeError(f"client {self.index}: {line.decode()}"))

    async def request(self, frame: bytes, marker: bytes, timeout: float) -> bytes:
        """Send ``frame`` and wait for the first line containing ``marker``."""
        assert self.transport is not None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
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
        # The clients' own address ("" lets the kernel choose): see ``_connected_socket``.
        self.source: str = setup.get("source", "")
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
        """Open every client; Parley and IRC clients register and, with ``join``, enter the room.

        Registering comes first, for every client: a server answers a ``hello`` only after the
        announcements queued before it, and with joins of a big room queued that would take
        longer than its registration timeout. A Parley client writes ``hello`` the moment it is
        connected, an IRC client NICK and USER. Then the clients join in waves of ``WAVE``,
        ``JOINS_AT_ONCE`` at a time, and before each wave a ping to the first member, which
        hears every join, comes back: every join so far has then reached this process's
        members, so the joins never run ahead of what the generator can read.
        """
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        began = time.perf_counter()
        irc = self.mode == "irc"

        async def open_one(index: int) -> Client:
            async with gate:
                # Every probe_every-th member of each room, spread through its member order.
                probe = (index // self.rooms + index % self.rooms) % self.probe_every == 0
                room = self.room_of(index).encode()
                future: asyncio.Future[bytes] = loop.create_future()
                want: tuple[bytes, asyncio.Future[bytes]] | None = None
                greeting = b""
                if irc:
                    greeting = b"NICK b%d\r\nUSER b%d 0 * :bench\r\n" % (index, index)
                    want = (b" 001 ", future)
                elif self.mode == "parley":
                    greeting = b'{"type":"hello","nick":"b%d","proto":1}\n' % index
                    want = (b'"type":"welcome"', future)
                sock = await self._connected_socket()
                _, client = await loop.create_connection(
                    lambda: Client(index, probe, self.tally, irc, room, greeting, want),
                    sock=sock,
                )
                if want is not None:
                    await asyncio.wait_for(future, self.timeout)
                else:
                    client.go_fast()  # the relay: no registration, counting from the start
                return client

        if self.mode == "parley" and self._keepalive_task is None:
            # Started now: setting up a big room takes longer than the server's ping interval.
            self._keepalive_task = asyncio.create_task(self._keepalive())
        indices = range(self.first, self.first + self.count)
        self.clients = list(await asyncio.gather(*(open_one(i) for i in indices)))
        if join and self.mode != "relay":
            await self._join_all()
        return {"event": "connected", "seconds": time.perf_counter() - began}

    async def _connected_socket(self) -> socket.socket:
        """A socket connected to the server, from ``source`` when it is set.

        Tens of thousands of clients from 127.0.0.1 would take most of its ephemeral ports:
        a test elsewhere on the machine that binds a listener to 127.0.0.1, port 0, may then
        be given a port one of them holds and fail with EADDRINUSE. From another loopback
        address, with the port chosen at connect time (``IP_BIND_ADDRESS_NO_PORT``, so that
        one port serves connections to different servers), they leave 127.0.0.1's ports alone.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if self.source:
                sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((self.source, 0))
            await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        except BaseException:
            sock.close()
            raise
        return sock

    async def _join_all(self) -> None:
        """Every client into its room, in waves behind a barrier (see ``connect``)."""
        gate = asyncio.Semaphore(min(self.concurrency, JOINS_AT_ONCE))
        if self.mode == "irc":
            frame, marker = b"JOIN %s\r\n", b" 366 "  # end of NAMES
        else:
            frame, marker = b'{"type":"join","room":"%s"}\n', b'"type":"history"'

        async def join_one(client: Client) -> None:
            async with gate:
                await client.request(frame % client.room, marker, self.timeout)

        for at in range(0, len(self.clients), WAVE):
            if at:
                await self._barrier(self.clients[0])
            await asyncio.gather(*(join_one(c) for c in self.clients[at : at + WAVE]))

    async def _barrier(self, client: Client) -> None:
        """Wait until ``client`` has read everything the server sent it before now."""
        irc = self.mode == "irc"
        ping = b"PING :r%d\r\n" if irc else b'{"type":"ping","id":%d}\n'
        pong = b"PONG" if irc else b'"type":"pong"'
        await client.request(ping % client.index, pong, self.timeout)

    def room_of(self, index: int) -> str:
        """The room client ``index`` joins: the one room, or one of ``rooms`` in turn."""
        return self.room if self.rooms == 1 else f"{self.room}-{index % self.rooms}"

    async def ready(self) -> dict[str, Any]:
        """Drain the set-up: after its pong a client has seen every earlier event (the relay
        has no ping: its clients count from the start)."""
        if self.mode != "relay":

            async def barrier(client: Client) -> None:
                await self._barrier(client)
                client.go_fast()

            await asyncio.gather(*(barrier(c) for c in self.clients))
        return {"event": "ready"}

    async def _keepalive(self) -> None:
        """Say something now and then, so that the server never has to ping a quiet receiver."""
        while True:
            await asyncio.sleep(1.0)  # and never spin while there is no client yet
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
            client.slots = []
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
        missing, repeated, foreign = self._check_slots(senders, total)
        return {
            "event": "step",
            "sent": sent,
            "received": received,
            "expected": expected,
            "short_clients": sum(1 for c in self.clients if c.got < c.expected),
            # Counted beyond what a client expected: a repeat, or something not a message.
            "surplus": sum(max(0, c.got - c.expected) for c in self.clients),
            "probes": sum(1 for c in self.clients if c.probe),
            "probe_missing": missing,
            "probe_repeated": repeated,
            "probe_foreign": foreign,
            "lost_connections": sum(1 for c in self.clients if c.lost_connection),
            "hist": {str(k): v for k, v in tally.hist.items()},
            "max_ns": tally.max_ns,
            "first_ns": tally.first_ns,
            "last_ns": tally.last_ns,
            "lag_max_ns": lag_max,
            "lag_sum_ns": lag_sum,
            "cpu_s": own_cpu_seconds() - cpu_before,
        }

    def _check_slots(self, senders: list[int], total: int) -> tuple[int, int, int]:
        """Every probe's slot numbers against the step's schedule: how many it lacks, how many
        it got twice or more, how many are not its room's (or are its own, where the server
        does not echo)."""
        k = len(senders)
        rank_of = {index: r for r, index in enumerate(senders)}
        rooms: dict[int, set[int]] = {}
        missing = repeated = foreign = 0
        for client in self.clients:
            if not client.probe:
                continue
            room = client.index % self.rooms
            if room not in rooms:
                ranks = {r for r, index in enumerate(senders) if index % self.rooms == room}
                rooms[room] = {j for j in range(total) if j % k in ranks}
            wanted = rooms[room]
            if self.mode != "parley" and client.index in rank_of:
                wanted = wanted - set(range(rank_of[client.index], total, k))
            got = set(client.slots)
            missing += len(wanted - got)
            repeated += len(client.slots) - len(got)
            foreign += len(got - wanted)
        return missing, repeated, foreign

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
