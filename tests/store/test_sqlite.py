"""The SQLite history on a real file: group commit, surviving a failed write, and the numbered
schema migrations (``PRAGMA user_version``), including a database written by the release that
predates them. What every backend does is in ``test_history.py``."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from app.store import SchemaTooNewError, SQLiteHistory, StoredMessage, StoredRoom
from app.store.sqlite import backup, check_integrity
from app.store.sqlite_schema import SCHEMA_VERSION
from tests.store.support import (
    append,
    barrier,
    ids,
    load_room,
    message,
    must_not_fail,
    page,
    save_room,
)
from tests.tinyfs import tinyfs

# The schema exactly as the release before numbered migrations created it (it never set
# ``user_version``). A fixture, not an import: it must not follow later changes to the code.
_UNNUMBERED_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    ts INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    action INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT PRIMARY KEY,
    topic TEXT NOT NULL DEFAULT '',
    topic_by TEXT NOT NULL DEFAULT ''
);
"""


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return version


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    return names


async def test_a_failed_write_loses_only_itself(db_path: Path) -> None:
    """A write that fails (a duplicate id) is dropped alone and reported to its ``failed``, in
    order; its batch-mates still commit."""
    store = SQLiteHistory(str(db_path))
    store.open()
    outcomes: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def appended(messages: Sequence[StoredMessage]) -> None:
        outcomes.extend(f"stored {m.id}" for m in messages)

    def refused(messages: Sequence[StoredMessage], reason: str) -> None:
        outcomes.extend(f"refused {m.id} {m.text}" for m in messages)

    store.append([message(1)], appended, refused)
    await barrier(store)
    store.append([message(2)], appended, refused)
    store.append([message(1, text="duplicate")], appended, refused)
    store.append([message(3)], appended, refused)
    store.barrier(lambda: done.set_result(None))
    await asyncio.wait_for(done, 5)
    assert outcomes == ["stored 1", "stored 2", "refused 1 duplicate", "stored 3"]
    assert store.idle
    await store.close()

    reopened = SQLiteHistory(str(db_path))
    reopened.open()
    assert [(m.id, m.text) for m in (await page(reopened, "#a")).messages] == [
        (1, "hi"),
        (2, "hi"),
        (3, "hi"),
    ]
    await reopened.close()


async def test_many_appends_of_one_turn_are_stored_in_order(db_path: Path) -> None:
    """Appends submitted together (more rows than one INSERT holds, a topic write between them)
    are all stored, each reported with its own messages, in the order they were submitted."""
    store = SQLiteHistory(str(db_path))
    store.open()
    outcomes: list[object] = []
    for i in range(1, 601):
        store.append(
            [message(2 * i - 1), message(2 * i)],
            lambda ms: outcomes.append(tuple(m.id for m in ms)),
            must_not_fail,
        )
        if i == 300:
            store.save_room(
                StoredRoom("#a", "t", "ann"),
                lambda: outcomes.append("topic"),
                must_not_fail,
            )
    await barrier(store)
    expected: list[object] = [(2 * i - 1, 2 * i) for i in range(1, 601)]
    expected.insert(300, "topic")
    assert outcomes == expected
    await store.close()

    with closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute("SELECT id, ts FROM messages ORDER BY id").fetchall()
    assert rows == [(m.id, m.ts) for m in map(message, range(1, 1201))]


async def test_a_new_file_gets_every_migration(db_path: Path) -> None:
    """A new database file gets all the tables and the current schema version."""
    store = SQLiteHistory(str(db_path))
    store.open()
    await store.close()
    assert _user_version(db_path) == SCHEMA_VERSION == 6
    assert {
        "messages",
        "meta",
        "rooms",
        "accounts",
        "directs",
        "room_roles",
        "bans",
        "mutes",
        "topic_locks",
        "keys",
        "messages_fts",
    } <= _tables(db_path)


async def test_a_deleted_messages_text_is_not_in_its_table(db_path: Path) -> None:
    """Deleting overwrites the text in the row itself: no query of the file can find it."""
    store = SQLiteHistory(str(db_path))
    store.open()
    await append(store, message(1, text="a secret to forget"), message(2))
    deleted: list[bool] = []
    store.delete_message(1, deleted.append, must_not_fail)
    await store.close()
    assert deleted == [True]
    with closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute("SELECT id, text, deleted FROM messages ORDER BY id").fetchall()
        assert rows == [(1, "", 1), (2, "hi", 0)]
        dump = "\n".join(conn.iterdump())
    assert "secret" not in dump


async def test_a_database_of_the_unnumbered_release_is_migrated(db_path: Path) -> None:
    """A version-0 file written by the release before migrations keeps its data, is stamped v1
    and migrated to the current version."""
    with sqlite3.connect(db_path) as conn:
        conn.executescript(_UNNUMBERED_SCHEMA)
        conn.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
            [
                (1, "#a", 1_700_000_000_001, "ann", "hello", 0),
                (2, "#b", 1_700_000_000_002, "bob", "waves", 1),
                (3, "#a", 1_700_000_000_003, "bob", "hi ann", 0),
            ],
        )
        conn.execute("INSERT INTO meta VALUES ('reserved_id', 40)")
        conn.execute("INSERT INTO rooms VALUES ('#c', 'quiet here', 'ann')")
    conn.close()
    assert _user_version(db_path) == 0

    store = SQLiteHistory(str(db_path))
    snapshot = store.open()
    assert _user_version(db_path) == SCHEMA_VERSION
    assert snapshot.last_id == 40
    assert (await load_room(store, "#c"))[0] == StoredRoom("#c", "quiet here", "ann")
    assert [(m.id, m.sender, m.text) for m in (await load_room(store, "#a"))[1].messages] == [
        (1, "ann", "hello"),
        (3, "bob", "hi ann"),
    ]
    assert (await load_room(store, "#b"))[1].messages == [
        StoredMessage(2, 1_700_000_000_002, "#b", "bob", "waves", True)
    ]
    store.append([message(41, "#a")], lambda ms: None, must_not_fail)
    assert ids(await page(store, "#a")) == [1, 3, 41]
    await store.close()

    again = SQLiteHistory(str(db_path))
    assert again.open().last_id == 41
    await again.close()
    assert _user_version(db_path) == SCHEMA_VERSION


async def test_a_database_from_a_newer_release_is_refused(db_path: Path) -> None:
    """A file whose schema version is newer than this code knows is refused, untouched."""
    with sqlite3.connect(db_path) as conn:
        conn.executescript(_UNNUMBERED_SCHEMA)
        conn.execute("INSERT INTO messages VALUES (1, '#a', 1, 'ann', 'from the future', 0)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    store = SQLiteHistory(str(db_path))
    with pytest.raises(SchemaTooNewError, match="written by a newer Parley") as raised:
        store.open()
    assert raised.value.version == SCHEMA_VERSION + 1
    assert isinstance(raised.value, sqlite3.DatabaseError)
    assert store.idle
    await store.close()
    assert _user_version(db_path) == SCHEMA_VERSION + 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT text FROM messages").fetchall() == [("from the future",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


async def test_a_file_on_a_read_only_filesystem_is_refused_at_open(tmp_path: Path) -> None:
    """A history left as a killed server leaves it (with its -wal and -shm files) on a read-only
    filesystem is one SQLite reads without a word; ``open`` writes for real, so it is refused."""
    live = tmp_path / "h.db"
    store = SQLiteHistory(str(live))
    store.open()
    await append(store, message(1))
    with tinyfs(tmp_path / "tiny") as fs:
        # Copied while the store is open: the files as a kill -9 would leave them.
        for suffix in ("", "-wal", "-shm"):
            shutil.copyfile(f"{live}{suffix}", fs.path / f"h.db{suffix}")
        await store.close()
        fs.remount("ro")
        again = SQLiteHistory(str(fs.path / "h.db"))
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            again.open()
        await again.close()


# --- integrity check and backup (what `parley admin` runs) ---


async def test_a_sound_file_passes_the_integrity_check(tmp_path: Path) -> None:
    """A history written by the store has no integrity problems."""
    path = str(tmp_path / "h.db")
    store = SQLiteHistory(path)
    store.open()
    await append(store, message(1), message(2))
    await store.close()
    assert check_integrity(path) == []


def test_a_damaged_file_fails_the_integrity_check(tmp_path: Path) -> None:
    """Overwritten index pages are reported, one problem per line, not raised."""
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.executescript(_UNNUMBERED_SCHEMA)
    conn.executemany(
        "INSERT INTO messages VALUES (?, '#a', 0, 'ann', ?, 0)",
        [(i, "x" * 50) for i in range(2000)],
    )
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    page_size = 4096
    with closing(sqlite3.connect(path)) as conn:
        (index_root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'messages_by_room'"
        ).fetchone()
    start = (index_root - 1) * page_size
    data[start + 8 : start + page_size] = b"\x07" * (page_size - 8)
    path.write_bytes(bytes(data))
    problems = check_integrity(str(path))
    assert problems and all(isinstance(line, str) and line for line in problems)


async def test_a_backup_of_a_live_store_holds_what_was_committed(tmp_path: Path) -> None:
    """A backup taken while the store is open has every committed message and is itself sound."""
    path = str(tmp_path / "h.db")
    store = SQLiteHistory(path)
    store.open()
    await append(store, message(1), message(2, room="#b"))
    save_room(store, StoredRoom("#a", "the topic", "ann"))
    await barrier(store)
    copy = str(tmp_path / "copy.db")
    backup(path, copy)
    await append(store, message(3))
    await store.close()
    assert check_integrity(copy) == []
    restored = SQLiteHistory(copy)
    restored.open()
    assert (await load_room(restored, "#a"))[0] == StoredRoom("#a", "the topic", "ann")
    assert ids((await load_room(restored, "#b"))[1]) == [2]
    assert ids(await page(restored, "#a")) == [1]
    await restored.close()


def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    """Backing up onto an existing file is refused and leaves that file as it was."""
    path = str(tmp_path / "h.db")
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(_UNNUMBERED_SCHEMA)
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        backup(path, str(existing))
    assert existing.read_bytes() == b"keep me"
