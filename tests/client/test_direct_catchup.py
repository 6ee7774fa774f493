"""The reconnect catch-up of stored direct messages between two accounts, on a real server.

Alice and bob are accounts; alice's connection runs through a ``Tap``. While her side of the
link is mute the server still thinks she is online and "delivers" bob's messages into the void
(stored, marked delivered); once the link is cut it keeps the next ones for her as undelivered
and sends them after her next ``welcome``. After the reconnect her engine must show every one of
them exactly once and in order: those from the ``history {with: bob}`` catch-up, and those the
server delivers itself (which the catch-up page also holds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.client.state import LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, Tap, eventually
from tests.conftest import Connect

PASSWORD = "correct horse"
MakeTap = Callable[[int], Awaitable[Tap]]


async def register(connect: Connect, nick: str) -> None:
    client = await connect(nick)
    await client.send(type="register", password=PASSWORD)
    await client.expect("account", nick=nick)
    await client.close()


async def say_to(sender: Client, nick: str, texts: list[str]) -> None:
    """Send ``texts`` to ``nick`` and wait until the server has confirmed each."""
    for text in texts:
        sender.engine.submit(f"/msg {nick} {text}")
    await eventually(lambda: not sender.room(nick).pending, f"{len(texts)} messages confirmed")


async def test_direct_messages_missed_during_a_drop_appear_once(
    server: Server, connect: Connect, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """Messages sent to a dead link and to an offline account both appear after the reconnect,
    once each, in id order, with no gap."""
    await register(connect, "alice")
    await register(connect, "bob")
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port, password=PASSWORD)
    bob = await make_client("bob", server.port, password=PASSWORD)

    await say_to(bob, "alice", ["before"])
    await eventually(lambda: alice.rec.chat("bob") == ["before"], "alice saw the first")

    tap.mute = True  # the server writes to alice; nothing reaches her
    await say_to(bob, "alice", ["lost 1", "lost 2", "lost 3"])
    tap.refusing = True
    tap.cut()
    await eventually(lambda: not alice.engine.connected, "alice disconnected")
    await eventually(lambda: server_forgot(server, "alice"), "the server saw alice go")
    await say_to(bob, "alice", ["kept 1", "kept 2"])
    tap.mute = False
    tap.refusing = False

    await alice.ready()
    await alice.settled()
    expected = ["before", "lost 1", "lost 2", "lost 3", "kept 1", "kept 2"]
    await eventually(lambda: alice.rec.chat("bob") == expected, "every message once")
    lines = alice.rec.lines("bob", LineKind.MESSAGE)
    ids = [line.id for line in lines]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert alice.rec.lines("bob", LineKind.GAP) == []
    engine_ids = [line.id for line in alice.engine.lines("bob") if line.id is not None]
    assert engine_ids == ids
    asked = [f for f in tap.sent if f["type"] == "history" and f.get("with") == "bob"]
    assert asked and asked[0]["after"] == ids[0]


async def test_a_guest_fetches_no_direct_history(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """A guest's engine asks for no stored direct messages after a reconnect (none are kept)."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    bob = await make_client("bob", server.port)
    await say_to(bob, "alice", ["hi"])
    await eventually(lambda: alice.rec.chat("bob") == ["hi"], "alice saw it")
    tap.cut()
    await eventually(lambda: not alice.engine.connected, "alice disconnected")
    await alice.ready()
    await alice.settled()
    assert not [f for f in tap.sent if f["type"] == "history" and "with" in f]
    assert alice.rec.chat("bob") == ["hi"]


def server_forgot(server: Server, nick: str) -> bool:
    """Whether ``server`` no longer has a session called ``nick``."""
    return nick not in server.hub.nicks
