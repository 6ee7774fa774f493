"""The stores: the interfaces the server talks to (``History``, ``Accounts``, ``Moderation``),
their embedded SQLite defaults, which share one file, and their Redis classes, which share one
Redis connection. The Redis ones are imported when first asked for, so that ``app.store`` works
without the ``redis`` extra installed."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from app.store.redis import RedisHistory
    from app.store.redis_accounts import RedisAccounts
    from app.store.redis_moderation import RedisModeration

_REDIS = {
    "RedisHistory": "app.store.redis",
    "RedisAccounts": "app.store.redis_accounts",
    "RedisModeration": "app.store.redis_moderation",
}


def __getattr__(name: str) -> object:
    if name in _REDIS:
        return getattr(importlib.import_module(_REDIS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NO_PASSWORD",
    "SERVER_WIDE",
    "Accounts",
    "DirectPage",
    "History",
    "Moderation",
    "Page",
    "RedisAccounts",
    "RedisHistory",
    "RedisModeration",
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
