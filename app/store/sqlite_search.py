"""SQLite search: ``Search`` over the FTS5 index of the history's own file.

``SQLiteSearch`` owns the reading of ``messages_fts``, the external-content FTS5 table that
migration 5 (``sqlite_schema.py``) creates and its triggers keep current with every insert,
change of text and deletion of ``messages``. It has no connection of its own: each search is a
read job on its ``SQLiteHistory``'s writer thread (``submit``), so it sees every message committed
before it was asked and answers in order with the other operations. The user's terms become an
FTS5 query of quoted strings of the ``text`` column (``"don""t"``, ``"deplo"*``), so no text a
person types is FTS5 syntax; a search of a few rooms (``ROOM_FILTER_MAX``) also asks for their
names in the ``room`` column, so that FTS5 reads only their messages (the names' words, which
``#ops-team`` and ``#my-ops-team`` share, narrow the search; the ``room IN`` of the query decides).
FTS5 walks the matches by rowid, newest first, with ``before``; the page stops at ``limit`` and
one more tells ``more``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from app.protocol.query import SearchQuery, fold_words
from app.store.base import Failed, StoredMessage
from app.store.search import SearchPage
from app.store.sqlite import SQLiteHistory

_SELECT: Final = (
    "SELECT m.id, m.ts, m.room, m.sender, m.text, m.action FROM messages_fts"
    " JOIN messages AS m ON m.id = messages_fts.rowid"
    " WHERE messages_fts MATCH ? AND messages_fts.rowid < ? AND m.deleted = 0"
)
# Above every id (SQLite integers are 64-bit): "before nothing" needs no second query.
_TOP: Final = (1 << 63) - 1
# Up to this many rooms the index narrows the search to their messages; for more, reading the
# matches of the words and keeping those of the rooms costs less than the union of the rooms.
ROOM_FILTER_MAX: Final = 4
_MARKS_MAX: Final = 500  # rooms passed as parameters one by one; more go as one JSON array


def fts5_query(query: SearchQuery, rooms: Sequence[str] = ()) -> str:
    """``query`` as an FTS5 expression: each term a quoted string of the ``text`` column, all of
    them required; with ``rooms``, also one of their names in the ``room`` column."""
    expression = "text : (" + " ".join(_quoted(term.words, term.prefix) for term in query.terms)
    names = [fold_words(room) for room in rooms]
    if not names or not all(names):
        return expression + ")"
    return expression + ") AND room : (" + " OR ".join(_quoted(n) for n in names) + ")"


def _quoted(words: Sequence[str], prefix: bool = False) -> str:
    # The words hold only letters and digits, but quoting makes any text a string all the same.
    phrase = " ".join(words).replace('"', '""')
    return f'"{phrase}"*' if prefix else f'"{phrase}"'


class SQLiteSearch:
    """``Search`` on the file of a ``SQLiteHistory``, through its writer thread."""

    def __init__(self, history: SQLiteHistory) -> None:
        self._history = history

    def search(
        self,
        rooms: Sequence[str],
        query: SearchQuery,
        before: int | None,
        limit: int,
        done: Callable[[SearchPage], None],
        failed: Failed,
    ) -> None:
        rooms = list(rooms)
        expression = fts5_query(query, rooms if len(rooms) <= ROOM_FILTER_MAX else ())
        top = _TOP if before is None else before

        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            if not rooms:
                empty = SearchPage([], False)
                return lambda: done(empty)
            if len(rooms) <= _MARKS_MAX:
                among, values = ", ".join("?" * len(rooms)), tuple(rooms)
            else:  # past SQLite's limit on parameters (a server without --max-rooms-per-conn)
                among, values = "SELECT value FROM json_each(?)", (json.dumps(rooms),)
            rows = conn.execute(
                f"{_SELECT} AND m.room IN ({among}) ORDER BY messages_fts.rowid DESC LIMIT ?",
                (expression, top, *values, limit + 1),
            ).fetchall()
            found = [
                StoredMessage(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
                for row in rows[:limit]
            ]
            more = len(rows) > limit
            result = SearchPage(found, more, found[-1].id if more and found else None)
            return lambda: done(result)

        self._history.submit(job, failed, writes=False)
