"""Retention: the background trim that deletes the room history an operator chose not to keep.

``--retention-days N`` deletes room messages older than N days and ``--max-history N`` every
message of a room beyond its N newest; 0 (the default for both) keeps everything, and then no
task runs. ``Retention`` owns the task that the runner starts and stops with the server: every
``trim_interval`` seconds (and once at start) it asks the store to trim in steps of at most
``TRIM_STEP`` messages, each step one short transaction on the store's writer thread, so that
neither the event loop nor other writes wait behind a large trim. When a trim is done it drops
what it deleted from each room's window of newest messages (``directory.Room.recent``) in the
store's order, and marks those rooms stale (``Rooms.stale``) so that the next join rereads the
window from the store: a join never shows deleted history. A trim the store refuses (a full or
read-only disk) is logged by the store and tried again at the next interval. Topics, the id
sequence and direct messages (never stored) are not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.server.config import ServerConfig
from app.server.directory import Rooms
from app.store import History

log = logging.getLogger("parley.server")

TRIM_STEP = 500  # messages deleted per store transaction
DAY_MS = 86_400_000


class TrimRefused(Exception):
    """The store could not trim (the reason is the message; the store has logged it)."""


class Retention:
    """The background trim of room history by age and by count."""

    def __init__(self, config: ServerConfig, store: History, rooms: Rooms) -> None:
        self.config = config
        self.store = store
        self.rooms = rooms
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.config.retention_days > 0 or self.config.max_history > 0

    def start(self) -> None:
        """Start trimming in the background, if any limit is set."""
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="parley-retention")
            log.info(
                "retention: messages older than %s, beyond %s per room, checked every %g s",
                f"{self.config.retention_days} days" if self.config.retention_days else "ever",
                self.config.max_history or "none",
                self.config.trim_interval,
            )

    async def stop(self) -> None:
        """Stop trimming (a step already with the store completes there)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            # A refused trim was logged by the store; the next interval tries again.
            with contextlib.suppress(TrimRefused):
                await self.trim()
            await asyncio.sleep(self.config.trim_interval)

    async def trim(self) -> int:
        """Delete everything the limits say should go, step by step; how many messages went."""
        days, keep = self.config.retention_days, self.config.max_history
        older_than = time.time_ns() // 1_000_000 - days * DAY_MS if days else None
        total = 0
        while True:
            deleted = await self._step(older_than, keep or None)
            total += deleted
            if deleted < TRIM_STEP:
                break
        if total:
            log.info("retention: deleted %d messages", total)
        return total

    async def _step(self, older_than: int | None, keep: int | None) -> int:
        """One bounded trim; the windows forget what it deleted, in the store's order."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def trimmed(deleted: int) -> None:
            if deleted:
                self._forget(older_than, keep)
            if not done.done():
                done.set_result(deleted)

        def refused(reason: str) -> None:
            if not done.done():
                done.set_exception(TrimRefused(reason))

        self.store.trim(older_than, keep, TRIM_STEP, trimmed, refused)
        return await done

    def _forget(self, older_than: int | None, keep: int | None) -> None:
        """Drop deleted messages from the rooms' windows; a room whose window may still hold
        one (messages committed but not yet fanned out count towards ``keep``) rereads it on the
        next join."""
        for room in self.rooms:
            window = room.recent
            dropped = False
            while older_than is not None and window and window[0].ts < older_than:
                room.drop_oldest()
                dropped = True
            while keep is not None and len(window) > keep:
                room.drop_oldest()
                dropped = True
            if dropped or (keep is not None and len(window) >= keep):
                room.has_older = False if dropped else room.has_older
                self.rooms.stale(room.name)
