"""The engine against a real server: chatting, pending lines, every command, errors, unread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app import protocol
from app.client.config import ConfigStore
from app.client.events import ScrollbackReset
from app.client.receive import describe_error
from app.client.state import ConnectionState, ConversationKind, LineKind
from app.protocol import Error
from app.server import Server
from tests.client.conftest import Client, MakeClient, Tap, eventually
from tests.conftest import StartServer as StartServerFixture

Pair = tuple[Client, Client]
MakeTap = Callable[[int], Awaitable[Tap]]


async def test_two_engines_chat(alice_bob: Pair) -> None:
    """What one engine says in a room appears in the other's scrollback, and back."""
    alice, bob = alice_bob
    alice.engine.submit("hello bob")
    await eventually(lambda: bob.rec.chat("#general") == ["hello bob"], "bob sees alice")
    bob.engine.submit("/me waves")
    await eventually(lambda: alice.rec.chat("#general") == ["hello bob", "waves"], "alice sees")
    wave = alice.rec.lines("#general", LineKind.ACTION)[0]
    assert (wave.sender, wave.own, wave.pending) == ("bob", False, False)
    hello = bob.rec.lines("#general", LineKind.MESSAGE)[0]
    assert hello.sender == "alice" and hello.mention and hello.id is not None


async def test_own_message_is_pending_until_the_echo_confirms_it(alice_bob: Pair) -> None:
    """A sent line is pending at once, then updated in place (same seq) when the echo comes."""
    alice, _ = alice_bob
    alice.engine.submit("are you there?")
    pending = alice.rec.added[-1][1]
    assert pending.pending and pending.own and pending.nonce and pending.id is None
    await eventually(
        lambda: not alice.rec.lines("#general", LineKind.MESSAGE)[-1].pending, "confirmation"
    )
    assert len(alice.rec.updated) == 1
    where, done = alice.rec.updated[0]
    assert where == "#general"
    assert done.seq == pending.seq and done.id is not None and not done.failed
    assert alice.rec.chat("#general") == ["are you there?"]  # no duplicate from the echo
    assert alice.room("#general").pending == {}


async def test_direct_messages_open_conversations_with_unread_and_mention(alice_bob: Pair) -> None:
    """/msg opens a direct conversation; the receiver gets one too, unread and flagged."""
    alice, bob = alice_bob
    alice.engine.submit("/msg bob secret plan")
    assert alice.engine.state.active == "bob"
    await eventually(lambda: bob.rec.chat("alice") == ["secret plan"], "bob gets the DM")
    await eventually(lambda: bob.rec.has("alice"), "bob's snapshot has it")
    view = bob.rec.view("alice")
    assert view.kind is ConversationKind.DIRECT and view.unread == 1 and view.mention
    assert bob.engine.state.active == "#general"
    await eventually(
        lambda: not alice.rec.lines("bob", LineKind.MESSAGE)[0].pending, "alice's DM confirmed"
    )
    bob.engine.switch_to("alice")
    lines = tuple(bob.engine.lines("alice"))
    assert bob.rec.events[-1] == ScrollbackReset("alice", lines, True)
    bob.engine.submit("ok")
    await eventually(lambda: alice.rec.chat("bob") == ["secret plan", "ok"], "reply arrives")


async def test_msg_without_text_opens_the_direct_conversation_and_sends_nothing(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """/msg nick alone creates and switches to the direct conversation; no frame is sent."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    await make_client("bob", server.port)
    mark = len(tap.sent)
    alice.engine.submit("/msg Bob")
    assert alice.engine.state.active == "bob"
    assert alice.rec.events[-1] == ScrollbackReset("bob", (), True)
    await eventually(lambda: alice.rec.has("bob"), "the conversation in the snapshot")
    view = alice.rec.view("bob")
    assert (view.name, view.kind, view.joined) == ("Bob", ConversationKind.DIRECT, True)
    assert alice.rec.errors == []
    alice.engine.submit("/msg bob")  # again: just switches back to it
    assert [v.key for v in alice.engine.snapshot().conversations] == ["#general", "bob"]
    alice.engine.submit("/rooms")  # a fence: frames leave in order
    await eventually(lambda: "rooms" in tap.sent_types(mark), "the fence reached the server")
    assert tap.sent_types(mark) == ["rooms"]


async def test_unread_counts_and_mentions_in_inactive_rooms(alice_bob: Pair) -> None:
    """Messages in a room you are not looking at count as unread; naming you flags a mention."""
    alice, bob = alice_bob
    bob.engine.submit("/join #side")
    await eventually(lambda: bob.engine.state.active == "#side", "bob switched to #side")
    alice.engine.submit("anyone?")
    await eventually(lambda: bob.rec.view("#general").unread == 1, "one unread")
    assert not bob.rec.view("#general").mention
    alice.engine.submit("BOB: look")
    await eventually(lambda: bob.rec.view("#general").unread == 2, "two unread")
    assert bob.rec.view("#general").mention
    assert bob.rec.lines("#general", LineKind.MESSAGE)[-1].mention
    bob.engine.switch_to("#general")
    await eventually(lambda: bob.rec.view("#general").unread == 0, "read after switching")
    assert not bob.rec.view("#general").mention


async def test_join_and_part(alice_bob: Pair, store: ConfigStore) -> None:
    """/join switches to the new room and others see it; /part leaves and switches back."""
    alice, bob = alice_bob
    bob.engine.submit("/join #rust")
    alice.engine.submit("/join #Rust")
    await eventually(lambda: alice.engine.state.active == "#rust", "alice in #rust")
    await eventually(lambda: "alice joined" in bob.rec.texts("#rust", LineKind.JOIN), "bob sees")
    assert {m.nick for m in alice.rec.view("#rust").members} == {"alice", "bob"}
    assert bob.rec.presences[-1].event == "join"
    alice.engine.submit("/part")
    await eventually(lambda: alice.engine.state.get("#rust") is None, "alice left #rust")
    assert alice.engine.state.active == "#general"
    await eventually(lambda: "alice left" in bob.rec.texts("#rust", LineKind.PART), "bob sees")
    assert "alice" not in bob.room("#rust").members


async def test_joining_a_room_you_are_in_just_switches(alice_bob: Pair) -> None:
    """/join of a room already joined switches to it without asking the server."""
    alice, _ = alice_bob
    alice.engine.submit("/join #side")
    await eventually(lambda: alice.engine.state.active == "#side", "in #side")
    await alice.settled()
    alice.engine.submit("/join #general")
    assert alice.engine.state.active == "#general" and alice.engine.outstanding == 0


async def test_nick_change(alice_bob: Pair) -> None:
    """/nick renames us everywhere; others see the change and their member list follows."""
    alice, bob = alice_bob
    alice.engine.submit("/nick alicia")
    await eventually(lambda: alice.rec.snap.nick == "alicia", "renamed")
    assert "You are now known as alicia" in alice.rec.texts("#general", LineKind.NICK)
    await eventually(
        lambda: "alice is now known as alicia" in bob.rec.texts("#general", LineKind.NICK),
        "bob sees the rename",
    )
    assert {m.nick for m in bob.rec.view("#general").members} == {"alicia", "bob"}


async def test_a_direct_conversation_follows_its_peer_to_a_new_nick(alice_bob: Pair) -> None:
    """When the peer changes nick, the direct conversation is redrawn under the new key."""
    alice, bob = alice_bob
    alice.engine.submit("/msg bob hi")
    await eventually(lambda: bob.rec.chat("alice") == ["hi"], "bob gets the DM")
    bob.engine.submit("/nick bobby")
    await eventually(lambda: alice.rec.has("bobby") and not alice.rec.has("bob"), "re-keyed")
    assert alice.engine.state.active == "bobby"
    assert alice.rec.texts("bobby") == ["hi", "bob is now known as bobby"]
    resets = [event for event in alice.rec.events if isinstance(event, ScrollbackReset)]
    assert resets[-1].conversation == "bobby" and resets[-1].active


async def test_topic(alice_bob: Pair) -> None:
    """/topic sets the topic for everyone; with no text it shows the current one."""
    alice, bob = alice_bob
    alice.engine.submit("/topic all about parley")
    await eventually(lambda: bob.rec.view("#general").topic == "all about parley", "bob sees")
    assert bob.rec.topics[-1] == ("#general", "all about parley", "alice")
    assert "alice set the topic: all about parley" in bob.rec.texts("#general", LineKind.TOPIC)
    await eventually(lambda: alice.rec.view("#general").topic == "all about parley", "setter")
    await alice.settled()
    alice.engine.submit("/topic")
    assert alice.rec.texts("#general", LineKind.NOTICE)[-1] == (
        "Topic of #general: all about parley"
    )


async def test_who_rooms_away_and_back(alice_bob: Pair) -> None:
    """/away marks us away for others (shown by /who), /back clears it, /rooms lists rooms."""
    alice, bob = alice_bob
    bob.engine.submit("/away lunch")
    await eventually(lambda: bob.rec.snap.away == "lunch", "bob is away")
    await eventually(
        lambda: [m.away for m in alice.rec.view("#general").members if m.nick == "bob"] == [True],
        "alice sees bob away",
    )
    alice.engine.submit("/who")
    await eventually(
        lambda: "#general (2): alice, bob (away)" in alice.rec.texts("#general", LineKind.NOTICE),
        "who output",
    )
    bob.engine.submit("/back")
    await eventually(lambda: bob.rec.snap.away is None, "bob is back")
    assert "You are back." in bob.rec.texts("#general", LineKind.NOTICE)
    await eventually(
        lambda: not any(m.away for m in alice.rec.view("#general").members), "alice sees back"
    )
    alice.engine.submit("/rooms")
    await eventually(
        lambda: "  #general (2)" in alice.rec.texts("#general", LineKind.NOTICE), "room list"
    )


async def test_help_and_clear(alice_bob: Pair) -> None:
    """/help prints the commands locally; /clear empties the scrollback of this conversation."""
    alice, _ = alice_bob
    alice.engine.submit("/help")
    notices = alice.rec.texts("#general", LineKind.NOTICE)
    assert notices[0] == "Commands:" and any("/msg nick [text]" in n for n in notices)
    alice.engine.submit("/help me")
    assert alice.rec.texts("#general", LineKind.NOTICE)[-1].startswith("/me action - ")
    alice.engine.submit("/clear")
    assert alice.rec.events[-1] == ScrollbackReset("#general", (), True)
    assert alice.engine.lines("#general") == ()


async def test_quit(alice_bob: Pair) -> None:
    """/quit closes the engine for good; the others see the goodbye."""
    alice, bob = alice_bob
    alice.engine.submit("/quit see you")
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice closed")
    await eventually(
        lambda: "alice quit (see you)" in bob.rec.texts("#general", LineKind.QUIT), "bob sees"
    )
    assert "alice" not in bob.room("#general").members
    assert alice.engine.closed_reason == "quit"


@pytest.mark.parametrize(
    "line",
    [
        "/frobnicate",
        "/join",
        "/join #bad!",
        "/part #a #b",
        "/part #notjoined",
        "/msg",
        "/msg 9bob hi",
        "/me",
        "/nick",
        "/nick 1abc",
        "/who #a #b",
        "/rooms all",
        "/back now",
        "/clear all",
        "/help nosuch",
        "x" * 4001,
    ],
)
async def test_bad_commands_show_a_local_error_and_send_nothing(
    server: Server, make_client: MakeClient, make_tap: MakeTap, line: str
) -> None:
    """A bad command becomes an error line and error call; the server receives nothing."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    mark = len(tap.sent)
    lines_before = len(alice.rec.lines("#general"))
    alice.engine.submit(line)
    errors = alice.rec.lines("#general")[lines_before:]
    assert [e.kind for e in errors] == [LineKind.ERROR]
    assert alice.rec.errors[-1] == (errors[0].text, "#general")
    alice.engine.submit("/rooms")  # a fence: frames leave in order
    await eventually(lambda: "rooms" in tap.sent_types(mark), "the fence reached the server")
    assert tap.sent_types(mark) == ["rooms"]


async def test_commands_that_need_a_room_refuse_in_a_direct_conversation(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """/topic and /who in a direct conversation are refused locally; /part just closes it."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    await make_client("bob", server.port)
    alice.engine.submit("/msg bob hi")
    await alice.settled()
    mark = len(tap.sent)
    alice.engine.submit("/topic new")
    alice.engine.submit("/who")
    assert [text for text, _ in alice.rec.errors[-2:]] == [
        "/topic works in a room.",
        "/who needs a room: /who #room",
    ]
    alice.engine.submit("/part")
    assert alice.engine.state.get("bob") is None and alice.engine.state.active == "#general"
    alice.engine.submit("/rooms")
    await eventually(lambda: "rooms" in tap.sent_types(mark), "the fence reached the server")
    assert tap.sent_types(mark) == ["rooms"]


async def test_server_errors_become_readable_lines(alice_bob: Pair) -> None:
    """A refused message fails its pending line and the error is shown in plain words."""
    alice, bob = alice_bob
    alice.engine.submit("/msg bob still there?")
    await eventually(lambda: bob.rec.chat("alice") == ["still there?"], "bob got it")
    await bob.engine.close()
    await eventually(lambda: "bob" not in alice.room("#general").members, "bob gone")
    alice.engine.submit("/msg bob boo")
    await eventually(lambda: alice.rec.errors != [], "an error")
    text, where = alice.rec.errors[-1]
    assert (text, where) == ("Nobody is called bob.", "bob")
    assert alice.rec.texts("bob", LineKind.ERROR) == [text]
    line = alice.rec.lines("bob", LineKind.MESSAGE)[-1]
    assert line.failed and not line.pending


@pytest.mark.parametrize(
    ("code", "message", "shown"),
    [
        ("nick_taken", "Bob is already taken", "Bob is already taken."),
        ("no_such_nick", "nobody is called ghost", "Nobody is called ghost."),
        ("server_shutdown", "the server is shutting down", "The server is shutting down."),
        ("bad_frame", "text must be 1 to 4000 characters.", "Text must be 1 to 4000 characters."),
        ("no_such_room", "", "There is no such room."),
        ("no_such_room", "  ", "There is no such room."),
        ("brand_new", "", "Server error brand_new."),
    ],
)
def test_an_error_says_its_reason_once(code: str, message: str, shown: str) -> None:
    """The server's message is the sentence shown; the code's label only stands in for none."""
    assert describe_error(Error(code=code, message=message)) == shown


def test_rate_limited_is_described_in_seconds() -> None:
    """rate_limited says when to try again in seconds, not the server's milliseconds text."""
    message = "too many frames; try again in 1500 ms"
    error = Error(code="rate_limited", message=message, retry_after_ms=1500)
    assert describe_error(error) == "You are sending too fast; try again in 1.5 s."


async def test_nick_taken_at_login_closes_with_the_reason(
    server: Server, make_client: MakeClient
) -> None:
    """A nick in use at the first hello ends the engine, reporting the error with no room."""
    await make_client("alice", server.port)
    second = await make_client("ALICE", server.port, ready=False)
    await eventually(lambda: second.rec.state is ConnectionState.CLOSED, "closed")
    assert second.rec.errors == [(second.engine.closed_reason, None)]
    assert second.engine.closed_reason == "ALICE is already taken."
    assert [s.state for s in second.rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.CLOSED,
    ]


async def test_completion_offers_commands_rooms_and_room_nicks(alice_bob: Pair) -> None:
    """The engine completes commands, joined rooms, and the nicks of the active room."""
    alice, _ = alice_bob
    assert alice.engine.complete("/jo").candidates == ("/join",)
    assert alice.engine.complete("#g").candidates == ("#general",)
    assert alice.engine.complete("b").candidates == ("bob",)
    assert alice.engine.complete("/msg b").candidates == ("bob",)
    assert alice.engine.complete("a").candidates == ()


async def test_loading_older_history_pages_back_to_the_start(
    server: Server, make_client: MakeClient
) -> None:
    """A late joiner sees recent history; load_older fetches earlier pages until none remain."""
    bob = await make_client("bob", server.port)
    for n in range(130):
        bob.engine.submit(f"m{n}")
    await eventually(
        lambda: (
            len(bob.rec.lines("#general", LineKind.MESSAGE)) == 130
            and not bob.room("#general").pending
        ),
        "bob's messages stored",
    )
    alice = await make_client("alice", server.port)
    assert alice.rec.chat("#general") == [f"m{n}" for n in range(80, 130)]
    assert alice.rec.view("#general").has_older
    assert alice.rec.view("#general").unread == 0
    while alice.room("#general").has_older:
        alice.engine.load_older()
        await alice.settled()
    assert alice.rec.chat("#general") == [f"m{n}" for n in range(130)]


async def test_the_join_notice_comes_after_the_history_and_stays_last(
    server: Server, make_client: MakeClient
) -> None:
    """The join's history page is shown above "You joined"; older pages go above both."""
    bob = await make_client("bob", server.port)
    for n in range(60):
        bob.engine.submit(f"m{n}")
    await eventually(
        lambda: (
            len(bob.rec.lines("#general", LineKind.MESSAGE)) == 60
            and not bob.room("#general").pending
        ),
        "bob's messages stored",
    )
    alice = await make_client("alice", server.port)
    shown = (LineKind.MESSAGE, LineKind.JOIN)
    joined = "You joined #general"
    assert alice.rec.texts("#general", *shown) == [f"m{n}" for n in range(10, 60)] + [joined]
    alice.engine.load_older()
    await alice.settled()
    assert alice.rec.texts("#general", *shown) == [f"m{n}" for n in range(60)] + [joined]


async def test_a_reset_says_whether_its_conversation_is_the_active_one(
    server: Server, make_client: MakeClient
) -> None:
    """Each ScrollbackReset tells whether its conversation is the active one at that moment."""
    bob = await make_client("bob", server.port)
    for n in range(60):
        bob.engine.submit(f"m{n}")
    await eventually(
        lambda: (
            len(bob.rec.lines("#general", LineKind.MESSAGE)) == 60
            and not bob.room("#general").pending
        ),
        "bob's messages stored",
    )
    alice = await make_client("alice", server.port)
    alice.engine.submit("/join #side")
    await alice.ready("#side")
    assert alice.engine.state.active == "#side"
    mark = len(alice.rec.events)
    alice.engine.load_older("#general")  # a page in front of a room in the background
    await alice.settled()
    alice.engine.switch_to("#general")
    alice.engine.submit("/clear")
    alice.engine.submit("/part")  # #side becomes the active one
    await eventually(lambda: alice.engine.state.get("#general") is None, "parted")
    resets = [event for event in alice.rec.events[mark:] if isinstance(event, ScrollbackReset)]
    assert [(event.conversation, event.active) for event in resets] == [
        ("#general", False),
        ("#general", True),
        ("#general", True),
        ("#side", True),
    ]


async def test_remembered_rooms_are_joined_next_time(
    server: Server, make_client: MakeClient, store: ConfigStore
) -> None:
    """Rooms joined in one run are joined again by the next engine using the same config."""
    first = await make_client("alice", server.port, store=store)
    first.engine.submit("/join #rust")
    await first.ready("#rust")
    await first.engine.close()
    assert store.load().rooms_for(first.engine.state.server) == ["#general", "#rust"]
    again = await make_client("alice", server.port, store=store)
    await again.ready("#rust")
    assert again.engine.state.active == "#general"


async def test_server_commands_while_disconnected_are_refused(
    start_server: Callable[..., Awaitable[Server]], make_client: MakeClient
) -> None:
    """While reconnecting, a command that needs the server is refused locally with the reason;
    text is kept for later (tests/client/test_outbox.py)."""
    server = await start_server()
    alice = await make_client("alice", server.port)
    await server.stop()
    await eventually(lambda: not alice.engine.connected, "alice lost the server")
    alice.engine.submit("/rooms")
    text, _ = alice.rec.errors[-1]
    assert text.startswith("Not connected to the server")
    assert alice.engine.outstanding == 0


async def test_member_list_who_and_rooms_follow_pages(
    start_server: StartServerFixture, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pages smaller than the room, the member list, /who and /rooms still show all."""
    monkeypatch.setattr(protocol, "JOINED_MEMBERS_MAX", 2)
    monkeypatch.setattr(protocol, "WHO_PAGE_MAX", 3)
    monkeypatch.setattr(protocol, "ROOMS_PAGE_MAX", 2)
    server = await start_server(max_conns_per_ip=0)
    others = [await make_client(f"user{n}", server.port) for n in range(6)]
    for n, other in enumerate(others[:4]):
        other.engine.submit(f"/join #side{n}")
    alice = await make_client("alice", server.port)
    everyone = ["alice", *(f"user{n}" for n in range(6))]
    assert [m.nick for m in alice.rec.view("#general").members] == everyone
    alice.engine.submit("/who")
    await eventually(
        lambda: (
            f"#general (7): {', '.join(everyone)}" in alice.rec.texts("#general", LineKind.NOTICE)
        ),
        "who output of every page",
    )
    alice.engine.submit("/rooms")
    await eventually(
        lambda: "  #side3 (1)" in alice.rec.texts("#general", LineKind.NOTICE), "every room"
    )
    assert "  #general (7)" in alice.rec.texts("#general", LineKind.NOTICE)
