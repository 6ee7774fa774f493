"""A node's subscription: one Redis pub/sub connection, read by one task, in Redis' order.

``Subscription`` keeps the set of channels the node follows (its own channel and the channels of
the rooms it has members in) and hands every message that arrives to ``receive``, one at a time,
awaiting each, so that a receiver that must read Redis to fill a gap holds the later messages back
and everything stays in the order Redis published it. ``follow`` returns once Redis confirmed the
subscription and ``confirmed`` ran for it (in the reading task, in order), so whatever is published
after that reaches the node. When the connection drops, it
reconnects with a growing pause (0.1 s to 5 s), subscribes to every followed channel again, and
once Redis confirmed them calls ``resumed`` (the node catches up from what it delivered last)
before it hands on anything received on the new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("parley.server")

FOLLOW_TIMEOUT: Final = 5.0  # seconds a join waits for its room's subscription
_FIRST_PAUSE: Final = 0.1
_LONGEST_PAUSE: Final = 5.0

Receive = Callable[[str, bytes], Awaitable[None]]


class Subscription:
    """The followed channels and the task that reads them."""

    def __init__(
        self,
        url: str,
        receive: Receive,
        confirmed: Callable[[str], Awaitable[None]],
        resumed: Callable[[], Awaitable[None]],
    ) -> None:
        self._url = url
        self._receive = receive
        self._on_confirmed = confirmed
        self._resumed = resumed
        self._channels: set[str] = set()
        self._confirming: dict[str, list[asyncio.Future[None]]] = {}
        self._pubsub: Any = None  # redis.asyncio.client.PubSub while connected
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    def start(self, first: str) -> None:
        """Follow ``first`` (the node's own channel) and start reading."""
        self._channels.add(first)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="parley-subscriber")

    async def follow(self, channel: str) -> None:
        """Subscribe to ``channel`` and return once Redis confirmed it (``TimeoutError`` if
        Redis does not answer in time; it stays followed, and is subscribed on reconnection)."""
        # Handlers run eagerly, outside any task (``eager.py``), and from Python 3.12 redis-py's
        # timeouts and ``wait_for`` refuse to run outside one: the subscribing gets its own.
        await asyncio.get_running_loop().create_task(self._follow(channel))

    async def _follow(self, channel: str) -> None:
        self._channels.add(channel)
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirming.setdefault(channel, []).append(confirmed)
        pubsub = self._pubsub
        if pubsub is not None and self.connected:
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.subscribe(channel)  # a failure: the reconnection subscribes it
        await asyncio.wait_for(asyncio.shield(confirmed), FOLLOW_TIMEOUT)

    def unfollow(self, channel: str) -> None:
        """Stop following ``channel`` (its messages still on their way are ignored)."""
        self._channels.discard(channel)
        for waiting in self._confirming.pop(channel, ()):
            waiting.cancel()
        pubsub = self._pubsub
        if pubsub is not None and self.connected:
            task = asyncio.get_running_loop().create_task(_quietly(pubsub.unsubscribe(channel)))
            task.add_done_callback(lambda t: None)

    def follows(self, channel: str) -> bool:
        return channel in self._channels

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        pause = _FIRST_PAUSE
        first = True
        client = redis.asyncio.Redis.from_url(
            self._url, socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0)
        )
        try:
            while True:
                pubsub = client.pubsub()
                try:
                    await self._listen(pubsub, first)
                except Exception as exc:
                    if self.connected:
                        pause = _FIRST_PAUSE  # it worked until now: a new outage
                        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
                            log.error("lost the subscription to Redis (%s); reconnecting", exc)
                        else:
                            log.exception("the subscription failed; reconnecting")
                    self.connected = False
                    first = False
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, _LONGEST_PAUSE)
                finally:
                    self._pubsub = None
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _listen(self, pubsub: Any, first: bool) -> None:
        """Subscribe to every followed channel on a new connection, then read it."""
        self._pubsub = pubsub
        wanted = set(self._channels)
        await pubsub.subscribe(*wanted)
        self.connected = True
        late = self._channels - wanted  # followed while the first subscribe was on its way
        if late:
            wanted |= late
            await pubsub.subscribe(*late)
        held: list[tuple[str, bytes]] = []
        resuming = not first
        async for kind, channel, data in _messages(pubsub):
            if kind == "subscribe":
                wanted.discard(channel)
                await self._confirmed(channel)
            elif kind != "message" or channel not in self._channels:
                continue
            elif wanted:
                held.append((channel, data))  # waits for every channel's catch-up
            else:
                await self._hand(channel, data)
            if resuming and not wanted:
                resuming = False
                log.warning("the subscription to Redis works again")
                await self._resumed()
            if held and not wanted:
                for channel, data in held:
                    if channel in self._channels:
                        await self._hand(channel, data)
                held = []

    async def _hand(self, channel: str, data: bytes) -> None:
        """Hand one message on; one that cannot be handled (a bug of ours) is logged and
        skipped, not allowed to stop the node's deliveries."""
        try:
            await self._receive(channel, data)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            raise
        except Exception:
            log.exception("a message on %s could not be handled", channel)

    async def _confirmed(self, channel: str) -> None:
        if channel in self._channels:
            await self._on_confirmed(channel)
        for waiting in self._confirming.pop(channel, ()):
            if not waiting.done():
                waiting.set_result(None)


async def _messages(pubsub: Any) -> AsyncIterator[tuple[str, str, Any]]:
    """What ``pubsub`` receives, as (type, channel, data), until its connection fails."""
    while True:
        message = await pubsub.get_message(timeout=None)
        if message is not None:
            yield message["type"], _text(message["channel"]), message["data"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _quietly(call: Awaitable[Any]) -> None:
    with contextlib.suppress(redis.RedisError, OSError):
        await call
