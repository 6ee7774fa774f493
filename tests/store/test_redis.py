"""The Redis history on a real ``redis-server`` of the test's own: Redis going away and coming
back, a Redis that only reads (a replica), a trim that frees a Redis out of memory, group commit,
the key layout and what ``open`` checks. What every backend does is in ``test_history.py`` and
``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.store import StoredMessage, StoredRoom
from tests.redis_server import RedisServer, redis_server
from tests.store.support import (
    TIMEOUT,
    StoreRefused,
    append,
    barrier,
    ids,
    load_room,
    message,
    must_not_fail,
    page,
    saved_room,
    trim,
)

client = pytest.importorskip("redis", reason="the redis extra is not installed")

from app.store.redis import RedisFormatError, RedisHistory  # noqa: E402


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis that this test alone may stop, restart and reconfigure."""
    with redis_server(tmp_path / "redis") as started:
        yield started


@pytest.fixture
def admin(server: RedisServer) -> Iterator[client.Redis]:
    """A plain client of the test's Redis, to look at keys and change settings."""
    with client.Redis(port=server.port) as connection:
        yield connection


async def test_a_store_fails_while_redis_is_down_and_recovers_when_it_is_back(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis stopped, writes and reads call ``failed`` with a reason (logged once);
    once it is back the same store works again, and what was acknowledged is all there."""
    store = RedisHistory(server.url)
    store.open()
    await append(store, message(1))
    server.stop()
    with caplog.at_level(logging.WARNING, logger="parley.store"):
        with pytest.raises(StoreRefused, match=r"\S"):
            await append(store, message(2))
        with pytest.raises(StoreRefused):
            await saved_room(store, StoredRoom("#a", "lost", "ann"))
        with pytest.raises(StoreRefused):
            await page(store, "#a")
        server.start()
        await append(store, message(3))
        await saved_room(store, StoredRoom("#a", "kept", "ann"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "cannot write the history" in errors[0].getMessage()
    assert [r.getMessage() for r in caplog.records if "can be written again" in r.getMessage()]
    stored, newest = await load_room(store, "#a")
    assert stored == StoredRoom("#a", "kept", "ann")
    assert ids(newest) == [1, 3]
    await store.close()


async def test_what_was_acknowledged_survives_a_crash_of_redis(server: RedisServer) -> None:
    """A message whose ``done`` ran is in the AOF: Redis killed (SIGKILL) and restarted on it
    still has it, and the id ceiling with it."""
    store = RedisHistory(server.url)
    store.open()
    await append(store, message(1), message(2, "#b"))
    store.reserve_ids(40)
    await barrier(store)
    server.kill()
    server.start()
    assert ids(await page(store, "#a")) == [1]
    await store.close()
    again = RedisHistory(server.url)
    assert again.open().last_id == 40
    await again.close()


async def test_a_replica_refuses_writes_and_still_answers_reads(
    server: RedisServer, admin: client.Redis
) -> None:
    """A Redis turned replica answers ``READONLY``: writes call ``failed`` with it, reads go on,
    and once it is a primary again writes work."""
    store = RedisHistory(server.url)
    store.open()
    await append(store, message(1))
    admin.replicaof("127.0.0.1", "1")  # nothing listens there: it keeps its data, read-only
    try:
        with pytest.raises(StoreRefused, match="READONLY"):
            await append(store, message(2))
        assert ids(await page(store, "#a")) == [1]
    finally:
        admin.replicaof("no", "one")
    await append(store, message(3))
    assert ids(await page(store, "#a")) == [1, 3]
    await store.close()


async def test_open_refuses_a_replica(server: RedisServer, admin: client.Redis) -> None:
    """A store opened on a replica stops the start-up, not every message after it."""
    admin.replicaof("127.0.0.1", "1")
    store = RedisHistory(server.url)
    try:
        with pytest.raises(client.exceptions.ReadOnlyError):
            store.open()
    finally:
        admin.replicaof("no", "one")


async def test_a_trim_frees_a_redis_out_of_memory(server: RedisServer, admin: client.Redis) -> None:
    """Out of memory, Redis still deletes: a trim works, and is how an operator makes room."""
    store = RedisHistory(server.url)
    store.open()
    await append(store, message(1), message(2), message(3))
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        with pytest.raises(StoreRefused, match="OOM"):
            await append(store, message(4))
        assert await trim(store, keep=1) == 2
        assert ids(await page(store, "#a")) == [3]
    finally:
        admin.config_set("maxmemory", 0)
    await store.close()


async def test_appends_waiting_together_go_in_one_transaction(
    server: RedisServer, admin: client.Redis
) -> None:
    """Appends submitted while the store is busy are written by one MULTI/EXEC (group commit),
    and each ``done`` still runs once, in order."""
    store = RedisHistory(server.url)
    store.open()
    await barrier(store)
    admin.config_resetstat()
    appended: list[int] = []

    def done(messages: Sequence[StoredMessage]) -> None:
        appended.extend(m.id for m in messages)

    for id in range(1, 101):
        store.append([message(id, f"#{id % 7}")], done, must_not_fail)
    await barrier(store)
    assert appended == list(range(1, 101))
    # The first append may go alone while the other 99 queue up behind it.
    assert admin.info("commandstats")["cmdstat_exec"]["calls"] <= 2
    await store.close()


async def test_a_rooms_keys_share_its_hash_tag(server: RedisServer, admin: client.Redis) -> None:
    """A room's keys name it in braces, so Redis Cluster hashes them to one slot; the id
    ceiling and the room index are the only keys outside a room."""
    store = RedisHistory(server.url, prefix="chat")
    store.open()
    await append(store, message(1, "#a"), message(2, "#b{x}"))
    await saved_room(store, StoredRoom("#a", "t", "ann"))
    await store.close()
    assert sorted(admin.keys()) == [
        b"chat:format",
        b"chat:ids",
        b"chat:rooms",
        b"chat:{#a}:messages",
        b"chat:{#a}:state",
        b"chat:{#b{x}}:messages",
    ]


async def test_open_warns_when_redis_may_lose_what_it_acknowledged(
    server: RedisServer, admin: client.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``appendfsync everysec`` a crash can lose an acknowledged message: ``open`` says so."""
    admin.config_set("appendfsync", "everysec")
    store = RedisHistory(server.url)
    with caplog.at_level(logging.WARNING, logger="parley.store"):
        store.open()
    assert any("appendfsync everysec" in r.getMessage() for r in caplog.records)
    await store.close()


async def test_keys_of_layout_1_are_read_and_stamped_layout_2(
    server: RedisServer, admin: client.Redis
) -> None:
    """Members written by layout 1 read as before; ``open`` stamps the layout that deleted
    messages need, whose member holds no text."""
    admin.set("parley:format", 1)
    admin.zadd("parley:{#a}:messages", {b'[1,1700000000001,"ann","hi",false]': 1})
    admin.sadd("parley:rooms", "#a")
    store = RedisHistory(server.url)
    store.open()
    assert admin.get("parley:format") == b"2"
    assert (await page(store, "#a")).messages == [message(1)]
    await append(store, message(2, text="a secret to forget"))
    deleted: list[bool] = []
    store.delete_message(2, deleted.append, must_not_fail)
    await store.close()
    assert deleted == [True]
    assert admin.zrange("parley:{#a}:messages", 0, -1) == [
        b'[1,1700000000001,"ann","hi",false]',
        b'[2,1700000000002,"ann","",false,true]',
    ]


async def test_open_refuses_keys_from_a_newer_parley(
    server: RedisServer, admin: client.Redis
) -> None:
    """Keys in a layout this Parley does not know stop the start-up, with the reason."""
    admin.set("parley:format", 99)
    with pytest.raises(RedisFormatError, match="newer Parley"):
        RedisHistory(server.url).open()


async def test_a_store_submitting_while_redis_is_down_does_not_hang(server: RedisServer) -> None:
    """Many operations queued while Redis is away all complete, in order, within the timeout."""
    store = RedisHistory(server.url)
    store.open()
    server.stop()
    outcomes: list[str] = []
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for id in range(1, 21):
        store.append(
            [message(id)],
            lambda ms: outcomes.append(f"stored {ms[0].id}"),
            lambda ms, reason: outcomes.append(f"refused {ms[0].id}"),
        )
    store.barrier(lambda: finished.set_result(None))
    await asyncio.wait_for(finished, TIMEOUT)
    assert outcomes == [f"refused {id}" for id in range(1, 21)]
    server.start()
    await store.close()


async def test_two_stores_changing_one_message_at_once_leave_one_member(
    server: RedisServer, admin: client.Redis
) -> None:
    """Edits and a deletion of one message from two stores (two nodes) at once leave exactly one
    member for it, deleted: no edit brings back text that a deletion took."""
    first, second = RedisHistory(server.url), RedisHistory(server.url)
    first.open()
    second.open()
    await append(first, message(1, text="original"))
    outcomes: list[tuple[str, bool]] = []
    for n in range(20):
        store = first if n % 2 else second
        store.edit_message(
            1, "#a", f"edit {n}", n, lambda ok, n=n: outcomes.append((f"e{n}", ok)), must_not_fail
        )
    second.delete_message(1, lambda ok: outcomes.append(("delete", ok)), must_not_fail)
    for n in range(20, 30):
        first.edit_message(
            1, "#a", f"edit {n}", n, lambda ok, n=n: outcomes.append((f"e{n}", ok)), must_not_fail
        )
    await asyncio.gather(barrier(first), barrier(second))
    assert len(outcomes) == 31 and ("delete", True) in outcomes
    members = admin.zrange("parley:{#a}:messages", 0, -1)
    assert members == [b'[1,1700000000001,"ann","",false,true]']
    await first.close()
    await second.close()
