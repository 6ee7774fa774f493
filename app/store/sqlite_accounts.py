"""SQLite accounts: ``Accounts`` in the history's own file, on the history's writer thread.

``SQLiteAccounts`` owns the ``accounts`` and ``directs`` tables that migration 2
(``sqlite_schema.py``) creates, and the ``keys`` of migration 4; it has no connection or thread of
its own but hands each operation to its ``SQLiteHistory`` (``submit``), so that account writes are
committed in the same group commits as room messages, in submission order, and their callbacks come
back on the loop in that order, with the same handling of a storage that refuses writes. A
conversation between two accounts is the ``pair`` of their folded nicks, in order, so that paging
it reads one index range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

from app.protocol import fold
from app.store.accounts import DirectPage, StoredAccount, StoredDirect, StoredKey, pair_of
from app.store.base import Failed
from app.store.sqlite import SQLiteHistory

_SELECT: Final = 'SELECT id, ts, sender, "to", text, action FROM directs'
_SELECT_KEYS: Final = "SELECT fingerprint, account, public_key, comment, added FROM keys"


def _direct(row: tuple[Any, ...]) -> StoredDirect:
    return StoredDirect(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _key_row(key: StoredKey) -> tuple[str, str, str, str, int]:
    return (key.fingerprint, key.account, key.public_key, key.comment, key.added)


class SQLiteAccounts:
    """``Accounts`` on the file of a ``SQLiteHistory``, through its writer thread."""

    def __init__(self, history: SQLiteHistory) -> None:
        self._history = history

    def find_account(
        self, key: str, done: Callable[[StoredAccount | None], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            row = conn.execute(
                "SELECT nick, hash, created FROM accounts WHERE key = ?", (key,)
            ).fetchone()
            found = None if row is None else StoredAccount(row[0], row[1], row[2])
            return lambda: done(found)

        self._history.submit(job, failed, writes=False)

    def all_accounts(self, done: Callable[[list[StoredAccount]], None], failed: Failed) -> None:
        """Every account, by folded nick (for ``parley admin accounts``; not in ``Accounts``,
        which the server uses and which never lists them all)."""

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            rows = conn.execute("SELECT nick, hash, created FROM accounts ORDER BY key").fetchall()
            found = [StoredAccount(row[0], row[1], row[2]) for row in rows]
            return lambda: done(found)

        self._history.submit(job, failed, writes=False)

    def create_account(
        self, account: StoredAccount, done: Callable[[bool], None], failed: Failed
    ) -> None:
        key = fold(account.nick)

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            created = conn.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, account.nick, account.hash, account.created),
            ).rowcount
            return lambda: done(created == 1)

        self._history.submit(job, failed)

    def set_password(
        self, key: str, password_hash: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            changed = conn.execute(
                "UPDATE accounts SET hash = ? WHERE key = ?", (password_hash, key)
            ).rowcount
            return lambda: done(changed == 1)

        self._history.submit(job, failed)

    def delete_account(self, key: str, done: Callable[[bool], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            deleted = conn.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount
            conn.execute("DELETE FROM keys WHERE account = ?", (key,))
            # Rare enough to scan for: what it received, and what it sent (nicks fold by case).
            conn.execute("DELETE FROM directs WHERE recipient = ? OR lower(sender) = ?", (key, key))
            return lambda: done(deleted == 1)

        self._history.submit(job, failed)

    def create_pinned_account(
        self, account: StoredAccount, key: StoredKey, done: Callable[[bool], None], failed: Failed
    ) -> None:
        folded = fold(account.nick)

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            # One savepoint: the writer thread commits groups of jobs, so a half is undone here.
            conn.execute("SAVEPOINT pin")
            created = conn.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (folded, account.nick, account.hash, account.created),
            ).rowcount
            pinned = (
                created
                and conn.execute(
                    "INSERT INTO keys VALUES (?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
                    _key_row(key),
                ).rowcount
            )
            if not pinned:
                conn.execute("ROLLBACK TO pin")
            conn.execute("RELEASE pin")
            return lambda: done(bool(pinned))

        self._history.submit(job, failed)

    def find_key(
        self, fingerprint: str, done: Callable[[StoredKey | None], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            row = conn.execute(f"{_SELECT_KEYS} WHERE fingerprint = ?", (fingerprint,)).fetchone()
            found = None if row is None else StoredKey(*row)
            return lambda: done(found)

        self._history.submit(job, failed, writes=False)

    def account_keys(
        self, key: str, done: Callable[[list[StoredKey]], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            rows = conn.execute(
                f"{_SELECT_KEYS} WHERE account = ? ORDER BY added, fingerprint", (key,)
            ).fetchall()
            found = [StoredKey(*row) for row in rows]
            return lambda: done(found)

        self._history.submit(job, failed, writes=False)

    def add_key(self, key: StoredKey, done: Callable[[bool], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            added = conn.execute(
                "INSERT INTO keys SELECT ?, ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM accounts WHERE key = ?) ON CONFLICT (fingerprint) DO NOTHING",
                (*_key_row(key), key.account),
            ).rowcount
            return lambda: done(added == 1)

        self._history.submit(job, failed)

    def remove_key(
        self, key: str, fingerprint: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            removed = conn.execute(
                "DELETE FROM keys WHERE account = ? AND fingerprint = ?", (key, fingerprint)
            ).rowcount
            return lambda: done(removed == 1)

        self._history.submit(job, failed)

    def append_direct(
        self, message: StoredDirect, delivered: bool, done: Callable[[], None], failed: Failed
    ) -> None:
        sender, to = fold(message.sender), fold(message.to)
        row = (
            message.id,
            pair_of(sender, to),
            to,
            message.ts,
            message.sender,
            message.to,
            message.text,
            int(message.action),
            int(delivered),
        )

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute("INSERT INTO directs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return done

        self._history.submit(job, failed)

    def direct_page(
        self,
        a: str,
        b: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[DirectPage], None],
        failed: Failed,
    ) -> None:
        pair = pair_of(a, b)

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            if after is not None:
                rows = conn.execute(
                    f"{_SELECT} WHERE pair = ? AND id > ? ORDER BY id LIMIT ?",
                    (pair, after, limit + 1),
                ).fetchall()
                page = DirectPage([_direct(r) for r in rows[:limit]], len(rows) > limit)
            else:
                rows = conn.execute(
                    f"{_SELECT} WHERE pair = ? AND id < ? ORDER BY id DESC LIMIT ?",
                    (pair, (1 << 63) - 1 if before is None else before, limit + 1),
                ).fetchall()
                newest = [_direct(r) for r in rows[:limit]]
                page = DirectPage(newest[::-1], len(rows) > limit)
            return lambda: done(page)

        self._history.submit(job, failed, writes=False)

    def undelivered(
        self, key: str, limit: int, done: Callable[[DirectPage], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            rows = conn.execute(
                f"{_SELECT} WHERE recipient = ? AND delivered = 0 ORDER BY id LIMIT ?",
                (key, limit + 1),
            ).fetchall()
            page = DirectPage([_direct(r) for r in rows[:limit]], len(rows) > limit)
            return lambda: done(page)

        self._history.submit(job, failed, writes=False)

    def mark_delivered(self, key: str, upto: int, done: Callable[[], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute(
                "UPDATE directs SET delivered = 1"
                " WHERE recipient = ? AND delivered = 0 AND id <= ?",
                (key, upto),
            )
            return done

        self._history.submit(job, failed)
