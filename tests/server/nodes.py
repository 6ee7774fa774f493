"""Fixtures for a deployment of nodes: a private Redis and ``Server`` nodes sharing it.

``start_node`` starts a node (a ``Server`` with ``redis_url``, which keeps everything in Redis) on
the test's Redis; ``two_nodes`` is the usual pair. Tests that import these fixtures are skipped
where the redis extra or ``redis-server`` is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.server import Server
from tests.conftest import StartServer
from tests.redis_server import RedisServer, redis_server

pytest.importorskip("redis", reason="the redis extra is not installed")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private ``redis-server`` for this test (AOF on, ``appendfsync always``)."""
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def start_node(redis: RedisServer, start_server: StartServer) -> StartServer:
    """Start nodes on the test's Redis (``start_server`` with its ``redis_url``: port 0 unless
    given; all stopped at the end)."""

    async def start(**overrides: Any) -> Server:
        return await start_server(redis_url=redis.url, **overrides)

    return start


@pytest.fixture
async def two_nodes(start_node: StartServer) -> tuple[Server, Server]:
    """Two nodes of one deployment."""
    return await start_node(), await start_node()
