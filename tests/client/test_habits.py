"""The habits of IRC users: /query, /close, /list, /names and /win, the away notice when writing
to someone away, quit reasons in words, and no empty conversation left by a nick nobody has."""

from __future__ import annotations

from app.client.state import LineKind
from tests.client.conftest import Client, eventually

Pair = tuple[Client, Client]


async def test_query_close_list_names_and_win(alice_bob: Pair) -> None:
    """/query opens a direct conversation, /win N switches by number, /names lists members,
    /list the rooms, and /close closes the direct conversation."""
    alice, _ = alice_bob
    alice.engine.submit("/query bob")
    assert alice.engine.state.active == "bob"
    alice.engine.submit("/win 1")
    assert alice.engine.state.active == "#general"
    alice.engine.submit("/win 9")
    assert alice.rec.errors[-1][0] == "There is no conversation 9; there are 2."
    alice.engine.submit("/names")
    await eventually(
        lambda: any(
            "alice" in t and "bob" in t for t in alice.rec.texts("#general", LineKind.NOTICE)
        ),
        "the member list",
    )
    alice.engine.submit("/list")
    await eventually(
        lambda: any("#general" in t for t in alice.rec.texts("#general", LineKind.NOTICE)[-3:]),
        "the room list",
    )
    alice.engine.submit("/win 2")
    alice.engine.submit("/close")
    assert alice.engine.state.get("bob") is None and alice.engine.state.active == "#general"


async def test_writing_to_someone_away_says_so_once(alice_bob: Pair) -> None:
    """A direct message to bob while he is away brings one notice with his reason; after he is
    back and away again, it comes again."""
    alice, bob = alice_bob
    bob.engine.submit("/away at lunch")
    await eventually(lambda: alice.engine.state.away_text("bob") == "at lunch", "bob away")
    alice.engine.submit("/msg bob are you there?")
    alice.engine.submit("/msg bob hello?")
    notices = alice.rec.texts("bob", LineKind.NOTICE)
    assert notices == ["bob is away: at lunch. They will see it when they are back."]
    bob.engine.submit("/back")
    await eventually(lambda: alice.engine.state.away_text("bob") is None, "bob back")
    alice.engine.submit("/msg bob welcome back")
    assert len(alice.rec.texts("bob", LineKind.NOTICE)) == 1


async def test_a_message_to_nobody_leaves_no_empty_conversation(alice_bob: Pair) -> None:
    """/msg to a nick nobody has closes the conversation it opened and says why where we were."""
    alice, _ = alice_bob
    alice.engine.submit("/msg nobodyhere hi")
    await eventually(lambda: alice.engine.state.get("nobodyhere") is None, "conversation closed")
    assert alice.engine.state.active == "#general"
    assert alice.rec.errors[-1][1] == "#general"
    assert "nobodyhere" not in {view.key for view in alice.rec.snap.conversations}
    assert alice.engine.state.outbox == 0


async def test_quit_reasons_are_words_not_codes(alice_bob: Pair) -> None:
    """When bob's connection just ends, alice reads "connection closed", not "(closed)"."""
    alice, bob = alice_bob
    assert bob.engine._link is not None
    bob.engine._link.abort()
    await eventually(
        lambda: any(t.startswith("bob quit") for t in alice.rec.texts("#general", LineKind.QUIT)),
        "bob's quit",
    )
    quit_line = next(t for t in alice.rec.texts("#general", LineKind.QUIT) if t.startswith("bob"))
    assert quit_line in ("bob quit (connection closed)", "bob quit (connection lost)")
