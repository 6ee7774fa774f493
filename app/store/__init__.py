"""History stores: the interface the server talks to and the embedded SQLite default."""

from __future__ import annotations

from app.store.base import History, Page, Snapshot, StoredMessage, StoredRoom
from app.store.sqlite import SchemaTooNewError, SQLiteHistory

__all__ = [
    "History",
    "Page",
    "SQLiteHistory",
    "SchemaTooNewError",
    "Snapshot",
    "StoredMessage",
    "StoredRoom",
]
