"""Storage faults, backend by backend: a store whose storage fills up says so for every write it
could not make, keeps answering reads, logs the condition once, and works again by itself.

The accounts and moderation stores, which write through the history, are held to the same. Each
test runs once per backend on ``cramped`` storage (``conftest.py``) that ``fs.fill()`` fills
up and ``fs.free()`` frees while the store is open: a real tiny filesystem for SQLite, a Redis
whose ``maxmemory`` drops below what it holds. Messages are of 3,900 characters so that each
write needs new space on the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from app.store import History, StoredAccount, StoredBan, StoredDirect, StoredMessage, StoredRoom
from tests.store.conftest import Cramped
from tests.store.support import (
    TIMEOUT,
    TS0,
    StoreRefused,
    append,
    barrier,
    called,
    ids,
    load_room,
    message,
    page,
    saved_room,
    trim,
)

BIG = "x" * 3900


def big(id: int, room: str = "#a") -> StoredMessage:
    return message(id, room, text=BIG)


async def test_a_refused_write_calls_failed_in_order_and_reads_go_on(cramped: Cramped) -> None:
    """On full storage an append calls ``failed`` (not ``done``) with a reason, in order with
    the other completions; pages are still read."""
    store = cramped.reopen()
    store.open()
    await append(store, big(1))
    cramped.fs.fill()
    outcomes: list[str] = []
    reasons: list[str] = []
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stored(messages: Sequence[StoredMessage]) -> None:
        outcomes.extend(f"stored {m.id}" for m in messages)

    def refused(messages: Sequence[StoredMessage], reason: str) -> None:
        outcomes.extend(f"refused {m.id}" for m in messages)
        reasons.append(reason)

    store.append([big(2), big(3)], stored, refused)
    store.page("#a", None, None, 10, lambda p: outcomes.append(f"page {ids(p)}"))
    store.barrier(lambda: finished.set_result(None))
    await asyncio.wait_for(finished, TIMEOUT)
    assert outcomes == ["refused 2", "refused 3", "page [1]"]
    assert reasons and all(reasons)
    assert ids(await page(store, "#a")) == [1]


async def test_writes_work_again_once_there_is_room(cramped: Cramped) -> None:
    """After the storage has room again the same open store writes, and only what it stored
    survives a reopen."""
    store = cramped.reopen()
    store.open()
    await append(store, big(1))
    cramped.fs.fill()
    with pytest.raises(StoreRefused):
        await append(store, big(2))
    cramped.fs.free()
    await append(store, big(3))
    await store.close()

    again = cramped.reopen()
    again.open()
    assert ids((await load_room(again, "#a"))[1]) == [1, 3]
    await again.close()


async def test_a_refused_topic_leaves_the_old_one(cramped: Cramped) -> None:
    """A topic the storage cannot take calls ``failed``; after a reopen the old topic is there."""
    store = cramped.reopen()
    store.open()
    await saved_room(store, StoredRoom("#a", "the old topic", "ann"))
    cramped.fs.fill()
    with pytest.raises(StoreRefused):
        await saved_room(store, StoredRoom("#a", BIG, "bob"))
    cramped.fs.free()
    await store.close()

    again = cramped.reopen()
    again.open()
    assert (await load_room(again, "#a"))[0] == StoredRoom("#a", "the old topic", "ann")
    await again.close()


async def test_a_refused_trim_calls_failed(cramped: Cramped) -> None:
    """A trim on full storage calls ``failed`` rather than leaving its caller waiting."""
    if cramped.backend == "redis":
        pytest.skip("Redis deletes when out of memory: test_redis.py proves a trim frees it")
    store = cramped.reopen()
    store.open()
    await append(store, big(1), big(2), big(3))
    cramped.fs.fill()
    with pytest.raises(StoreRefused):
        await trim(store, keep=1)
    cramped.fs.free()
    assert await trim(store, keep=1) == 2


async def test_the_condition_is_logged_once_and_so_is_the_recovery(
    cramped: Cramped, caplog: pytest.LogCaptureFixture
) -> None:
    """Many refused writes log one error line; the first write that works logs one more."""
    store: History = cramped.reopen()
    store.open()
    await append(store, big(1))
    cramped.fs.fill()
    with caplog.at_level(logging.DEBUG, logger="parley.store"):
        for id in range(2, 8):
            with pytest.raises(StoreRefused):
                await append(store, big(id))
        cramped.fs.free()
        await append(store, big(8))
        await append(store, big(9))
        await barrier(store)
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert [r.levelname for r in above_debug] == ["ERROR", "WARNING"]
    assert "cannot write the history" in above_debug[0].getMessage()
    assert "can be written again" in above_debug[1].getMessage()
    assert not any(r.exc_info for r in caplog.records)


async def test_refused_account_writes_call_failed_and_reads_go_on(cramped: Cramped) -> None:
    """On full storage creating an account and storing a direct message call ``failed`` with a
    reason; accounts are still found, and only what was stored survives a reopen."""
    stores = cramped.reopen_stores()
    stores.history.open()
    accounts = stores.accounts
    assert await called(accounts.create_account, StoredAccount("ann", BIG, TS0))
    cramped.fs.fill()
    with pytest.raises(StoreRefused, match=r".+"):
        await called(accounts.create_account, StoredAccount("bob", BIG, TS0))
    with pytest.raises(StoreRefused, match=r".+"):
        await called(accounts.append_direct, StoredDirect(1, TS0, "ann", "bob", BIG, False), False)
    assert await called(accounts.find_account, "ann") == StoredAccount("ann", BIG, TS0)
    cramped.fs.free()
    assert await called(accounts.create_account, StoredAccount("cy", BIG, TS0))
    await stores.history.close()

    again = cramped.reopen_stores()
    again.history.open()
    assert await called(again.accounts.find_account, "bob") is None
    assert await called(again.accounts.find_account, "cy") is not None
    assert (await called(again.accounts.undelivered, "bob", 9)).messages == []


async def test_refused_moderation_writes_call_failed_and_reads_go_on(cramped: Cramped) -> None:
    """On full storage a ban calls ``failed`` with a reason and a room's rules are still read;
    once there is room the same open store bans, and only that ban survives a reopen."""
    stores = cramped.reopen_stores()
    stores.history.open()
    moderation = stores.moderation
    await called(moderation.set_role, "#a", "ann", "owner")
    cramped.fs.fill()
    with pytest.raises(StoreRefused, match=r".+"):
        await called(moderation.add_ban, StoredBan("#a", "nick:x", "ann", BIG, TS0))
    assert (await called(moderation.room_rules, "#a")).roles == {"ann": "owner"}
    cramped.fs.free()
    await called(moderation.add_ban, StoredBan("#a", "nick:y", "ann", BIG, TS0))
    await stores.history.close()

    again = cramped.reopen_stores()
    again.history.open()
    assert [ban.mask for ban in (await called(again.moderation.room_rules, "#a")).bans] == [
        "nick:y"
    ]
