"""The server's limits under stress: slow consumers, the per-address cap, and the timeouts.

Each test starts its own server with small limits (``start_server(sendq=..., ...)``) and talks to
it over real loopback sockets. Waiting is always for a condition (a frame, the server closing, a
session leaving the hub) with a timeout, never a sleep that stands in for an assertion.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Callable
from typing import Any

from app.server import Server
from app.server.session import Session
from tests.conftest import TIMEOUT, Dial, StartServer, WireClient


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def session_of(server: Server, nick: str) -> Session:
    """The hub's session registered as ``nick``."""
    return next(s for s in server.hub.sessions if s.nick == nick)


def assert_dropped(last: list[dict[str, Any]], reason: str) -> None:
    """The server's last words before closing were ``error{reason}`` then ``bye{reason}``."""
    assert len(last) >= 2, last
    assert last[-2]["type"] == "error" and last[-2]["code"] == reason, last[-2:]
    assert last[-1]["type"] == "bye" and last[-1]["reason"] == reason, last[-2:]


# --- slow consumers -------------------------------------------------------------------------

SENDQ = 64 * 1024
TEXT = "x" * 3000


async def next_message(client: WireClient, others: list[dict[str, Any]]) -> dict[str, Any]:
    """The client's next ``message`` frame; frames of other types on the way go to ``others``."""
    while True:
        frame = await client.recv()
        if frame["type"] == "message":
            return frame
        others.append(frame)


async def flood_until_dropped(
    flooder: WireClient,
    reader: WireClient,
    server: Server,
    victim: Session,
    others: dict[str, list[dict[str, Any]]],
) -> list[int]:
    """Say ``TEXT`` one message at a time until ``victim`` is dropped; the ids the reader got.

    Frames other than messages go to ``others["flooder"]`` and ``others["reader"]``. Each
    message's round trip to the flooder and to the reader must complete (within the ``recv``
    timeout) while the victim is stuck: the victim never holds anyone up.
    """
    ids: list[int] = []
    while victim.in_chat:
        assert len(ids) < 20_000, "the non-reader was never dropped"
        await flooder.send(type="say", room="#flood", text=TEXT)
        own = await next_message(flooder, others["flooder"])
        got = own if reader is flooder else await next_message(reader, others["reader"])
        assert got["id"] == own["id"] and got["text"] == TEXT
        ids.append(got["id"])
    return ids


async def test_slow_consumer_is_dropped_and_others_keep_up(
    start_server: StartServer, dial: Dial
) -> None:
    """A client that never reads gets slow_consumer and is dropped; the readers get everything."""
    server = await start_server(sendq=SENDQ)
    sloth = await dial(server.port, "sloth")
    await sloth.join("#flood")
    flooder = await dial(server.port, "flooder")
    await flooder.join("#flood")
    reader = await dial(server.port, "reader")
    await reader.join("#flood")
    await flooder.barrier()
    await sloth.barrier()  # only presences so far; from here on the sloth reads nothing
    victim = session_of(server, "sloth")

    others: dict[str, list[dict[str, Any]]] = {"flooder": [], "reader": []}
    ids = await flood_until_dropped(flooder, reader, server, victim, others)
    assert victim.transport is not None
    # The bound holds: what is queued for the dropped client is about --sendq, not the flood.
    queued = victim.transport.get_write_buffer_size()
    assert queued <= SENDQ + 2 * (len(TEXT) + 200), queued
    # The sloth reads from now on, before the server's grace for its last words runs out.
    sloth_last = asyncio.create_task(sloth.closed())
    assert ids == sorted(ids) and len(ids) * len(TEXT) > SENDQ

    # Everyone else is told the sloth is gone (exactly once) and keeps being served.
    await flooder.send(type="say", room="#flood", text="still here")
    for name, client in (("reader", reader), ("flooder", flooder)):
        after = await next_message(client, others[name])
        assert after["text"] == "still here" and after["id"] > ids[-1]
        events = [(f["type"], f["nick"], f["event"]) for f in others[name]]
        assert events == [("presence", "sloth", "quit")], (name, events)
    await reader.send(type="who", room="#flood")
    members = await reader.expect("members", room="#flood")
    assert [m["nick"] for m in members["members"]] == ["flooder", "reader"]

    # The sloth's stream is an unbroken prefix of the room's messages, then error and bye.
    last = await sloth_last
    assert_dropped(last, "slow_consumer")
    seen = [f["id"] for f in last if f["type"] == "message"]
    assert seen and seen == ids[: len(seen)]


async def test_dropped_slow_consumer_is_released(start_server: StartServer, dial: Dial) -> None:
    """A non-reader that never closes its end is still freed: its transport is aborted."""
    server = await start_server(sendq=SENDQ)
    sloth = await dial(server.port, "sloth")
    await sloth.join("#flood")
    flooder = await dial(server.port, "flooder")
    await flooder.join("#flood")
    await sloth.barrier()
    victim = session_of(server, "sloth")

    await flood_until_dropped(flooder, flooder, server, victim, {"flooder": [], "reader": []})
    assert "sloth" not in {s.nick for s in server.hub.sessions.in_chat()}
    assert "sloth" not in server.hub.nicks
    assert victim.id not in server.hub.rooms.members("#flood")
    assert server.hub.rooms.rooms_of(victim) == []
    # The client still reads nothing; the server must not keep its buffer forever.
    await wait_until(lambda: victim.id not in server.hub.sessions)
    # The nick is free again for a newcomer.
    await dial(server.port, "sloth")  # welcomed under the freed nick


# --- connections per address ----------------------------------------------------------------


async def test_per_ip_cap_refuses_extra_connections(start_server: StartServer, dial: Dial) -> None:
    """Past --max-conns-per-ip a connection gets too_many_connections, bye, and is closed."""
    server = await start_server(max_conns_per_ip=2)
    first = await dial(server.port, "first")
    second = await dial(server.port)
    await second.barrier()  # counted even before hello

    extra = await dial(server.port)
    assert_dropped(await extra.closed(), "too_many_connections")
    # The refused connection did not take a slot, and the others are unaffected.
    assert server.hub.sessions.per_ip["127.0.0.1"] == 2
    await first.barrier()
    await second.hello("second")

    # Once one leaves, a new connection is accepted.
    await first.send(type="quit")
    await first.expect("bye", reason="quit")
    await wait_until(lambda: server.hub.sessions.per_ip["127.0.0.1"] == 1)
    await dial(server.port, "late")  # welcomed in the freed slot


async def test_refused_client_that_already_spoke_reads_its_refusal(
    start_server: StartServer, dial: Dial
) -> None:
    """A refused client whose hello is already on the way still gets error and bye, no reset."""
    server = await start_server(max_conns_per_ip=1)
    first = await dial(server.port, "first")
    # Connect and speak before the server even accepts (the loop cannot run meanwhile): the
    # hello is unread when the server refuses, and closing on unread input sends a reset.
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b'{"type":"hello","nick":"second","proto":1}\n')
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    second = WireClient(reader, writer)
    try:
        assert_dropped(await second.closed(), "too_many_connections")
    finally:
        await second.close()
    await first.barrier()


async def test_per_ip_cap_zero_is_unlimited(start_server: StartServer, dial: Dial) -> None:
    """--max-conns-per-ip 0 accepts more connections than the default cap of 16."""
    server = await start_server(max_conns_per_ip=0)
    clients = [await dial(server.port) for _ in range(24)]
    for number, client in enumerate(clients):
        await client.hello(f"user{number}")
    assert len(server.hub.sessions.in_chat()) == 24


# --- registration timeout -------------------------------------------------------------------


async def test_registration_timeout_closes_silent_connection(
    start_server: StartServer, dial: Dial
) -> None:
    """No hello within register_timeout: error and bye register_timeout, then closed."""
    server = await start_server(register_timeout=0.3)
    silent = await dial(server.port)
    registered = await dial(server.port, "prompt")
    assert_dropped(await silent.closed(), "register_timeout")
    # A client that said hello in time is untouched.
    await registered.barrier()
    assert session_of(server, "prompt").key == "prompt"


async def test_registration_timeout_is_not_reset_by_pings(
    start_server: StartServer, dial: Dial
) -> None:
    """Traffic that is not hello (pings, bad lines) does not keep an unregistered client in."""
    server = await start_server(register_timeout=0.3)
    chatty = await dial(server.port)
    frames: list[dict[str, Any]] = []
    for number in itertools.count():
        assert number < 1000, "an unregistered but busy client was never closed"
        await chatty.send(type="ping", id=number)
        # On a loaded machine the timeout may fire between the ping and its pong: then the
        # goodbye comes instead of the pong.
        reply = await chatty.recv()
        frames.append(reply)
        if reply["type"] != "pong" or reply.get("id") != number:
            break
        try:
            # Paces the pings; a frame arriving meanwhile is the server's goodbye.
            line = await asyncio.wait_for(chatty.reader.readline(), 0.05)
        except asyncio.TimeoutError:
            continue
        frames.append(json.loads(line))
        break
    frames.extend(await chatty.closed())
    assert len(frames) > 3
    assert_dropped(frames, "register_timeout")
    assert server.hub.sessions.in_chat() == []


# --- keepalive ------------------------------------------------------------------------------


async def test_idle_client_that_answers_pings_survives(
    start_server: StartServer, dial: Dial
) -> None:
    """The server pings an idle client; answering pong keeps it connected, ping after ping."""
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    alive = await dial(server.port, "alive")
    ids = []
    for _ in range(4):
        ping = await alive.expect("ping")
        ids.append(ping["id"])
        await alive.send(type="pong", id=ping["id"])
    # Four rounds take longer than interval + timeout: without the pongs it would be gone.
    assert len(set(ids)) == 4
    await alive.join("#still")
    assert "alive" in server.hub.nicks


async def test_idle_client_that_stays_silent_is_dropped(
    start_server: StartServer, dial: Dial
) -> None:
    """A client that does not answer the keepalive ping is dropped with ping_timeout."""
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    silent = await dial(server.port, "silent")
    await silent.join("#idle")
    watcher = await dial(server.port, "watcher")
    await watcher.join("#idle")

    async def keep_answering() -> None:
        while True:
            frame = await watcher.recv()
            if frame["type"] == "ping":
                await watcher.send(type="pong", id=frame["id"])
            elif frame["type"] == "presence" and frame["event"] == "quit":
                assert frame["nick"] == "silent"
                return

    answering = asyncio.create_task(keep_answering())
    last = await silent.closed()
    assert [f["type"] for f in last[:-2]] == ["presence", "ping"], last
    assert_dropped(last, "ping_timeout")
    await asyncio.wait_for(answering, TIMEOUT)
    assert "silent" not in server.hub.nicks
    await watcher.barrier()
