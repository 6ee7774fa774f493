"""A history written by an earlier release opens, upgrades in place and keeps what it held.

``tests/data/history-v1.db`` was written by the store code of main at commit 1c9e788 (schema
version 1, before accounts): ten messages in ``#general`` and ``#rust`` (id 5 an action) and the
topic of ``#general``. It is copied, never opened in place, so the file stays as that release
left it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from app.store import SQLiteAccounts, SQLiteHistory, StoredAccount, StoredRoom
from app.store.sqlite_schema import SCHEMA_VERSION
from tests.store.support import TS0, called, load_room, page

V1_DB = Path(__file__).resolve().parents[1] / "data" / "history-v1.db"


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return version


async def test_a_version_1_history_upgrades_in_place_and_keeps_its_history(
    tmp_path: Path,
) -> None:
    """The database of the release before accounts opens, is migrated to the current schema in
    place, keeps every message and topic, and takes accounts afterwards, across a restart."""
    path = tmp_path / "parley.db"
    shutil.copy(V1_DB, path)
    assert _user_version(path) == 1

    history = SQLiteHistory(str(path))
    assert history.open().last_id == 10
    assert _user_version(path) == SCHEMA_VERSION
    stored, newest = await load_room(history, "#general")
    assert stored == StoredRoom("#general", "welcome all", "alice")
    assert [m.id for m in newest.messages] == [1, 3, 5, 7, 9]
    assert newest.messages[2].action and newest.messages[2].text == "message 5"
    assert [m.id for m in (await page(history, "#rust")).messages] == [2, 4, 6, 8, 10]
    accounts = SQLiteAccounts(history)
    assert await called(accounts.create_account, StoredAccount("alice", "h", TS0))
    await history.close()

    again = SQLiteHistory(str(path))
    assert again.open().last_id == 10
    assert len((await page(again, "#general")).messages) == 5
    assert await called(SQLiteAccounts(again).find_account, "alice") == StoredAccount(
        "alice", "h", TS0
    )
    await again.close()
