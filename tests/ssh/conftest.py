"""Fixtures for the SSH gateway: a real ``Gateway`` on a loopback port in front of a real server.

The gateway runs on the test's own loop, as ``parley ssh`` runs it on its own; every session it
admits starts a real ``python -m parley tui`` on a real pty (with this checkout on
``PYTHONPATH``). Clients are asyncssh's, with keys made per test, or OpenSSH's ``ssh`` in a
pexpect pty for the end-to-end test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

asyncssh = pytest.importorskip("asyncssh")

from app.server import Server  # noqa: E402
from frontends.ssh.gateway import Gateway  # noqa: E402
from frontends.ssh.options import GatewayConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0

StartGateway = Callable[..., Awaitable[Gateway]]
Dial = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def visitor_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions' ``python -m parley tui`` find this checkout, and no test's config leaks in."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@pytest.fixture
async def start_gateway(server: Server) -> AsyncIterator[StartGateway]:
    """Start gateways on a free loopback port for ``server`` (limits as given); all stopped."""
    gateways: list[Gateway] = []

    async def start(**limits: Any) -> Gateway:
        config = GatewayConfig(
            host="127.0.0.1", port=0, server_host="127.0.0.1", server_port=server.port, **limits
        )
        gateway = Gateway(config, asyncssh.generate_private_key("ssh-ed25519"))
        await gateway.start()
        gateways.append(gateway)
        return gateway

    yield start
    for gateway in gateways:
        await asyncio.wait_for(gateway.stop(), TIMEOUT)


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> Gateway:
    """A gateway with the default limits."""
    return await start_gateway()


@pytest.fixture
def client_key() -> Any:
    """A visitor's ed25519 key."""
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def ssh_dial(client_key: Any) -> AsyncIterator[Dial]:
    """Open asyncssh connections to a gateway (with ``client_key`` unless told); all closed."""
    connections: list[Any] = []

    async def dial(gateway: Gateway, key: Any = None, **options: Any) -> Any:
        settings: dict[str, Any] = {
            "known_hosts": None,
            "client_keys": [key or client_key],
            "username": "visitor",
            "agent_path": None,
        }
        settings.update(options)
        conn = await asyncio.wait_for(
            asyncssh.connect("127.0.0.1", gateway.port, **settings), TIMEOUT
        )
        connections.append(conn)
        return conn

    yield dial
    for conn in connections:
        conn.close()
        await conn.wait_closed()
