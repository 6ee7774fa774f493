"""Search: what ``search`` does, and the limits on how often and how much one session searches.

The handler is ``docs/protocol.md``'s ``search`` row. The query is parsed first
(``app/protocol/query.py``): text with nothing to search for, too long or of too many terms is
answered ``bad_query`` and the connection survives. Only rooms the session is in are searched: a
``room`` it is not in gets ``not_in_room``, and without ``room`` every room it is in is. The
store's ``Search`` (``app/store/search.py``: SQLite's FTS5 index, or a capped scan of Redis)
finds a page of hits newest first, older than ``before`` (clamped like ``history``'s), at most
``limit`` (clamped to ``SEARCH_LIMIT_MAX``); deleted messages never match. The reply holds the
hits that fit one reply line (``limits.reply_bytes``) and ``next``, the ``before`` of the next
page, whenever ``more`` says there is one. A search costs more than a line of chat, so besides
the flood control every frame is charged to, each session has a bucket of its own:
``SEARCH_BURST`` searches at once, refilled at ``SEARCH_RATE`` a second (off with the flood
control, ``--msg-rate 0``); past it, ``rate_limited`` with ``retry_after_ms``.
"""

from __future__ import annotations

import time
from typing import Final

from app import protocol as p
from app.protocol.query import parse_query
from app.server.feature import (
    MAX_ID,
    Context,
    Handlers,
    Unavailable,
    awaited,
    member_of,
    refuse,
)
from app.server.limits import budget, fit, reply_bytes
from app.server.session import Session
from app.store import Snapshot
from app.store.search import SearchPage, search_for

SEARCH_BURST: Final = 5
SEARCH_RATE: Final = 1.0  # searches a second, refilled


class SearchFeature:
    """The ``search`` handler, the store it asks and each session's search bucket."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.rooms = context.rooms
        self.index = search_for(context.store)
        self.reply_bytes = reply_bytes(context.config)
        # session id -> (searches left, when counted)
        self._buckets: dict[str, tuple[float, float]] = {}
        self.handlers = Handlers().on(p.Search, self.search)

    def load(self, snapshot: Snapshot) -> None:
        return None

    def departed(self, session: Session, text: str | None) -> None:
        self._buckets.pop(session.id, None)

    async def search(self, s: Session, f: p.Search) -> None:
        try:
            query = parse_query(f.query)
        except p.RemoteProtocolError as err:
            refuse(s, f, err.code, err.message)
            return
        if f.room is not None:
            room = member_of(self.rooms, s, f, f.room)
            if room is None:
                return
            rooms = [room.name]
        else:
            rooms = self.rooms.rooms_of(s)
        if not self._charge(s, f):
            return
        limit = max(1, min(f.limit, p.SEARCH_LIMIT_MAX))
        before = None if f.before is None else max(0, min(f.before, MAX_ID))
        try:
            page: SearchPage = await awaited(self.index.search, rooms, query, before, limit)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read its history now; try again later")
            return
        room_name = rooms[0] if f.room is not None else None
        hits = [
            p.SearchHit(room=m.room, id=m.id, nick=m.sender, text=m.text, ts=m.ts)
            for m in page.messages
        ]
        # Hits of 4,000 characters each could be megabytes: the reply holds what fits, and
        # ``next`` sends the client back for the rest.
        empty = p.SearchResults(
            query=f.query, room=room_name, results=[], more=True, next=MAX_ID, ref=f.ref
        )
        shown, cut = fit(hits, len(hits), budget(self.reply_bytes, empty))
        more = page.more or cut
        after = shown[-1].id if cut else page.next
        s.send(
            p.SearchResults(
                query=f.query,
                room=room_name,
                results=shown,
                more=more,
                next=after if more else None,
                ref=f.ref,
            )
        )

    def _charge(self, s: Session, f: p.Search) -> bool:
        """Take one search from ``s``'s bucket, or answer ``rate_limited`` and refuse it."""
        if self.ctx.config.msg_rate <= 0:
            return True
        now = time.monotonic()
        tokens, counted = self._buckets.get(s.id, (float(SEARCH_BURST), now))
        tokens = min(float(SEARCH_BURST), tokens + (now - counted) * SEARCH_RATE)
        if tokens < 1.0:
            self._buckets[s.id] = (tokens, now)
            retry = int((1.0 - tokens) / SEARCH_RATE * 1000) + 1
            s.send(
                p.make_error(
                    "rate_limited",
                    f"too many searches; try again in {retry} ms",
                    ref=f.ref,
                    retry_after_ms=retry,
                )
            )
            return False
        self._buckets[s.id] = (tokens - 1.0, now)
        return True
