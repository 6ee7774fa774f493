"""``parley serve`` on a history it cannot use: one sentence and exit status 2, no traceback.

Like ``test_cli.py``, each test runs the real ``python -m parley serve`` in a subprocess, on a
real history file written by Parley's own store and then damaged or made read-only: cut to half
its length (as a full disk or a bad copy leaves it), or bind-mounted read-only over itself (its
folder stays writable; skipped where the machine cannot mount). The checks before start-up find
a read-only file; one that turns read-only after them is found by the store's write at open,
which the last test drives through ``serve`` in-process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from app.server import ServerConfig, serve
from app.server.settings import UsageError
from app.store import SQLiteHistory, StoredMessage
from tests.test_cli import TIMEOUT, one_sentence, parley
from tests.tinyfs import read_only_file


def write_history(path: Path, count: int) -> None:
    """A closed history file holding ``count`` messages of 1,000 characters in ``#a``."""

    async def write() -> None:
        store = SQLiteHistory(str(path))
        store.open()
        done = asyncio.get_running_loop().create_future()
        messages = [StoredMessage(i, i, "#a", "ann", "x" * 1000, False) for i in range(1, count)]

        def failed(messages: object, reason: str) -> None:
            done.set_exception(AssertionError(reason))

        store.append(messages, done.set_result, failed)
        await done
        await store.close()

    asyncio.run(write())


def test_serve_refuses_a_half_truncated_history(tmp_path: Path) -> None:
    """A real history cut to half its length is refused in one sentence naming the file."""
    db = tmp_path / "x.db"
    write_history(db, 400)
    os.truncate(db, db.stat().st_size // 2)
    result = parley(tmp_path, "serve", "--port", "0", "--db", "x.db")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"parley serve: error: cannot open the history {db}: "), last
    assert "malformed" in last, last


def test_serve_refuses_a_history_it_cannot_write(tmp_path: Path) -> None:
    """A history file that can be read but not written (its folder can) is refused before
    anything opens, in one sentence."""
    db = tmp_path / "x.db"
    write_history(db, 3)
    with read_only_file(db):
        result = parley(tmp_path, "serve", "--port", "0", "--db", "x.db")
    one_sentence(result, "serve", "--db", str(db), "not readable and writable")


async def test_a_history_read_only_after_the_check_is_a_usage_error(tmp_path: Path) -> None:
    """A history that became read-only after the checks (or that SQLite can only read) is a
    UsageError from serve, as the store writes for real when it opens, not a server that would
    refuse every message."""
    db = tmp_path / "x.db"
    await asyncio.to_thread(write_history, db, 3)
    with read_only_file(db), pytest.raises(UsageError) as raised:
        await asyncio.wait_for(serve(ServerConfig(port=0, db=str(db))), TIMEOUT)
    assert str(raised.value) == (
        f"cannot open the history {db}: attempt to write a readonly database"
    )
