"""Redis search: ``Search`` by scanning the rooms' histories, newest first, with a cap.

Redis keeps no full-text index of Parley's history (the keys are a sorted set of JSON messages
per room, ``redis.py``), so ``RedisSearch`` reads the asked rooms' messages from the newest down
(older than ``before``), merging the rooms by id, and keeps those ``app/protocol/query.py``'s
``matches`` accepts: the same meaning as the SQLite index, found by reading. It reads pages of
``CHUNK`` messages per room in one pipelined round trip and stops at ``limit`` hits (one more
tells ``more``) or after ``SCAN_CAP`` messages; a capped page says ``more`` and gives in ``next``
the id where it stopped, so the next request goes on from there rather than reading the same
messages again. A search costs reads only, in the ``RedisHistory``'s queue (``submit``), in order
with the other operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import redis.asyncio

from app.protocol.query import SearchQuery, matches
from app.store.base import Failed, StoredMessage
from app.store.redis import Keys, RedisHistory, _message
from app.store.search import SCAN_CAP, SearchPage

CHUNK: Final = 500  # messages read per room per round trip


class RedisSearch:
    """``Search`` on the Redis of a ``RedisHistory``, through its worker."""

    def __init__(self, history: RedisHistory, cap: int = SCAN_CAP) -> None:
        self._history = history
        self._cap = cap

    def search(
        self,
        rooms: Sequence[str],
        query: SearchQuery,
        before: int | None,
        limit: int,
        done: Callable[[SearchPage], None],
        failed: Failed,
    ) -> None:
        keys = self._history.keys
        rooms = list(dict.fromkeys(rooms))
        cap = self._cap

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            found = await _scan(client, keys, rooms, query, before, limit, cap)
            return lambda: done(found)

        self._history.submit(None, None, failed, run=run, writes=False)


async def _scan(
    client: redis.asyncio.Redis,
    keys: Keys,
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
    hits: list[StoredMessage] = []
    scanned = 0
    while True:
        empty = [room for room in rooms if not unread[room] and room not in exhausted]
        if empty:
            async with client.pipeline(transaction=False) as pipe:
                for room in empty:
                    pipe.zrange(
                        keys.messages(room),
                        cursors[room],
                        "-inf",
                        desc=True,
                        byscore=True,
                        offset=0,
                        num=CHUNK,
                    )
                chunks: list[list[bytes]] = await pipe.execute()
            for room, members in zip(empty, chunks, strict=True):
                if len(members) < CHUNK:
                    exhausted.add(room)
                read = [_message(room, member) for member in members]
                if read:
                    cursors[room] = f"({read[-1].id}"
                read.reverse()
                unread[room] = read
        waiting = [room for room in rooms if unread[room]]
        if not waiting:
            return SearchPage(hits, False)
        newest = max(waiting, key=lambda room: unread[room][-1].id)
        message = unread[newest].pop()
        scanned += 1
        if not message.deleted and matches(query, message.text):
            hits.append(message)
            if len(hits) > limit:
                return SearchPage(hits[:limit], True, hits[limit - 1].id)
        if scanned >= cap:
            left = any(unread.values()) or len(exhausted) < len(rooms)
            return SearchPage(hits, left, message.id if left else None)
