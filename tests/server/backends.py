"""The protocol tests over both deployments: one process on SQLite, and two nodes on Redis.

A test module that imports ``backend``, ``start_server`` and ``connect`` from here runs each of
its tests twice: ``sqlite`` (one ``Server`` on the test's SQLite file, as ``tests/conftest.py``
starts it) and ``redis (2 nodes)`` (each ``start_server`` starts two nodes on the test's own
``redis-server`` and returns the first; ``connect`` puts clients alternately on the first and
the second, so the clients of every room are spread over both). The ``server`` fixture of
``tests/conftest.py`` follows, since it asks for ``start_server``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.server import Server, ServerConfig
from tests.conftest import Connect, Dial, StartServer, WireClient
from tests.redis_server import redis_server

SQLITE = "sqlite"
NODES = "redis (2 nodes)"


@pytest.fixture(params=[SQLITE, NODES])
def backend(request: pytest.FixtureRequest) -> str:
    """Which deployment the test runs on."""
    if request.param == NODES:
        pytest.importorskip("redis", reason="the redis extra is not installed")
    return str(request.param)


@pytest.fixture
async def start_server(backend: str, db_path: Path, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start a deployment (one server, or two nodes sharing a Redis); all stopped at the end."""
    servers: list[Server] = []
    with redis_server(tmp_path / "redis") if backend == NODES else _nothing() as redis:

        async def start(**overrides: Any) -> Server:
            settings: dict[str, Any] = {"port": 0, "db": str(db_path), "msg_rate": 0}
            if redis is not None:
                settings["redis_url"] = redis.url
            settings.update(overrides)
            started = [Server(ServerConfig(**settings)) for _ in range(1 if redis is None else 2)]
            for server in started:
                await server.start()
                servers.append(server)
            _pairs[started[0].port] = started
            return started[0]

        _pairs: dict[int, list[Server]] = {}
        start.pairs = _pairs  # type: ignore[attr-defined]
        yield start
        for server in servers:
            await server.stop()


@pytest.fixture
def connect(server: Server, dial: Dial, start_server: StartServer) -> Connect:
    """Open raw clients to the deployment of ``server`` (or of ``port=``), alternately on each
    of its nodes; with ``nick=`` they say hello first."""
    pairs: dict[int, list[Server]] = start_server.pairs  # type: ignore[attr-defined]
    turns: dict[int, itertools.cycle[Server]] = {}

    async def open_client(nick: str | None = None, port: int | None = None) -> WireClient:
        first = port or server.port
        nodes = pairs.get(first)
        if nodes is None:
            return await dial(first, nick)
        turn = turns.setdefault(first, itertools.cycle(nodes))
        return await dial(next(turn).port, nick)

    return open_client


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
