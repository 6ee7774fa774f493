"""A history written by an earlier release opens, upgrades in place and keeps what it held.

``tests/data/history-v1.db`` was written by the store code of main at commit 1c9e788 (schema
version 1, before accounts): ten messages in ``#general`` and ``#rust`` (id 5 an action) and the
topic of ``#general``. It is copied, never opened in place, so the file stays as that release
left it. ``tests/data/history-v3.db`` was written the same way by main at commit 5ef6fd8 (schema
version 3, before SSH keys): the account ``Alice``; ``tests/data/history-v4.db`` by main at commit
1299688 (schema version 4, before edits): messages 1 to 4 of ``#general``, from alice (odd ids)
and bob (even), ``message N`` each, and message 4 deleted.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from app.protocol.query import parse_query
from app.store import (
    RoomRules,
    SQLiteAccounts,
    SQLiteHistory,
    SQLiteModeration,
    StoredAccount,
    StoredKey,
    StoredRoom,
)
from app.store.sqlite_schema import SCHEMA_VERSION
from app.store.sqlite_search import SQLiteSearch
from tests.store.support import TS0, called, load_room, page

V1_DB = Path(__file__).resolve().parents[1] / "data" / "history-v1.db"
V3_DB = Path(__file__).resolve().parents[1] / "data" / "history-v3.db"
V4_DB = Path(__file__).resolve().parents[1] / "data" / "history-v4.db"


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
    """The database of the release before accounts opens, is migrated to the current schema (6)
    in place, keeps every message and topic, and takes accounts, deletions and moderation rules
    afterwards, across a restart."""
    path = tmp_path / "parley.db"
    shutil.copy(V1_DB, path)
    assert _user_version(path) == 1

    history = SQLiteHistory(str(path))
    assert history.open().last_id == 10
    assert _user_version(path) == SCHEMA_VERSION == 6
    stored, newest = await load_room(history, "#general")
    assert stored == StoredRoom("#general", "welcome all", "alice")
    assert [m.id for m in newest.messages] == [1, 3, 5, 7, 9]
    assert newest.messages[2].action and newest.messages[2].text == "message 5"
    assert [m.id for m in (await page(history, "#rust")).messages] == [2, 4, 6, 8, 10]
    accounts = SQLiteAccounts(history)
    assert await called(accounts.create_account, StoredAccount("alice", "h", TS0))
    # Version 3: messages of version 1 can be deleted, and rooms take moderation rules.
    assert await called(history.delete_message, 5) is True
    moderation = SQLiteModeration(history)
    await called(moderation.set_role, "#general", "alice", "owner")
    await called(moderation.set_locked, "#general", True)
    await history.close()

    again = SQLiteHistory(str(path))
    assert again.open().last_id == 10
    general = (await page(again, "#general")).messages
    assert [(m.id, m.text, m.deleted) for m in general] == [
        (1, "message 1", False),
        (3, "message 3", False),
        (5, "", True),
        (7, "message 7", False),
        (9, "message 9", False),
    ]
    rules = await called(SQLiteModeration(again).room_rules, "#general")
    assert rules == RoomRules(roles={"alice": "owner"}, locked=True)
    assert await called(SQLiteAccounts(again).find_account, "alice") == StoredAccount(
        "alice", "h", TS0
    )
    await again.close()


async def test_a_version_3_history_takes_keys_for_its_accounts(tmp_path: Path) -> None:
    """The database of the release before SSH keys is migrated to version 4 in place; its account
    is still there, takes a key, and deleting it deletes the key, across a restart."""
    path = tmp_path / "parley.db"
    shutil.copy(V3_DB, path)
    assert _user_version(path) == 3
    history = SQLiteHistory(str(path))
    history.open()
    assert _user_version(path) == SCHEMA_VERSION
    accounts = SQLiteAccounts(history)
    alice = await called(accounts.find_account, "alice")
    assert alice is not None and alice.nick == "Alice"
    key = StoredKey("SHA256:" + "A" * 43, "alice", "ssh-ed25519 AAAA", "laptop", TS0)
    assert await called(accounts.add_key, key) is True
    await history.close()

    again = SQLiteHistory(str(path))
    again.open()
    accounts = SQLiteAccounts(again)
    assert await called(accounts.account_keys, "alice") == [key]
    assert await called(accounts.delete_account, "alice") is True
    assert await called(accounts.find_key, key.fingerprint) is None
    await again.close()


async def test_a_version_4_history_takes_edits_of_its_messages(tmp_path: Path) -> None:
    """The database of the release before edits is migrated to the current schema in place; its
    messages read as never edited, take an edit (not the deleted one) that survives a restart."""
    path = tmp_path / "parley.db"
    shutil.copy(V4_DB, path)
    assert _user_version(path) == 4
    history = SQLiteHistory(str(path))
    assert history.open().last_id == 4
    assert _user_version(path) == SCHEMA_VERSION
    before = (await page(history, "#general")).messages
    assert [(m.id, m.text, m.deleted, m.edited) for m in before] == [
        (1, "message 1", False, False),
        (2, "message 2", False, False),
        (3, "message 3", False, False),
        (4, "", True, False),
    ]
    assert await called(history.edit_message, 3, "#general", "message 3, fixed", TS0 + 10) is True
    assert await called(history.edit_message, 4, "#general", "undeleted", TS0 + 10) is False
    await history.close()

    again = SQLiteHistory(str(path))
    again.open()
    after = (await page(again, "#general")).messages
    assert [(m.text, m.edited) for m in after] == [
        ("message 1", False),
        ("message 2", False),
        ("message 3, fixed", True),
        ("", False),
    ]
    await again.close()


async def test_an_old_history_is_indexed_for_search_when_migrated(tmp_path: Path) -> None:
    """Migration 5 indexes the history already in the file: every one of the version-1 file's
    messages is found, newest first, and one deleted afterwards no longer is."""
    path = tmp_path / "parley.db"
    shutil.copy(V1_DB, path)
    history = SQLiteHistory(str(path))
    history.open()
    index = SQLiteSearch(history)
    found = await called(index.search, ["#general", "#rust"], parse_query("message"), None, 50)
    assert [m.id for m in found.messages] == list(range(10, 0, -1))
    assert await called(history.delete_message, 7) is True
    found = await called(index.search, ["#general"], parse_query("message"), None, 50)
    assert [m.id for m in found.messages] == [9, 5, 3, 1]
    await history.close()
