"""Direct messages with accounts on a real server (one process on SQLite, and two nodes on Redis:
``tests/server/backends.py``): stored between accounts and paged back with ``history {with}``, kept
for an offline account until it signs in, live-only with a guest."""

from __future__ import annotations

from app.server import Server
from tests.conftest import Connect, Dial, StartServer, WireClient, stop_and_hang_up
from tests.server.backends import backend, connect, start_server
from tests.server.wire import PASSWORD, registered

__all__ = ["backend", "connect", "start_server"]


async def sign_in(dial: Dial, port: int, nick: str) -> WireClient:
    """A new connection signed in to account ``nick`` (its welcome read)."""
    client = await dial(port)
    await client.send(type="hello", nick=nick, proto=1, password=PASSWORD)
    await client.expect("welcome", nick=nick, account=nick)
    return client


async def test_direct_messages_between_accounts_page_back(server: Server, connect: Connect) -> None:
    """Direct messages between two accounts are delivered and come back, from either side, with
    ``history {with}`` paged like a room."""
    alice, bob = await registered(connect, "alice"), await registered(connect, "bob")
    for n in range(3):
        await alice.send(type="say", to="bob", text=f"a{n}")
        await alice.expect("message", text=f"a{n}", to="bob")
        await bob.expect("message", text=f"a{n}", **{"from": "alice"})
    await bob.send(type="say", to="alice", text="b0")
    await bob.expect("message", text="b0")
    await alice.expect("message", text="b0")
    await alice.send(type="history", ref=0)
    await alice.expect("error", code="bad_frame", ref=0)
    await alice.send(type="history", limit=2, ref=1, **{"with": "BOB"})
    page = await alice.expect("history", more=True, ref=1)
    assert page["with"] == "BOB" and [m["text"] for m in page["messages"]] == ["a2", "b0"]
    before = page["messages"][0]["id"]
    await bob.send(type="history", before=before, ref=2, **{"with": "alice"})
    older = await bob.expect("history", more=False, ref=2)
    assert [m["text"] for m in older["messages"]] == ["a0", "a1"]


async def test_a_message_to_an_offline_account_is_delivered_at_its_next_sign_in(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """A direct message to an account that is offline is stored, its sender told so
    (``offline``), and delivered right after the recipient's next welcome, once."""
    bob = await registered(connect, "bob")
    await bob.send(type="quit")
    await bob.closed()
    alice = await registered(connect, "alice")
    await alice.send(type="say", to="Bob", text="call me", nonce="n1", ref="s")
    echo = await alice.expect("message", text="call me", to="bob", nonce="n1", ref="s")
    assert echo["offline"] is True
    back = await sign_in(dial, server.port, "bob")
    delivered = await back.expect("message", text="call me", to="bob", id=echo["id"])
    assert delivered["from"] == "alice" and "offline" not in delivered
    assert await back.barrier() == []
    await back.close()
    again = await sign_in(dial, server.port, "bob")
    assert await again.barrier() == []


async def test_offline_mail_survives_a_restart(start_server: StartServer, dial: Dial) -> None:
    """A message kept for an offline account is still delivered after the server restarts."""
    first = await start_server()
    for nick in ("bob", "alice"):
        client = await dial(first.port, nick)
        await client.send(type="register", password=PASSWORD, ref=1)
        await client.expect("account", ref=1)
        if nick == "bob":
            await client.send(type="quit")
            await client.closed()
            await client.close()
        else:
            await client.send(type="say", to="bob", text="see you")
            await client.expect("message", text="see you", offline=True)
    await stop_and_hang_up(first, client)
    second = await start_server()
    bob = await sign_in(dial, second.port, "bob")
    await bob.expect("message", text="see you")


async def test_direct_messages_with_a_guest_stay_live_only(
    server: Server, connect: Connect
) -> None:
    """A guest's direct messages are delivered but not stored; a guest cannot write to an
    account that is offline, nor page direct messages."""
    alice = await registered(connect, "alice")
    guest = await connect("guest")
    await guest.send(type="say", to="alice", text="hi")
    await alice.expect("message", text="hi")
    await guest.expect("message", text="hi")
    await alice.send(type="history", ref=1, **{"with": "guest"})
    assert (await alice.expect("history", ref=1))["messages"] == []
    await guest.send(type="history", ref=2, **{"with": "alice"})
    await guest.expect("error", code="no_account", ref=2)
    await alice.send(type="quit")
    await alice.closed()
    await guest.send(type="say", to="alice", text="are you there", ref=3)
    await guest.expect("error", code="no_such_nick", ref=3)
