"""Redis moderation: ``Moderation`` on the Redis of a ``RedisHistory``, through its worker.

Like ``RedisAccounts``, ``RedisModeration`` has no connection or task of its own: it hands each
operation to its ``RedisHistory`` (``submit``), so that a role, ban, mute or lock goes in the same
transactions as the room messages around it, in submission order, and a Redis that refuses writes
is reported and logged the same way. A room's rules live under the room's hash tag, beside its
messages, so that on Redis Cluster they share its shard: ``PREFIX:{ROOM}:roles`` (a hash of folded
account to role), ``PREFIX:{ROOM}:bans`` (a hash of folded mask to the ban as JSON, so that
``account:Ann`` and ``account:ann`` are one ban and the mask is kept as given),
``PREFIX:{ROOM}:mutes`` (folded nick to the mute as JSON) and ``PREFIX:{ROOM}:locked``. They are
apart from ``PREFIX:{ROOM}:state``, which ``forget_room`` deletes when a room empties, so a room's
rules outlive its members. The server-wide bans (room ``SERVER_WIDE``) are ``PREFIX:bans``.
``PREFIX:role-rooms:{ACCOUNT}`` is the set of rooms where an account holds a role, which
``drop_account`` walks where SQLite scans.
``PREFIX:expiring`` indexes the bans and mutes that end, scored by when, so that ``prune`` reads
only those that are due instead of every room's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal, cast

import msgspec
import redis.asyncio
from redis.asyncio.client import Pipeline

from app.protocol import fold
from app.store.base import Failed
from app.store.moderation import SERVER_WIDE, RoomRole, RoomRules, StoredBan, StoredMute
from app.store.redis import RedisHistory

_Kind = Literal["bans", "mutes"]


class RuleKeys:
    """The names of the moderation keys under ``prefix``: a room's with its hash tag, the
    server-wide ones (room ``SERVER_WIDE``) without."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.expiring = f"{prefix}:expiring"

    def role_rooms(self, account: str) -> str:
        """The set of rooms where ``account`` (folded) holds a role."""
        return f"{self._prefix}:role-rooms:{{{account}}}"

    def of(self, room: str, what: Literal["roles", "bans", "mutes", "locked"]) -> str:
        if room == SERVER_WIDE:
            return f"{self._prefix}:{what}"
        return f"{self._prefix}:{{{room}}}:{what}"


class _Ban(msgspec.Struct, array_like=True):
    """What a ban's field holds: ``[mask, by, reason, created, expires]``."""

    mask: str
    by: str
    reason: str | None
    created: int
    expires: int | None


class _Mute(msgspec.Struct, array_like=True):
    """What a mute's field (its nick) holds: ``[by, created, expires]``."""

    by: str
    created: int
    expires: int | None


_decode_ban: Final = msgspec.json.Decoder(_Ban).decode
_decode_mute: Final = msgspec.json.Decoder(_Mute).decode
_encode: Final = msgspec.json.encode
_decode_entry: Final = msgspec.json.Decoder(tuple[Literal["bans", "mutes"], str, str]).decode


def _entry(kind: _Kind, room: str, field: str) -> bytes:
    """The member of ``PREFIX:expiring`` that names one ban or mute."""
    return _encode((kind, room, field))


def _rules(room: str, results: list[Any]) -> RoomRules:
    """``room``'s rules from its ``HGETALL`` of roles, bans, mutes and ``EXISTS`` of the lock,
    bans and mutes oldest first (ties by folded mask or nick, as SQLite orders them)."""
    roles: dict[bytes, bytes] = results[0]
    bans = [(_decode_ban(value), field.decode()) for field, value in results[1].items()]
    mutes = [(_decode_mute(value), field.decode()) for field, value in results[2].items()]
    bans.sort(key=lambda pair: (pair[0].created, pair[1]))
    mutes.sort(key=lambda pair: (pair[0].created, pair[1]))
    return RoomRules(
        {name.decode(): cast("RoomRole", role.decode()) for name, role in sorted(roles.items())},
        [StoredBan(room, b.mask, b.by, b.reason, b.created, b.expires) for b, _ in bans],
        [StoredMute(room, nick, m.by, m.created, m.expires) for m, nick in mutes],
        results[3] == 1,
    )


class RedisModeration:
    """``Moderation`` on the Redis of a ``RedisHistory``, through its worker."""

    def __init__(self, history: RedisHistory) -> None:
        self._history = history
        self._keys = RuleKeys(history.keys.prefix)

    def room_rules(self, room: str, done: Callable[[RoomRules], None], failed: Failed) -> None:
        def stage(pipe: Pipeline) -> int:
            pipe.hgetall(self._keys.of(room, "roles"))
            pipe.hgetall(self._keys.of(room, "bans"))
            pipe.hgetall(self._keys.of(room, "mutes"))
            pipe.exists(self._keys.of(room, "locked"))
            return 4

        def finish(results: list[Any]) -> Callable[[], None]:
            rules = _rules(room, results)
            return lambda: done(rules)

        self._history.submit(stage, finish, failed, writes=False)

    def set_role(
        self,
        room: str,
        account: str,
        role: RoomRole | None,
        done: Callable[[], None],
        failed: Failed,
    ) -> None:
        def stage(pipe: Pipeline) -> int:
            if role is None:
                pipe.hdel(self._keys.of(room, "roles"), account)
                pipe.srem(self._keys.role_rooms(account), room)
            else:
                pipe.hset(self._keys.of(room, "roles"), account, role)
                pipe.sadd(self._keys.role_rooms(account), room)
            return 2

        self._history.submit(stage, lambda results: done, failed)

    def drop_account(
        self, account: str, done: Callable[[dict[str, str]], None], failed: Failed
    ) -> None:
        keys = self._keys

        async def drop(pipe: Pipeline) -> dict[str, str]:
            # Watched, the index and each room's roles: a role another node changes meanwhile
            # makes ``transaction`` start again.
            stored = cast("set[bytes]", await pipe.smembers(keys.role_rooms(account)))
            rooms = sorted(room.decode() for room in stored)
            if rooms:
                await pipe.watch(*(keys.of(room, "roles") for room in rooms))
            successors: dict[str, str] = {}
            for room in rooms:
                held = cast("dict[bytes, bytes]", await pipe.hgetall(keys.of(room, "roles")))
                roles = {name.decode(): role.decode() for name, role in held.items()}
                if roles.pop(account, None) == "owner" and "owner" not in roles.values():
                    ops = sorted(name for name, role in roles.items() if role == "op")
                    if ops:
                        successors[room] = ops[0]
            pipe.multi()  # type: ignore[no-untyped-call]
            for room in rooms:
                pipe.hdel(keys.of(room, "roles"), account)
            for room, heir in successors.items():
                pipe.hset(keys.of(room, "roles"), heir, "owner")
            pipe.delete(keys.role_rooms(account))
            return successors

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            index = keys.role_rooms(account)
            successors: dict[str, str] = await client.transaction(
                drop, index, value_from_callable=True
            )
            return lambda: done(successors)

        self._history.submit(None, None, failed, run=run)

    def add_ban(self, ban: StoredBan, done: Callable[[], None], failed: Failed) -> None:
        field = fold(ban.mask)
        value = _encode(_Ban(ban.mask, ban.by, ban.reason, ban.created, ban.expires))
        self._put("bans", ban.room, field, value, ban.expires, done, failed)

    def remove_ban(
        self, room: str, mask: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        self._lift("bans", room, fold(mask), done, failed)

    def add_mute(self, mute: StoredMute, done: Callable[[], None], failed: Failed) -> None:
        value = _encode(_Mute(mute.by, mute.created, mute.expires))
        self._put("mutes", mute.room, mute.nick, value, mute.expires, done, failed)

    def remove_mute(
        self, room: str, nick: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        self._lift("mutes", room, nick, done, failed)

    def set_locked(self, room: str, locked: bool, done: Callable[[], None], failed: Failed) -> None:
        def stage(pipe: Pipeline) -> int:
            if locked:
                pipe.set(self._keys.of(room, "locked"), 1)
            else:
                pipe.delete(self._keys.of(room, "locked"))
            return 1

        self._history.submit(stage, lambda results: done, failed)

    def prune(self, now: int, done: Callable[[int], None], failed: Failed) -> None:
        keys = self._keys

        async def prune(pipe: Pipeline) -> None:
            # Watched: a ban another node replaces meanwhile makes ``transaction`` start again.
            due = cast(
                "list[bytes]", await pipe.zrange(keys.expiring, "-inf", f"({now}", byscore=True)
            )
            pipe.multi()  # type: ignore[no-untyped-call]
            for kind, room, field in map(_decode_entry, due):
                pipe.hdel(keys.of(room, kind), field)
            if due:
                pipe.zrem(keys.expiring, *due)

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            results = await client.transaction(prune, keys.expiring)
            pruned = sum(results[:-1])
            return lambda: done(pruned)

        self._history.submit(None, None, failed, run=run)

    def _put(
        self,
        kind: _Kind,
        room: str,
        field: str,
        value: bytes,
        expires: int | None,
        done: Callable[[], None],
        failed: Failed,
    ) -> None:
        """Store a ban or mute, replacing the one of the same field, and index when it ends."""
        entry = _entry(kind, room, field)

        def stage(pipe: Pipeline) -> int:
            pipe.hset(self._keys.of(room, kind), field, value)
            if expires is None:
                pipe.zrem(self._keys.expiring, entry)
            else:
                pipe.zadd(self._keys.expiring, {entry: expires})
            return 2

        self._history.submit(stage, lambda results: done, failed)

    def _lift(
        self, kind: _Kind, room: str, field: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Delete a ban or mute and its index entry; ``done(False)`` if there was none."""
        entry = _entry(kind, room, field)

        def stage(pipe: Pipeline) -> int:
            pipe.hdel(self._keys.of(room, kind), field)
            pipe.zrem(self._keys.expiring, entry)
            return 2

        self._history.submit(stage, lambda results: lambda: done(results[0] == 1), failed)
