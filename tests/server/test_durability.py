"""Durability: nothing a client has seen is lost, whether the server is killed or stopped.

The kill and signal tests run the real ``python -m parley serve`` in a subprocess on a SQLite file
in ``tmp_path``, find its port in the ``listening on HOST:PORT`` log line, and drive it with raw
socket clients. After a ``kill -9`` in the middle of a flood of messages, a restart on the same
file must have every message any client received, as ``history`` shows it. SIGINT and SIGTERM
must say ``bye`` to everyone, flush the store and exit 0. The in-process tests stop a ``Server``
and start a new one on the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIMEOUT, Dial, StartServer, WireClient

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (\S+):(\d+)")
ROOMS = ("#durable", "#second")
# Room messages the clients must have received between them before the server is killed.
ENOUGH = 3000

# (room, from, text) of a room message, by id.
Seen = dict[int, tuple[str, str, str]]


class ServerProcess:
    """``python -m parley serve`` on a SQLite file, with its log read as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.port = 0
        self.log: list[str] = []
        self.killed = False
        self._reading: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, db: Path) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "parley", "serve", "--port", "0", "--db", str(db)),
            *("--msg-rate", "0", "--max-conns-per-ip", "0", "--log-level", "info"),
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        server = cls(proc)
        try:
            server.port = await asyncio.wait_for(server._find_port(), TIMEOUT)
        except BaseException:
            await server.kill()
            raise
        # Keep draining the log so that the server never blocks on a full pipe.
        server._reading = asyncio.create_task(server._read_log())
        return server

    async def _find_port(self) -> int:
        assert self.proc.stderr is not None
        while True:
            line = (await self.proc.stderr.readline()).decode(errors="replace")
            assert line, f"the server exited before listening: {''.join(self.log)}"
            self.log.append(line)
            found = LISTENING.search(line)
            if found:
                return int(found.group(2))

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.log.append(line.decode(errors="replace"))

    async def wait(self) -> int:
        """The exit status, once the process has exited and its log was read to the end."""
        status = await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        if self._reading is not None:
            await asyncio.wait_for(self._reading, TIMEOUT)
        return status

    def kill_now(self) -> None:
        """Send ``kill -9`` (once) without waiting."""
        if self.proc.returncode is None and not self.killed:
            self.killed = True
            self.proc.send_signal(signal.SIGKILL)

    async def kill(self) -> None:
        """``kill -9`` and wait for the process to end."""
        self.kill_now()
        await self.wait()


Spawn = Callable[[], Awaitable[ServerProcess]]


@pytest.fixture
async def spawn(db_path: Path) -> AsyncIterator[Spawn]:
    """Start server subprocesses on the test's SQLite file; any still running are killed."""
    procs: list[ServerProcess] = []

    async def start() -> ServerProcess:
        proc = await ServerProcess.start(db_path)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        await proc.kill()


async def full_history(client: WireClient, room: str) -> list[dict[str, Any]]:
    """Every message of ``room``, oldest first, paged with ``history {after}``."""
    messages: list[dict[str, Any]] = []
    after = 0
    for page_number in itertools.count():
        assert page_number < 1000
        await client.send(type="history", room=room, after=after, limit=200, ref=page_number)
        page = await client.expect("history", room=room, ref=page_number)
        messages.extend(page["messages"])
        if not page["more"]:
            return messages
        after = messages[-1]["id"]
    raise AssertionError("unreachable")


async def history_of(port: int, dial: Dial, rooms: tuple[str, ...]) -> Seen:
    """What a fresh client finds in the history of ``rooms``, checked to be in id order."""
    client = await dial(port, "auditor")
    stored: Seen = {}
    for room in rooms:
        await client.join(room)
        messages = await full_history(client, room)
        ids = [m["id"] for m in messages]
        assert ids == sorted(set(ids)), f"{room} history is not in strict id order"
        stored.update({m["id"]: (m["room"], m["from"], m["text"]) for m in messages})
    return stored


def record(frame: dict[str, Any], seen: Seen) -> None:
    """Remember a room message a client received (a second copy must be identical)."""
    if frame["type"] == "message" and "room" in frame:
        fact = (frame["room"], frame["from"], frame["text"])
        assert seen.setdefault(frame["id"], fact) == fact, frame


# --- kill -9 ---------------------------------------------------------------------------------


async def chatter(client: WireClient, nick: str, room: str, sent: list[int]) -> None:
    """Say numbered lines into ``room`` as fast as the socket takes them, until it breaks."""
    with contextlib.suppress(ConnectionError):
        for number in itertools.count():
            frame = {"type": "say", "room": room, "text": f"{nick} line {number}"}
            client.writer.write(json.dumps(frame).encode() + b"\n")
            sent.append(number)
            if number % 20 == 19:
                await client.writer.drain()
                await asyncio.sleep(0)  # drain() does not yield unless the buffer is full


async def listen(client: WireClient, seen: Seen, enough: int, kill: Callable[[], None]) -> None:
    """Record every room message until the connection ends; ``kill`` once ``enough`` arrived.

    The kill is sent the moment a client has read a message, before any other task runs: the
    newest messages are then as fresh as can be, the hardest case for "committed before sent".
    """
    with contextlib.suppress(ConnectionError):
        while line := await client.reader.readline():
            record(json.loads(line), seen)
            if len(seen) >= enough:
                kill()


async def test_kill_9_loses_nothing_any_client_received(spawn: Spawn, dial: Dial) -> None:
    """After kill -9 mid-flood and a restart, history holds every message any client got."""
    server = await spawn()
    clients = []
    for number in range(6):
        client = await dial(server.port)
        await client.hello(f"c{number}")
        for room in ROOMS:
            await client.join(room)
        clients.append(client)
    for client in clients:
        await client.barrier()

    seen: Seen = {}
    sent: list[int] = []
    listeners = [asyncio.create_task(listen(c, seen, ENOUGH, server.kill_now)) for c in clients]
    chatters = [
        asyncio.create_task(chatter(c, f"c{n}", ROOMS[n % 2], sent)) for n, c in enumerate(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*listeners), TIMEOUT)
    assert server.killed
    await server.wait()
    for task in chatters:
        task.cancel()
    await asyncio.gather(*chatters, return_exceptions=True)
    # The kill came mid-stream: more was said than anyone heard.
    assert len(sent) > len(seen) >= ENOUGH

    restarted = await spawn()
    stored = await history_of(restarted.port, dial, ROOMS)
    missing = sorted(set(seen) - set(stored))
    assert not missing, f"{len(missing)} received messages lost, e.g. {missing[:5]}"
    assert all(stored[i] == fact for i, fact in seen.items())

    # Ids keep increasing after the restart.
    newcomer = await dial(restarted.port, "newcomer")
    await newcomer.join(ROOMS[0])
    await newcomer.send(type="say", room=ROOMS[0], text="after the crash")
    message = await newcomer.expect("message", text="after the crash")
    assert message["id"] > max(stored)


async def test_kill_9_while_the_disk_is_stuck_loses_nothing_seen(
    spawn: Spawn, dial: Dial, db_path: Path
) -> None:
    """Messages whose commit is stalled reach nobody, so a kill -9 then loses nothing seen."""
    server = await spawn()
    alice = await dial(server.port, "alice")
    await alice.join(ROOMS[0])
    bob = await dial(server.port, "bob")
    await bob.join(ROOMS[0])
    await alice.send(type="say", room=ROOMS[0], text="before")
    seen: Seen = {}
    for client in (alice, bob):
        for frame in await client.barrier():
            record(frame, seen)
    assert [text for _, _, text in seen.values()] == ["before"]

    # Another writer holds SQLite's write lock: the server's commits wait, like on a stuck disk.
    blocker = sqlite3.connect(db_path, timeout=TIMEOUT, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        for number in range(20):
            await alice.send(type="say", room=ROOMS[0], text=f"stuck {number}", nonce=str(number))
        await bob.send(type="say", room=ROOMS[0], text="stuck too")
        # Not a wait for success: a server that sent before committing gets time to show it.
        await asyncio.sleep(0.3)
        await server.kill()
    finally:
        blocker.rollback()
        blocker.close()
    for client in (alice, bob):
        for frame in await client.closed():
            record(frame, seen)
    assert [text for _, _, text in seen.values()] == ["before"]

    restarted = await spawn()
    stored = await history_of(restarted.port, dial, ROOMS[:1])
    assert list(stored.values()) == list(seen.values())


# --- SIGINT and SIGTERM -----------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_says_bye_flushes_and_exits_0(
    spawn: Spawn, dial: Dial, signum: signal.Signals
) -> None:
    """SIGINT/SIGTERM: every client gets bye server_shutdown, exit 0, history kept."""
    server = await spawn()
    clients = []
    for number in range(4):
        client = await dial(server.port)
        await client.hello(f"c{number}")
        clients.append(client)
    for client in clients[:3]:
        await client.join(ROOMS[0])
    seen: Seen = {}
    for number, client in enumerate(clients[:3]):
        await client.send(type="say", room=ROOMS[0], text=f"before {number}")
    for client in clients:
        for frame in await client.barrier():
            record(frame, seen)
    assert sorted(text for _, _, text in seen.values()) == [f"before {n}" for n in range(3)]
    # One client is mid-burst when the signal arrives.
    burst = b"".join(
        json.dumps({"type": "say", "room": ROOMS[0], "text": f"burst {n}"}).encode() + b"\n"
        for n in range(300)
    )
    await clients[0].send_raw(burst)

    assert server.proc.pid is not None
    os.kill(server.proc.pid, signum)
    for number, client in enumerate(clients):
        frames = await client.closed()
        for frame in frames:
            record(frame, seen)
        last = [(f["type"], f.get("code", f.get("reason"))) for f in frames[-2:]]
        assert last == [("error", "server_shutdown"), ("bye", "server_shutdown")], (number, last)
        await client.close()
    assert await server.wait() == 0
    assert any("history closed" in line for line in server.log), server.log

    restarted = await spawn()
    stored = await history_of(restarted.port, dial, ROOMS[:1])
    assert {f"before {n}" for n in range(3)} <= {text for _, _, text in stored.values()}
    assert all(stored.get(i) == fact for i, fact in seen.items())


async def test_shutdown_does_not_wait_forever_for_a_client_that_never_hangs_up(
    start_server: StartServer, dial: Dial
) -> None:
    """stop() says bye to a client that neither reads nor closes, then gives up on it."""
    server = await start_server()
    deaf = await dial(server.port, "deaf")
    await deaf.join("#room")
    await asyncio.wait_for(server.stop(), TIMEOUT)
    assert not server.hub.sessions
    last = await deaf.closed()
    assert [(f["type"], f.get("code") or f.get("reason")) for f in last] == [
        ("error", "server_shutdown"),
        ("bye", "server_shutdown"),
    ]


# --- restart in process ------------------------------------------------------------------------


async def test_restart_keeps_history_topics_and_ids(start_server: StartServer, dial: Dial) -> None:
    """A new server on the same file has the old messages and topics, and ids keep increasing."""
    first = await start_server(recent=5)
    alice = await dial(first.port, "alice")
    await alice.join("#keep")
    await alice.join("#other")
    await alice.send(type="topic", room="#keep", topic="kept topic")
    await alice.expect("topic", topic="kept topic", by="alice")
    said = []
    for number in range(8):
        await alice.send(type="say", room="#keep", text=f"old {number}", action=number == 3)
        said.append(await alice.expect("message", text=f"old {number}"))
    await alice.send(type="say", room="#other", text="elsewhere")
    other = await alice.expect("message", text="elsewhere")
    stopping = asyncio.create_task(first.stop())
    assert (await alice.closed())[-1]["reason"] == "server_shutdown"
    await alice.close()  # as a real client does; the server waits for it to hang up
    await asyncio.wait_for(stopping, TIMEOUT)

    second = await start_server(recent=5)
    bob = await dial(second.port, "bob")
    joined, recent = await bob.join("#keep")
    assert joined["topic"] == "kept topic"
    # The join shows the newest messages, and older ones are a history page away.
    assert recent["messages"] == said[-5:] and recent["more"] is True
    await bob.send(type="history", room="#keep", before=said[-5]["id"])
    older = await bob.expect("history", room="#keep")
    assert older["messages"] == said[:3] and older["more"] is False
    _, elsewhere = await bob.join("#other")
    assert elsewhere["messages"] == [other]

    await bob.send(type="say", room="#keep", text="new")
    new = await bob.expect("message", text="new")
    assert new["id"] > other["id"] > said[-1]["id"]


async def test_goodbye_to_a_client_that_already_hung_up(start_server: StartServer) -> None:
    """Shutting down while a client's hang-up is not yet noticed raises nothing and drops it."""
    server = await start_server()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(TIMEOUT)
    sock.sendall(b'{"type":"hello","nick":"ghost","proto":1}\n')
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while "ghost" not in server.hub.nicks:
        assert loop.time() < deadline, "the server never registered the client"
        await asyncio.sleep(0.01)
    assert b"welcome" in sock.recv(4096)
    # The server's goodbye reaches a closed socket, whose kernel answers with a reset at once:
    # the half-close that follows then finds the connection gone.
    sock.close()
    server.hub.say_goodbye()
    assert server.hub.sessions.in_chat() == []
