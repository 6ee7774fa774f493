"""The stores: the interfaces the server talks to (``History``, ``Accounts``, ``Moderation``)
and their embedded SQLite defaults, which share one file."""

from __future__ import annotations

from app.store.accounts import (
    NO_PASSWORD,
    Accounts,
    DirectPage,
    StoredAccount,
    StoredDirect,
    StoredKey,
)
from app.store.base import History, Page, Snapshot, StoredMessage, StoredRoom
from app.store.moderation import SERVER_WIDE, Moderation, RoomRole, RoomRules, StoredBan, StoredMute
from app.store.sqlite import SQLiteHistory
from app.store.sqlite_accounts import SQLiteAccounts
from app.store.sqlite_moderation import SQLiteModeration
from app.store.sqlite_schema import SchemaTooNewError

__all__ = [
    "NO_PASSWORD",
    "SERVER_WIDE",
    "Accounts",
    "DirectPage",
    "History",
    "Moderation",
    "Page",
    "RoomRole",
    "RoomRules",
    "SQLiteAccounts",
    "SQLiteHistory",
    "SQLiteModeration",
    "SchemaTooNewError",
    "Snapshot",
    "StoredAccount",
    "StoredBan",
    "StoredDirect",
    "StoredKey",
    "StoredMessage",
    "StoredMute",
    "StoredRoom",
]
