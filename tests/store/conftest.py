"""The store suite's fixtures: every test in ``tests/store/`` that takes ``store`` runs once per
backend, on real storage (today a SQLite file in ``tmp_path``).

A backend is a factory of ``History`` objects that share one durable storage, so a test can close
a store and open a new one on the same data to prove what survives. Adding a backend (Redis) is one
more entry in ``_BACKENDS``: the suite then runs every behaviour against it unchanged. ``cramped``
gives the same on storage that a test can fill up and free again (for SQLite, a file on a 2 MiB
tmpfs; skipped where the machine cannot mount one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.store import Accounts, History, SQLiteAccounts, SQLiteHistory
from tests.tinyfs import TinyFS, tinyfs

# A reopenable store: each call makes a new, unopened ``History`` on the same storage.
Reopen = Callable[[], History]


def _sqlite(tmp_path: Path) -> Reopen:
    path = str(tmp_path / "history.db")
    return lambda: SQLiteHistory(path)


_BACKENDS: dict[str, Callable[[Path], Reopen]] = {"sqlite": _sqlite}


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
    """Stores on storage that ``fs.fill()`` fills up and ``fs.free()`` frees."""

    reopen: Reopen
    fs: TinyFS


@pytest.fixture(params=sorted(_BACKENDS))
async def cramped(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cramped]:
    """New stores on one backend's fresh storage on a tiny filesystem, closed (and the space
    freed) before it is unmounted."""
    with tinyfs(tmp_path / "tiny") as fs:
        make = _BACKENDS[request.param](fs.path)
        made: list[History] = []

        def new() -> History:
            store = make()
            made.append(store)
            return store

        try:
            yield Cramped(new, fs)
        finally:
            fs.free()
            for store in made:
                await store.close()


@pytest.fixture(params=sorted(_BACKENDS))
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """New stores on one backend's fresh storage; any left open are closed at the end."""
    make = _BACKENDS[request.param](tmp_path)
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
