"""The ``Search`` interface, backend by backend (SQLite's FTS5 index, Redis' capped scan): the
same queries find the same messages, newest first, in the rooms asked only, page on with
``next``, and follow deletions and trims, on real storage, no mocks.

Each test that takes ``reopen`` runs once per backend (``conftest.py``); the Redis scan's cap has
a test of its own on the suite's private ``redis-server``.
"""

from __future__ import annotations

import pytest

from app.protocol.query import parse_query
from app.store import History
from app.store.search import Search, SearchPage, search_for
from tests.redis_server import RedisServer
from tests.store.conftest import Reopen
from tests.store.support import append, called, message, trim


def opened(reopen: Reopen) -> tuple[History, Search]:
    """A new history on the test's storage, opened, and its search."""
    history = reopen()
    history.open()
    return history, search_for(history)


async def find(
    index: Search,
    query: str,
    rooms: tuple[str, ...] = ("#a",),
    before: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """One page of ``query`` over ``rooms``."""
    page: SearchPage = await called(index.search, list(rooms), parse_query(query), before, limit)
    return page


def hits(page: SearchPage) -> list[int]:
    return [m.id for m in page.messages]


async def test_words_are_found_newest_first_in_the_rooms_asked(reopen: Reopen) -> None:
    """Every term must be there, in any case and with or without accents; only the rooms asked
    are searched; hits are whole stored messages, newest first."""
    history, index = opened(reopen)
    await append(
        history,
        message(1, "#a", "Deploy at noon"),
        message(2, "#b", "deploy tomorrow"),
        message(3, "#a", "lunch first", sender="bob"),
        message(4, "#a", "the DÉPLOY went fine, lunch after"),
        message(5, "#c", "deploy in c"),
    )
    assert hits(await find(index, "deploy", ("#a", "#b"))) == [4, 2, 1]
    assert hits(await find(index, "lunch deploy")) == [4]
    found = await find(index, "lunch")
    assert found.messages[1] == message(3, "#a", "lunch first", sender="bob")
    assert found.more is False and found.next is None
    assert hits(await find(index, "deploy", ())) == []
    assert hits(await find(index, "nothing")) == []


async def test_phrases_and_prefixes(reopen: Reopen) -> None:
    """A phrase needs its words side by side in order; ``word*`` is a prefix; a bare word with
    punctuation inside (``e-mail``) is its parts side by side."""
    history, index = opened(reopen)
    await append(
        history,
        message(1, text="red green blue"),
        message(2, text="green red"),
        message(3, text="deployed it"),
        message(4, text="send an e-mail"),
        message(5, text="e and mail"),
    )
    assert hits(await find(index, '"red green"')) == [1]
    assert hits(await find(index, '"green red')) == [2]
    assert hits(await find(index, "deploy*")) == [3]
    assert hits(await find(index, "deploy")) == []
    assert hits(await find(index, "e-mail")) == [4]
    assert hits(await find(index, 'NEAR(red) "OR" AND*')) == []


async def test_pages_go_back_with_next(reopen: Reopen) -> None:
    """``limit`` bounds a page; ``more`` is exact and ``next`` is the oldest hit, from which the
    following page goes on."""
    history, index = opened(reopen)
    await append(history, *(message(i, text=f"note {i}") for i in range(1, 8)))
    first = await find(index, "note", limit=3)
    assert hits(first) == [7, 6, 5] and first.more and first.next == 5
    second = await find(index, "note", before=first.next, limit=3)
    assert hits(second) == [4, 3, 2] and second.more and second.next == 2
    last = await find(index, "note", before=second.next, limit=3)
    assert hits(last) == [1] and not last.more and last.next is None
    exact = await find(index, "note", before=4, limit=3)
    assert hits(exact) == [3, 2, 1] and not exact.more


async def test_deleted_and_trimmed_messages_are_not_found(reopen: Reopen) -> None:
    """A deleted message no longer matches its words, nor does one the retention trimmed; what
    is left is found again after a reopen."""
    history, index = opened(reopen)
    await append(history, *(message(i, text=f"secret {i}") for i in range(1, 6)))
    assert await called(history.delete_message, 4) is True
    assert await trim(history, keep=3) == 2
    assert hits(await find(index, "secret")) == [5, 3]
    await history.close()
    _again, index = opened(reopen)
    assert hits(await find(index, "secret")) == [5, 3]


async def test_the_redis_scan_stops_at_its_cap_and_goes_on_from_there(
    shared_redis: RedisServer,
) -> None:
    """With no index, a Redis search reads at most its cap of messages: a page cut there says
    ``more`` with ``next`` where it stopped, and the next request reads on from it."""
    pytest.importorskip("redis", reason="the redis extra is not installed")
    from app.store import RedisHistory
    from app.store.redis_search import RedisSearch

    history = RedisHistory(shared_redis.url, "search-cap")
    history.open()
    try:
        await append(
            history,
            *(
                message(i, "#a" if i % 2 else "#b", "hit" if i in (2, 9) else "miss")
                for i in range(1, 11)
            ),
        )
        index = RedisSearch(history, cap=4)
        first = await find(index, "hit", ("#a", "#b"))
        assert hits(first) == [9] and first.more and first.next == 7
        second = await find(index, "hit", ("#a", "#b"), before=first.next)
        assert hits(second) == [] and second.more and second.next == 3
        last = await find(index, "hit", ("#a", "#b"), before=second.next)
        assert hits(last) == [2] and not last.more and last.next is None
    finally:
        await history.close()


async def test_rooms_whose_names_share_words_are_told_apart(reopen: Reopen) -> None:
    """A search of ``#ops-team`` finds nothing of ``#my-ops-team`` or ``#ops``, whose names hold
    the same words; a room named with no letters or digits (``#__``) is searched too; a word of
    a room's name is not a word of its messages."""
    history, index = opened(reopen)
    await append(
        history,
        message(1, "#ops-team", "deploy one"),
        message(2, "#my-ops-team", "deploy two"),
        message(3, "#ops", "deploy three"),
        message(4, "#__", "deploy four"),
    )
    assert hits(await find(index, "deploy", ("#ops-team",))) == [1]
    assert hits(await find(index, "deploy", ("#ops", "#__"))) == [4, 3]
    assert hits(await find(index, "team", ("#ops-team", "#my-ops-team"))) == []


async def test_a_search_of_thousands_of_rooms(reopen: Reopen) -> None:
    """A session in more rooms than SQLite takes parameters (no room limit) is searched all the
    same, and only in its rooms."""
    history, index = opened(reopen)
    await append(history, message(1, "#r7", "deploy"), message(2, "#elsewhere", "deploy"))
    rooms = tuple(f"#r{n}" for n in range(2000))
    assert hits(await find(index, "deploy", rooms)) == [1]
