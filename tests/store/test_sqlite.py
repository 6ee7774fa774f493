"""The SQLite history on a real file: group commit, ordering, and surviving a failed write."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from app.store import Page, SQLiteHistory, StoredMessage, StoredRoom


def _message(id: int, room: str = "#a", text: str = "hi") -> StoredMessage:
    return StoredMessage(
        id=id, ts=1_700_000_000_000 + id, room=room, sender="ann", text=text, action=False
    )


async def test_completions_run_in_submission_order(db_path: Path) -> None:
    """Appends, reads and barriers complete in the order they were submitted."""
    store = SQLiteHistory(str(db_path))
    store.open(recent=10)
    order: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def appended(messages: Sequence[StoredMessage]) -> None:
        order.append(f"append {messages[0].id}")

    def paged(page: Page) -> None:
        order.append(f"page {[m.id for m in page.messages]}")

    store.append([_message(1)], appended)
    store.page("#a", None, None, 10, paged)
    store.append([_message(2)], appended)
    store.barrier(lambda: done.set_result(None))
    await asyncio.wait_for(done, 5)
    assert order == ["append 1", "page [1]", "append 2"]
    assert store.idle
    await store.close()


async def test_a_failed_write_loses_only_itself(db_path: Path) -> None:
    """A write that fails (a duplicate id) is dropped alone; its batch-mates still commit."""
    store = SQLiteHistory(str(db_path))
    store.open(recent=10)
    committed: list[int] = []
    done = asyncio.get_running_loop().create_future()

    def appended(messages: Sequence[StoredMessage]) -> None:
        committed.extend(m.id for m in messages)

    store.append([_message(1)], appended)
    await asyncio.wait_for(_barrier(store), 5)
    store.append([_message(2)], appended)
    store.append([_message(1, text="duplicate")], appended)
    store.append([_message(3)], appended)
    store.barrier(lambda: done.set_result(None))
    await asyncio.wait_for(done, 5)
    assert committed == [1, 2, 3]
    assert store.idle
    await store.close()

    reopened = SQLiteHistory(str(db_path))
    snapshot = reopened.open(recent=10)
    assert [(m.id, m.text) for m in snapshot.recent["#a"]] == [(1, "hi"), (2, "hi"), (3, "hi")]
    await reopened.close()


async def test_snapshot_has_rooms_topics_and_the_id_ceiling(db_path: Path) -> None:
    """After a restart the snapshot holds every room, its topic, and the highest id used."""
    store = SQLiteHistory(str(db_path))
    store.open(recent=2)
    store.append(
        [_message(1, "#a"), _message(2, "#b"), _message(3, "#a"), _message(4, "#a")], lambda m: None
    )
    store.save_room(StoredRoom("#c", "quiet here", "ann"))
    store.reserve_ids(100)
    await store.close()

    reopened = SQLiteHistory(str(db_path))
    snapshot = reopened.open(recent=2)
    assert snapshot.last_id == 100
    assert {r.room: r.topic for r in snapshot.rooms} == {"#a": "", "#b": "", "#c": "quiet here"}
    assert [m.id for m in snapshot.recent["#a"]] == [3, 4]
    await reopened.close()


def _barrier(store: SQLiteHistory) -> asyncio.Future[None]:
    future = asyncio.get_running_loop().create_future()
    store.barrier(lambda: future.set_result(None))
    return future
