"""Helpers shared by the server tests: groups of raw clients already in a room."""

from __future__ import annotations

from tests.conftest import Connect, WireClient


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
