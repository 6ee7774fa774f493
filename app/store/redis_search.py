"""Redis search: ``Search`` by scanning the rooms' histories, newest first, with a cap.

Redis keeps no full-text index of Parley's history (the keys are a sorted set of JSON messages
per room, ``redis.py``), so ``RedisSearch`` reads the asked rooms' messages from the newest down
(older than ``before``), merging the rooms by id, and keeps those ``app/protocol/query.py``'s
``matches`` accepts: the same meaning as the SQLite index, found by reading. It stops at
``limit`` hits (one more tells ``more``) or after ``SCAN_CAP`` messages; a capped page says
``more`` and gives in ``next`` the id where it stopped, so the next request goes on from there
rather than reading the same messages again. A scan must not hold up the chat: it runs in a task
of its own, and each of its reads (``CHUNK`` messages of each room that needs more, in one
pipeline) is one short read operation in the ``RedisHistory``'s queue (``submit``), so the writes
of other sessions go between them and the loop runs other work while a read is on its way.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from app.protocol.query import SearchQuery, matches
from app.store.base import Failed, StoredMessage
from app.store.redis import RedisHistory, _Pipeline
from app.store.redis_rows import message as _message
from app.store.search import SCAN_CAP, SearchPage

CHUNK: Final = 200  # messages read per room per round trip

# Reads the next chunk of each room named, below its cursor (a ``ZRANGE`` score bound).
_Read = Callable[[dict[str, str]], Awaitable[dict[str, list[bytes]]]]


class _Unreadable(Exception):
    """The store could not read (the reason is the message)."""


class RedisSearch:
    """``Search`` on the Redis of a ``RedisHistory``, in tasks of its own."""

    def __init__(self, history: RedisHistory, cap: int = SCAN_CAP) -> None:
        self._history = history
        self._cap = cap
        self._scans: set[asyncio.Task[None]] = set()

    def search(
        self,
        rooms: Sequence[str],
        query: SearchQuery,
        before: int | None,
        limit: int,
        done: Callable[[SearchPage], None],
        failed: Failed,
    ) -> None:
        rooms = list(dict.fromkeys(rooms))

        async def run() -> None:
            try:
                found = await _scan(self._read, rooms, query, before, limit, self._cap)
            except _Unreadable as exc:
                failed(str(exc))
            else:
                done(found)

        scan = asyncio.get_running_loop().create_task(run(), name="parley-search")
        self._scans.add(scan)
        scan.add_done_callback(self._scans.discard)

    async def _read(self, cursors: dict[str, str]) -> dict[str, list[bytes]]:
        """One read operation in the store's queue: the next chunk of each room of ``cursors``."""
        keys = self._history.keys
        rooms = list(cursors)
        read: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def stage(pipe: _Pipeline) -> int:
            for room in rooms:
                pipe.zrange(
                    keys.messages(room),
                    cursors[room],
                    "-inf",
                    desc=True,
                    byscore=True,
                    offset=0,
                    num=CHUNK,
                )
            return len(rooms)

        def finish(results: list[Any]) -> Callable[[], None]:
            return lambda: None if read.done() else read.set_result(results)

        def refused(reason: str) -> None:
            if not read.done():
                read.set_exception(_Unreadable(reason))

        self._history.submit(stage, finish, refused, writes=False)
        return dict(zip(rooms, await read, strict=True))


async def _scan(
    read: _Read,
    rooms: list[str],
    query: SearchQuery,
    before: int | None,
    limit: int,
    cap: int,
) -> SearchPage:
    """Merge the rooms' messages newest first from ``before`` down, keeping the matches."""
    top = "+inf" if before is None else f"({before}"
    cursors = dict.fromkeys(rooms, top)
    # Each room's messages read and not yet looked at, oldest first (the next is the last).
    unread: dict[str, list[StoredMessage]] = {room: [] for room in rooms}
    exhausted: set[str] = set()
    # The rooms by their next message, newest first; a room that needs reading is not in it.
    heads: list[tuple[int, str]] = []
    hungry = list(rooms)
    hits: list[StoredMessage] = []
    scanned = 0
    while True:
        if hungry:
            for room, members in (await read({room: cursors[room] for room in hungry})).items():
                if len(members) < CHUNK:
                    exhausted.add(room)
                chunk = [_message(room, member) for member in members]
                if chunk:
                    cursors[room] = f"({chunk[-1].id}"
                    chunk.reverse()
                    unread[room] = chunk
                    heapq.heappush(heads, (-chunk[-1].id, room))
            hungry = []
        if not heads:
            return SearchPage(hits, False)
        _, room = heapq.heappop(heads)
        waiting = unread[room]
        message = waiting.pop()
        if waiting:
            heapq.heappush(heads, (-waiting[-1].id, room))
        elif room not in exhausted:
            hungry.append(room)  # its next may be newer than every other head: read it first
        scanned += 1
        if not message.deleted and matches(query, message.text):
            hits.append(message)
            if len(hits) > limit:
                return SearchPage(hits[:limit], True, hits[limit - 1].id)
        if scanned >= cap:
            left = bool(heads) or bool(hungry)
            return SearchPage(hits, left, message.id if left else None)
