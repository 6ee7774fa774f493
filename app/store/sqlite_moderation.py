"""SQLite moderation: ``Moderation`` in the history's own file, on the history's writer thread.

``SQLiteModeration`` owns the ``room_roles``, ``bans``, ``mutes`` and ``topic_locks`` tables that
migration 3 (``sqlite_schema.py``) creates. Like ``SQLiteAccounts`` it has no connection or
thread of its own: it hands each operation to its ``SQLiteHistory`` (``submit``), so that a role,
ban, mute or lock is committed in the same group commits as the room messages around it, in
submission order, and a storage that refuses writes is handled and logged the same way. These
tables are apart from ``rooms``, whose row ``forget_room`` deletes when a room empties, so a
room's rules outlive its members. A ban is keyed by its mask folded (``account:Ann`` and
``account:ann`` are one ban) and keeps the mask as given; the server-wide bans are room
``SERVER_WIDE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final, cast

from app.protocol import fold
from app.store.base import Failed
from app.store.moderation import RoomRole, RoomRules, StoredBan, StoredMute
from app.store.sqlite import SQLiteHistory

_BANS: Final = 'SELECT room, mask, "by", reason, created, expires FROM bans'
_MUTES: Final = 'SELECT room, nick, "by", created, expires FROM mutes'


def _ban(row: tuple[Any, ...]) -> StoredBan:
    return StoredBan(row[0], row[1], row[2], row[3], row[4], row[5])


def _mute(row: tuple[Any, ...]) -> StoredMute:
    return StoredMute(row[0], row[1], row[2], row[3], row[4])


def _rules(conn: sqlite3.Connection, room: str) -> RoomRules:
    """``room``'s rules as stored, bans and mutes oldest first (on the writer thread)."""
    roles = {
        account: cast("RoomRole", role)
        for account, role in conn.execute(
            "SELECT account, role FROM room_roles WHERE room = ? ORDER BY account", (room,)
        )
    }
    bans = conn.execute(f"{_BANS} WHERE room = ? ORDER BY created, key", (room,)).fetchall()
    mutes = conn.execute(f"{_MUTES} WHERE room = ? ORDER BY created, nick", (room,)).fetchall()
    locked = conn.execute("SELECT 1 FROM topic_locks WHERE room = ?", (room,)).fetchone()
    return RoomRules(
        roles, [_ban(row) for row in bans], [_mute(row) for row in mutes], locked is not None
    )


class SQLiteModeration:
    """``Moderation`` on the file of a ``SQLiteHistory``, through its writer thread."""

    def __init__(self, history: SQLiteHistory) -> None:
        self._history = history

    def room_rules(self, room: str, done: Callable[[RoomRules], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            rules = _rules(conn, room)
            return lambda: done(rules)

        self._history.submit(job, failed, writes=False)

    def set_role(
        self,
        room: str,
        account: str,
        role: RoomRole | None,
        done: Callable[[], None],
        failed: Failed,
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            if role is None:
                conn.execute(
                    "DELETE FROM room_roles WHERE room = ? AND account = ?", (room, account)
                )
            else:
                conn.execute(
                    "INSERT INTO room_roles VALUES (?, ?, ?)"
                    " ON CONFLICT (room, account) DO UPDATE SET role = excluded.role",
                    (room, account, role),
                )
            return done

        self._history.submit(job, failed)

    def drop_account(
        self, account: str, done: Callable[[dict[str, str]], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            owned = [
                row[0]
                for row in conn.execute(
                    "SELECT room FROM room_roles WHERE account = ? AND role = 'owner'", (account,)
                )
            ]
            conn.execute("DELETE FROM room_roles WHERE account = ?", (account,))
            successors: dict[str, str] = {}
            for room in owned:
                if conn.execute(
                    "SELECT 1 FROM room_roles WHERE room = ? AND role = 'owner'", (room,)
                ).fetchone():
                    continue
                row = conn.execute(
                    "SELECT min(account) FROM room_roles WHERE room = ? AND role = 'op'", (room,)
                ).fetchone()
                if row[0] is not None:
                    conn.execute(
                        "UPDATE room_roles SET role = 'owner' WHERE room = ? AND account = ?",
                        (room, row[0]),
                    )
                    successors[room] = row[0]
            return lambda: done(successors)

        self._history.submit(job, failed)

    def add_ban(self, ban: StoredBan, done: Callable[[], None], failed: Failed) -> None:
        row = (ban.room, fold(ban.mask), ban.mask, ban.by, ban.reason, ban.created, ban.expires)

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute("INSERT OR REPLACE INTO bans VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            return done

        self._history.submit(job, failed)

    def remove_ban(
        self, room: str, mask: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            removed = conn.execute(
                "DELETE FROM bans WHERE room = ? AND key = ?", (room, fold(mask))
            ).rowcount
            return lambda: done(removed == 1)

        self._history.submit(job, failed)

    def add_mute(self, mute: StoredMute, done: Callable[[], None], failed: Failed) -> None:
        row = (mute.room, mute.nick, mute.by, mute.created, mute.expires)

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute("INSERT OR REPLACE INTO mutes VALUES (?, ?, ?, ?, ?)", row)
            return done

        self._history.submit(job, failed)

    def remove_mute(
        self, room: str, nick: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            removed = conn.execute(
                "DELETE FROM mutes WHERE room = ? AND nick = ?", (room, nick)
            ).rowcount
            return lambda: done(removed == 1)

        self._history.submit(job, failed)

    def set_locked(self, room: str, locked: bool, done: Callable[[], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            if locked:
                conn.execute("INSERT OR IGNORE INTO topic_locks VALUES (?)", (room,))
            else:
                conn.execute("DELETE FROM topic_locks WHERE room = ?", (room,))
            return done

        self._history.submit(job, failed)

    def prune(self, now: int, done: Callable[[int], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            pruned = sum(
                conn.execute(
                    f"DELETE FROM {table} WHERE expires IS NOT NULL AND expires < ?", (now,)
                ).rowcount
                for table in ("bans", "mutes")
            )
            return lambda: done(pruned)

        self._history.submit(job, failed)
