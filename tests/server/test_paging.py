"""Paged listings over real sockets: ``rooms``, ``who`` and the member list of ``joined``.

A listing comes in pages of at most ``limit`` entries and at most a bounded number of bytes; with
``more`` the reply's ``next`` is the ``after`` that asks for the next page. A request with neither
(an older client's) gets a valid first page. Reply sizes are measured on the raw line.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app import protocol as p
from app.server.limits import MAX_REPLY
from tests.conftest import TIMEOUT, Dial, StartServer, WireClient


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
