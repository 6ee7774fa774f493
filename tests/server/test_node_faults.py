"""Nodes and faults: a node killed with ``kill -9``, and Redis shut down and started again.

The killed node is a real process (``python -c`` starting a ``Server`` node), so that nothing of
it runs once it is killed; the surviving node is in this test process. Redis is the test's own
``redis-server``, restarted on the same AOF.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.server import Server
from tests.conftest import Dial, StartServer, WireClient
from tests.redis_server import RedisServer
from tests.server.nodes import redis, start_node
from tests.server.wire import registered

__all__ = ["redis", "start_node"]

LEASE = 1.5  # seconds: short, so that a dead node is noticed quickly

_NODE = """
import asyncio, sys
from app.server import Server, ServerConfig

async def main():
    config = ServerConfig(port=0, msg_rate=0, redis_url=sys.argv[1], node_lease=float(sys.argv[2]))
    node = Server(config)
    await node.start()
    print(node.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture
def process_node(redis: RedisServer) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A node in a process of its own, on the test's Redis: the process and its port."""
    process = subprocess.Popen(
        [sys.executable, "-c", _NODE, redis.url, str(LEASE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def alice_and_bob(dial: Dial, port_a: int, port_b: int) -> tuple[WireClient, WireClient]:
    """Alice on the node at ``port_a`` and bob on the one at ``port_b``, both in ``#a``."""
    alice = await dial(port_a, "alice")
    await alice.join("#a")
    await alice.barrier()
    bob = await dial(port_b, "bob")
    await bob.join("#a")
    await bob.barrier()
    return alice, bob


async def test_a_killed_node_s_users_quit_and_free_their_nicks(
    process_node: tuple[subprocess.Popen[str], int], start_node: StartServer, dial: Dial
) -> None:
    """kill -9 of a node: its users' ``quit`` reach the other node's members within the lease
    and a third, exactly once, and their nicks are free again."""
    process, port_a = process_node
    b = await start_node(node_lease=LEASE)
    _alice, bob = await alice_and_bob(dial, port_a, b.port)
    os.kill(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    quit = await bob.recv(timeout=LEASE * 4)
    assert quit == {
        "type": "presence",
        "room": "#a",
        "nick": "alice",
        "event": "quit",
        "text": "node_lost",
    }
    assert time.monotonic() - killed < LEASE * 4 / 3 + 1.0
    again = await dial(b.port, "alice")
    await again.join("#a")
    assert await bob.barrier() == [
        {"type": "presence", "room": "#a", "nick": "alice", "event": "join"}
    ]
    await bob.send(type="who", room="#a", ref="w")
    who = await bob.expect("members", ref="w")
    assert [m["nick"] for m in who["members"]] == ["alice", "bob"]
    await asyncio.sleep(LEASE)  # another reaping round: nobody quits twice
    assert await bob.barrier() == []


async def test_redis_restarted_mid_flood_loses_nothing_acknowledged(
    redis: RedisServer, start_node: StartServer, dial: Dial
) -> None:
    """Redis shut down and started on the same AOF mid-flood: every message acknowledged to its
    sender is in history and reached every member once, in order; the others were refused
    ``unavailable``; the nodes resume by themselves, without a restart."""
    nodes: list[Server] = [await start_node(), await start_node()]
    clients: list[WireClient] = []
    for i, nick in enumerate(("s0", "s1", "r0", "r1")):
        client = await dial(nodes[i % 2].port, nick)
        await client.join("#r")
        clients.append(client)
    for client in clients:
        await client.barrier()
    received: dict[str, list[int]] = {c: [] for c in ("s0", "s1", "r0", "r1")}
    acked: list[int] = []
    refused = 0
    sending = True

    async def send(client: WireClient) -> None:
        n = 0
        while sending:
            await client.send(type="say", room="#r", text=f"m{n}", nonce=str(n))
            n += 1
            await asyncio.sleep(0.005)

    async def read(nick: str, client: WireClient) -> None:
        nonlocal refused
        while True:
            frame = await client.recv(timeout=30)
            if frame["type"] == "message":
                received[nick].append(frame["id"])
                if frame.get("nonce") is not None:
                    acked.append(frame["id"])
            elif frame["type"] == "error":
                assert frame["code"] == "unavailable", frame
                refused += 1

    readers = [asyncio.create_task(read(n, c)) for n, c in zip(received, clients, strict=True)]
    senders = [asyncio.create_task(send(c)) for c in clients[:2]]
    await asyncio.sleep(0.3)
    redis.stop()
    await asyncio.sleep(0.5)
    redis.start()
    await asyncio.sleep(1.5)
    sending = False
    await asyncio.gather(*senders)
    await asyncio.sleep(1.0)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    assert refused > 0, "Redis was down: some says must have been refused"
    everything = sorted(acked)
    for nick, ids in received.items():
        assert ids == sorted(set(ids)), f"{nick}: out of order or repeated"
        assert set(everything) <= set(ids), f"{nick} missed acknowledged messages"
    probe = await dial(nodes[1].port, "probe")
    await probe.join("#r")
    stored: set[int] = set()
    before: Any = None
    while True:
        query: dict[str, Any] = {"limit": 200} | ({"before": before} if before else {})
        await probe.send(type="history", room="#r", ref="h", **query)
        page = await probe.expect("history", ref="h")
        stored |= {m["id"] for m in page["messages"]}
        if not page["more"] or not page["messages"]:
            break
        before = page["messages"][0]["id"]
    assert set(everything) <= stored
    await clients[0].barrier()
    await clients[0].send(type="say", room="#r", text="after", nonce="late")
    echo = await clients[0].expect("message", text="after")
    assert echo["nonce"] == "late"


async def test_a_node_taken_for_dead_records_its_members_again(
    process_node: tuple[subprocess.Popen[str], int], start_node: StartServer, dial: Dial
) -> None:
    """A node frozen for longer than the lease (SIGSTOP) is reaped by the other; once it runs
    again it finds that at its next beat and records its members and nicks again."""
    process, port_a = process_node
    b = await start_node(node_lease=LEASE)
    _alice, bob = await alice_and_bob(dial, port_a, b.port)
    os.kill(process.pid, signal.SIGSTOP)
    try:
        quit = await bob.recv(timeout=LEASE * 4)
        assert (quit["event"], quit["nick"]) == ("quit", "alice")
    finally:
        os.kill(process.pid, signal.SIGCONT)
    back = await bob.recv(timeout=LEASE * 2)  # node A beats again and finds itself reaped
    assert (back["event"], back["nick"]) == ("join", "alice")
    await bob.send(type="who", room="#a", ref="w")
    who = await bob.expect("members", ref="w")
    assert [m["nick"] for m in who["members"]] == ["alice", "bob"]
    thief = await dial(b.port)
    await thief.send(type="hello", nick="alice", proto=1)
    await thief.expect("error", code="nick_taken")


async def until_done(client: WireClient, **frame: Any) -> list[dict[str, Any]]:
    """Send ``frame`` until it is not refused ``unavailable`` (the store reconnecting); what it
    brought before the next ``pong``."""
    deadline = time.monotonic() + 10
    while True:
        await client.send(**frame)
        frames = await client.barrier()
        if not any(f["type"] == "error" and f["code"] == "unavailable" for f in frames):
            return frames
        assert time.monotonic() < deadline, f"{frame} refused for 10 s"
        await asyncio.sleep(0.05)


def subscribed(node: Server) -> bool:
    """Whether ``node``'s subscription to Redis is connected."""
    return bool(node.hub.fanout.subscription.connected)  # type: ignore[attr-defined]


async def test_room_events_missed_during_an_outage_are_made_up(
    redis: RedisServer, start_node: StartServer, dial: Dial
) -> None:
    """Redis down, then back while node A's subscription still waits to reconnect: a join, a
    part, a topic and an op made on node B meanwhile reach A's member once A resubscribes (as
    join, part, topic and mode), and its member list is then the room's."""
    a, b = await start_node(), await start_node()
    alice = await dial(a.port, "alice")
    await alice.join("#r")
    bob = await registered(lambda nick: dial(b.port, nick), "bob")
    await bob.join("#r")  # the first account in: the owner
    ann = await registered(lambda nick: dial(b.port, nick), "ann")
    await ann.join("#r")
    dave = await dial(b.port, "dave")
    await dave.join("#r")
    carol = await dial(b.port, "carol")
    for client in (alice, bob, ann, dave, carol):
        await client.barrier()
    redis.stop()
    deadline = time.monotonic() + 10
    while subscribed(a) or subscribed(b):
        assert time.monotonic() < deadline, "the nodes did not notice Redis stopped"
        await asyncio.sleep(0.05)
    # A's pause doubles from 0.1 s: it tries at about 3.1 s, 6.3 s and 11.3 s. Back at 7.5 s,
    # Redis is up over a second after one try and about four before the next.
    await asyncio.sleep(7.5)
    redis.start()
    await until_done(carol, type="join", room="#r")
    await until_done(dave, type="part", room="#r")
    await until_done(bob, type="topic", room="#r", topic="after the storm")
    await until_done(bob, type="op", room="#r", nick="ann")
    assert not subscribed(a), "A resubscribed before B's changes: the outage proved nothing"
    expected = [
        {"type": "presence", "room": "#r", "nick": "dave", "event": "part"},
        {"type": "presence", "room": "#r", "nick": "carol", "event": "join"},
        {"type": "topic", "room": "#r", "topic": "after the storm", "by": "bob"},
        {"type": "mode", "room": "#r", "nick": "ann", "role": "op", "by": "ann"},
    ]
    got = [await alice.recv(timeout=15) for _ in expected]
    assert got == expected
    assert await alice.barrier() == []
    await alice.send(type="who", room="#r", ref="w")
    who = await alice.expect("members", ref="w")
    assert [(m["nick"], m.get("role")) for m in who["members"]] == [
        ("alice", None),
        ("ann", "op"),
        ("bob", "owner"),
        ("carol", None),
    ]
    await carol.send(type="say", room="#r", text="made it")
    await alice.expect("message", text="made it")
