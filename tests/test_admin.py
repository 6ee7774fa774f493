"""``parley admin``: the integrity check and the backup of a history file, run as the real command
(``python -m parley admin ...``), the backup against a server that is running and writing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.conftest import Connect
from tests.test_cli import one_sentence, parley


def _history(path: Path, messages: int) -> None:
    """A history file as the server writes one, with ``messages`` messages in ``#a``."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, ts INTEGER NOT NULL,"
        " sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX messages_by_room ON messages (room, id);"
    )
    conn.executemany(
        "INSERT INTO messages VALUES (?, '#a', ?, 'ann', ?, 0)",
        [(i, i, "x" * 100) for i in range(1, messages + 1)],
    )
    conn.commit()
    conn.close()


def test_check_passes_a_sound_history(tmp_path: Path) -> None:
    """A sound file: "no damage found" and exit status 0."""
    _history(tmp_path / "h.db", 10)
    result = parley(tmp_path, "admin", "check", "--db", "h.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "h.db: no damage found\n"


def test_check_reports_a_damaged_history_with_status_1(tmp_path: Path) -> None:
    """A file cut in half: what SQLite found, one line each, exit status 1, no traceback."""
    path = tmp_path / "h.db"
    _history(path, 5000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = parley(tmp_path, "admin", "check", "--db", "h.db")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("h.db: ")
    assert "no damage found" not in result.stdout


def test_check_of_a_missing_file_is_one_sentence(tmp_path: Path) -> None:
    """No such file: one sentence and exit 2, and no file is created by looking."""
    one_sentence(parley(tmp_path, "admin", "check", "--db", "nope.db"), "admin", "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_the_history_comes_from_parley_db_like_serve(tmp_path: Path) -> None:
    """Without ``--db``, ``PARLEY_DB`` names the file, as it does for ``parley serve``."""
    _history(tmp_path / "env.db", 3)
    result = parley(tmp_path, "admin", "check", env={"PARLEY_DB": "env.db"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "env.db: no damage found\n"


def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    """An existing target is refused in one sentence and left as it was."""
    _history(tmp_path / "h.db", 3)
    (tmp_path / "old").write_text("keep")
    result = parley(tmp_path, "admin", "backup", "--db", "h.db", "old")
    one_sentence(result, "admin", "old", "already exists")
    assert (tmp_path / "old").read_text() == "keep"


def test_a_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    """Backing up a damaged history fails with status 1 and leaves no half-made copy."""
    path = tmp_path / "h.db"
    _history(path, 5000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = parley(tmp_path, "admin", "backup", "--db", "h.db", "copy.db")
    assert result.returncode == 1
    assert result.stderr.startswith("parley admin: error: cannot back up h.db: ")
    assert not (tmp_path / "copy.db").exists()


async def test_backup_of_a_running_server_holds_its_messages(
    connect: Connect, db_path: Path, tmp_path: Path
) -> None:
    """A backup taken while the server runs has every message echoed so far and checks sound."""
    alice = await connect("alice")
    await alice.join("#a")
    for n in range(20):
        await alice.send(type="say", room="#a", text=f"m{n}")
    for n in range(20):
        await alice.expect("message", text=f"m{n}")
    result = await asyncio.to_thread(
        parley, tmp_path, "admin", "backup", "--db", str(db_path), "copy.db"
    )
    assert result.returncode == 0, result.stderr
    await alice.send(type="say", room="#a", text="after the backup")
    await alice.expect("message", text="after the backup")
    copy = sqlite3.connect(tmp_path / "copy.db")
    texts = [row[0] for row in copy.execute("SELECT text FROM messages ORDER BY id")]
    copy.close()
    assert texts == [f"m{n}" for n in range(20)]
    check = await asyncio.to_thread(parley, tmp_path, "admin", "check", "--db", "copy.db")
    assert check.returncode == 0, check.stdout + check.stderr
