"""Nodes sharing rooms through Redis: messages, events and topics across two ``Server`` nodes.

Clients of one room are spread over two nodes on one private Redis; every check reads what real
clients receive on real sockets, with the ``ping`` barrier, which in a node waits until everything
published before it reached this node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.server import Server
from tests.conftest import Dial, StartServer, WireClient, owner_of
from tests.redis_server import RedisServer
from tests.server.nodes import redis, start_node, two_nodes
from tests.server.wire import PASSWORD, registered, sign_in

__all__ = ["redis", "start_node", "two_nodes"]


async def spread(
    dial: Dial, nodes: tuple[Server, Server], room: str, *nicks: str
) -> list[WireClient]:
    """Clients registered as ``nicks``, alternately on each node, all in ``room``, drained."""
    clients = []
    for i, nick in enumerate(nicks):
        client = await dial(nodes[i % 2].port, nick)
        await client.join(room)
        clients.append(client)
    for client in clients:
        await client.barrier()
    return clients


def messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "message"]


async def test_message_reaches_members_on_both_nodes(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """A room message said on one node reaches members on both, its sender with its nonce."""
    alice, bob, carol = await spread(dial, two_nodes, "#a", "alice", "bob", "carol")
    await alice.send(type="say", room="#a", text="hi", nonce="n1")
    own = await alice.expect("message", text="hi", nonce="n1")
    for client in (bob, carol):
        got = messages(await client.barrier())
        assert [(m["id"], m["text"], m.get("nonce")) for m in got] == [(own["id"], "hi", None)]


async def test_flood_from_both_nodes_arrives_in_id_order_once(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Several senders on two nodes: every member sees every message once, in id order."""
    nicks = [f"u{i}" for i in range(6)]
    clients = await spread(dial, two_nodes, "#flood", *nicks)
    per_sender = 50

    async def flood(client: WireClient, nick: str) -> None:
        lines = b"".join(
            b'{"type":"say","room":"#flood","text":"%s %d"}\n' % (nick.encode(), n)
            for n in range(per_sender)
        )
        await client.send_raw(lines)

    await asyncio.gather(*(flood(c, n) for c, n in zip(clients, nicks, strict=True)))
    seen: list[list[dict[str, Any]]] = []
    for client in clients:
        got: list[dict[str, Any]] = []
        while len(got) < per_sender * len(nicks):
            frame = await client.recv()
            if frame["type"] == "message":
                got.append(frame)
        seen.append(got)
    for got in seen:
        ids = [m["id"] for m in got]
        assert ids == sorted(set(ids)), "a gap in order or a repeat"
        assert [m["id"] for m in got] == [m["id"] for m in seen[0]]
        for nick in nicks:
            mine = [m["text"] for m in got if m["from"] == nick]
            assert mine == [f"{nick} {n}" for n in range(per_sender)]
    for client in clients:
        assert messages(await client.barrier()) == []


async def test_presence_and_topic_reach_the_other_node(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Join, topic, away, nick and part on node A are seen by a member on node B."""
    a, b = two_nodes
    bob = await dial(b.port, "bob")
    await bob.join("#a")
    alice = await dial(a.port, "alice")
    await alice.join("#a")
    await alice.barrier()
    assert await bob.barrier() == [
        {"type": "presence", "room": "#a", "nick": "alice", "event": "join"}
    ]
    await alice.send(type="topic", room="#a", topic="news", ref="t")
    await alice.expect("topic", topic="news", ref="t")
    await alice.send(type="away", text="lunch")
    await alice.expect("away_set")
    await alice.send(type="nick", nick="alicia")
    await alice.expect("renamed")
    await alice.send(type="part", room="#a")
    await alice.expect("parted")
    await alice.barrier()  # its effects are published before its pong
    events = [(f["type"], f.get("topic") or f.get("event")) for f in await bob.barrier()]
    assert events == [
        ("topic", "news"),
        ("presence", "away"),
        ("presence", "nick"),
        ("presence", "part"),
    ]
    carol = await dial(a.port, "carol")
    joined, _ = await carol.join("#a")
    assert joined["topic"] == "news"


async def test_members_of_both_nodes_are_listed(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """``joined``, ``who`` and ``rooms`` list the members of every node."""
    a, b = two_nodes
    await spread(dial, two_nodes, "#a", "alice", "bob", "carol")
    dave = await dial(b.port, "dave")
    joined, _ = await dave.join("#a")
    assert joined["members"] == ["alice", "bob", "carol", "dave"]
    await dave.send(type="who", room="#a", ref="w")
    who = await dave.expect("members", ref="w")
    assert [m["nick"] for m in who["members"]] == ["alice", "bob", "carol", "dave"]
    erin = await dial(a.port, "erin")
    await erin.join("#b")
    await dave.send(type="rooms", ref="r")
    listed = await dave.expect("room_list", ref="r")
    assert [(r["room"], r["members"]) for r in listed["rooms"]] == [("#a", 4), ("#b", 1)]


async def test_a_nick_held_on_one_node_is_refused_on_the_other(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """A nick taken on node A is refused on node B, in any case, and free once its holder quit."""
    a, b = two_nodes
    alice = await dial(a.port, "alice")
    thief = await dial(b.port)
    await thief.send(type="hello", nick="ALICE", proto=1)
    await thief.expect("error", code="nick_taken")
    await thief.send(type="hello", nick="bob", proto=1)
    await thief.expect("welcome", nick="bob")
    await thief.send(type="nick", nick="Alice", ref=1)
    await thief.expect("error", code="nick_taken", ref=1)
    await alice.send(type="quit")
    await alice.closed()
    await thief.barrier()
    await thief.send(type="nick", nick="Alice", ref=2)
    await thief.expect("renamed", nick="Alice", ref=2)


async def test_an_account_registered_on_one_node_signs_in_on_the_other(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Accounts live in Redis: registered on node A, signed in to on node B."""
    a, b = two_nodes
    alice = await registered(lambda nick: dial(a.port, nick), "alice")
    await alice.send(type="quit")
    await alice.closed()
    assert (await sign_in(dial, b.port, "alice", "wrong password"))["type"] == "error"
    welcome = await sign_in(dial, b.port, "alice", PASSWORD)
    assert welcome["type"] == "welcome" and welcome["account"] == "alice"


async def test_direct_message_to_a_nick_on_the_other_node(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """A direct message reaches its recipient on the other node; the sender's copy has its
    nonce; a nick nobody holds anywhere is ``no_such_nick``."""
    a, b = two_nodes
    alice = await dial(a.port, "alice")
    bob = await dial(b.port, "bob")
    await bob.send(type="say", to="alice", text="psst", nonce="d1")
    own = await bob.expect("message", to="alice", text="psst", nonce="d1")
    got = await alice.expect("message", to="alice", text="psst")
    assert got["id"] == own["id"] and "nonce" not in got and got["from"] == "bob"
    await bob.send(type="say", to="nobody", text="?", ref="x")
    await bob.expect("error", code="no_such_nick", ref="x")


async def test_whois_kick_and_kill_reach_the_other_node(
    start_node: StartServer, dial: Dial
) -> None:
    """An owner on node A kicks a member on node B, ``whois`` sees a nick on the other node,
    and a server operator on A kills a session on B."""
    a = await start_node(opers=("olga",))
    b = await start_node(opers=("olga",))
    olga = await owner_of(lambda nick: dial(a.port, nick), "#a", "olga")
    bob = await dial(b.port, "bob")
    await bob.join("#a")
    await bob.send(type="away", text="out")
    await bob.expect("away_set")
    await olga.barrier()
    await olga.send(type="whois", nick="BOB", ref="w")
    whois = await olga.expect("whois", ref="w")
    assert (whois["nick"], whois["online"], whois["rooms"], whois["away"]) == (
        "bob",
        True,
        ["#a"],
        "out",
    )
    assert whois["connected_ms"] >= 0
    await olga.send(type="kick", room="#a", nick="bob", reason="spam", ref="k")
    await olga.expect("presence", event="kick", nick="bob", by="olga", ref="k")
    await bob.expect("kicked", room="#a", by="olga", reason="spam")
    await bob.send(type="say", room="#a", text="still here?", ref="s")
    await bob.expect("error", code="not_in_room", ref="s")
    await olga.send(type="who", room="#a", ref="who")
    assert [m["nick"] for m in (await olga.expect("members", ref="who"))["members"]] == ["olga"]
    await olga.send(type="kill", nick="bob", reason="enough", ref="x")
    await olga.expect("moderation", action="kill", target="bob", ref="x")
    last = await bob.closed()
    assert last[-1]["type"] == "bye" and last[-1]["reason"] == "killed"


async def test_a_mute_on_one_node_holds_on_the_other(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Room rules changed on node A (a mute) apply on node B as soon as its members see it."""
    a, b = two_nodes
    olga = await owner_of(lambda nick: dial(a.port, nick), "#a", "olga")
    bob = await dial(b.port, "bob")
    await bob.join("#a")
    await olga.barrier()
    await olga.send(type="mute", room="#a", nick="bob", ref="m")
    await olga.expect("moderation", action="mute", target="bob", ref="m")
    await bob.expect("moderation", action="mute", target="bob")
    await bob.send(type="say", room="#a", text="hello?", ref="s")
    await bob.expect("error", code="muted", ref="s")


async def test_a_sender_that_parts_at_once_gets_its_copy(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """A message said just before its sender parts (the room's last member on its node) still
    comes back to the sender, and to the members on the other node."""
    alice, bob = await spread(dial, two_nodes, "#a", "alice", "bob")
    await alice.send_raw(
        b'{"type":"say","room":"#a","text":"bye","nonce":"n"}\n{"type":"part","room":"#a"}\n'
    )
    frames = await alice.barrier()
    assert sorted((f["type"], f.get("nonce") or "") for f in frames) == [
        ("message", "n"),
        ("parted", ""),
    ]
    got = [f["text"] for f in await bob.barrier() if f["type"] == "message"]
    assert got == ["bye"]


async def test_a_server_wide_ban_holds_on_every_node(start_node: StartServer, dial: Dial) -> None:
    """A ``gban`` set on node A drops the matching session on node B and keeps it out there;
    a ``gunban`` on A lets it in on B again."""
    a = await start_node(opers=("olga",))
    b = await start_node(opers=("olga",))
    olga = await registered(lambda nick: dial(a.port, nick), "olga")
    mallory = await dial(b.port, "mallory")
    await mallory.barrier()
    await olga.send(type="gban", mask="nick:mall*", reason="spam", ref="g")
    await olga.expect("moderation", action="gban", ref="g")
    last = await mallory.closed()
    assert last[-1]["type"] == "bye" and last[-1]["reason"] == "banned"
    again = await dial(b.port)
    await again.send(type="hello", nick="mallory", proto=1)
    await again.expect("error", code="banned")
    await olga.send(type="gunban", mask="nick:mall*", ref="u")
    await olga.expect("moderation", action="gunban", ref="u")
    for _ in range(50):  # node B rereads the bans when the announcement reaches it
        later = await dial(b.port)
        await later.send(type="hello", nick="mallory", proto=1)
        if (await later.recv())["type"] == "welcome":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("still banned on node B")


async def test_signing_in_on_another_node_takes_the_account_over(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Signing in to an account on node B drops its connection on node A with
    ``logged_in_elsewhere``, and B's connection holds the nick."""
    a, b = two_nodes
    first = await registered(lambda nick: dial(a.port, nick), "alice")
    welcome = await sign_in(dial, b.port, "alice", PASSWORD)
    assert welcome["type"] == "welcome" and welcome["account"] == "alice"
    last = await first.closed()
    assert last[-1]["type"] == "bye" and last[-1]["reason"] == "logged_in_elsewhere"


async def test_a_join_during_a_flood_sees_each_message_once(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """A client joining on either node while messages pour in gets the newest in its join page
    and the rest live: together an unbroken tail of the room's sequence, nothing twice."""
    senders = await spread(dial, two_nodes, "#busy", "s0", "s1")
    witness = await dial(two_nodes[0].port, "witness")
    await witness.join("#busy")
    await witness.barrier()
    count = 300
    lines = b"".join(b'{"type":"say","room":"#busy","text":"m%d"}\n' % n for n in range(count))
    for sender in senders:
        await sender.send_raw(lines)
    joiners = [await dial(two_nodes[i].port, f"late{i}") for i in range(2)]
    pages = [await joiner.join("#busy") for joiner in joiners]
    seen: list[int] = []
    while len(seen) < 2 * count:
        frame = await witness.recv()
        if frame["type"] == "message":
            seen.append(frame["id"])
    for joiner, (_, page) in zip(joiners, pages, strict=True):
        ids = [m["id"] for m in page["messages"]]
        while not ids or ids[-1] != seen[-1]:
            frame = await joiner.recv()
            if frame["type"] == "message":
                ids.append(frame["id"])
        assert ids == seen[len(seen) - len(ids) :], "a gap or a repeat"


async def test_roles_and_bans_reach_members_on_the_other_node(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """An owner on node A makes an account on node B an op (and B's node knows it at once), and
    a ban set on A removes the matching member on B, who cannot join again."""
    a, b = two_nodes
    olga = await owner_of(lambda nick: dial(a.port, nick), "#a", "olga")
    bob = await registered(lambda nick: dial(b.port, nick), "bob")
    await bob.join("#a")
    troll = await dial(b.port, "troll")
    await troll.join("#a")
    for client in (troll, bob, olga):
        await client.barrier()
    await olga.send(type="op", room="#a", nick="bob", ref="o")
    await olga.expect("mode", nick="bob", role="op", ref="o")
    await bob.expect("mode", nick="bob", role="op", by="olga")
    await bob.send(type="ban", room="#a", mask="account:olga", ref="no")
    await bob.expect("error", code="not_permitted", ref="no")
    await olga.send(type="ban", room="#a", mask="nick:troll", reason="spam", ref="b")
    await olga.expect("moderation", action="ban", target="nick:troll", ref="b")
    frames = [await troll.recv() for _ in range(3)]
    assert [f["type"] for f in frames] == ["mode", "moderation", "kicked"]
    await troll.send(type="join", room="#a", ref="j")
    await troll.expect("error", code="banned", ref="j")


async def test_a_message_it_cannot_read_does_not_stop_a_node(
    redis: RedisServer, two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """Garbage published on a room's channel is logged and skipped: the room goes on."""
    import redis as client

    alice, bob = await spread(dial, two_nodes, "#a", "alice", "bob")
    with client.Redis.from_url(redis.url) as direct:
        direct.publish("parley:{#a}:events", b"not an envelope\n")
    await alice.send(type="say", room="#a", text="still here")
    await alice.expect("message", text="still here")
    await bob.expect("message", text="still here")


async def test_two_deployments_on_one_redis_do_not_hear_each_other(
    redis: RedisServer, start_server: StartServer, dial: Dial
) -> None:
    """Deployments in databases 0 and 1 of one Redis each keep their own room of the same name:
    pub/sub is the whole server's, so the channels carry the database number."""
    first = await start_server(redis_url=redis.url)
    second = await start_server(redis_url=redis.url.removesuffix("/0") + "/1")
    ann = await dial(first.port, "ann")
    await ann.join("#same")
    bob = await dial(second.port, "bob")
    await bob.join("#same")
    await ann.send(type="say", room="#same", text="in the first", nonce="a")
    await ann.expect("message", text="in the first", nonce="a")
    await bob.send(type="say", room="#same", text="in the second", nonce="b")
    await bob.expect("message", text="in the second", nonce="b")
    assert messages(await bob.barrier()) == []
    assert messages(await ann.barrier()) == []


async def test_an_edit_reaches_the_other_node_and_its_window(
    two_nodes: tuple[Server, Server], dial: Dial
) -> None:
    """An edit on node A reaches members on node B; a later join on node B, answered from its
    window, and a history page there give the new text marked edited."""
    _a, b = two_nodes
    alice, bob = await spread(dial, two_nodes, "#a", "alice", "bob")
    await alice.send(type="say", room="#a", text="teh", ref=1)
    said = await alice.expect("message", ref=1)
    await alice.send(type="edit", id=said["id"], text="the", ref=2)
    await alice.expect("edited", id=said["id"], text="the", by="alice", ref=2)
    frames = await bob.barrier()
    assert [(f["type"], f["text"]) for f in frames] == [("message", "teh"), ("edited", "the")]
    carol = await dial(b.port, "carol")
    _joined, page = await carol.join("#a")
    assert [(m["text"], m.get("edited")) for m in page["messages"]] == [("the", True)]
    await bob.barrier()
    await bob.send(type="history", room="#a")
    history = await bob.expect("history")
    assert [(m["text"], m.get("edited")) for m in history["messages"]] == [("the", True)]
