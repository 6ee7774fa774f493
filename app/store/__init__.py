"""The stores: the interfaces the server talks to (``History``, ``Accounts``) and their embedded
SQLite defaults, which share one file."""

from __future__ import annotations

from app.store.accounts import Accounts, DirectPage, StoredAccount, StoredDirect
from app.store.base import History, Page, Snapshot, StoredMessage, StoredRoom
from app.store.sqlite import SchemaTooNewError, SQLiteHistory
from app.store.sqlite_accounts import SQLiteAccounts

__all__ = [
    "Accounts",
    "DirectPage",
    "History",
    "Page",
    "SQLiteAccounts",
    "SQLiteHistory",
    "SchemaTooNewError",
    "Snapshot",
    "StoredAccount",
    "StoredDirect",
    "StoredMessage",
    "StoredRoom",
]
