"""The search interface: what the server asks of a backend that finds room messages by words.

``Search.search`` answers one page of a query (``app/protocol/query.py`` says what a query
means) over a set of rooms: the matching messages newest first, older than a message id, with
``more`` saying older ones may match and ``next`` the id to page on from. Deleted messages never
match (their text is gone). Like ``History`` (``base.py``) an operation answers on the caller's
event loop through ``done``, or ``failed`` with the reason when the storage cannot be read.
Backends: ``sqlite_search.py`` reads an FTS5 index the schema keeps current with triggers;
``redis_search.py`` has no index and scans the rooms' newest messages, at most ``SCAN_CAP`` per
request, so a page may hold fewer hits than asked with ``more`` set. ``search_for`` gives the
backend that goes with a history. The same suite runs both (``tests/store/test_search.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from app.protocol.query import SearchQuery
from app.store.base import Failed, History, StoredMessage

# The most messages the Redis backend reads for one request (it has no index).
SCAN_CAP: Final = 20_000


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Hits newest first; with ``more``, older messages may match: ask again with ``before``
    set to ``next`` (the oldest hit, or where a capped scan stopped)."""

    messages: list[StoredMessage]
    more: bool
    next: int | None = None


class Search(Protocol):
    """Full-text search of room history, driven from one event loop."""

    def search(
        self,
        rooms: Sequence[str],
        query: SearchQuery,
        before: int | None,
        limit: int,
        done: Callable[[SearchPage], None],
        failed: Failed,
    ) -> None:
        """Find at most ``limit`` messages of ``rooms`` (folded names) older than ``before``
        that match ``query``, newest first."""
        ...


def search_for(history: History) -> Search:
    """The search backend on ``history``'s storage (SQLite's index, or a scan of Redis)."""
    from app.store.sqlite import SQLiteHistory

    if isinstance(history, SQLiteHistory):
        from app.store.sqlite_search import SQLiteSearch

        return SQLiteSearch(history)
    try:
        from app.store.redis import RedisHistory
    except ImportError:  # without the redis extra no history is a Redis one
        RedisHistory = None  # type: ignore[assignment,misc]
    if RedisHistory is not None and isinstance(history, RedisHistory):
        from app.store.redis_search import RedisSearch

        return RedisSearch(history)
    raise TypeError(f"no search backend for {type(history).__name__}")
