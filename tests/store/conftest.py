"""The store suite's fixtures: every test in ``tests/store/`` that takes ``store`` runs once per
backend, on real storage (today a SQLite file in ``tmp_path``).

A backend is a factory of ``History`` objects that share one durable storage, so a test can close
a store and open a new one on the same data to prove what survives. Adding a backend (Redis) is one
more entry in ``_BACKENDS``: the suite then runs every behaviour against it unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.store import History, SQLiteHistory

# A reopenable store: each call makes a new, unopened ``History`` on the same storage.
Reopen = Callable[[], History]


def _sqlite(tmp_path: Path) -> Reopen:
    path = str(tmp_path / "history.db")
    return lambda: SQLiteHistory(path)


_BACKENDS: dict[str, Callable[[Path], Reopen]] = {"sqlite": _sqlite}


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
