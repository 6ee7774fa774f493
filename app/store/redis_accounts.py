"""Redis accounts: ``Accounts`` on the Redis of a ``RedisHistory``, through its worker.

``RedisAccounts`` has no connection or task of its own: it hands each operation to its
``RedisHistory`` (``submit``), so that account writes go in the same pipelines and ``MULTI``
transactions as room messages, in submission order, and a Redis that refuses writes is reported
and logged the same way. Keys (under the history's prefix; docs/redis.md has the table), each
named by a hash tag so that on Redis Cluster one account's, or one conversation's, keys share a
slot: ``PREFIX:account:{KEY}`` a hash of an account's nick as registered, password hash and
creation time; ``PREFIX:directs:{PAIR}`` a conversation, a sorted set scored by message id whose
members are the messages as JSON, ``PAIR`` being the two folded nicks in order (``pair_of``);
``PREFIX:undelivered:{KEY}`` the same members again, for those to ``KEY`` not yet delivered;
``PREFIX:pairs:{KEY}`` the set of ``KEY``'s conversations, which ``delete_account`` walks where
SQLite scans. A direct message's id comes from the server's one counter and raises the history's
id ceiling (``PREFIX:ids``) in its own transaction, so a restart never reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import msgspec
import redis.asyncio
from redis.asyncio.client import Pipeline

from app.protocol import fold
from app.store.accounts import DirectPage, StoredAccount, StoredDirect, pair_of
from app.store.base import Failed
from app.store.redis import RedisHistory

# Creates an account unless its key exists; a repeat of the same creation (the same salted hash
# and time: a reply lost and the transaction sent again) answers as the first did.
_CREATE: Final = (
    "local old = redis.call('HMGET', KEYS[1], 'hash', 'created')"
    " if old[1] then return (old[1] == ARGV[2] and old[2] == ARGV[3]) and 1 or 0 end"
    " redis.call('HSET', KEYS[1], 'nick', ARGV[1], 'hash', ARGV[2], 'created', ARGV[3])"
    " return 1"
)
_SET_PASSWORD: Final = (
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end"
    " redis.call('HSET', KEYS[1], 'hash', ARGV[1]) return 1"
)


class AccountKeys:
    """The names of the accounts' keys under ``prefix``, each with its hash tag."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def account(self, key: str) -> str:
        return f"{self._prefix}:account:{{{key}}}"

    def directs(self, pair: str) -> str:
        return f"{self._prefix}:directs:{{{pair}}}"

    def undelivered(self, key: str) -> str:
        return f"{self._prefix}:undelivered:{{{key}}}"

    def pairs(self, key: str) -> str:
        return f"{self._prefix}:pairs:{{{key}}}"


class _Row(msgspec.Struct, array_like=True):
    """What a direct message's member holds: ``[id, ts, sender, to, text, action]``."""

    id: int
    ts: int
    sender: str
    to: str
    text: str
    action: bool


_decode_row = msgspec.json.Decoder(_Row).decode


def _member(message: StoredDirect) -> bytes:
    m = message
    return msgspec.json.encode((m.id, m.ts, m.sender, m.to, m.text, m.action))


def _direct(member: bytes) -> StoredDirect:
    row = _decode_row(member)
    return StoredDirect(row.id, row.ts, row.sender, row.to, row.text, row.action)


def _page(members: list[bytes], limit: int, newest: bool) -> DirectPage:
    """A page of the first ``limit`` of ``members`` (one more says there are more), oldest
    first; ``newest`` members came newest first."""
    shown = [_direct(m) for m in members[:limit]]
    return DirectPage(shown[::-1] if newest else shown, len(members) > limit)


def _other(pair: str, key: str) -> str:
    """The other account of conversation ``pair`` (``key`` itself for a note to oneself)."""
    a, b = pair.split(" ")
    return b if a == key else a


class RedisAccounts:
    """``Accounts`` on the Redis of a ``RedisHistory``, through its worker."""

    def __init__(self, history: RedisHistory) -> None:
        self._history = history
        self._ids = history.keys.ids
        self._keys = AccountKeys(history.keys.prefix)

    def find_account(
        self, key: str, done: Callable[[StoredAccount | None], None], failed: Failed
    ) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.hmget(self._keys.account(key), ["nick", "hash", "created"])
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            nick, hash, created = results[0]
            found = (
                None if nick is None else StoredAccount(nick.decode(), hash.decode(), int(created))
            )
            return lambda: done(found)

        self._history.submit(stage, finish, failed, writes=False)

    def create_account(
        self, account: StoredAccount, done: Callable[[bool], None], failed: Failed
    ) -> None:
        key = self._keys.account(fold(account.nick))

        def stage(pipe: Pipeline) -> int:
            pipe.eval(_CREATE, 1, key, account.nick, account.hash, account.created)
            return 1

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)

    def set_password(
        self, key: str, password_hash: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.eval(_SET_PASSWORD, 1, self._keys.account(key), password_hash)
            return 1

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)

    def delete_account(self, key: str, done: Callable[[bool], None], failed: Failed) -> None:
        keys = self._keys

        async def delete(pipe: Pipeline) -> bool:
            # Read what to delete, watching it: a message another node stores meanwhile makes
            # ``transaction`` start again rather than leave it behind.
            existed: bool = await pipe.exists(keys.account(key)) == 1
            stored = cast("set[bytes]", await pipe.smembers(keys.pairs(key)))
            pairs = sorted(pair.decode() for pair in stored)
            others = {pair: _other(pair, key) for pair in pairs}
            waiting = [keys.undelivered(other) for other in others.values() if other != key]
            if waiting:
                await pipe.watch(*waiting)
            sent: dict[str, list[bytes]] = {}
            for other in others.values():
                if other != key:
                    members = cast("list[bytes]", await pipe.zrange(keys.undelivered(other), 0, -1))
                    sent[other] = [m for m in members if fold(_decode_row(m).sender) == key]
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(keys.account(key), keys.pairs(key), keys.undelivered(key))
            for pair, other in others.items():
                pipe.delete(keys.directs(pair))
                if other != key:
                    pipe.srem(keys.pairs(other), pair)
                if sent.get(other):
                    pipe.zrem(keys.undelivered(other), *sent[other])
            return existed

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            watched = (keys.account(key), keys.pairs(key))
            existed: bool = await client.transaction(delete, *watched, value_from_callable=True)
            return lambda: done(existed)

        self._history.submit(None, None, failed, run=run)

    def append_direct(
        self, message: StoredDirect, delivered: bool, done: Callable[[], None], failed: Failed
    ) -> None:
        sender, to = fold(message.sender), fold(message.to)
        pair = pair_of(sender, to)
        member = {_member(message): message.id}

        def stage(pipe: Pipeline) -> int:
            # The ceiling covers the id, so that a restart never hands it out again.
            pipe.zadd(self._ids, {"last": message.id}, gt=True)
            pipe.zadd(self._keys.directs(pair), member)
            pipe.sadd(self._keys.pairs(sender), pair)
            pipe.sadd(self._keys.pairs(to), pair)
            if not delivered:
                pipe.zadd(self._keys.undelivered(to), member)
            return 5 - delivered

        self._history.submit(stage, lambda results: done, failed)

    def direct_page(
        self,
        a: str,
        b: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[DirectPage], None],
        failed: Failed,
    ) -> None:
        key = self._keys.directs(pair_of(a, b))

        def stage(pipe: Pipeline) -> int:
            if after is not None:
                pipe.zrange(key, f"({after}", "+inf", byscore=True, offset=0, num=limit + 1)
            else:
                top = "+inf" if before is None else f"({before}"
                pipe.zrange(key, top, "-inf", desc=True, byscore=True, offset=0, num=limit + 1)
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            page = _page(results[0], limit, newest=after is None)
            return lambda: done(page)

        self._history.submit(stage, finish, failed, writes=False)

    def undelivered(
        self, key: str, limit: int, done: Callable[[DirectPage], None], failed: Failed
    ) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.zrange(self._keys.undelivered(key), 0, limit)
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            page = _page(results[0], limit, newest=False)
            return lambda: done(page)

        self._history.submit(stage, finish, failed, writes=False)

    def mark_delivered(self, key: str, upto: int, done: Callable[[], None], failed: Failed) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.zremrangebyscore(self._keys.undelivered(key), "-inf", upto)
            return 1

        self._history.submit(stage, lambda results: done, failed)
