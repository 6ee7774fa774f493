"""Paged listings over real sockets: ``rooms``, ``who`` and the member list of ``joined``.

A listing comes in pages of at most ``limit`` entries and at most a bounded number of bytes; with
``more`` the reply's ``next`` is the ``after`` that asks for the next page. A request with neither
(an older client's) gets a valid first page. Reply sizes are measured on the raw line.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from app import protocol as p
from app.server import Server
from app.server.limits import MAX_REPLY
from tests.conftest import TIMEOUT, Dial, StartServer, WireClient
from tests.server.test_limits import assert_dropped, session_of, wait_until


async def reply_line(client: WireClient, **request: Any) -> tuple[int, dict[str, Any]]:
    """Send ``request``; the size in bytes of the reply line and the reply."""
    await client.send(**request)
    line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
    frame = json.loads(line)
    assert isinstance(frame, dict)
    return len(line), frame


async def all_pages(client: WireClient, kind: str, key: str, **request: Any) -> list[Any]:
    """Every entry of a listing, following ``next`` while ``more``; each page checked."""
    entries: list[Any] = []
    after: str | None = None
    while True:
        asked = dict(request) if after is None else {**request, "after": after}
        size, page = await reply_line(client, type=kind, **asked)
        assert size <= MAX_REPLY, size
        entries.extend(page[key])
        if not page.get("more"):
            assert "next" not in page
            return entries
        assert page["next"] == page[key][-1]["room" if kind == "rooms" else "nick"]
        after = page["next"]


async def test_rooms_come_in_pages_that_follow_their_cursor(
    start_server: StartServer, dial: Dial
) -> None:
    """``rooms`` with ``limit`` gives that many, ``more`` and ``next``; following it lists every
    room once, in order; an old-style request gets the first page."""
    server = await start_server(new_rooms_per_min=0)
    alice = await dial(server.port, "alice")
    names = [f"#room{n:02}" for n in range(30)]
    for name in names:
        await alice.join(name)
    await alice.barrier()

    _, first = await reply_line(alice, type="rooms", limit=10, ref=1)
    assert [r["room"] for r in first["rooms"]] == names[:10]
    assert first["more"] is True and first["next"] == names[9] and first["ref"] == 1
    listed = await all_pages(alice, "rooms", "rooms", limit=7)
    assert [r["room"] for r in listed] == names
    _, old_style = await reply_line(alice, type="rooms")
    assert [r["room"] for r in old_style["rooms"]] == names
    assert "more" not in old_style
    # A cursor is compared as a room name, ignoring case.
    _, rest = await reply_line(alice, type="rooms", after="#ROOM27")
    assert [r["room"] for r in rest["rooms"]] == names[28:]


async def test_a_rooms_reply_is_bounded_in_bytes(start_server: StartServer, dial: Dial) -> None:
    """Rooms with 4,000-character topics are listed in replies of at most 64 KiB each."""
    server = await start_server(new_rooms_per_min=0)
    alice = await dial(server.port, "alice")
    for n in range(40):
        await alice.join(f"#long{n:02}")
    for n in range(40):
        topic = {"type": "topic", "room": f"#long{n:02}", "topic": f"{n} " + "é" * 3990}
        await alice.send_raw(json.dumps(topic, ensure_ascii=False).encode() + b"\n")
    await alice.barrier()
    size, first = await reply_line(alice, type="rooms", ref="x" * 8000)
    assert size <= MAX_REPLY and first["more"] is True
    listed = await all_pages(alice, "rooms", "rooms", limit=p.ROOMS_PAGE_MAX)
    assert [r["room"] for r in listed] == [f"#long{n:02}" for n in range(40)]
    assert all(r["topic"].startswith(f"{n} ") for n, r in enumerate(listed))


async def test_who_comes_in_pages(start_server: StartServer, dial: Dial) -> None:
    """``who`` pages by nick ignoring case; every member once; an old-style request works."""
    server = await start_server(max_conns_per_ip=0)
    nicks = [f"{'U' if n % 2 else 'u'}ser{n:02}" for n in range(25)]
    clients = [await dial(server.port, nick) for nick in nicks]
    for client in clients:
        await client.join("#big")
    await clients[0].barrier()
    watcher = clients[0]
    _, first = await reply_line(watcher, type="who", room="#big", limit=10)
    assert [m["nick"] for m in first["members"]] == nicks[:10]
    assert first["more"] is True and first["next"] == nicks[9]
    listed = await all_pages(watcher, "who", "members", room="#big", limit=4)
    assert [m["nick"] for m in listed] == nicks
    _, old_style = await reply_line(watcher, type="who", room="#big")
    assert [m["nick"] for m in old_style["members"]] == nicks and "more" not in old_style


async def test_joined_lists_the_first_members_and_says_more(
    start_server: StartServer, dial: Dial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a room with more members than ``joined`` lists, it gives the first and ``more``."""
    monkeypatch.setattr(p, "JOINED_MEMBERS_MAX", 5)
    server = await start_server(max_conns_per_ip=0)
    for n in range(8):
        member = await dial(server.port, f"m{n}")
        await member.join("#crowd")
    late = await dial(server.port, "late")
    joined, _ = await late.join("#crowd")
    assert joined["members"] == ["late", "m0", "m1", "m2", "m3"] and joined["more"] is True
    listed = await all_pages(late, "who", "members", room="#crowd")
    assert len(listed) == 9
    small = await dial(server.port, "solo")
    joined, _ = await small.join("#small")
    assert joined["members"] == ["solo"] and "more" not in joined


# --- a burst of listings and slow readers ---------------------------------------------------

BURST = 60
SMALL_BUFFER = 8192


async def narrow_client(server: Server, nick: str) -> WireClient:
    """A client whose socket buffers (its receive side, the server's send side) are small, so
    that what it has not read piles up in the server's output, not in the kernel."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    # The stream's own buffer is small too (it stops reading the socket at twice ``limit``).
    reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_REPLY)
    client = WireClient(reader, writer)
    await client.hello(nick)
    session = session_of(server, nick)
    assert session.transport is not None
    server_side = session.transport.get_extra_info("socket")
    server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    return client


async def test_a_burst_of_listings_drops_only_the_client_that_stops_reading(
    start_server: StartServer, dial: Dial
) -> None:
    """A pipelined burst of ``rooms``: a client reading slowly but steadily gets every reply;
    one that stops reading is dropped as slow_consumer, with its queue bounded by --sendq."""
    sendq = 64 * 1024
    server = await start_server(
        sendq=sendq, sendq_timeout=1.0, new_rooms_per_min=0, max_rooms_per_conn=0
    )
    owner = await dial(server.port, "owner")
    for n in range(200):
        await owner.join(f"#topic{n:03}")
    for n in range(200):
        await owner.send(type="topic", room=f"#topic{n:03}", topic="t" * 4000)
    await owner.barrier()

    steady = await narrow_client(server, "steady")
    stopped = await narrow_client(server, "stopped")
    try:
        burst = b'{"type":"rooms"}\n' * BURST
        await stopped.send_raw(burst)
        await steady.send_raw(burst)

        replies = 0
        while replies < BURST:
            line = await asyncio.wait_for(steady.reader.readline(), TIMEOUT)
            assert line, "the steady reader was dropped"
            frame = json.loads(line)
            assert frame["type"] == "room_list", frame
            replies += 1
            await asyncio.sleep(0.002)  # slow, but it keeps reading
        await steady.barrier()

        victim = session_of(server, "stopped")
        await wait_until(lambda: not victim.in_chat)
        assert victim.transport is not None
        assert victim.transport.get_write_buffer_size() <= sendq + 1024
        last = await stopped.closed()
        assert_dropped(last, "slow_consumer")
        assert "steady" in server.hub.nicks
    finally:
        await steady.close()
        await stopped.close()
