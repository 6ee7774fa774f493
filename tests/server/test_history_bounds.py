"""History replies over real sockets are bounded in bytes: a ``history`` page of long messages
and the page a ``join`` sends hold what fits one reply line, and ``more`` leads to the rest.

Each room message may be 4,000 characters; a page of 200 of them (or 50 in a join's window)
would be megabytes. Sizes are measured on the raw line.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.server.directory import WINDOW_CHARS
from app.server.limits import MAX_REPLY
from tests.conftest import TIMEOUT, Connect, WireClient

# The longest text, at two bytes a character on the wire (é in UTF-8, an escaped quote), after
# a three-digit number and a space.
TEXT = 'é"' * 1998


async def reply_line(client: WireClient, **request: Any) -> tuple[int, dict[str, Any]]:
    """Send ``request``; the size in bytes of the reply line and the reply."""
    await client.send(**request)
    line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
    frame = json.loads(line)
    assert isinstance(frame, dict)
    return len(line), frame


async def said(client: WireClient, room: str, count: int) -> list[int]:
    """``count`` long messages in ``room``; their ids, oldest first."""
    for n in range(count):
        await client.send(type="say", room=room, text=f"{n:03} {TEXT}")
    ids = []
    for _ in range(count):
        ids.append((await client.expect("message"))["id"])
    return ids


async def test_a_history_page_of_long_messages_is_bounded_and_pages_on(connect: Connect) -> None:
    """``history`` for 200 long messages answers with the newest that fit 64 KiB and ``more``;
    paging back with ``before`` reaches every message exactly once."""
    alice = await connect("alice")
    await alice.join("#long")
    ids = await said(alice, "#long", 200)
    await alice.barrier()
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"room": "#long", "limit": 200}
        if before is not None:
            query["before"] = before
        size, page = await reply_line(alice, type="history", **query)
        assert size <= MAX_REPLY, size
        got = [m["id"] for m in page["messages"]]
        assert got == sorted(got) and got
        seen = got + seen
        pages += 1
        if not page["more"]:
            break
        before = got[0]
    assert seen == ids
    assert pages > 1


async def test_a_history_page_after_an_id_is_bounded_from_the_old_end(connect: Connect) -> None:
    """``history`` with ``after`` holds the oldest newer messages that fit, and ``more``."""
    alice = await connect("alice")
    await alice.join("#long")
    ids = await said(alice, "#long", 60)
    await alice.barrier()
    size, page = await reply_line(alice, type="history", room="#long", after=ids[0], limit=200)
    assert size <= MAX_REPLY
    got = [m["id"] for m in page["messages"]]
    assert got == ids[1 : 1 + len(got)] and len(got) < 59
    assert page["more"] is True


async def test_a_join_sends_a_bounded_window_of_the_newest_messages(connect: Connect) -> None:
    """A joiner of a room with 50 long messages gets only the newest that fit the window,
    within one bounded line, and ``more`` to page back for the rest."""
    alice = await connect("alice")
    await alice.join("#long")
    ids = await said(alice, "#long", 50)
    await alice.barrier()
    bob = await connect("bob")
    await bob.send(type="join", room="#long")
    joined = await asyncio.wait_for(bob.reader.readline(), TIMEOUT)
    assert json.loads(joined)["type"] == "joined"
    size, page = await reply_line(bob, type="ping", id=1)  # the history line is already queued
    assert page["type"] == "history", page
    assert size <= MAX_REPLY
    got = [m["id"] for m in page["messages"]]
    assert got == ids[-len(got) :]
    assert sum(len(m["text"]) for m in page["messages"]) <= WINDOW_CHARS
    assert page["more"] is True
