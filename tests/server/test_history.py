"""Room history over real sockets: the page sent on join and ``history`` paging with ``more``.

Messages go through the real SQLite file of the test, so paging with ``before``, ``after`` and
``limit`` reads the disk; the join page comes from the hub's in-memory window of recent messages
(``ServerConfig.recent``), including right after a restart on the same database.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Connect, StartServer, WireClient, stop_and_hang_up
from tests.server.backends import backend, connect, start_server

__all__ = ["backend", "connect", "start_server"]


async def say_many(client: WireClient, room: str, texts: list[str]) -> list[int]:
    """Send ``texts`` to ``room`` in one write and return their ids, in order."""
    lines = b"".join(
        b'{"type":"say","room":"%s","text":"%s"}\n' % (room.encode(), t.encode()) for t in texts
    )
    await client.send_raw(lines)
    echoes = [f for f in await client.barrier() if f["type"] == "message"]
    assert [f["text"] for f in echoes] == texts
    return [f["id"] for f in echoes]


async def page(client: WireClient, room: str, **query: Any) -> tuple[list[int], bool]:
    """The ids and ``more`` of one ``history`` page."""
    await client.send(type="history", room=room, ref="page", **query)
    reply = await client.expect("history", room=room, ref="page")
    ids = [m["id"] for m in reply["messages"]]
    assert ids == sorted(ids)
    return ids, reply["more"]


async def test_join_sends_earlier_messages_oldest_first(connect: Connect) -> None:
    """A joiner gets the room's earlier messages as full ``message`` frames, oldest first."""
    alice = await connect("alice")
    await alice.join("#a")
    await alice.join("#other")
    await alice.send(type="say", room="#other", text="elsewhere")
    await alice.barrier()
    ids = await say_many(alice, "#a", ["one", "two", "three"])
    await alice.send(type="say", room="#a", text="me", action=True, nonce="x")
    await alice.barrier()
    bob = await connect("bob")
    _, history = await bob.join("#A")
    assert history["more"] is False
    messages = history["messages"]
    assert [m["text"] for m in messages] == ["one", "two", "three", "me"]
    assert [m["id"] for m in messages[:3]] == ids
    for m in messages:
        assert m["type"] == "message" and m["room"] == "#a" and m["from"] == "alice"
        assert "nonce" not in m and "ref" not in m and isinstance(m["ts"], int)
    assert messages[-1]["action"] is True


async def test_join_page_is_bounded_and_says_more(
    start_server: StartServer, connect: Connect
) -> None:
    """The join page holds at most ``recent`` messages, the newest, with ``more`` true."""
    server = await start_server(recent=3)
    alice = await connect("alice", port=server.port)
    await alice.join("#a")
    ids = await say_many(alice, "#a", [str(i) for i in range(5)])
    bob = await connect("bob", port=server.port)
    _, history = await bob.join("#a")
    assert [m["id"] for m in history["messages"]] == ids[2:]
    assert history["more"] is True
    older, more = await page(bob, "#a", before=ids[2])
    assert older == ids[:2] and more is False


async def test_join_page_with_exactly_recent_messages_has_no_more(
    start_server: StartServer, connect: Connect
) -> None:
    """A room with exactly ``recent`` messages answers a join with all of them and no ``more``."""
    server = await start_server(recent=3)
    alice = await connect("alice", port=server.port)
    await alice.join("#a")
    ids = await say_many(alice, "#a", ["a", "b", "c"])
    bob = await connect("bob", port=server.port)
    _, history = await bob.join("#a")
    assert [m["id"] for m in history["messages"]] == ids
    assert history["more"] is False


async def test_join_page_after_restart(start_server: StartServer, connect: Connect) -> None:
    """After a restart on the same database, the join page and its ``more`` are as before."""
    first = await start_server(recent=3)
    alice = await connect("alice", port=first.port)
    await alice.join("#a")
    await alice.join("#b")
    ids_a = await say_many(alice, "#a", ["1", "2", "3", "4"])
    ids_b = await say_many(alice, "#b", ["x", "y", "z"])
    await stop_and_hang_up(first, alice)
    second = await start_server(recent=3)
    bob = await connect("bob", port=second.port)
    _, history_a = await bob.join("#a")
    _, history_b = await bob.join("#b")
    assert [m["id"] for m in history_a["messages"]] == ids_a[1:]
    assert history_a["more"] is True
    assert [m["id"] for m in history_b["messages"]] == ids_b
    assert history_b["more"] is False
    await bob.send(type="say", room="#a", text="after")
    (echo,) = [f for f in await bob.barrier() if f["type"] == "message"]
    assert echo["id"] > max(ids_a + ids_b)


async def test_history_pages_backwards_with_before(connect: Connect) -> None:
    """``history`` gives the newest ``limit`` messages, then older pages via ``before``."""
    alice = await connect("alice")
    await alice.join("#a")
    ids = await say_many(alice, "#a", [f"m{i}" for i in range(12)])
    assert await page(alice, "#a", limit=5) == (ids[7:], True)
    assert await page(alice, "#a", before=ids[7], limit=5) == (ids[2:7], True)
    assert await page(alice, "#a", before=ids[2], limit=5) == (ids[:2], False)
    assert await page(alice, "#a", before=ids[0], limit=5) == ([], False)
    assert await page(alice, "#a") == (ids, False)


async def test_history_pages_forwards_with_after(connect: Connect) -> None:
    """``after`` gives the oldest ``limit`` messages newer than an id, ``more`` if others follow."""
    alice = await connect("alice")
    await alice.join("#a")
    ids = await say_many(alice, "#a", [f"m{i}" for i in range(12)])
    assert await page(alice, "#a", after=0, limit=5) == (ids[:5], True)
    assert await page(alice, "#a", after=ids[4], limit=5) == (ids[5:10], True)
    assert await page(alice, "#a", after=ids[6], limit=5) == (ids[7:], False)
    assert await page(alice, "#a", after=ids[-1]) == ([], False)


async def test_history_is_per_room(connect: Connect) -> None:
    """A room's history holds only its own messages, whatever ids the others took."""
    alice = await connect("alice")
    await alice.join("#a")
    await alice.join("#b")
    ids_a = await say_many(alice, "#a", ["a1"])
    ids_b = await say_many(alice, "#b", ["b1", "b2"])
    ids_a += await say_many(alice, "#a", ["a2"])
    assert await page(alice, "#a") == (ids_a, False)
    assert await page(alice, "#b", after=ids_a[0]) == (ids_b, False)
    assert await page(alice, "#a", before=ids_a[1], limit=1) == (ids_a[:1], False)


async def test_history_limit_is_clamped_to_200(connect: Connect) -> None:
    """A ``limit`` above 200 gives 200 messages and ``more``; the default page is 50."""
    alice = await connect("alice")
    await alice.join("#a")
    ids = await say_many(alice, "#a", [f"m{i}" for i in range(205)])
    assert await page(alice, "#a", limit=1000) == (ids[5:], True)
    assert await page(alice, "#a", limit=200) == (ids[5:], True)
    assert await page(alice, "#a") == (ids[-50:], True)
    assert await page(alice, "#a", after=ids[0], limit=500) == (ids[1:201], True)


async def test_history_messages_have_the_live_shape(connect: Connect) -> None:
    """A message in a history page equals the live copy other members received."""
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#a")
    await bob.join("#a")
    await alice.barrier()
    await bob.send(type="say", room="#a", text="shape", action=True, nonce="n")
    live = await alice.expect("message", text="shape")
    await alice.send(type="history", room="#a", limit=1)
    reply = await alice.expect("history")
    assert reply["messages"] == [live]


async def test_ids_keep_increasing_across_a_restart_after_direct_messages(
    start_server: StartServer, connect: Connect
) -> None:
    """Direct messages are not stored, yet a restart never hands out their ids again."""
    first = await start_server()
    alice = await connect("alice", port=first.port)
    await alice.send(type="say", to="alice", text="note to self")
    (dm,) = [f for f in await alice.barrier() if f["type"] == "message"]
    await stop_and_hang_up(first, alice)
    second = await start_server()
    bob = await connect("bob", port=second.port)
    await bob.send(type="say", to="bob", text="after the restart")
    (later,) = [f for f in await bob.barrier() if f["type"] == "message"]
    assert later["id"] > dm["id"]
