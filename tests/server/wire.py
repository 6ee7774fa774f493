"""Helpers shared by the server tests: groups of raw clients already in a room, accounts."""

from __future__ import annotations

import asyncio

from tests.conftest import Connect, Dial, WireClient


async def in_room(connect: Connect, room: str, *nicks: str) -> list[WireClient]:
    """Clients registered as ``nicks``, all in ``room``, with their join noise drained."""
    clients = []
    for nick in nicks:
        client = await connect(nick)
        await client.join(room)
        clients.append(client)
    for client in clients:
        await client.barrier()
    return clients


PASSWORD = "correct horse"


async def registered(connect: Connect, nick: str, password: str = PASSWORD) -> WireClient:
    """A client that said hello as ``nick`` and registered it."""
    client = await connect(nick)
    await client.send(type="register", password=password, ref="r")
    await client.expect("account", nick=nick, ref="r")
    return client


async def sign_in(dial: Dial, port: int, nick: str, password: str) -> dict[str, object]:
    """What a new connection gets for ``hello`` with a password (a welcome or an error)."""
    client = await dial(port)
    await client.send(type="hello", nick=nick, proto=1, password=password)
    return await client.recv()


async def from_address(port: int, address: str) -> WireClient:
    """A raw client connecting from another loopback address (a different user to the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    return WireClient(reader, writer)
