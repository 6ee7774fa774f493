"""Helpers for the store suite: messages to store, and awaiting a store's callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from app.store import History, Page, StoredMessage, StoredRoom

TIMEOUT = 5.0
TS0 = 1_700_000_000_000  # the timestamp of message 0


def message(
    id: int, room: str = "#a", text: str = "hi", sender: str = "ann", action: bool = False
) -> StoredMessage:
    """A stored message whose timestamp follows from its id."""
    return StoredMessage(id=id, ts=TS0 + id, room=room, sender=sender, text=text, action=action)


class StoreRefused(Exception):
    """A store called ``failed`` where the test expected success."""


def must_not_fail(*args: object) -> None:
    """A ``failed`` callback for a write the test expects to succeed (the test's later checks
    fail if it does not)."""
    raise StoreRefused(args)


async def append(store: History, *messages: StoredMessage) -> Sequence[StoredMessage]:
    """Append ``messages`` in one call and return what ``done`` was called with; raise
    ``StoreRefused`` with the reason if the store called ``failed`` instead."""
    future: asyncio.Future[Sequence[StoredMessage]] = asyncio.get_running_loop().create_future()

    def failed(messages: Sequence[StoredMessage], reason: str) -> None:
        future.set_exception(StoreRefused(reason))

    store.append(messages, future.set_result, failed)
    return await asyncio.wait_for(future, TIMEOUT)


def save_room(store: History, room: StoredRoom) -> None:
    """Submit a topic write that the test expects to succeed, without waiting for it."""
    store.save_room(room, lambda: None, must_not_fail)


async def saved_room(store: History, room: StoredRoom) -> None:
    """Save ``room`` and wait; raise ``StoreRefused`` with the reason if the store refused."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store.save_room(
        room,
        lambda: future.set_result(None),
        lambda reason: future.set_exception(StoreRefused(reason)),
    )
    await asyncio.wait_for(future, TIMEOUT)


async def page(
    store: History, room: str, before: int | None = None, after: int | None = None, limit: int = 10
) -> Page:
    """One page of ``room``, as ``done`` received it."""
    future: asyncio.Future[Page] = asyncio.get_running_loop().create_future()
    store.page(
        room,
        before,
        after,
        limit,
        future.set_result,
        lambda r: future.set_exception(StoreRefused(r)),
    )
    return await asyncio.wait_for(future, TIMEOUT)


async def barrier(store: History) -> None:
    """Wait until everything submitted to ``store`` so far has completed."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store.barrier(lambda: future.set_result(None))
    await asyncio.wait_for(future, TIMEOUT)


async def trim(
    store: History, older_than: int | None = None, keep: int | None = None, limit: int = 100
) -> int:
    """One bounded trim; how many messages it deleted."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    store.trim(
        older_than, keep, limit, future.set_result, lambda r: future.set_exception(StoreRefused(r))
    )
    return await asyncio.wait_for(future, TIMEOUT)


def ids(page: Page) -> list[int]:
    return [m.id for m in page.messages]


async def load_room(store: History, room: str, recent: int = 10) -> tuple[StoredRoom | None, Page]:
    """``room``'s stored state and newest messages, as ``done`` received them."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[StoredRoom | None, Page]] = loop.create_future()
    store.load_room(
        room, recent, lambda stored, newest: future.set_result((stored, newest)), must_not_fail
    )
    return await asyncio.wait_for(future, TIMEOUT)


async def called(operation: Callable[..., None], *args: object) -> Any:
    """Run a store operation taking ``(*args, done, failed)`` and return what ``done`` got (``None``
    for a ``done`` of no arguments); raise ``StoreRefused`` if ``failed`` was called."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(*result: object) -> None:
        future.set_result(result[0] if result else None)

    operation(*args, done, lambda reason: future.set_exception(StoreRefused(reason)))
    return await asyncio.wait_for(future, TIMEOUT)
