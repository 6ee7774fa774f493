"""The store suite's fixtures: every test in ``tests/store/`` that takes ``store`` or ``stores``
runs once per backend, on real storage (a SQLite file in ``tmp_path``; keys of their own on a
private ``redis-server`` that the tests start, ``tests/redis_server.py``).

A backend is a factory of ``Stores`` (a ``History`` with the ``Accounts`` and ``Moderation``
that go through it) that share one durable storage, so a test can close a store and open a new
one on the same data to prove what survives. ``reopen_stores`` is the one parametrised fixture;
``stores``, ``reopen`` and ``store`` are views of it. Adding a backend is one more entry in
``_BACKENDS`` (and in ``_CRAMPED``): the suite then runs every behaviour against it unchanged.
``cramped`` gives the same on storage that a test can fill up and free again (for SQLite, a file
on a 2 MiB tmpfs, skipped where the machine cannot mount one; for Redis, a server of the test's
own whose ``maxmemory`` drops to one byte, with ``noeviction``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from app.store import (
    Accounts,
    History,
    Moderation,
    SQLiteAccounts,
    SQLiteHistory,
    SQLiteModeration,
)
from tests.redis_server import RedisServer, redis_server
from tests.tinyfs import tinyfs

# A reopenable store: each call makes a new, unopened ``History`` on the same storage.
Reopen = Callable[[], History]
_prefixes = itertools.count(1)


@dataclass
class Stores:
    """A backend's history, accounts and moderation, on one storage (``history`` is opened and
    closed; the other two go through it and live as long as it)."""

    history: History
    accounts: Accounts
    moderation: Moderation


# A reopenable trio: each call makes a new, unopened history and its other stores on the same
# storage.
ReopenStores = Callable[[], Stores]


class Fillable(Protocol):
    """Storage that a test fills up (writes are refused) and frees again."""

    def fill(self) -> None: ...

    def free(self) -> None: ...


def _sqlite_on(path: str) -> ReopenStores:
    def make() -> Stores:
        history = SQLiteHistory(path)
        return Stores(history, SQLiteAccounts(history), SQLiteModeration(history))

    return make


def _redis_on(url: str) -> ReopenStores:
    """Stores on keys of their own (a prefix no other test uses) in the Redis at ``url``."""
    pytest.importorskip("redis", reason="the redis extra is not installed")
    from app.store import RedisAccounts, RedisHistory, RedisModeration

    prefix = f"test{next(_prefixes)}"

    def make() -> Stores:
        history = RedisHistory(url, prefix)
        return Stores(history, RedisAccounts(history), RedisModeration(history))

    return make


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> ReopenStores:
    return _sqlite_on(str(tmp_path / "history.db"))


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> ReopenStores:
    server: RedisServer = request.getfixturevalue("shared_redis")
    return _redis_on(server.url)


_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], ReopenStores]] = {
    "sqlite": _sqlite,
    "redis": _redis,
}


@contextlib.contextmanager
def _sqlite_cramped(tmp_path: Path) -> Iterator[tuple[ReopenStores, Fillable]]:
    with tinyfs(tmp_path / "tiny") as fs:
        yield _sqlite_on(str(fs.path / "history.db")), fs


class _RedisMemory:
    """A private Redis whose memory limit a test drops below what it uses, and lifts."""

    def __init__(self, server: RedisServer) -> None:
        import redis as client

        self.client = client.Redis(port=server.port)
        self.client.config_set("maxmemory-policy", "noeviction")

    def fill(self) -> None:
        self.client.config_set("maxmemory", 1)

    def free(self) -> None:
        self.client.config_set("maxmemory", 0)


@contextlib.contextmanager
def _redis_cramped(tmp_path: Path) -> Iterator[tuple[ReopenStores, Fillable]]:
    with redis_server(tmp_path / "redis") as server:
        reopen = _redis_on(server.url)
        memory = _RedisMemory(server)
        try:
            yield reopen, memory
        finally:
            memory.client.close()


_Cramping = Callable[[Path], contextlib.AbstractContextManager[tuple[ReopenStores, Fillable]]]
_CRAMPED: dict[str, _Cramping] = {"sqlite": _sqlite_cramped, "redis": _redis_cramped}


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private ``redis-server`` for the whole run (each store test uses keys of its own)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


class _Made:
    """The stores a fixture made, to close at its end."""

    def __init__(self, make: ReopenStores) -> None:
        self._make = make
        self.made: list[Stores] = []

    def __call__(self) -> Stores:
        stores = self._make()
        self.made.append(stores)
        return stores

    async def close(self) -> None:
        for stores in self.made:
            await stores.history.close()


@dataclass
class Cramped:
    """Stores on storage that ``fs.fill()`` fills up and ``fs.free()`` frees (a tiny
    filesystem for SQLite, the server's memory for Redis): ``reopen`` makes a history,
    ``reopen_stores`` a history with its accounts and moderation."""

    reopen_stores: ReopenStores
    fs: Fillable
    backend: str

    def reopen(self) -> History:
        return self.reopen_stores().history


@pytest.fixture(params=sorted(_CRAMPED))
async def cramped(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cramped]:
    """New stores on one backend's fresh storage that can be filled up, closed (and the space
    freed) before the storage goes away."""
    with _CRAMPED[request.param](tmp_path) as (make, fs):
        made = _Made(make)
        try:
            yield Cramped(made, fs, request.param)
        finally:
            fs.free()
            await made.close()


@pytest.fixture(params=sorted(_BACKENDS))
async def reopen_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReopenStores]:
    """New histories, each with its accounts and moderation, on one backend's fresh storage;
    any left open are closed at the end. The one parametrised fixture of the suite."""
    made = _Made(_BACKENDS[request.param](request, tmp_path))
    yield made
    await made.close()


@pytest.fixture
def stores(reopen_stores: ReopenStores) -> Stores:
    """A new, not yet opened history, with its accounts and moderation, on a backend's fresh
    storage."""
    return reopen_stores()


@pytest.fixture
def reopen(reopen_stores: ReopenStores) -> Reopen:
    """New histories on one backend's fresh storage (closed at the end)."""
    return lambda: reopen_stores().history


@pytest.fixture
def store(reopen: Reopen) -> History:
    """A new, not yet opened store on a backend's fresh storage."""
    return reopen()
