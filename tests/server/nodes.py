"""Fixtures for a deployment of nodes: a private Redis and ``Server`` nodes sharing it.

``start_node`` starts a node (a ``Server`` with ``redis_url``) on the test's Redis, each with a
SQLite file of its own for what is not in Redis yet; ``two_nodes`` is the usual pair. Tests that
import these fixtures are skipped where the redis extra or ``redis-server`` is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.server import Server, ServerConfig
from tests.conftest import StartServer
from tests.redis_server import RedisServer, redis_server

pytest.importorskip("redis", reason="the redis extra is not installed")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private ``redis-server`` for this test (AOF on, ``appendfsync always``)."""
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def start_node(redis: RedisServer, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start nodes on the test's Redis (port 0 unless given); all stopped at the end."""
    nodes: list[Server] = []

    async def start(**overrides: Any) -> Server:
        settings: dict[str, Any] = {
            "port": 0,
            "db": str(tmp_path / f"node{len(nodes)}.db"),
            "msg_rate": 0,
            "redis_url": redis.url,
        }
        settings.update(overrides)
        node = Server(ServerConfig(**settings))
        await node.start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        await node.stop()


@pytest.fixture
async def two_nodes(start_node: StartServer) -> tuple[Server, Server]:
    """Two nodes of one deployment."""
    return await start_node(), await start_node()
