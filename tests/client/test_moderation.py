"""Moderation through the engine, against a real server: roles from ``joined`` and ``mode``,
kicks, bans, mutes, the topic lock, deletions live and in history, refusals, and a kill, each as
the lines a person reads and the state both frontends draw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.client.state import ConnectionState, LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, eventually

PASSWORD = "correct-horse"

Account = Callable[[str], Awaitable[Client]]


def said(client: Client, key: str, kind: LineKind = LineKind.MODERATION) -> list[str]:
    return client.rec.texts(key, kind)


def roles(client: Client, key: str) -> list[str]:
    """The member list of ``key`` as the frontends show it: marks, in the engine's order."""
    if not client.rec.has(key):
        return []
    return [m.prefix + m.nick for m in client.rec.view(key).members]


@pytest.fixture
def account(server: Server, make_client: MakeClient) -> Account:
    """An engine for ``nick`` that has registered it (argon2 is slow: few per test)."""

    async def make(nick: str) -> Client:
        client = await make_client(nick, server.port)
        client.engine.submit(f"/register {PASSWORD}")
        await eventually(
            lambda: any("is your account" in t for t in said(client, "#general", LineKind.NOTICE)),
            f"{nick} registered",
        )
        return client

    return make


async def in_dev(*clients: Client) -> None:
    """Each client joins #dev, in order, and sees all the others there."""
    for client in clients:
        client.engine.submit("/join #dev")
        await client.ready("#dev")
    nicks = {client.engine.state.nick for client in clients}
    for client in clients:

        def sees_all(client: Client = client) -> bool:
            return nicks <= {m.nick for m in client.rec.view("#dev").members}

        await eventually(sees_all, f"{client.engine.state.nick} sees {sorted(nicks)} in #dev")


async def test_the_first_account_owns_the_room_and_ops_another(account: Account) -> None:
    """The first account in a new room is its owner (from ``joined``); /op makes another an op,
    and every member's list says so with ~ and @, owner first, then ops, then the rest."""
    alice = await account("alice")
    bob = await account("bob")
    await in_dev(alice, bob)
    assert roles(bob, "#dev") == ["~alice", "bob"]
    alice.engine.submit("/op bob")
    await eventually(lambda: roles(bob, "#dev") == ["~alice", "@bob"], "bob an op for bob")
    await eventually(lambda: roles(alice, "#dev") == ["~alice", "@bob"], "and for alice")
    assert said(bob, "#dev")[-1] == "alice made you an op"
    assert said(alice, "#dev")[-1] == "You made bob an op"
    alice.engine.submit("/deop bob")
    await eventually(lambda: roles(bob, "#dev") == ["~alice", "bob"], "bob deopped")
    assert said(bob, "#dev")[-1] == "alice took op from you"


async def test_a_kick_as_the_victim_the_actor_and_the_others_see_it(
    server: Server, account: Account, make_client: MakeClient
) -> None:
    """The kicked guest's room stays listed, no longer joined, with "You were kicked from #dev by
    alice: spam"; the others read "carol was kicked by alice: spam" and lose carol from the list;
    /part then closes the room with no server round trip."""
    alice = await account("alice")
    bob = await make_client("bob", server.port)
    carol = await make_client("carol", server.port)
    await in_dev(alice, bob, carol)
    alice.engine.submit("/kick carol spam")
    await eventually(lambda: not carol.rec.view("#dev").joined, "carol out of #dev")
    assert "You were kicked from #dev by alice: spam" in said(carol, "#dev")
    assert carol.rec.view("#dev").members == ()
    await eventually(lambda: "carol" not in roles(bob, "#dev"), "carol gone from bob's list")
    assert said(bob, "#dev")[-1] == "carol was kicked by alice: spam"
    await eventually(lambda: said(alice, "#dev")[-1:] == ["You kicked carol: spam"], "alice's line")
    await alice.settled()
    carol.engine.submit("/part #dev")
    await eventually(lambda: not carol.rec.has("#dev"), "the kicked room closed")
    assert "#dev" not in carol.engine.state.joined_rooms()


async def test_a_deleted_message_is_gone_live_and_from_history(
    server: Server, account: Account, make_client: MakeClient
) -> None:
    """/delete removes our own newest message: every member's line becomes "(message deleted by
    bob)", and a client joining later gets it from history as "(message deleted)", never its
    text."""
    alice = await account("alice")
    bob = await make_client("bob", server.port)
    await in_dev(alice, bob)
    bob.engine.submit("first")
    bob.engine.submit("my password is hunter2")
    await eventually(lambda: "my password is hunter2" in alice.rec.chat("#dev"), "alice has it")
    await bob.settled()
    bob.engine.submit("/delete")
    await eventually(lambda: "(message deleted by bob)" in alice.rec.chat("#dev"), "alice's copy")
    assert alice.rec.chat("#dev")[-2:] == ["first", "(message deleted by bob)"]
    assert [line.deleted for line in alice.rec.lines("#dev", LineKind.MESSAGE)][-2:] == [
        False,
        True,
    ]
    await eventually(lambda: "(message deleted by you)" in bob.rec.chat("#dev"), "bob's copy")
    later = await make_client("dave", server.port)
    later.engine.submit("/join #dev")
    await later.ready("#dev")
    assert later.rec.chat("#dev")[-2:] == ["first", "(message deleted)"]
    assert not any("hunter2" in text for text in later.rec.chat("#dev"))


async def test_delete_with_nothing_of_ours_is_refused_here(
    server: Server, make_client: MakeClient
) -> None:
    """/delete with no message of ours in the room says so and sends nothing."""
    alice = await make_client("alice", server.port)
    alice.engine.submit("/delete")
    assert (
        said(alice, "#general", LineKind.ERROR)[-1] == "You have no message in #general to delete."
    )


async def test_a_ban_keeps_the_banned_out_and_is_listed(
    server: Server, account: Account, make_client: MakeClient
) -> None:
    """/ban with a time and a reason removes a present match as a kick, says "alice banned
    nick:carol for 10m: spam", refuses carol's /join with "You are banned from #dev.", and
    /bans lists it; /unban lifts it."""
    alice = await account("alice")
    carol = await make_client("carol", server.port)
    await in_dev(alice, carol)
    alice.engine.submit("/ban carol 10m spam")
    await eventually(lambda: not carol.rec.view("#dev").joined, "carol removed by the ban")
    await eventually(
        lambda: "You banned nick:carol for 10m: spam" in said(alice, "#dev"), "alice's line"
    )
    carol.engine.submit("/join #dev")
    await eventually(
        lambda: (
            "You are banned from #dev." in said(carol, "#dev", LineKind.ERROR)
            or "You are banned from #dev." in [e for e, _ in carol.rec.errors]
        ),
        "carol refused",
    )
    alice.engine.submit("/bans")
    await eventually(
        lambda: any(t.startswith("  nick:carol by alice, 10m left") for t in notices(alice)),
        "the ban listed",
    )
    alice.engine.submit("/unban carol")
    await eventually(
        lambda: said(alice, "#dev")[-1] == "You lifted the ban on nick:carol", "lifted"
    )
    carol.engine.submit("/join #dev")
    await carol.ready("#dev")


def notices(client: Client) -> list[str]:
    return said(client, "#dev", LineKind.NOTICE)


async def test_mute_and_topic_lock_refuse_with_sentences(
    server: Server, account: Account, make_client: MakeClient
) -> None:
    """A muted member's message fails with "You are muted in #dev (for 10m more)."; a locked
    topic shows as locked and a member's /topic is refused with the server's sentence."""
    alice = await account("alice")
    bob = await make_client("bob", server.port)
    await in_dev(alice, bob)
    alice.engine.submit("/mute bob 10m")
    await eventually(lambda: said(bob, "#dev")[-1:] == ["alice muted you for 10m"], "bob told")
    bob.engine.submit("hello?")
    await eventually(lambda: bool(said(bob, "#dev", LineKind.ERROR)), "bob refused")
    assert said(bob, "#dev", LineKind.ERROR)[-1] == "You are muted in #dev (for 10m more)."
    assert bob.rec.lines("#dev", LineKind.MESSAGE)[-1].failed
    alice.engine.submit("/unmute bob")
    await eventually(lambda: said(bob, "#dev")[-1:] == ["alice unmuted you"], "bob unmuted")
    alice.engine.submit("/lock")
    await eventually(lambda: bob.rec.view("#dev").locked, "bob sees the topic locked")
    assert said(bob, "#dev")[-1] == "alice locked the topic: only ops may set it"
    bob.engine.submit("/topic mine now")
    await eventually(lambda: len(said(bob, "#dev", LineKind.ERROR)) == 2, "bob's topic refused")
    # not_permitted, in the server's own words.
    assert (
        said(bob, "#dev", LineKind.ERROR)[-1] == "The topic of #dev is locked: only its ops set it."
    )
    alice.engine.submit("/unlock")
    await eventually(lambda: not bob.rec.view("#dev").locked, "unlocked")


async def test_a_member_is_not_permitted_and_stays_connected(
    server: Server, account: Account, make_client: MakeClient
) -> None:
    """A member's /kick of the owner is answered not_permitted, shown in the room; the
    connection survives and the owner stays."""
    alice = await account("alice")
    bob = await make_client("bob", server.port)
    await in_dev(alice, bob)
    bob.engine.submit("/kick alice")
    await eventually(lambda: bool(said(bob, "#dev", LineKind.ERROR)), "bob refused")
    assert said(bob, "#dev", LineKind.ERROR) == ["Only an op of #dev may do that."]
    assert bob.engine.connected
    assert roles(bob, "#dev") == ["~alice", "bob"]


async def test_kill_needs_an_operator_and_ends_the_victim_for_good(
    start_server: Callable[..., Awaitable[Server]], make_client: MakeClient
) -> None:
    """/kill from a non-operator is refused here; from a server operator it closes the victim's
    client with "Killed by root: enough", which does not reconnect."""
    server = await start_server(opers=("root",))
    bob = await make_client("bob", server.port)
    bob.engine.submit("/kill carol")
    assert said(bob, "#general", LineKind.ERROR)[-1] == "/kill is for server operators."
    root = await make_client("root", server.port)
    root.engine.submit(f"/register {PASSWORD}")
    await eventually(
        lambda: any("account" in t for t in said(root, "#general", LineKind.NOTICE)), "root"
    )
    await root.engine.close()
    root = await make_client("root", server.port, password=PASSWORD)
    assert root.rec.snap.oper
    root.engine.submit("/kill bob enough")
    await eventually(lambda: bob.engine.status.state is ConnectionState.CLOSED, "bob closed")
    assert bob.engine.closed_reason.startswith("Killed by root")
    assert "enough" in bob.engine.closed_reason
    await eventually(
        lambda: any("bob" in t for t in said(root, "#general")), "root told it was done"
    )
