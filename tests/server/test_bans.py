"""Room and server-wide bans on a real server over loopback (one process on a real SQLite file, and
two nodes on a real Redis: ``tests/server/backends.py``): by account, nick glob and address (CIDR),
their expiry, the ban list, refusals, and a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.server import Server
from app.store import SQLiteHistory, SQLiteModeration, StoredBan
from tests.conftest import Connect, Dial, StartServer, WireClient
from tests.server.backends import SQLITE, backend, connect, start_server
from tests.server.wire import PASSWORD, from_address, in_room, op_in, owner_of, registered

__all__ = ["backend", "connect", "start_server"]


async def test_a_ban_by_account_removes_and_keeps_out(connect: Connect, dial: Dial) -> None:
    """A present member banned by account is kicked with the reason, the room sees the ban and
    the kick, its join gets banned, and after unban it joins again."""
    alice = await owner_of(connect, "#dev")
    bob = await registered(connect, "bob")
    await bob.join("#dev")
    (carol,) = await in_room(connect, "#dev", "carol")
    await alice.barrier()
    await bob.barrier()
    await alice.send(type="ban", room="#dev", mask="account:Bob", reason="rude", ref="b")
    await alice.expect(
        "moderation", action="ban", target="account:bob", by="alice", reason="rude", ref="b"
    )
    await alice.expect("presence", nick="bob", event="kick", by="alice", reason="rude")
    await carol.expect("moderation", action="ban", room="#dev", target="account:bob")
    await carol.expect("presence", nick="bob", event="kick")
    await bob.expect("moderation", action="ban")
    await bob.expect("kicked", room="#dev", by="alice", reason="rude")
    await bob.send(type="join", room="#dev", ref=1)
    refused = await bob.expect("error", code="banned", ref=1)
    assert "rude" in refused["message"] and "retry_after_ms" not in refused
    await alice.send(type="bans", room="#dev", ref=2)
    await alice.expect(
        "ban_list", room="#dev", bans=[{"mask": "account:bob", "by": "alice", "reason": "rude"}]
    )
    await alice.send(type="unban", room="#dev", mask="ACCOUNT:bob", ref="u")
    await alice.expect("moderation", action="unban", target="account:bob", ref="u")
    await bob.join("#dev")


async def test_a_nick_glob_ban_matches_ignoring_case(connect: Connect) -> None:
    """nick:tro* removes Troll and TROLLEY, leaves the others, and keeps them out."""
    alice = await owner_of(connect, "#dev")
    troll, trolley, carol = await in_room(connect, "#dev", "Troll", "TROLLEY", "carol")
    await alice.barrier()
    await alice.send(type="ban", room="#dev", mask="nick:tro*", ref="b")
    frames = await alice.barrier()
    kicked = [f["nick"] for f in frames if f["type"] == "presence" and f["event"] == "kick"]
    assert sorted(kicked) == ["TROLLEY", "Troll"]
    for victim in (troll, trolley):
        assert [f["type"] for f in await victim.barrier()] == ["moderation", "kicked"]
        await victim.send(type="join", room="#dev", ref=1)
        await victim.expect("error", code="banned", ref=1)
    await carol.send(type="say", room="#dev", text="peace", ref=2)
    await carol.barrier()


async def test_an_ip_ban_with_cidr(server: Server, connect: Connect) -> None:
    """ip:127.0.0.0/8 bans every client from loopback except the owner (not bound by its room's
    bans); ip:127.0.0.1 leaves a client of 127.0.0.2 alone."""
    alice = await owner_of(connect, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    other = await from_address(server.port, "127.0.0.2")
    try:
        await _ip_bans(connect, alice, guest, other)
    finally:
        await other.close()


async def _ip_bans(
    connect: Connect, alice: WireClient, guest: WireClient, other: WireClient
) -> None:
    await other.hello("other")
    await other.join("#dev")
    await alice.barrier()
    await guest.barrier()
    await alice.send(type="ban", room="#dev", mask="ip:127.0.0.1", ref="b")
    await alice.expect("moderation", action="ban", target="ip:127.0.0.1", ref="b")
    await alice.barrier()
    assert [f["type"] for f in await guest.barrier()] == ["moderation", "kicked"]
    assert [f["type"] for f in await other.barrier()] == ["moderation", "presence"]
    await alice.send(type="ban", room="#dev", mask="ip:127.0.0.0/8", ref="c")
    await alice.expect("moderation", target="ip:127.0.0.0/8", ref="c")
    assert [f["type"] for f in await other.barrier()] == ["moderation", "kicked"]
    late = await connect("late")
    await late.send(type="join", room="#dev", ref=1)
    await late.expect("error", code="banned", ref=1)
    await alice.barrier()
    await alice.send(type="say", room="#dev", text="alone", ref=2)
    await alice.expect("message", ref=2)


async def test_a_ban_with_a_duration_expires(connect: Connect) -> None:
    """A ban of duration_s 1 says when it ends, refuses the join with retry_after_ms until then,
    and then neither refuses nor shows in the ban list."""
    alice = await owner_of(connect, "#dev")
    await alice.send(type="ban", room="#dev", mask="nick:guest", duration_s=1, ref="b")
    banned = await alice.expect("moderation", action="ban", ref="b")
    assert banned["expires_ms"] > 0
    guest = await connect("guest")
    await guest.send(type="join", room="#dev", ref=1)
    refused = await guest.expect("error", code="banned", ref=1)
    assert 0 < refused["retry_after_ms"] <= 1000
    await asyncio.sleep(refused["retry_after_ms"] / 1000 + 0.05)
    await guest.join("#dev")
    await alice.barrier()
    await alice.send(type="bans", room="#dev", ref=2)
    await alice.expect("ban_list", room="#dev", bans=[], ref=2)


async def test_bans_refused(connect: Connect) -> None:
    """A bad mask and the unban of a mask not banned are bad_mask; a member's ban, bans and
    unban are not_permitted; an op's ban matching the owner is not_permitted; every refused
    connection goes on."""
    alice = await owner_of(connect, "#dev")
    bob = await op_in(connect, alice, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await alice.barrier()
    await alice.send(type="ban", room="#dev", mask="host:example.org", ref=1)
    await alice.expect("error", code="bad_mask", ref=1)
    await alice.send(type="unban", room="#dev", mask="nick:nobody", ref=2)
    await alice.expect("error", code="bad_mask", ref=2)
    for ref, frame in enumerate(
        (
            {"type": "ban", "room": "#dev", "mask": "nick:bob"},
            {"type": "bans", "room": "#dev"},
            {"type": "unban", "room": "#dev", "mask": "nick:bob"},
            {"type": "bans"},
        ),
        start=3,
    ):
        await guest.send(**frame, ref=ref)
        await guest.expect("error", code="not_permitted", ref=ref)
    await bob.barrier()
    await bob.send(type="ban", room="#dev", mask="ip:127.0.0.0/8", ref=8)
    await bob.expect("error", code="not_permitted", ref=8)
    await bob.send(type="ban", room="#dev", mask="account:alice", ref=9)
    await bob.expect("error", code="not_permitted", ref=9)
    await bob.send(type="ban", room="#dev", mask="nick:guest", ref=10)
    await bob.expect("moderation", action="ban", ref=10)


async def test_a_server_wide_ban(start_server: StartServer, connect: Connect) -> None:
    """An operator's gban closes matching connections with bye banned, refuses their hello and
    nick (the connection survives), lists in bans, and gunban lifts it; others may do neither."""
    server = await start_server(opers=("root",))

    async def on_it(nick: str | None = None) -> WireClient:
        # Alternately on each node of a deployment of nodes.
        return await connect(nick, port=server.port)

    root = await registered(on_it, "root")
    troll = await on_it("troll")
    carol = await on_it("carol")
    await carol.send(type="gban", mask="nick:troll", ref=1)
    await carol.expect("error", code="not_permitted", ref=1)
    await carol.send(type="gunban", mask="nick:troll", ref=7)
    await carol.expect("error", code="not_permitted", ref=7)
    await root.send(type="gban", mask="nick:tr*", reason="flood", ref="g")
    await root.expect("moderation", action="gban", target="nick:tr*", by="root", reason="flood")
    assert await troll.closed() == [
        {"type": "bye", "reason": "banned", "message": "you are banned from this server: flood"}
    ]
    again = await on_it()
    await again.send(type="hello", nick="Trouble", proto=1, ref=2)
    await again.expect("error", code="banned", ref=2)
    await again.hello("fine")
    await again.send(type="nick", nick="troll", ref=3)
    await again.expect("error", code="banned", ref=3)
    await root.send(type="bans", ref=4)
    listed = await root.expect("ban_list", ref=4)
    assert listed["bans"] == [{"mask": "nick:tr*", "by": "root", "reason": "flood"}]
    assert "room" not in listed
    await root.send(type="gunban", mask="nick:TR*", ref="u")
    await root.expect("moderation", action="gunban", target="nick:tr*", ref="u")
    await again.send(type="nick", nick="troll", ref=5)
    await again.expect("renamed", nick="troll", ref=5)
    await root.send(type="gunban", mask="nick:tr*", ref=6)
    await root.expect("error", code="bad_mask", ref=6)


async def test_an_ended_server_wide_ban_bars_nobody(
    backend: str, start_server: StartServer, dial: Dial, db_path: Path
) -> None:
    """A server-wide ban whose end has passed (written to the store before start) refuses no
    hello and is not listed."""
    if backend != SQLITE:
        pytest.skip("writes the SQLite file before the start (tests/store/ prunes on Redis)")
    store = SQLiteHistory(str(db_path))
    store.open()
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ended = StoredBan("", "nick:old*", "root", None, created=1, expires=2)
    SQLiteModeration(store).add_ban(
        ended, lambda: written.set_result(None), lambda why: written.set_exception(OSError(why))
    )
    await written
    await store.close()
    server = await start_server(opers=("root",))
    await dial(server.port, "oldtimer")
    root = await registered(lambda nick: dial(server.port, nick), "root")
    await root.send(type="bans", ref=1)
    await root.expect("ban_list", bans=[], ref=1)


async def test_a_restart_keeps_bans(start_server: StartServer, dial: Dial) -> None:
    """A room ban and a server-wide ban still hold after a restart on the same database."""
    first = await start_server(opers=("alice",))
    alice = await registered(lambda nick: dial(first.port, nick), "alice")
    await alice.join("#dev")
    await alice.send(type="ban", room="#dev", mask="nick:guest", ref=1)
    await alice.send(type="gban", mask="nick:spammer", ref=2)
    await alice.barrier()
    await first.stop()
    second = await start_server(opers=("alice",))
    guest = await dial(second.port, "guest")
    await guest.send(type="join", room="#dev", ref=3)
    await guest.expect("error", code="banned", ref=3)
    spammer = await dial(second.port)
    await spammer.send(type="hello", nick="spammer", proto=1, ref=4)
    await spammer.expect("error", code="banned", ref=4)
    owner = await dial(second.port)
    await owner.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await owner.expect("welcome", oper=True)
