"""Redis history: the ``History`` interface on a Redis server, with the SQLite store's semantics.

One worker task on the event loop owns the Redis traffic. Every operation becomes an item on an
asyncio queue; the worker takes all that are waiting and sends runs of them as one pipeline, in a
``MULTI``/``EXEC`` transaction when the run writes (group commit: under load many messages go in
one round trip and one fsync). Completions run on the loop in submission order, after the
reply, and with Redis at ``appendonly yes`` and ``appendfsync always`` a reply comes only once
the write is fsynced, so ``done`` means durable; ``open`` warns when the server promises less.

Keys (``PREFIX`` is ``parley`` unless given; docs/redis.md has the table): a room's name sits in a
hash tag, so that on Redis Cluster all of its keys live on one shard. ``PREFIX:{ROOM}:messages`` is
a room's history, a sorted set scored by message id whose members are the messages as JSON;
``PREFIX:{ROOM}:state`` a hash of its topic and who set it; ``PREFIX:ids`` a sorted set whose one
member, ``last``, scores the highest id stored or reserved (raised with ``ZADD GT``, so never
lowered); ``PREFIX:rooms`` the set of rooms that hold messages, which a trim walks;
``PREFIX:format`` the layout's version. An append's messages, the ceiling and the room index are
written in one transaction. A deleted message's member is replaced by one with no text, an edited
one's by one with the new text (in one script, so that an edit never brings back the text of a
message another node deleted meanwhile); finding a message by id alone asks every room that
holds messages, in one pipeline. This first step needs one Redis (standalone, or a primary
behind Sentinel): its transactions span rooms, which Cluster refuses across shards.

A run that Redis refuses (out of memory, ``MISCONF``, ``READONLY``) is sent again one operation
at a time, so that reads still answer and only the writes fail; each failure calls ``failed``
with Redis' words, and ``WriteHealth`` logs the condition once. A lost connection is retried once
on a new one (every write is idempotent, so a repeat cannot duplicate), then its run fails; the
next operation connects again, so the store recovers by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.store.base import Failed, Page, Snapshot, StoredMessage, StoredRoom, WriteHealth
from app.store.redis_rows import find as _find
from app.store.redis_rows import member as _member
from app.store.redis_rows import message as _message
from app.store.redis_rows import swap as _swap

log = logging.getLogger("parley.store")

# 2: a deleted message's member has a sixth element, ``true``; a version-1 layout is one too.
FORMAT: Final = 2
# Redis 6.2 brought ZADD GT and ZRANGE ... BYSCORE REV LIMIT.
_OLDEST_REDIS: Final = (6, 2)
# Seconds to connect, and to wait for a reply (an fsync per write can be slow on a busy disk).
_CONNECT_TIMEOUT: Final = 5.0
_REPLY_TIMEOUT: Final = 10.0
# A room's index entry goes only with its last message, checked where both are seen at once.
_PRUNE: Final = (
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end"
    " return 0"
)
# A room's state goes only if it holds no messages (both keys share the room's hash tag).
_FORGET: Final = (
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('DEL', KEYS[2]) end return 0"
)


class Keys:
    """The names of Parley's keys under ``prefix``; a room's carry it as a hash tag, ``{ROOM}``.

    Redis Cluster hashes only what is between the first ``{`` and the next ``}``, so whatever
    the room's name holds, both of its keys hash alike and stay on one shard.
    """

    def __init__(self, prefix: str) -> None:
        self.ids = f"{prefix}:ids"
        self.rooms = f"{prefix}:rooms"
        self.format = f"{prefix}:format"
        self.prefix = prefix

    def messages(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:messages"

    def state(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:state"


_Pipeline = redis.asyncio.client.Pipeline
# Queues an operation's commands and returns how many; then its results give its completion.
_Stage = Callable[[_Pipeline], int]
_Finish = Callable[[list[Any]], Callable[[], None]]
_Run = Callable[[redis.asyncio.Redis], Awaitable[Callable[[], None]]]
_CLOSE: Final = object()
_REFUSALS: Final = (
    redis.ConnectionError,  # BusyLoadingError ("LOADING") is one
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)
_REFUSAL_CODES: Final = ("MISCONF", "NOREPLICAS", "MASTERDOWN", "BUSY ")
_CODES: Final[dict[type[Exception], str]] = {
    redis.exceptions.OutOfMemoryError: "OOM",
    redis.exceptions.ReadOnlyError: "READONLY",
    redis.exceptions.BusyLoadingError: "LOADING",
}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _nothing() -> None:
    return None


def _where(url: str) -> str:
    """``url`` for the log: where the Redis is, without a password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class _Work:
    """An operation: pipelined commands (``stage``) and what their results mean (``finish``),
    or (``run``) a job of several round trips; with whom to tell if it fails and whether it
    writes. A barrier has a ``finish`` and no ``stage``."""

    stage: _Stage | None
    finish: _Finish | None
    run: _Run | None = None
    failed: Failed | None = None
    writes: bool = True


class RedisVersionError(RuntimeError):
    """The Redis server is older than the commands this store uses."""


class RedisFormatError(RuntimeError):
    """The Redis keys were written by a newer Parley, whose layout this one does not know."""


class RedisHistory:
    """``History`` on a Redis server at ``url`` (``redis://``, ``rediss://``, ``unix://``)."""

    def __init__(self, url: str, prefix: str = "parley") -> None:
        self._url = url
        self._where = _where(url)
        self._keys = Keys(prefix)
        self._queue: asyncio.Queue[_Work | object] = asyncio.Queue()
        self._in_flight = 0
        self._client: redis.asyncio.Redis | None = None
        self._worker: asyncio.Task[None] | None = None
        self._health = WriteHealth(self._where, log)

    # --- start-up, on the loop's thread, before serving ---

    def open(self) -> Snapshot:
        loop = asyncio.get_running_loop()
        # Blocking, as the interface says: the hub has nothing to serve before the last id.
        with redis.Redis.from_url(
            self._url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=_REPLY_TIMEOUT
        ) as sync:
            self._check_server(sync)
            last = sync.zscore(self._keys.ids, "last")
            last_id = 0 if last is None else int(last)
            self._probe_write(sync, last_id)
        self._client = redis.asyncio.Redis.from_url(
            self._url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_REPLY_TIMEOUT,
            # Once more at once, on a new connection: after a restart of Redis the pooled one
            # is dead. (Older redis-py retries only the errors named in retry_on_error.)
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
        self._worker = loop.create_task(self._work(self._client), name="parley-store")
        log.info("history in %s: last message id %d", self._where, last_id)
        return Snapshot(last_id)

    def _check_server(self, sync: redis.Redis) -> None:
        version = str(sync.info("server")["redis_version"])
        if tuple(int(part) for part in version.split(".")[:2]) < _OLDEST_REDIS:
            raise RedisVersionError(
                f"{self._where} runs Redis {version}; Parley needs Redis 6.2 or newer"
            )
        stored = sync.get(self._keys.format)
        if stored is not None and int(stored) > FORMAT:
            raise RedisFormatError(
                f"{self._where} holds history in key layout {int(stored)} but this Parley knows"
                f" only up to {FORMAT}, so it was written by a newer Parley"
            )
        try:
            config = sync.config_get("append*")
        except redis.ResponseError as exc:  # managed Redis often hides CONFIG
            log.info("cannot check %s's persistence settings: %s", self._where, exc)
            return
        if config.get("appendonly") != "yes" or config.get("appendfsync") != "always":
            log.warning(
                "%s has appendonly %s and appendfsync %s: a message acknowledged just before"
                " Redis stops can be lost (set appendonly yes, appendfsync always)",
                self._where,
                config.get("appendonly"),
                config.get("appendfsync"),
            )

    def _probe_write(self, sync: redis.Redis, last_id: int) -> None:
        """Write for real, so that a replica (``READONLY``) stops the start-up; a Redis out of
        memory does not (reads are served, and writes work once there is room). An older layout
        is stamped with this one, which reads it unchanged."""
        try:
            with sync.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.format, FORMAT)
                pipe.zadd(self._keys.ids, {"last": last_id}, gt=True)
                pipe.execute()
        except redis.ResponseError as exc:
            if isinstance(exc, redis.exceptions.ReadOnlyError) or not _refusal(exc):
                raise
            self._health.failed(_reason(exc))

    # --- operations, called on the loop ---

    def append(
        self,
        messages: Sequence[StoredMessage],
        done: Callable[[Sequence[StoredMessage]], None],
        failed: Callable[[Sequence[StoredMessage], str], None],
    ) -> None:
        keys = self._keys
        by_room: dict[str, dict[bytes, int]] = {}
        for m in messages:
            by_room.setdefault(m.room, {})[_member(m)] = m.id
        highest = max((m.id for m in messages), default=0)

        def stage(pipe: _Pipeline) -> int:
            # The ceiling first: were the rest refused, it would only run ahead, never behind.
            pipe.zadd(keys.ids, {"last": highest}, gt=True)
            for room, members in by_room.items():
                pipe.zadd(keys.messages(room), members)
            if by_room:
                pipe.sadd(keys.rooms, *by_room)
            return 1 + len(by_room) + bool(by_room)

        self._submit(stage, lambda results: lambda: done(messages), lambda r: failed(messages, r))

    def reserve_ids(self, upto: int) -> None:
        def stage(pipe: _Pipeline) -> int:
            pipe.zadd(self._keys.ids, {"last": upto}, gt=True)
            return 1

        self._submit(stage, lambda results: _nothing)

    def save_room(self, room: StoredRoom, done: Callable[[], None], failed: Failed) -> None:
        def stage(pipe: _Pipeline) -> int:
            pipe.hset(
                self._keys.state(room.room), mapping={"topic": room.topic, "by": room.topic_by}
            )
            return 1

        self._submit(stage, lambda results: done, failed)

    def page(
        self,
        room: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[Page], None],
        failed: Failed | None = None,
    ) -> None:
        key = self._keys.messages(room)

        def stage(pipe: _Pipeline) -> int:
            if after is not None:
                pipe.zrange(key, f"({after}", "+inf", byscore=True, offset=0, num=limit + 1)
            else:
                _stage_latest(pipe, key, before, limit)
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            if after is not None:
                members: list[bytes] = results[0]
                result = Page([_message(room, m) for m in members[:limit]], len(members) > limit)
            else:
                result = _latest(room, results[0], limit)
            return lambda: done(result)

        self._submit(stage, finish, failed, writes=False)

    def trim(
        self,
        older_than: int | None,
        keep: int | None,
        limit: int,
        done: Callable[[int], None],
        failed: Failed,
    ) -> None:
        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            deleted = await _trim(client, self._keys, older_than, keep, limit)
            return lambda: done(deleted)

        self._submit(None, None, failed, run=run)

    def barrier(self, done: Callable[[], None]) -> None:
        if self._in_flight == 0:
            done()
        else:
            self._submit(None, lambda results: done, writes=False)

    @property
    def idle(self) -> bool:
        return self._in_flight == 0

    async def close(self) -> None:
        if self._worker is None or self._client is None:
            return
        self._queue.put_nowait(_CLOSE)
        await self._worker
        await self._client.aclose()
        self._worker = self._client = None
        log.info("history closed")

    def load_room(
        self,
        room: str,
        recent: int,
        done: Callable[[StoredRoom | None, Page], None],
        failed: Failed,
    ) -> None:
        def stage(pipe: _Pipeline) -> int:
            pipe.hgetall(self._keys.state(room))
            _stage_latest(pipe, self._keys.messages(room), None, recent)
            return 2

        def finish(results: list[Any]) -> Callable[[], None]:
            state: dict[bytes, bytes] = results[0]
            stored = (
                StoredRoom(room, state[b"topic"].decode(), state[b"by"].decode()) if state else None
            )
            newest = _latest(room, results[1], recent)
            return lambda: done(stored, newest)

        self._submit(stage, finish, failed, writes=False)

    def forget_room(self, room: str) -> None:
        def stage(pipe: _Pipeline) -> int:
            pipe.eval(_FORGET, 2, self._keys.messages(room), self._keys.state(room))
            return 1

        self._submit(stage, lambda results: _nothing)

    def find_message(
        self, id: int, done: Callable[[StoredMessage | None], None], failed: Failed
    ) -> None:
        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            found = await _find(client, self._keys, id)
            message = None if found is None else _message(*found)
            return lambda: done(message)

        self._submit(None, None, failed, run=run, writes=False)

    def delete_message(self, id: int, done: Callable[[bool], None], failed: Failed) -> None:
        def blank(old: StoredMessage) -> StoredMessage:
            return replace(old, text="", deleted=True)

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            found = await _swap(client, self._keys, id, blank, edit=False)
            return lambda: done(found)

        self._submit(None, None, failed, run=run)

    def edit_message(
        self,
        id: int,
        room: str,
        text: str,
        at: int,
        done: Callable[[bool], None],
        failed: Failed,
    ) -> None:
        def edited(old: StoredMessage) -> StoredMessage | None:
            return None if old.deleted else replace(old, text=text, edited=True)

        async def run(client: redis.asyncio.Redis) -> Callable[[], None]:
            changed = await _swap(client, self._keys, id, edited, edit=True, room=room)
            return lambda: done(changed)

        self._submit(None, None, failed, run=run)

    # --- the worker ---

    @property
    def keys(self) -> Keys:
        return self._keys

    def _submit(
        self,
        stage: _Stage | None,
        finish: _Finish | None,
        failed: Failed | None = None,
        *,
        writes: bool = True,
        run: _Run | None = None,
    ) -> None:
        """Queue an operation, in order with every other; as ``submit`` also the other stores'
        on this Redis (``redis_accounts.py``, ``redis_moderation.py``), run jobs idempotent."""
        self._in_flight += 1
        self._queue.put_nowait(_Work(stage, finish, run, failed, writes))

    submit = _submit

    async def _work(self, client: redis.asyncio.Redis) -> None:
        """Take every operation waiting, send runs of them as one pipeline each, complete."""
        closing = False
        while not closing:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            closing = _CLOSE in items
            work = [item for item in items if isinstance(item, _Work)]
            start = 0
            while start < len(work):
                end = start + 1
                if work[start].run is None:
                    while end < len(work) and work[end].run is None:
                        end += 1
                    completions = await self._batch(client, work[start:end])
                else:
                    completions = [await self._alone(client, work[start])]
                self._complete(completions)
                start = end

    async def _batch(
        self, client: redis.asyncio.Redis, work: list[_Work]
    ) -> list[Callable[[], None]]:
        if len(work) == 1:
            return [await self._alone(client, work[0])]
        try:
            return await self._send(client, work)
        except Exception as exc:
            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                # Redis is out of reach: asking again op by op would only wait longer.
                return [self._refused(item, exc) for item in work]
            # One refused write (out of memory, say) or one bug of ours must not take the rest
            # down with it; every write is idempotent, so what did go through may go again.
            log.debug("history batch of %d failed (%s); retrying one by one", len(work), exc)
            return [await self._alone(client, item) for item in work]

    async def _alone(self, client: redis.asyncio.Redis, item: _Work) -> Callable[[], None]:
        try:
            if item.run is not None:
                completion = await item.run(client)
                if item.writes:
                    self._health.worked()
                return completion
            return (await self._send(client, [item]))[0]
        except Exception as exc:
            return self._refused(item, exc)

    async def _send(
        self, client: redis.asyncio.Redis, work: list[_Work]
    ) -> list[Callable[[], None]]:
        """Run ``work`` in one pipeline, a transaction if any of it writes."""
        writes = any(item.writes for item in work)
        async with client.pipeline(transaction=writes) as pipe:
            counts = [item.stage(pipe) if item.stage is not None else 0 for item in work]
            results = await pipe.execute() if sum(counts) else []
        if writes:
            self._health.worked()
        completions = []
        for item, count in zip(work, counts, strict=True):
            assert item.finish is not None
            completions.append(item.finish(results[:count]))
            del results[:count]
        return completions

    def _refused(self, item: _Work, exc: BaseException) -> Callable[[], None]:
        if item.stage is None and item.finish is not None:
            return item.finish([])  # a barrier: it sent nothing that could fail
        reason = _reason(exc)
        if not _refusal(exc):
            log.error("history operation failed and was dropped", exc_info=exc)
        elif item.writes:
            self._health.failed(reason)
        else:
            log.warning("cannot read the history in %s: %s", self._where, reason)
        failed = item.failed
        return _nothing if failed is None else lambda: failed(reason)

    def _complete(self, completions: list[Callable[[], None]]) -> None:
        for completion in completions:
            self._in_flight -= 1
            try:
                completion()
            except Exception:
                log.exception("history completion failed")


def _refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing or out of reach (memory, disk, a replica, the network)
    rather than a bug of ours (a wrong type, bad arguments)."""
    if isinstance(exc, _REFUSALS):
        return True
    # Codes redis-py has no class for keep them in the message.
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(_REFUSAL_CODES)


def _reason(exc: BaseException) -> str:
    """Why, in Redis' words: redis-py strips the code of the errors it has a class for."""
    for cls, code in _CODES.items():
        if isinstance(exc, cls):
            return f"{code} {exc}"
    return str(exc) or type(exc).__name__


def _stage_latest(pipe: _Pipeline, key: str, before: int | None, limit: int) -> None:
    """The newest ``limit`` (and one to tell if there are more) older than ``before``."""
    top = "+inf" if before is None else f"({before}"
    pipe.zrange(key, top, "-inf", desc=True, byscore=True, offset=0, num=limit + 1)


def _latest(room: str, members: list[bytes], limit: int) -> Page:
    return Page([_message(room, m) for m in reversed(members[:limit])], len(members) > limit)


async def _trim(
    client: redis.asyncio.Redis, keys: Keys, older_than: int | None, keep: int | None, limit: int
) -> int:
    """Delete at most ``limit`` messages older than ``older_than`` or beyond each room's newest
    ``keep``, oldest first. Deleting needs no transaction (each ``ZREM`` stands alone, and a
    repeat removes nothing twice), so a trim also works when Redis is out of memory."""
    rooms = sorted(_text(member) for member in await client.smembers(keys.rooms))
    doomed: dict[str, list[bytes]] = {}
    if older_than is not None and rooms:
        async with client.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.zrange(keys.messages(room), 0, limit - 1)
            oldest = await pipe.execute()
        old = [
            (message.id, room, member)
            for room, members in zip(rooms, oldest, strict=True)
            for member in members
            if (message := _message(room, member)).ts < older_than
        ]
        for _, room, member in sorted(old)[:limit]:
            doomed.setdefault(room, []).append(member)
    room_left = limit - sum(map(len, doomed.values()))
    if keep is not None and room_left > 0 and rooms:
        async with client.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.zcard(keys.messages(room))
            counts: list[int] = await pipe.execute()
        async with client.pipeline(transaction=False) as pipe:
            staged = []
            for room, count in zip(rooms, counts, strict=True):
                # Those the age bound already took are among the oldest: skip past them.
                taken = len(doomed.get(room, ()))
                extra = min(count - taken - keep, room_left)
                if extra > 0:
                    pipe.zrange(keys.messages(room), taken, taken + extra - 1)
                    staged.append(room)
                    room_left -= extra
            for room, members in zip(staged, await pipe.execute(), strict=True):
                doomed.setdefault(room, []).extend(members)
    if not doomed:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for room, members in doomed.items():
            pipe.zrem(keys.messages(room), *members)
            pipe.eval(_PRUNE, 2, keys.messages(room), keys.rooms, room)
        results = await pipe.execute()
    return sum(results[::2])
