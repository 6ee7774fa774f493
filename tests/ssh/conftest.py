"""Fixtures for the SSH gateway: a real ``Gateway`` on a loopback port in front of a real server.

The gateway runs on the test's own loop, as ``parley ssh`` runs it on its own; every session it
admits starts a real ``python -m parley tui`` on a real pty (with this checkout on
``PYTHONPATH``). Clients are asyncssh's, with keys made per test, or OpenSSH's ``ssh`` in a
pexpect pty for the end-to-end test; ``serve_with_ssh`` is ``parley serve --ssh-port`` in a
subprocess, the gateway inside the server.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
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
    """Start gateways on a free loopback port for ``server`` (limits, another ``server_port``
    and a ``gateway_secret`` as given); all stopped."""
    gateways: list[Gateway] = []

    async def start(**limits: Any) -> Gateway:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "server_host": "127.0.0.1",
            "server_port": server.port,
        }
        settings.update(limits)
        config = GatewayConfig(**settings)
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


async def eventually(condition: Callable[[], object], failure: str) -> None:
    """Wait until ``condition()`` holds, checking every 50 ms; fails with ``failure`` after
    TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not condition():
        assert loop.time() < deadline, failure
        await asyncio.sleep(0.05)


async def start_parley(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """``python -m parley ARGS`` in ``cwd``: this checkout, no ``PARLEY_*`` of ours, a user data
    dir of its own, stdout and stderr piped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(cwd / "data"))
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "parley", *args),
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def logged_ports(log: asyncio.StreamReader, *patterns: str) -> list[int]:
    """The port each of ``patterns`` finds in a line of ``log`` (its first group), once each has
    matched one; fails if the process ends first."""
    found: dict[str, int] = {}
    while len(found) < len(patterns):
        line = (await asyncio.wait_for(log.readline(), TIMEOUT)).decode().strip()
        assert line, "the process ended before it listened"
        for pattern in patterns:
            if pattern not in found and (match := re.search(pattern, line)):
                found[pattern] = int(match.group(1))
    return [found[pattern] for pattern in patterns]


@pytest.fixture
async def serve_with_ssh(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    """``python -m parley serve --port 0 --ssh-port 0`` in a subprocess: its chat and SSH ports.
    Stopped with SIGTERM at the end, which must exit 0."""
    process = await start_parley(
        tmp_path, "serve", "--port", "0", "--ssh-port", "0", "--db", str(tmp_path / "serve.db")
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        chat, ssh = await logged_ports(
            process.stderr, r"listening on \S+:(\d+)$", r"listening on \S+:(\d+) for the chat"
        )
        printed = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
        assert printed.startswith("Host key fingerprint: SHA256:")
        # Its log is read on: a full pipe would stop the server in the middle of a write.
        drain = asyncio.create_task(process.stderr.read())
        yield chat, ssh
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
        await drain
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
