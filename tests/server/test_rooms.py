"""Names and room state over real sockets: ``nick``, ``topic``, ``who``, ``rooms`` and ``away``.

Like ``test_frames.py`` (registration, join/part, say, ping, quit), each test uses raw JSON
clients on a live server and the ``ping`` barrier, so the presence events that must *not* reach
a client (one sharing no room with the actor) are checked as strictly as those that must.
"""

from __future__ import annotations

from tests.conftest import Connect
from tests.server.backends import backend, connect, start_server
from tests.server.wire import in_room

__all__ = ["backend", "connect", "start_server"]

# --- nick -----------------------------------------------------------------------------------


async def test_nick_change_tells_shared_rooms_only(connect: Connect) -> None:
    """``nick`` gets ``renamed``; members of shared rooms get presence, one per shared room."""
    alice, bob = await in_room(connect, "#a", "alice", "bob")
    await alice.join("#b")
    carol, dave = await in_room(connect, "#b", "carol", "dave")
    await dave.join("#a")
    await dave.join("#c")
    eve = await connect("eve")
    await eve.join("#c")
    for client in (alice, bob, carol, dave, eve):
        await client.barrier()
    await alice.send(type="nick", nick="Alicia", ref="n")
    await alice.expect("renamed", nick="Alicia", old="alice", ref="n")
    assert await alice.barrier() == []

    def nick_event(room: str) -> dict[str, str]:
        return {"type": "presence", "room": room, "nick": "Alicia", "old": "alice", "event": "nick"}

    assert await bob.barrier() == [nick_event("#a")]
    assert await carol.barrier() == [nick_event("#b")]
    assert sorted((await dave.barrier()), key=lambda f: f["room"]) == [
        nick_event("#a"),
        nick_event("#b"),
    ]
    assert await eve.barrier() == []


async def test_new_nick_is_used_and_old_one_freed(connect: Connect) -> None:
    """After ``nick``, messages carry the new name, the new one is held and the old one free."""
    alice, bob = await in_room(connect, "#a", "alice", "bob")
    await alice.send(type="nick", nick="alicia")
    await alice.expect("renamed", nick="alicia")
    await alice.send(type="say", room="#a", text="new me")
    await alice.barrier()  # said (on another node, too) before bob asks
    got = [f for f in await bob.barrier() if f["type"] == "message"]
    assert got[0]["from"] == "alicia"
    await connect("alice")
    thief = await connect()
    await thief.send(type="hello", nick="ALICIA", proto=1)
    await thief.expect("error", code="nick_taken")
    await alice.barrier()
    await bob.send(type="say", to="alicia", text="dm")
    await alice.expect("message", to="alicia", text="dm")


async def test_nick_change_of_case_only_is_allowed(connect: Connect) -> None:
    """Changing only the case of one's own nick is allowed."""
    alice = await connect("alice")
    await alice.send(type="nick", nick="ALICE")
    await alice.expect("renamed", nick="ALICE", old="alice")


async def test_nick_change_to_the_same_nick_tells_nobody(connect: Connect) -> None:
    """``nick`` to one's exact current nick is answered but announces nothing to the rooms."""
    alice, bob = await in_room(connect, "#a", "alice", "bob")
    await alice.send(type="nick", nick="alice", ref=3)
    await alice.expect("renamed", nick="alice", old="alice", ref=3)
    assert await bob.barrier() == []


async def test_nick_change_refusals(connect: Connect) -> None:
    """``nick`` to a taken or invalid name is refused and the old name stays."""
    alice, _ = await in_room(connect, "#a", "alice", "bob")
    await alice.send(type="nick", nick="Bob", ref=1)
    await alice.expect("error", code="nick_taken", ref=1)
    await alice.send(type="nick", nick="9lives", ref=2)
    await alice.expect("error", code="bad_nick", ref=2)
    await alice.send(type="say", room="#a", text="x")
    assert (await alice.expect("message"))["from"] == "alice"


# --- topic, who, rooms, away ----------------------------------------------------------------


async def test_topic_reaches_every_member_including_the_setter(connect: Connect) -> None:
    """``topic`` goes to every member as ``topic {room, topic, by}``; later joins see it."""
    alice, bob = await in_room(connect, "#a", "alice", "bob")
    await alice.send(type="topic", room="#A", topic="plans", ref="t")
    await alice.expect("topic", room="#a", topic="plans", by="alice", ref="t")
    assert await bob.barrier() == [{"type": "topic", "room": "#a", "topic": "plans", "by": "alice"}]
    carol = await connect("carol")
    joined, _ = await carol.join("#a")
    assert joined["topic"] == "plans"
    await carol.send(type="topic", room="#a", topic="")
    await carol.expect("topic", topic="", by="carol")


async def test_who_lists_members_with_away_flags(connect: Connect) -> None:
    """``who`` answers every member sorted ignoring case, ``away`` true only for the away ones."""
    alice, bob, _ = await in_room(connect, "#a", "alice", "Bob", "carol")
    await bob.send(type="away", text="lunch")
    await bob.expect("away_set", text="lunch")
    await alice.barrier()
    outsider = await connect("zed")
    for asker in (alice, outsider):  # who works for rooms one is not in
        await asker.send(type="who", room="#A", ref="w")
        await asker.expect(
            "members",
            room="#a",
            ref="w",
            members=[{"nick": "alice"}, {"nick": "Bob", "away": True}, {"nick": "carol"}],
        )


async def test_who_on_an_empty_room(connect: Connect) -> None:
    """``who`` on a room nobody is in is ``no_such_room``, even if it once had members."""
    alice = await connect("alice")
    await alice.join("#a")
    await alice.send(type="part", room="#a")
    await alice.expect("parted")
    for room in ("#a", "#never"):
        await alice.send(type="who", room=room, ref=room)
        await alice.expect("error", code="no_such_room", ref=room)


async def test_rooms_lists_rooms_with_members(connect: Connect) -> None:
    """``rooms`` lists each room with members, with its topic and member count, by name."""
    alice, bob = await in_room(connect, "#b", "alice", "bob")
    await alice.join("#a")
    await alice.send(type="topic", room="#a", topic="hello")
    await bob.join("#gone")
    await bob.send(type="part", room="#gone")
    await alice.barrier()
    await bob.barrier()
    await bob.send(type="rooms", ref=5)
    await bob.expect(
        "room_list",
        ref=5,
        rooms=[
            {"room": "#a", "topic": "hello", "members": 1},
            {"room": "#b", "topic": "", "members": 2},
        ],
    )


async def test_away_and_back(connect: Connect) -> None:
    """``away`` answers ``away_set``; shared rooms hear ``away`` with the text, then ``back``."""
    alice, bob = await in_room(connect, "#a", "alice", "bob")
    loner = await connect("loner")
    await loner.join("#elsewhere")
    await alice.send(type="away", text="brb", ref=1)
    await alice.expect("away_set", text="brb", ref=1)
    assert await bob.barrier() == [
        {"type": "presence", "room": "#a", "nick": "alice", "event": "away", "text": "brb"}
    ]
    for back in (None, ""):
        await alice.send(type="away", text=back, ref=2)
        reply = await alice.expect("away_set", ref=2)
        assert "text" in reply and reply["text"] is None
        assert await bob.barrier() == [
            {"type": "presence", "room": "#a", "nick": "alice", "event": "back"}
        ]
    assert await loner.barrier() == []
    await bob.send(type="who", room="#a")
    members = await bob.expect("members")
    assert members["members"] == [{"nick": "alice"}, {"nick": "bob"}]
