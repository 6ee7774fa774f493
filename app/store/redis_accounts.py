"""Redis accounts: ``Accounts`` on the Redis of a ``RedisHistory``, through its worker.

``RedisAccounts`` has no connection or task of its own: it hands each operation to its
``RedisHistory`` (``submit``), so that account writes go in the same pipelines and ``MULTI``
transactions as room messages, in submission order, and a Redis that refuses writes is reported and
logged the same way. Keys (under the history's prefix; docs/redis.md has the table), each named by a
hash tag so that on Redis Cluster one account's, or one conversation's, keys share a slot:
``PREFIX:account:{KEY}`` a hash of an account's nick as registered, password hash and creation time;
``PREFIX:directs:{PAIR}`` a conversation, a sorted set scored by message id whose members are the
messages as JSON, ``PAIR`` being the two folded nicks in order (``pair_of``);
``PREFIX:undelivered:{KEY}`` the same members again, for those to ``KEY`` not yet delivered;
``PREFIX:pairs:{KEY}`` the set of ``KEY``'s conversations, which ``delete_account`` walks where
SQLite scans; ``PREFIX:sshkey:{FINGERPRINT}`` a hash of an SSH key pinned to an account (its
account, public key, comment and when it was added) and ``PREFIX:sshkeys:{KEY}`` the sorted set of
``KEY``'s fingerprints, scored by when each was added. A direct message's id comes from the server's
one counter and raises the history's id ceiling (``PREFIX:ids``) in its own transaction, so a
restart never reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import msgspec
import redis.asyncio
from redis.asyncio.client import Pipeline

from app.protocol import fold
from app.store.accounts import DirectPage, StoredAccount, StoredDirect, StoredKey, pair_of
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
# Pins a key (KEYS: its hash, its account's set of keys, the account) if the account exists and
# the key is nobody's yet.
_ADD_KEY: Final = (
    "if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end"
    " redis.call('HSET', KEYS[1], 'account', ARGV[1], 'public_key', ARGV[2], 'comment', ARGV[3],"
    " 'added', ARGV[4]) redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) return 1"
)
# Creates an account (KEYS[3]) and pins its key together, or neither; a repeat of the same
# creation answers as the first did.
_CREATE_PINNED: Final = (
    "local old = redis.call('HMGET', KEYS[3], 'hash', 'created')"
    " if old[1] then return (old[1] == ARGV[7] and old[2] == ARGV[8]"
    " and redis.call('HGET', KEYS[1], 'account') == ARGV[1]) and 1 or 0 end"
    " if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end"
    " redis.call('HSET', KEYS[3], 'nick', ARGV[6], 'hash', ARGV[7], 'created', ARGV[8])"
    " redis.call('HSET', KEYS[1], 'account', ARGV[1], 'public_key', ARGV[2], 'comment', ARGV[3],"
    " 'added', ARGV[4]) redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) return 1"
)
_REMOVE_KEY: Final = (
    "if redis.call('HGET', KEYS[1], 'account') ~= ARGV[1] then return 0 end"
    " redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[2]) return 1"
)
_KEY_FIELDS: Final = ("account", "public_key", "comment", "added")
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

    def ssh_key(self, fingerprint: str) -> str:
        return f"{self._prefix}:sshkey:{{{fingerprint}}}"

    def ssh_keys(self, key: str) -> str:
        return f"{self._prefix}:sshkeys:{{{key}}}"


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


def _stored_key(fingerprint: str, fields: list[bytes | None]) -> StoredKey | None:
    """A key from the fields of its hash (``_KEY_FIELDS``), or None if it has none."""
    account, public_key, comment, added = fields
    if account is None or public_key is None or comment is None or added is None:
        return None
    return StoredKey(
        fingerprint, account.decode(), public_key.decode(), comment.decode(), int(added)
    )


def _key_args(key: StoredKey) -> tuple[str, str, str, int, str]:
    return (key.account, key.public_key, key.comment, key.added, key.fingerprint)


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
            pinned = cast("list[bytes]", await pipe.zrange(keys.ssh_keys(key), 0, -1))
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
            pipe.delete(keys.ssh_keys(key), *(keys.ssh_key(f.decode()) for f in pinned))
            for pair, other in others.items():
                pipe.delete(keys.directs(pair))
                if other != key:
                    pipe.srem(keys.pairs(other), pair)
                if sent.get(other):
                    pipe.zrem(keys.undelivered(other), *sent[other])
            return existed

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            watched = (keys.account(key), keys.pairs(key), keys.ssh_keys(key))
            existed: bool = await client.transaction(delete, *watched, value_from_callable=True)
            return lambda: done(existed)

        self._history.submit(None, None, failed, run=run)

    def create_pinned_account(
        self, account: StoredAccount, key: StoredKey, done: Callable[[bool], None], failed: Failed
    ) -> None:
        keys = self._keys
        names = (keys.ssh_key(key.fingerprint), keys.ssh_keys(key.account))
        created = (account.nick, account.hash, account.created)

        def stage(pipe: Pipeline) -> int:
            account_key = keys.account(fold(account.nick))
            pipe.eval(_CREATE_PINNED, 3, *names, account_key, *_key_args(key), *created)
            return 1

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)

    def find_key(
        self, fingerprint: str, done: Callable[[StoredKey | None], None], failed: Failed
    ) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.hmget(self._keys.ssh_key(fingerprint), list(_KEY_FIELDS))
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            found = _stored_key(fingerprint, results[0])
            return lambda: done(found)

        self._history.submit(stage, finish, failed, writes=False)

    def account_keys(
        self, key: str, done: Callable[[list[StoredKey]], None], failed: Failed
    ) -> None:
        keys = self._keys

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            # Oldest first: by score (when added), then by fingerprint, as SQLite orders them.
            listed = cast("list[bytes]", await client.zrange(keys.ssh_keys(key), 0, -1))
            fingerprints = [f.decode() for f in listed]
            pipe = client.pipeline(transaction=False)
            for fingerprint in fingerprints:
                pipe.hmget(keys.ssh_key(fingerprint), list(_KEY_FIELDS))
            rows = await pipe.execute() if fingerprints else []
            found = [
                stored
                for fingerprint, fields in zip(fingerprints, rows, strict=True)
                if (stored := _stored_key(fingerprint, fields)) is not None
            ]
            return lambda: done(found)

        self._history.submit(None, None, failed, run=run, writes=False)

    def add_key(self, key: StoredKey, done: Callable[[bool], None], failed: Failed) -> None:
        keys = self._keys
        names = (keys.ssh_key(key.fingerprint), keys.ssh_keys(key.account))

        def stage(pipe: Pipeline) -> int:
            pipe.eval(_ADD_KEY, 3, *names, keys.account(key.account), *_key_args(key))
            return 1

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)

    def remove_key(
        self, key: str, fingerprint: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        names = (self._keys.ssh_key(fingerprint), self._keys.ssh_keys(key))

        def stage(pipe: Pipeline) -> int:
            pipe.eval(_REMOVE_KEY, 2, *names, key, fingerprint)
            return 1

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)

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
