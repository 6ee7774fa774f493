"""The store suite's fixtures: every test in ``tests/store/`` that takes ``store`` runs once per
backend, on real storage (a SQLite file in ``tmp_path``; keys of their own on a private
``redis-server`` that the tests start, ``tests/redis_server.py``).

A backend is a factory of ``History`` objects that share one durable storage, so a test can close
a store and open a new one on the same data to prove what survives. Adding a backend is one more
entry in ``_BACKENDS`` (and in ``_CRAMPED``): the suite then runs every behaviour against it
unchanged. ``cramped`` gives the same on storage that a test can fill up and free again (for
SQLite, a file on a 2 MiB tmpfs, skipped where the machine cannot mount one; for Redis, a server
of the test's own whose ``maxmemory`` drops to one byte, with ``noeviction``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from app.store import Accounts, History, SQLiteAccounts, SQLiteHistory
from tests.redis_server import RedisServer, redis_server
from tests.tinyfs import tinyfs

# A reopenable store: each call makes a new, unopened ``History`` on the same storage.
Reopen = Callable[[], History]
_prefixes = itertools.count(1)


class Fillable(Protocol):
    """Storage that a test fills up (writes are refused) and frees again."""

    def fill(self) -> None: ...

    def free(self) -> None: ...


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Reopen:
    path = str(tmp_path / "history.db")
    return lambda: SQLiteHistory(path)


def _redis_on(url: str) -> Reopen:
    """Stores on keys of their own (a prefix no other test uses) in the Redis at ``url``."""
    pytest.importorskip("redis", reason="the redis extra is not installed")
    from app.store.redis import RedisHistory

    prefix = f"test{next(_prefixes)}"
    return lambda: RedisHistory(url, prefix)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Reopen:
    server: RedisServer = request.getfixturevalue("shared_redis")
    return _redis_on(server.url)


_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Reopen]] = {
    "sqlite": _sqlite,
    "redis": _redis,
}


@contextlib.contextmanager
def _sqlite_cramped(tmp_path: Path) -> Iterator[tuple[Reopen, Fillable]]:
    with tinyfs(tmp_path / "tiny") as fs:
        yield (lambda: SQLiteHistory(str(fs.path / "history.db"))), fs


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
def _redis_cramped(tmp_path: Path) -> Iterator[tuple[Reopen, Fillable]]:
    with redis_server(tmp_path / "redis") as server:
        reopen = _redis_on(server.url)
        memory = _RedisMemory(server)
        try:
            yield reopen, memory
        finally:
            memory.client.close()


_CRAMPED: dict[str, Callable[[Path], contextlib.AbstractContextManager[tuple[Reopen, Fillable]]]]
_CRAMPED = {"sqlite": _sqlite_cramped, "redis": _redis_cramped}


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private ``redis-server`` for the whole run (each store test uses keys of its own)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@dataclass
class Stores:
    """A backend's history and its accounts, on one storage (``history`` is opened and closed;
    ``accounts`` lives as long as it)."""

    history: History
    accounts: Accounts


# A reopenable pair: each call makes a new, unopened history and its accounts on the same storage.
ReopenStores = Callable[[], Stores]


def _sqlite_stores(tmp_path: Path) -> ReopenStores:
    path = str(tmp_path / "history.db")

    def make() -> Stores:
        history = SQLiteHistory(path)
        return Stores(history, SQLiteAccounts(history))

    return make


_ACCOUNT_BACKENDS: dict[str, Callable[[Path], ReopenStores]] = {"sqlite": _sqlite_stores}


@dataclass
class Cramped:
    """Stores on storage that ``fs.fill()`` fills up and ``fs.free()`` frees (a tiny
    filesystem for SQLite, the server's memory for Redis)."""

    reopen: Reopen
    fs: Fillable
    backend: str


@pytest.fixture(params=sorted(_CRAMPED))
async def cramped(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cramped]:
    """New stores on one backend's fresh storage that can be filled up, closed (and the space
    freed) before the storage goes away."""
    with _CRAMPED[request.param](tmp_path) as (make, fs):
        made: list[History] = []

        def new() -> History:
            store = make()
            made.append(store)
            return store

        try:
            yield Cramped(new, fs, request.param)
        finally:
            fs.free()
            for store in made:
                await store.close()


@pytest.fixture(params=sorted(_BACKENDS))
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """New stores on one backend's fresh storage; any left open are closed at the end."""
    make = _BACKENDS[request.param](request, tmp_path)
    made: list[History] = []

    def new() -> History:
        store = make()
        made.append(store)
        return store

    yield new
    for store in made:
        await store.close()


@pytest.fixture
def store(reopen: Reopen) -> History:
    """A new, not yet opened store on a backend's fresh storage."""
    return reopen()


@pytest.fixture(params=sorted(_ACCOUNT_BACKENDS))
async def reopen_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReopenStores]:
    """New history-and-accounts pairs on one backend's fresh storage; closed at the end."""
    make = _ACCOUNT_BACKENDS[request.param](tmp_path)
    made: list[Stores] = []

    def new() -> Stores:
        stores = make()
        made.append(stores)
        return stores

    yield new
    for stores in made:
        await stores.history.close()


@pytest.fixture
def stores(reopen_stores: ReopenStores) -> Stores:
    """A new, not yet opened history and its accounts on a backend's fresh storage."""
    return reopen_stores()
