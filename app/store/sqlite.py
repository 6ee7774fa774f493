"""SQLite history: the embedded default store, written by one thread with group commit.

The event loop never waits on the disk. Every operation becomes a job on a queue; one writer
thread takes all the jobs that are waiting, runs them in a single transaction, commits, and posts
their completions back to the loop as one callback, in submission order. Under load this commits
many messages per transaction, and the room messages appended one after another go into a few
multi-row INSERTs (each statement is one step, and each step gives the GIL back and waits to take
it again); when idle a message is committed alone and at once. The database is in WAL mode
with ``synchronous=NORMAL``: a commit survives the server process being killed at any moment
(what is promised), though not necessarily a power cut of the machine.

When a transaction fails, each of its jobs is run again alone, so that only what really failed
is lost; the failed ones call their ``failed`` callbacks, in order with the rest. A storage that
refuses writes (read-only, full, an I/O error) is logged once through ``WriteHealth`` and is
tried again with every later write, so the store recovers by itself; any other failure is a bug
of ours and is logged with its traceback. ``open`` writes for real, so that a file SQLite can
only read (it opens one without a word) stops the start-up instead of every message after it.
The file's schema and its migrations are ``sqlite_schema.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.store.base import Failed, Page, Snapshot, StoredMessage, StoredRoom, WriteHealth
from app.store.sqlite_schema import migrate

log = logging.getLogger("parley.store")

# A deleted message reads as not edited: it has no text left to have been edited.
_SELECT: Final = (
    "SELECT id, ts, room, sender, text, action, deleted,"
    " edited_at IS NOT NULL AND deleted = 0 FROM messages"
)

# A job runs on the writer thread and returns the completion to run on the loop.
_Job = Callable[[sqlite3.Connection], Callable[[], None]]
_CLOSE: Final = object()


@dataclass(frozen=True, slots=True)
class _Work:
    """A job on the queue, with whom to tell if it fails and whether it writes."""

    job: _Job
    failed: Failed | None = None
    writes: bool = True


def _row(row: tuple[Any, ...]) -> StoredMessage:
    return StoredMessage(
        row[0], row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6]), bool(row[7])
    )


def _nothing() -> None:
    return None


# Rows per INSERT when appends submitted together are written as one statement (7 values each,
# under SQLite's default limit of 32,766 variables).
_ROWS_PER_INSERT: Final = 512
_INSERT: Final = "INSERT INTO messages (id, room, ts, sender, text, action, deleted) VALUES "
_ROW: Final = "(?, ?, ?, ?, ?, ?, ?)"


class _Append:
    """The job of one ``append``: its rows, and whom to tell once they are committed."""

    __slots__ = ("done", "messages", "rows")

    def __init__(
        self, messages: Sequence[StoredMessage], done: Callable[[Sequence[StoredMessage]], None]
    ) -> None:
        self.messages = messages
        self.done = done
        self.rows = [
            (m.id, m.room, m.ts, m.sender, m.text, int(m.action), int(m.deleted)) for m in messages
        ]

    def __call__(self, conn: sqlite3.Connection) -> Callable[[], None]:
        _insert(conn, self.rows)
        return self.completion

    def completion(self) -> None:
        self.done(self.messages)


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert ``rows`` into ``messages`` a few hundred to a statement: each statement runs in
    one step, and each step gives up the GIL and takes it back, which the writer thread may
    have to wait for while the loop is busy (an ``executemany`` takes a step per row)."""
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ", ".join([_ROW] * len(chunk))
        conn.execute(_INSERT + values, [value for row in chunk for value in row])


def _run_jobs(conn: sqlite3.Connection, work: Sequence[_Work]) -> list[Callable[[], None]]:
    """Run ``work`` in order inside the open transaction; consecutive appends share their
    INSERTs. Their completions, in the same order."""
    completions: list[Callable[[], None]] = []
    appends: list[_Append] = []
    for item in work:
        if isinstance(item.job, _Append):
            appends.append(item.job)
            continue
        if appends:
            _insert(conn, [row for append in appends for row in append.rows])
            completions.extend(append.completion for append in appends)
            appends = []
        completions.append(item.job(conn))
    if appends:
        _insert(conn, [row for append in appends for row in append.rows])
        completions.extend(append.completion for append in appends)
    return completions


def _is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the storage refusing (full, read-only, an I/O error, locked, damaged)
    rather than a bug of ours (a duplicate id, bad SQL)."""
    return (
        isinstance(exc, (sqlite3.OperationalError, OSError)) or type(exc) is sqlite3.DatabaseError
    )


class SQLiteHistory:
    """``History`` on one SQLite file (or ``:memory:``), with a writer thread."""

    def __init__(self, path: str, busy_timeout: float = 5.0) -> None:
        self._path = path
        # How long to wait for another process's write (``parley admin`` beside a server).
        self._busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._in_flight = 0
        # CLOCK_MONOTONIC ns of the newest commit handed back to the loop, read by the benchmark's
        # latency sampler (``app/server/timings.py``) while that commit's callbacks run.
        self.committed_ns = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed: asyncio.Future[None] | None = None
        self._health = WriteHealth(path, log)

    # --- start-up, on the loop's thread, before serving ---

    def open(self) -> Snapshot:
        self._loop = asyncio.get_running_loop()
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            migrate(conn, self._path)  # first: a file from a newer Parley is left untouched
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            last_id = conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(id) FROM messages), 0),"
                " COALESCE((SELECT MAX(id) FROM directs), 0),"
                " COALESCE((SELECT value FROM meta WHERE key = 'reserved_id'), 0))"
            ).fetchone()[0]
            self._probe_write(conn, last_id)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._thread = threading.Thread(target=self._run, name="parley-store", daemon=True)
        self._thread.start()
        log.info("history in %s: last message id %d", self._path, last_id)
        return Snapshot(last_id)

    def _probe_write(self, conn: sqlite3.Connection, last_id: int) -> None:
        """Write for real, so that a file SQLite can only read fails here, at start-up; a full
        disk does not stop the start (reads are served, and writes work once there is room)."""
        try:
            conn.execute(
                "INSERT INTO meta VALUES ('reserved_id', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = MAX(value, excluded.value)",
                (last_id,),
            )
        except sqlite3.OperationalError as exc:
            full = getattr(exc, "sqlite_errorname", None) == "SQLITE_FULL"
            if not (full or str(exc) == "database or disk is full"):
                raise
            self._health.failed(str(exc))

    # --- operations, called on the loop ---

    def append(
        self,
        messages: Sequence[StoredMessage],
        done: Callable[[Sequence[StoredMessage]], None],
        failed: Callable[[Sequence[StoredMessage], str], None],
    ) -> None:
        self._submit(_Append(messages, done), lambda reason: failed(messages, reason))

    def reserve_ids(self, upto: int) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute(
                "INSERT INTO meta VALUES ('reserved_id', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = MAX(value, excluded.value)",
                (upto,),
            )
            return _nothing

        self._submit(job)

    def save_room(self, room: StoredRoom, done: Callable[[], None], failed: Failed) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute(
                "INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT (room) DO UPDATE"
                " SET topic = excluded.topic, topic_by = excluded.topic_by",
                (room.room, room.topic, room.topic_by),
            )
            return done

        self._submit(job, failed)

    def page(
        self,
        room: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[Page], None],
        failed: Failed | None = None,
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            if after is not None:
                rows = conn.execute(
                    f"{_SELECT} WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
                    (room, after, limit + 1),
                ).fetchall()
                result = Page([_row(r) for r in rows[:limit]], len(rows) > limit)
            else:
                messages, more = self._latest(conn, room, before, limit)
                result = Page(messages, more)
            return lambda: done(result)

        self._submit(job, failed, writes=False)

    def trim(
        self,
        older_than: int | None,
        keep: int | None,
        limit: int,
        done: Callable[[int], None],
        failed: Failed,
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            # The newest message may go too: its id must stay used.
            conn.execute(
                "INSERT INTO meta SELECT 'reserved_id', MAX(id) FROM messages HAVING COUNT(*) > 0"
                " ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)"
            )
            deleted = 0
            if older_than is not None:
                # Ids and timestamps rise together, so the old messages are the first ids: the
                # scan stops after ``limit`` of them (and reads the table once when none are left).
                deleted += conn.execute(
                    "DELETE FROM messages WHERE id IN"
                    " (SELECT id FROM messages WHERE ts < ? ORDER BY id LIMIT ?)",
                    (older_than, limit),
                ).rowcount
            if keep is not None and deleted < limit:
                deleted += self._trim_rooms(conn, keep, limit - deleted)
            return lambda: done(deleted)

        self._submit(job, failed)

    def barrier(self, done: Callable[[], None]) -> None:
        if self._in_flight == 0:
            done()
        else:
            self._submit(lambda conn: done, writes=False)

    @property
    def idle(self) -> bool:
        return self._in_flight == 0

    async def close(self) -> None:
        if self._thread is None:
            return
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        self._queue.put(_CLOSE)
        await self._closed
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        log.info("history closed")

    def load_room(
        self,
        room: str,
        recent: int,
        done: Callable[[StoredRoom | None, Page], None],
        failed: Failed,
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            row = conn.execute(
                "SELECT room, topic, topic_by FROM rooms WHERE room = ?", (room,)
            ).fetchone()
            stored = None if row is None else StoredRoom(row[0], row[1], row[2])
            messages, more = self._latest(conn, room, None, recent)
            page = Page(messages, more)
            return lambda: done(stored, page)

        self._submit(job, failed, writes=False)

    def forget_room(self, room: str) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            conn.execute(
                "DELETE FROM rooms WHERE room = ?"
                " AND NOT EXISTS (SELECT 1 FROM messages WHERE room = ?)",
                (room, room),
            )
            return _nothing

        self._submit(job)

    def find_message(
        self, id: int, done: Callable[[StoredMessage | None], None], failed: Failed
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            row = conn.execute(f"{_SELECT} WHERE id = ?", (id,)).fetchone()
            found = None if row is None else _row(row)
            return lambda: done(found)

        self._submit(job, failed, writes=False)

    def delete_message(self, id: int, done: Callable[[bool], None], failed: Failed) -> None:
        # The text is overwritten in the row, so no query can bring it back. Its old bytes may
        # linger in the file's free space and the WAL until SQLite reuses them (no
        # ``secure_delete``): what Parley serves and what ``backup`` copies (``VACUUM INTO``
        # writes only live rows) never hold it.
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            found = conn.execute(
                "UPDATE messages SET text = '', deleted = 1 WHERE id = ?", (id,)
            ).rowcount
            return lambda: done(found == 1)

        self._submit(job, failed)

    def edit_message(
        self,
        id: int,
        room: str,
        text: str,
        at: int,
        done: Callable[[bool], None],
        failed: Failed,
    ) -> None:
        def job(conn: sqlite3.Connection) -> Callable[[], None]:
            found = conn.execute(
                "UPDATE messages SET text = ?, edited_at = ?"
                " WHERE id = ? AND room = ? AND deleted = 0",
                (text, at, id, room),
            ).rowcount
            return lambda: done(found == 1)

        self._submit(job, failed)

    # --- internals ---

    @staticmethod
    def _latest(
        conn: sqlite3.Connection, room: str, before: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        if before is None:
            rows = conn.execute(
                f"{_SELECT} WHERE room = ? ORDER BY id DESC LIMIT ?", (room, limit + 1)
            ).fetchall()
        else:
            rows = conn.execute(
                f"{_SELECT} WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (room, before, limit + 1),
            ).fetchall()
        return [_row(r) for r in reversed(rows[:limit])], len(rows) > limit

    @staticmethod
    def _trim_rooms(conn: sqlite3.Connection, keep: int, limit: int) -> int:
        """Delete up to ``limit`` messages beyond the newest ``keep`` of their room."""
        deleted = 0
        crowded = conn.execute(
            "SELECT room FROM messages GROUP BY room HAVING COUNT(*) > ?", (keep,)
        ).fetchall()
        for (room,) in crowded:
            if deleted >= limit:
                break
            # The newest message to go: the first one past the ``keep`` newest.
            (newest_gone,) = conn.execute(
                "SELECT id FROM messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (room, keep),
            ).fetchone()
            deleted += conn.execute(
                "DELETE FROM messages WHERE id IN"
                " (SELECT id FROM messages WHERE room = ? AND id <= ? ORDER BY id LIMIT ?)",
                (room, newest_gone, limit - deleted),
            ).rowcount
        return deleted

    def submit(self, job: _Job, failed: Failed | None = None, *, writes: bool = True) -> None:
        """Queue ``job`` for the writer thread, in order with every other operation: how the other
        stores of this file (``sqlite_accounts.py``) share its thread, queue and transactions."""
        self._submit(job, failed, writes=writes)

    def _submit(self, job: _Job, failed: Failed | None = None, *, writes: bool = True) -> None:
        self._in_flight += 1
        self._queue.put(_Work(job, failed, writes))

    def _run(self) -> None:
        """The writer thread: drain waiting jobs, run them in one transaction, hand back."""
        conn = self._conn
        assert conn is not None and self._loop is not None
        closing = False
        while not closing:
            jobs = [self._queue.get()]
            while True:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = _CLOSE in jobs
            work = [job for job in jobs if isinstance(job, _Work)]
            try:
                completions = self._transaction(conn, work)
            except Exception as exc:
                # One bad operation must not take the others down: run each alone, so that only
                # what really failed is lost (and, not being committed, never delivered).
                if _is_storage_failure(exc):
                    log.debug(
                        "history batch of %d failed (%s); retrying one by one", len(work), exc
                    )
                else:
                    log.exception("history batch of %d failed; retrying one by one", len(work))
                completions = [self._alone(conn, job) for job in work]
            self._loop.call_soon_threadsafe(self._complete, completions, time.monotonic_ns())
        conn.close()
        self._loop.call_soon_threadsafe(self._finish_close)

    def _transaction(self, conn: sqlite3.Connection, work: list[_Work]) -> list[Callable[[], None]]:
        changes = conn.total_changes
        conn.execute("BEGIN")
        try:
            completions = _run_jobs(conn, work)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # A storage failing may fail the rollback too; what it raised first is the news.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        if conn.total_changes != changes:
            self._health.worked()
        return completions

    def _alone(self, conn: sqlite3.Connection, item: _Work) -> Callable[[], None]:
        try:
            return self._transaction(conn, [item])[0]
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if not _is_storage_failure(exc):
                log.exception("history operation failed and was dropped")
            elif item.writes:
                self._health.failed(reason)
            else:
                log.warning("cannot read the history in %s: %s", self._path, reason)
            failed = item.failed
            return _nothing if failed is None else lambda: failed(reason)

    def _complete(self, completions: list[Callable[[], None]], committed_ns: int) -> None:
        self.committed_ns = committed_ns
        for completion in completions:
            self._in_flight -= 1
            try:
                completion()
            except Exception:
                log.exception("history completion failed")

    def _finish_close(self) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)


def check_integrity(path: str) -> list[str]:
    """SQLite's integrity check of the history file at ``path``: ``[]`` when it is sound, else
    what SQLite found wrong. Safe on the file of a running server (a read transaction in WAL)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as err:
        # Damage the check cannot get past ("database disk image is malformed") is its finding.
        return [str(err)]
    finally:
        conn.close()
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


def backup(path: str, to: str) -> None:
    """Copy the history at ``path`` to a new, compact file ``to`` as of one moment.

    ``VACUUM INTO`` reads one consistent snapshot, so it is safe while a server is writing. It
    never overwrites a file: ``FileExistsError`` if ``to`` exists.
    """
    if os.path.lexists(to):
        raise FileExistsError(errno.EEXIST, "the backup file already exists", to)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("VACUUM INTO ?", (to,))
    except BaseException:
        # A copy that failed half-way is no backup: leave nothing that could be taken for one.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(to)
        raise
    finally:
        conn.close()
