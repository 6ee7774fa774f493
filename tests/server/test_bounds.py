"""Bounded rooms over real sockets: the room limits, forgetting empty rooms, and lazy loading.

Each test starts its own server (``start_server(...)``) on a real SQLite file and drives it with
raw JSON clients. What the server holds is read from the hub (``server.hub.rooms``) and what the
store holds from the database file itself, after the server has stopped or through a barrier.
"""

from __future__ import annotations

from tests.conftest import Dial, StartServer


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
