"""Bounded rooms over real sockets: the room limits, forgetting empty rooms, and lazy loading.

Each test starts its own server (``start_server(...)``) on a real SQLite file and drives it with
raw JSON clients. What the server holds is read from the hub (``server.hub.rooms``) and what the
store holds from the database file itself, after the server has stopped or through a barrier.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.conftest import Dial, StartServer
from tests.server.test_limits import wait_until


async def test_rooms_per_connection_are_limited(start_server: StartServer, dial: Dial) -> None:
    """Past --max-rooms-per-conn a join gets too_many_rooms; the connection survives."""
    server = await start_server(max_rooms_per_conn=3)
    alice = await dial(server.port, "alice")
    for number in range(3):
        await alice.join(f"#r{number}")
    await alice.send(type="join", room="#r3", ref="j")
    error = await alice.expect("error", code="too_many_rooms", ref="j")
    assert "3" in error["message"]
    assert server.hub.rooms.get("#r3") is None
    # Rejoining a room it is in is no new room; after a part there is room for one more.
    await alice.join("#r0")
    await alice.send(type="part", room="#r1")
    await alice.expect("parted", room="#r1")
    await alice.join("#r3")
    assert await alice.barrier() == []


async def test_rooms_on_the_server_are_limited(start_server: StartServer, dial: Dial) -> None:
    """Past --max-rooms a join that creates a room gets server_full; existing rooms still open."""
    server = await start_server(max_rooms=2)
    alice = await dial(server.port, "alice")
    await alice.join("#a")
    await alice.join("#b")
    bob = await dial(server.port, "bob")
    await bob.send(type="join", room="#c", ref=7)
    await bob.expect("error", code="server_full", ref=7)
    await bob.join("#a")
    assert len(server.hub.rooms) == 2
    await bob.barrier()


async def test_room_creation_per_address_is_rate_limited(
    start_server: StartServer, dial: Dial
) -> None:
    """Past --new-rooms-per-min from one address a new room gets rate_limited with a wait."""
    server = await start_server(new_rooms_per_min=3)
    alice = await dial(server.port, "alice")
    for number in range(3):
        await alice.join(f"#new{number}")
    # Another connection from the same address shares the bucket.
    bob = await dial(server.port, "bob")
    await bob.send(type="join", room="#new3", ref="x")
    error = await bob.expect("error", code="rate_limited", ref="x")
    assert 0 < error["retry_after_ms"] <= 20_000 + 1
    assert server.hub.rooms.get("#new3") is None
    # Joining rooms that exist costs nothing.
    await bob.join("#new0")
    await bob.join("#new2")
    assert await bob.barrier() == []


async def test_a_crowd_joining_one_new_room_at_once_is_charged_one_room(
    start_server: StartServer, dial: Dial
) -> None:
    """Twenty joins of one new room that arrive before the first is in are one new room to
    --new-rooms-per-min, not twenty: everyone gets in."""
    server = await start_server(new_rooms_per_min=1, max_conns_per_ip=0)
    crowd = [await dial(server.port, f"c{number}") for number in range(20)]
    for client in crowd:
        await client.send(type="join", room="#crowd", ref="j")
    for client in crowd:
        await client.expect("joined", room="#crowd", ref="j")
        await client.expect("history", room="#crowd", ref="j")
    assert len(server.hub.rooms.members("#crowd")) == 20
    # The one room it charged was the address's one for this minute.
    await crowd[0].barrier()  # past the others' join presences
    await crowd[0].send(type="join", room="#another", ref="x")
    await crowd[0].expect("error", code="rate_limited", ref="x")


# --- forgetting empty rooms -----------------------------------------------------------------


def stored_rooms(db_path: Path) -> dict[str, str]:
    """The ``rooms`` rows of the database file: room -> topic."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return dict(conn.execute("SELECT room, topic FROM rooms").fetchall())


async def test_rooms_left_empty_are_forgotten_in_memory_and_store(
    start_server: StartServer, dial: Dial, db_path: Path
) -> None:
    """Many rooms joined (some with topics, a few with messages), then everyone quits: the
    server holds no room, and the store keeps only the rooms that hold messages."""
    server = await start_server(new_rooms_per_min=0, max_rooms_per_conn=0)
    clients = [await dial(server.port, f"user{n}") for n in range(4)]
    for number, client in enumerate(clients):
        for room in range(60):
            name = f"#u{number}r{room}"
            await client.send(type="join", room=name)
            await client.send(type="topic", room=name, topic="t" * 500)
            if room % 20 == 0:
                await client.send(type="say", room=name, text="kept")
        await client.barrier()
    # One room shared by two connections stays until its last member leaves.
    await clients[0].join("#shared")
    await clients[1].join("#shared")
    assert len(server.hub.rooms) == 4 * 60 + 1
    await clients[0].send(type="part", room="#shared")
    await clients[0].barrier()
    assert server.hub.rooms.get("#shared") is not None

    for client in clients:
        await client.send(type="quit")
        await client.closed()
        await client.close()  # hangs up, or the server's lingering close holds the stop 2 s
    await wait_until(lambda: len(server.hub.rooms) == 0)
    await server.stop()
    with_messages = {f"#u{n}r{r}" for n in range(4) for r in (0, 20, 40)}
    assert set(stored_rooms(db_path)) == with_messages


async def test_a_forgotten_room_comes_back_with_its_history(
    start_server: StartServer, dial: Dial
) -> None:
    """A room forgotten while empty shows its topic and messages to the next joiner."""
    server = await start_server()
    alice = await dial(server.port, "alice")
    await alice.join("#back")
    await alice.send(type="topic", room="#back", topic="still here")
    await alice.send(type="say", room="#back", text="remember me")
    await alice.send(type="part", room="#back")
    await alice.barrier()
    assert server.hub.rooms.get("#back") is None
    joined, history = await alice.join("#back")
    assert joined["topic"] == "still here"
    assert [m["text"] for m in history["messages"]] == ["remember me"]


# --- lazy loading ---------------------------------------------------------------------------


async def test_start_up_reads_no_room_until_it_is_joined(
    start_server: StartServer, dial: Dial, db_path: Path
) -> None:
    """A restart on a store of many rooms with long topics holds none of them; a join reads
    its room's topic and history, and only that room."""
    first = await start_server()
    await first.stop()  # creates the schema
    topic = "long topic " * 360  # about 4,000 characters
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.executemany(
            "INSERT INTO rooms VALUES (?, ?, ?)",
            [(f"#room{n}", f"{n} {topic}", "ann") for n in range(2000)],
        )
        conn.executemany(
            "INSERT INTO messages (id, room, ts, sender, text, action) VALUES (?, ?, ?, ?, ?, 0)",
            [(n + 1, f"#room{n % 100}", 1_700_000_000_000 + n, "ann", f"m{n}") for n in range(500)],
        )

    server = await start_server()
    assert len(server.hub.rooms) == 0
    alice = await dial(server.port, "alice")
    joined, history = await alice.join("#room7")
    assert joined["topic"] == f"7 {topic}"
    assert [m["text"] for m in history["messages"]] == [f"m{n}" for n in range(7, 500, 100)]
    assert [room.name for room in server.hub.rooms] == ["#room7"]
    # Joining a room the store knows is no new room, even with the creation bucket spent.
    restarted = await start_server(new_rooms_per_min=1)
    bob = await dial(restarted.port, "bob")
    for n in range(5):
        await bob.join(f"#room{n}")
    await bob.send(type="join", room="#brand-new")
    await bob.expect("joined", room="#brand-new")
    await bob.expect("history", room="#brand-new")
    await bob.send(type="join", room="#brand-newer")
    await bob.expect("error", code="rate_limited")
