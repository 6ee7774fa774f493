"""Shared fixtures: a real server on a loopback port with a real SQLite file, and a raw client.

``WireClient`` speaks the protocol as bytes and JSON dicts, independently of ``app.protocol``, so
server tests check the wire itself. ``barrier()`` sends a ``ping`` and collects everything the
server sends before the matching ``pong``: the protocol promises the pong comes after every
effect of earlier frames, so tests never sleep to wait for the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.server import Server, ServerConfig

TIMEOUT = 10.0
_ping_ids = itertools.count(1)


class WireClient:
    """A test client on a real socket: JSON dicts in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, **frame: Any) -> None:
        await self.send_raw(json.dumps(frame).encode() + b"\n")

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame; fails the test if none comes in time or the server closed."""
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        assert line, "the server closed the connection"
        frame = json.loads(line)
        assert isinstance(frame, dict)
        return frame

    async def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next frame, which must be of type ``kind`` with ``fields``."""
        frame = await self.recv()
        assert frame["type"] == kind, frame
        for key, value in fields.items():
            assert frame.get(key) == value, (key, frame)
        return frame

    async def barrier(self) -> list[dict[str, Any]]:
        """Everything the server sends before the pong to a fresh ping."""
        ping_id = next(_ping_ids)
        await self.send(type="ping", id=ping_id)
        frames = []
        while True:
            frame = await self.recv()
            if frame["type"] == "pong" and frame.get("id") == ping_id:
                return frames
            frames.append(frame)

    async def closed(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Read until the server closes; return what it sent last."""
        frames = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                return frames
            frames.append(json.loads(line))

    async def hello(self, nick: str) -> dict[str, Any]:
        await self.send(type="hello", nick=nick, proto=1)
        return await self.expect("welcome", nick=nick)

    async def join(self, room: str) -> tuple[dict[str, Any], dict[str, Any]]:
        await self.send(type="join", room=room)
        return await self.expect("joined"), await self.expect("history")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


Connect = Callable[..., Awaitable[WireClient]]


async def owner_of(connect: Connect, room: str, nick: str = "olga") -> WireClient:
    """A raw client that registers ``nick`` and joins the new ``room``: the first account in
    it, so its owner (docs/protocol.md, "Moderation")."""
    client = await connect(nick)
    await client.send(type="register", password="correct horse")
    await client.expect("account", nick=nick)
    joined, _history = await client.join(room)
    assert (joined.get("roles") or {}).get(nick) == "owner", joined
    return client


Dial = Callable[..., Awaitable[WireClient]]
StartServer = Callable[..., Awaitable[Server]]


async def stop_and_hang_up(server: Server, *clients: WireClient) -> None:
    """Stop ``server`` while ``clients`` are connected; each reads to the server's ``bye`` and
    hangs up, as a real client does. A raw client that never reads again would hold the server's
    lingering close, and so the stop, for the whole grace of two seconds."""
    stopping = asyncio.create_task(server.stop())
    for client in clients:
        last = await client.closed()
        assert last and last[-1]["type"] == "bye", last
        await client.close()
    await stopping


async def hang_up(*clients: WireClient) -> None:
    """Close ``clients`` before their server stops: a raw client that never reads again would
    hold the server's lingering close, and so the stop, for the whole grace of two seconds."""
    for client in clients:
        await client.close()


async def message_texts(client: WireClient, count: int) -> list[str]:
    """The texts of the next ``count`` messages ``client`` receives, skipping other frames."""
    texts: list[str] = []
    while len(texts) < count:
        frame = await client.recv()
        if frame["type"] == "message":
            texts.append(frame["text"])
    return texts


def closed_port() -> int:
    """A loopback port with nothing listening on it (a server that cannot be reached)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "parley.db"


@pytest.fixture
async def start_server(db_path: Path) -> AsyncIterator[StartServer]:
    """Start servers (port 0 unless given, the test's SQLite file); all stopped at the end."""
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        settings: dict[str, Any] = {"port": 0, "db": str(db_path), "msg_rate": 0}
        settings.update(overrides)
        server = Server(ServerConfig(**settings))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """A running server with default limits except flood control, on a real SQLite file."""
    return await start_server()


@pytest.fixture
async def dial() -> AsyncIterator[Dial]:
    """Open raw clients to any port (with ``nick=`` they say hello first); all closed at the end."""
    clients: list[WireClient] = []

    async def open_client(port: int, nick: str | None = None) -> WireClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = WireClient(reader, writer)
        clients.append(client)
        if nick is not None:
            await client.hello(nick)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
def connect(server: Server, dial: Dial) -> Connect:
    """Open raw clients to ``server`` (or to ``port=``); with ``nick=`` they say hello first."""

    async def open_client(nick: str | None = None, port: int | None = None) -> WireClient:
        return await dial(port or server.port, nick)

    return open_client
