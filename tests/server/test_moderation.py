"""Room moderation on a real server over loopback (one process on a real SQLite file, and two nodes
on a real Redis: ``tests/server/backends.py``): owners and ops, kick, mute, topic lock, delete,
server operators' kill, and what a restart keeps."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.server import Server
from tests.conftest import Connect, Dial, StartServer, WireClient
from tests.server.backends import backend, connect, start_server
from tests.server.wire import PASSWORD, in_room, op_in, owner_of, registered

__all__ = ["backend", "connect", "start_server"]


async def test_the_first_account_to_join_owns_the_room(connect: Connect) -> None:
    """A guest joining first owns nothing; the first account to join then becomes the owner,
    which joined and who show, to the owner and to the guest (on the other node of two)."""
    guest = await connect("guest")
    joined, _ = await guest.join("#dev")
    assert "roles" not in joined and "locked" not in joined
    alice = await owner_of(connect, "#dev")
    await guest.barrier()
    for client in (alice, guest):
        await client.send(type="who", room="#dev")
        members = await client.expect("members")
        assert {m["nick"]: m.get("role") for m in members["members"]} == {
            "alice": "owner",
            "guest": None,
        }


async def test_op_and_deop_reach_every_member(connect: Connect) -> None:
    """An owner's op and deop give every member a mode frame, the owner's own with its ref, and
    a later join lists the op."""
    alice = await owner_of(connect, "#dev")
    bob = await registered(connect, "bob")
    await bob.join("#dev")
    await alice.barrier()
    await alice.send(type="op", room="#dev", nick="bob", ref=1)
    await alice.expect("mode", room="#dev", nick="bob", role="op", by="alice", ref=1)
    await bob.expect("mode", room="#dev", nick="bob", role="op", by="alice")
    late = await connect("late")
    joined, _ = await late.join("#dev")
    assert joined["roles"] == {"alice": "owner", "bob": "op"}
    await alice.barrier()
    await bob.barrier()
    await alice.send(type="deop", room="#dev", nick="BOB", ref=2)
    await alice.expect("mode", nick="bob", role="member", ref=2)
    await bob.expect("mode", nick="bob", role="member")
    await late.barrier()
    await late.send(type="who", room="#dev")
    members = await late.expect("members")
    assert [m.get("role") for m in members["members"]] == ["owner", None, None]


async def test_who_may_op_and_whom(connect: Connect) -> None:
    """Only an owner ops, only an account can be one, only a member of the room, and the last
    owner cannot be deopped; every refusal leaves the connection working."""
    alice = await owner_of(connect, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await guest.send(type="op", room="#dev", nick="guest", ref=1)
    await guest.expect("error", code="not_permitted", ref=1)
    await alice.barrier()
    await alice.send(type="op", room="#dev", nick="guest", ref=2)
    await alice.expect("error", code="no_account", ref=2)
    await alice.send(type="op", room="#dev", nick="nobody", ref=3)
    await alice.expect("error", code="no_such_nick", ref=3)
    await alice.send(type="op", room="#elsewhere", nick="guest", ref=4)
    await alice.expect("error", code="not_in_room", ref=4)
    await alice.send(type="deop", room="#dev", nick="alice", ref=5)
    await alice.expect("error", code="not_permitted", ref=5)
    await guest.send(type="say", room="#dev", text="still here", ref=6)
    await guest.expect("message", text="still here", ref=6)


async def test_ownership_is_passed_on_with_owner(connect: Connect) -> None:
    """owner makes another account the owner and the giver an op: two mode frames; the new owner
    may then deop the old one, and the old one may no longer op nor give ownership."""
    alice = await owner_of(connect, "#dev")
    bob = await registered(connect, "bob")
    await bob.join("#dev")
    await alice.barrier()
    await alice.send(type="owner", room="#dev", nick="bob", ref="o")
    await alice.expect("mode", nick="bob", role="owner", by="alice", ref="o")
    await alice.expect("mode", nick="alice", role="op", by="alice", ref="o")
    await bob.expect("mode", nick="bob", role="owner")
    await bob.expect("mode", nick="alice", role="op")
    await alice.send(type="op", room="#dev", nick="alice", ref=1)
    await alice.expect("error", code="not_permitted", ref=1)
    await alice.send(type="owner", room="#dev", nick="alice", ref=3)
    await alice.expect("error", code="not_permitted", ref=3)
    await bob.send(type="deop", room="#dev", nick="alice", ref=2)
    await bob.expect("mode", nick="alice", role="member", ref=2)


async def test_kick_removes_the_victim_as_a_part_does(connect: Connect) -> None:
    """The victim gets kicked and is out of the room; the others see presence kick with by and
    reason; the victim may join again."""
    alice = await owner_of(connect, "#dev")
    troll, carol = await in_room(connect, "#dev", "troll", "carol")
    await alice.barrier()
    await carol.barrier()
    await alice.send(type="kick", room="#dev", nick="troll", reason="spam", ref="k")
    await alice.expect(
        "presence", room="#dev", nick="troll", event="kick", by="alice", reason="spam", ref="k"
    )
    await carol.expect("presence", nick="troll", event="kick", by="alice", reason="spam")
    await troll.expect("kicked", room="#dev", by="alice", reason="spam")
    await troll.send(type="say", room="#dev", text="hey", ref=1)
    await troll.expect("error", code="not_in_room", ref=1)
    await carol.send(type="who", room="#dev")
    members = await carol.expect("members")
    assert [m["nick"] for m in members["members"]] == ["alice", "carol"]
    await troll.join("#dev")


async def test_who_may_kick_whom(connect: Connect) -> None:
    """A member cannot kick; an op cannot kick the owner; the refused keep their connection."""
    alice = await owner_of(connect, "#dev")
    bob = await op_in(connect, alice, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await guest.send(type="kick", room="#dev", nick="bob", ref=1)
    await guest.expect("error", code="not_permitted", ref=1)
    await bob.barrier()
    await bob.send(type="kick", room="#dev", nick="alice", ref=3)
    await bob.expect("error", code="not_permitted", ref=3)
    await bob.send(type="kick", room="#dev", nick="nobody", ref=4)
    await bob.expect("error", code="no_such_nick", ref=4)
    await bob.send(type="kick", room="#dev", nick="guest", ref=5)
    await bob.expect("presence", event="kick", nick="guest", by="bob", ref=5)


async def test_mute_refuses_say_until_unmuted(connect: Connect) -> None:
    """A muted member's say gets muted (with no retry_after_ms when it is until unmuted), the
    room sees moderation mute and unmute, and after unmute it speaks."""
    alice = await owner_of(connect, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await alice.barrier()
    await alice.send(type="mute", room="#dev", nick="Guest", ref="m")
    await alice.expect("moderation", action="mute", target="Guest", by="alice", room="#dev")
    await guest.expect("moderation", action="mute", room="#dev")
    await guest.send(type="say", room="#dev", text="hello?", ref=1)
    refused = await guest.expect("error", code="muted", ref=1)
    assert "retry_after_ms" not in refused
    await alice.send(type="unmute", room="#dev", nick="guest", ref="u")
    await alice.expect("moderation", action="unmute", target="guest", ref="u")
    await guest.expect("moderation", action="unmute")
    await guest.send(type="say", room="#dev", text="thanks", ref=2)
    await guest.expect("message", text="thanks", ref=2)
    await alice.barrier()
    await alice.send(type="unmute", room="#dev", nick="guest", ref=3)
    await alice.expect("error", code="no_such_nick", ref=3)


async def test_a_mute_with_a_duration_ends_by_itself(connect: Connect) -> None:
    """A mute of duration_s 1 says when it ends (retry_after_ms, expires_ms) and lets the member
    speak once it has."""
    alice = await owner_of(connect, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await alice.send(type="mute", room="#dev", nick="guest", duration_s=1, ref="m")
    await alice.barrier()
    muted = await guest.expect("moderation", action="mute")
    await guest.send(type="say", room="#dev", text="hello?", ref=1)
    refused = await guest.expect("error", code="muted", ref=1)
    assert 0 < refused["retry_after_ms"] <= 1000
    assert muted["expires_ms"] > 0
    await asyncio.sleep(refused["retry_after_ms"] / 1000 + 0.05)
    await guest.send(type="say", room="#dev", text="back", ref=2)
    await guest.expect("message", text="back", ref=2)


async def test_an_op_cannot_mute_the_owner(connect: Connect) -> None:
    """An op's mute of the owner is not_permitted, a member's mute and unmute of anyone too, and
    a bad duration is a bad_frame."""
    alice = await owner_of(connect, "#dev")
    bob = await op_in(connect, alice, "#dev")
    await bob.send(type="mute", room="#dev", nick="alice", ref=2)
    await bob.expect("error", code="not_permitted", ref=2)
    await bob.send(type="mute", room="#dev", nick="carol", duration_s=0, ref=3)
    await bob.expect("error", code="bad_frame", ref=3)
    (carol,) = await in_room(connect, "#dev", "carol")
    await carol.send(type="mute", room="#dev", nick="bob", ref=4)
    await carol.expect("error", code="not_permitted", ref=4)
    await carol.send(type="unmute", room="#dev", nick="bob", ref=5)
    await carol.expect("error", code="not_permitted", ref=5)


async def test_a_locked_topic_is_set_by_ops_only(connect: Connect) -> None:
    """topic_lock shows in moderation and joined; a member's topic is then not_permitted, the
    owner's goes through; unlocked, members set it again."""
    alice = await owner_of(connect, "#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await guest.send(type="topic_lock", room="#dev", locked=True, ref=1)
    await guest.expect("error", code="not_permitted", ref=1)
    await alice.barrier()
    await alice.send(type="topic_lock", room="#dev", locked=True, ref="l")
    await alice.expect("moderation", action="lock", target="#dev", by="alice", ref="l")
    await guest.expect("moderation", action="lock", room="#dev")
    await guest.send(type="topic", room="#dev", topic="mine", ref=2)
    await guest.expect("error", code="not_permitted", ref=2)
    await alice.send(type="topic", room="#dev", topic="rules", ref=3)
    await alice.expect("topic", topic="rules", ref=3)
    late = await connect("late")
    joined, _ = await late.join("#dev")
    assert joined["locked"] is True and joined["topic"] == "rules"
    await alice.barrier()
    await alice.send(type="topic_lock", room="#dev", locked=False, ref="u")
    await alice.expect("moderation", action="unlock", ref="u")
    await guest.barrier()
    await guest.send(type="topic", room="#dev", topic="mine", ref=4)
    await guest.expect("topic", topic="mine", ref=4)


async def test_an_author_deletes_its_message_for_good(connect: Connect) -> None:
    """A guest deletes what it said: the room gets deleted, and history and a later join show the
    message deleted with no text."""
    guest, other = await in_room(connect, "#dev", "guest", "other")
    await guest.send(type="say", room="#dev", text="oops, my password", ref=1)
    said = await guest.expect("message", ref=1)
    await guest.send(type="say", room="#dev", text="kept", ref=2)
    await guest.expect("message", ref=2)
    await guest.send(type="delete", id=said["id"], ref="d")
    await guest.expect("deleted", room="#dev", id=said["id"], by="guest", ref="d")
    frames = await other.barrier()
    assert [f["type"] for f in frames] == ["message", "message", "deleted"]
    await other.send(type="history", room="#dev")
    page = await other.expect("history")
    assert [(m["text"], m.get("deleted", False)) for m in page["messages"]] == [
        ("", True),
        ("kept", False),
    ]
    late = await connect("late")
    _joined, history = await late.join("#dev")
    assert [m["text"] for m in history["messages"]] == ["", "kept"]
    await guest.barrier()
    await guest.send(type="delete", id=said["id"], ref=3)
    await guest.expect("error", code="no_such_message", ref=3)


async def test_who_may_delete_what(connect: Connect) -> None:
    """Another member's delete is not_permitted, an owner's goes through; an unknown id and a
    message of a room one is not in are no_such_message."""
    alice = await owner_of(connect, "#dev")
    guest, other = await in_room(connect, "#dev", "guest", "other")
    await guest.send(type="say", room="#dev", text="rude", ref=1)
    said = await guest.expect("message", ref=1)
    await other.barrier()
    await other.send(type="delete", id=said["id"], ref=2)
    await other.expect("error", code="not_permitted", ref=2)
    await other.send(type="delete", id=999_999, ref=3)
    await other.expect("error", code="no_such_message", ref=3)
    outsider = await connect("outsider")
    await outsider.send(type="delete", id=said["id"], ref=4)
    await outsider.expect("error", code="no_such_message", ref=4)
    await alice.barrier()
    await alice.send(type="delete", id=said["id"], ref=5)
    await alice.expect("deleted", id=said["id"], by="alice", ref=5)


async def test_an_account_deletes_its_message_from_another_connection(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """The author's account may delete its message after signing in again."""
    alice = await owner_of(connect, "#dev")
    await alice.send(type="say", room="#dev", text="typo", ref=1)
    said = await alice.expect("message", ref=1)
    await alice.close()
    again = await dial(server.port)
    await again.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await again.expect("welcome", account="alice")
    await again.join("#dev")
    await again.send(type="delete", id=said["id"], ref=2)
    await again.expect("deleted", id=said["id"], ref=2)


async def test_an_operator_kills_a_connection(start_server: StartServer, connect: Connect) -> None:
    """A server operator's welcome says oper; its kill closes the victim with bye killed, its
    rooms see the quit with who and why, and a non-operator's kill is not_permitted."""
    server = await start_server(opers=("root",))

    async def on_it(nick: str | None = None) -> WireClient:
        # Alternately on each node of a deployment of nodes.
        return await connect(nick, port=server.port)

    root = await on_it("root")
    await root.send(type="register", password=PASSWORD, ref="r")
    await root.expect("account", ref="r")
    again = await on_it()
    await again.send(type="hello", nick="root", proto=1, password=PASSWORD)
    await again.expect("welcome", nick="root", account="root", oper=True)
    troll, carol = await in_room(on_it, "#dev", "troll", "carol")
    await carol.barrier()
    await carol.send(type="kill", nick="troll", ref=1)
    await carol.expect("error", code="not_permitted", ref=1)
    await again.send(type="kill", nick="troll", reason="flooding", ref="k")
    await again.expect("moderation", action="kill", target="troll", by="root", ref="k")
    last = await troll.closed()
    assert last == [{"type": "bye", "reason": "killed", "message": "killed by root: flooding"}]
    await carol.expect(
        "presence", room="#dev", nick="troll", event="quit", text="killed by root: flooding"
    )
    await again.send(type="kill", nick="troll", ref=2)
    await again.expect("error", code="no_such_nick", ref=2)


async def test_every_action_is_logged(connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    """A kick is logged on parley.moderation with who, what and where."""
    caplog.set_level(logging.INFO, logger="parley.moderation")
    alice = await owner_of(connect, "#dev")
    await in_room(connect, "#dev", "troll")
    await alice.send(type="kick", room="#dev", nick="troll", reason="spam", ref=1)
    await alice.barrier()
    logged = [r.getMessage() for r in caplog.records if r.name == "parley.moderation"]
    assert "alice kicked troll from #dev: spam" in logged


async def test_a_restart_keeps_roles_mutes_locks_and_deletions(
    start_server: StartServer, dial: Dial
) -> None:
    """After a restart on the same database the owner and op, a mute, a lock and a deletion are
    all still in force."""
    first = await start_server()

    async def connect(nick: str | None = None) -> WireClient:
        return await dial(first.port, nick)

    alice = await owner_of(connect, "#dev")
    bob = await registered(connect, "bob")
    await bob.join("#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    await guest.send(type="say", room="#dev", text="secret", ref=1)
    said = await guest.expect("message", ref=1)
    await alice.send(type="op", room="#dev", nick="bob", ref=2)
    await alice.send(type="mute", room="#dev", nick="guest", ref=3)
    await alice.send(type="topic_lock", room="#dev", locked=True, ref=4)
    await alice.send(type="delete", id=said["id"], ref=5)
    frames = await alice.barrier()
    assert [f.get("ref") for f in frames if "ref" in f] == [2, 3, 4, 5]
    await first.stop()

    second = await start_server()
    guest = await dial(second.port, "guest")
    joined, history = await guest.join("#dev")
    assert joined["locked"] is True
    assert [(m["text"], m.get("deleted")) for m in history["messages"]] == [("", True)]
    await guest.send(type="say", room="#dev", text="again", ref=6)
    await guest.expect("error", code="muted", ref=6)
    bob = await dial(second.port)
    await bob.send(type="hello", nick="bob", proto=1, password=PASSWORD)
    await bob.expect("welcome")
    joined, _ = await bob.join("#dev")
    assert joined["roles"] == {"bob": "op"}
    await guest.barrier()
    await bob.send(type="kick", room="#dev", nick="guest", ref=7)
    await bob.expect("presence", event="kick", ref=7)


async def test_a_deleted_owner_passes_its_room_on_and_its_nick_inherits_nothing(
    connect: Connect,
) -> None:
    """An owner who unregisters leaves the room to its op (a mode frame says so), and whoever
    registers that nick afterwards joins as a plain member."""
    alice = await owner_of(connect, "#dev")
    bob = await op_in(connect, alice, "#dev")
    await alice.send(type="unregister", password=PASSWORD, ref="u")
    await alice.expect("mode", room="#dev", nick="bob", role="owner", by="alice")
    await alice.expect("account", registered=False, ref="u")
    await bob.expect("mode", room="#dev", nick="bob", role="owner", by="alice")
    await alice.send(type="quit")
    # Once bob heard it quit, its nick is free on every node (a quit's reply is not awaited).
    await bob.expect("presence", room="#dev", nick="alice", event="quit")
    again = await registered(connect, "alice")
    joined, _ = await again.join("#dev")
    assert joined["roles"] == {"bob": "owner"}
