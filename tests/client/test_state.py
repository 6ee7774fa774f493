"""Client-side state with no server: scrollback, unread counts, mentions, pending lines, order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.client.state import (
    ChatState,
    Conversation,
    ConversationKind,
    Line,
    LineKind,
    confirmed,
    failed,
    mentions,
    next_seq,
)


def chat(text: str, *, sender: str = "bob", id: int | None = None, **kw: object) -> Line:
    return Line(next_seq(), LineKind.MESSAGE, text, 0, sender=sender, id=id, **kw)  # type: ignore[arg-type]


def note(text: str) -> Line:
    return Line(next_seq(), LineKind.NOTICE, text, 0)


def room(scrollback: int = 5000) -> Conversation:
    return Conversation("#general", ConversationKind.ROOM, scrollback=scrollback)


def test_scrollback_is_bounded_and_keeps_the_newest() -> None:
    """A conversation holds at most ``scrollback`` lines, dropping the oldest."""
    conversation = room(scrollback=3)
    for n in range(5):
        conversation.append(chat(f"m{n}", id=n + 1), active=True)
    assert [line.text for line in conversation.lines] == ["m2", "m3", "m4"]
    assert conversation.last_id == 5


def test_unread_counts_only_others_chat_in_inactive_conversations() -> None:
    """Unread grows for others' messages when not active; not for ours, notices or the active."""
    conversation = room()
    conversation.append(chat("hi"), active=False)
    conversation.append(chat("mine", sender="alice", own=True), active=False)
    conversation.append(note("a notice"), active=False)
    conversation.append(chat("seen"), active=True)
    assert conversation.unread == 1
    assert not conversation.mention


def test_mention_flag_and_direct_conversations() -> None:
    """A mention in a room, or any message in a direct conversation, raises the mention flag."""
    general = room()
    general.append(chat("hey alice", mention=True), active=False)
    assert general.mention and general.unread == 1
    general.mark_read()
    assert (general.unread, general.mention) == (0, False)
    direct = Conversation("bob", ConversationKind.DIRECT)
    direct.append(chat("psst"), active=False)
    assert direct.mention


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice: hi", True),
        ("hi ALICE!", True),
        ("hi @alice", True),
        ("alice_2 is here", False),
        ("malice", False),
        ("alice-bot", False),
    ],
)
def test_mentions_match_whole_nicks_ignoring_case(text: str, expected: bool) -> None:
    """A mention is the nick as a whole word, in any case."""
    assert mentions(text, "alice") is expected


def test_pending_line_is_replaced_in_place_when_confirmed() -> None:
    """Confirming a pending line keeps its seq and position, sets its id, and clears pending."""
    conversation = room()
    pending = chat("hi", sender="alice", own=True, pending=True, nonce="n1")
    conversation.append(pending, active=True)
    conversation.append(chat("after", id=8), active=True)
    assert conversation.pending == {"n1": pending}
    done = confirmed(pending, message_id=7, ts=123)
    assert conversation.replace(done)
    assert conversation.lines[0] == done
    assert (done.seq, done.id, done.pending) == (pending.seq, 7, False)
    assert conversation.pending == {}


def test_failed_line_leaves_pending() -> None:
    """A failed line is no longer pending and is marked failed."""
    conversation = room()
    pending = chat("hi", sender="alice", own=True, pending=True, nonce="n1")
    conversation.append(pending, active=True)
    conversation.replace(failed(pending))
    line = conversation.lines[0]
    assert line.failed and not line.pending and not conversation.pending


def test_insert_before_id_puts_missed_messages_before_the_rejoin_page() -> None:
    """Catch-up lines go just before the first message at or after the given id."""
    conversation = room()
    for line in (chat("old", id=1), note("disconnected"), chat("new", id=10)):
        conversation.append(line, active=True)
    conversation.insert_before_id([chat("m5", id=5), chat("m6", id=6)], 10)
    assert [line.text for line in conversation.lines] == ["old", "disconnected", "m5", "m6", "new"]
    assert conversation.oldest_id == 1


def test_prepend_fills_only_free_scrollback() -> None:
    """Older history never pushes out newer lines; only what fits is taken, newest first."""
    conversation = room(scrollback=4)
    conversation.append(chat("c", id=30), active=True)
    conversation.append(chat("d", id=40), active=True)
    fitted = conversation.prepend([chat("x", id=5), chat("a", id=10), chat("b", id=20)])
    assert fitted == 2
    assert [line.text for line in conversation.lines] == ["a", "b", "c", "d"]
    assert conversation.prepend([chat("z", id=1)]) == 0


def test_state_remove_activates_a_neighbour() -> None:
    """Removing the active conversation activates the one before it, marked read."""
    state = ChatState("alice", "h:1")
    for name in ("#a", "#b", "#c"):
        state.ensure(name, ConversationKind.ROOM)
    state.conversations["#a"].unread = 3
    state.activate("#B")
    state.remove("#b")
    assert state.active == "#a"
    assert state.conversations["#a"].unread == 0
    state.remove("#a")
    assert state.active == "#c"


def test_state_rename_rekeys_a_direct_conversation_in_place() -> None:
    """A peer's nick change re-keys their conversation without moving it in the list."""
    state = ChatState("alice", "h:1")
    state.ensure("#a", ConversationKind.ROOM)
    state.ensure("Bob", ConversationKind.DIRECT)
    state.ensure("#z", ConversationKind.ROOM)
    state.activate("bob")
    assert state.rename("Bob", "Robert") is not None
    assert list(state.conversations) == ["#a", "robert", "#z"]
    assert state.active == "robert"
    assert state.get("ROBERT").name == "Robert"  # type: ignore[union-attr]


def test_snapshot_is_a_frozen_summary() -> None:
    """A snapshot lists conversations with sorted members and cannot be changed."""
    state = ChatState("alice", "h:1")
    general = state.ensure("#general", ConversationKind.ROOM)
    general.set_members(["carol", "Bob", "alice"])
    general.set_away("bob", True)
    state.activate("#general")
    snapshot = state.snapshot()
    view = snapshot.conversation("#GENERAL")
    assert view is not None and snapshot.active_view == view
    assert [(m.nick, m.away) for m in view.members] == [
        ("alice", False),
        ("Bob", True),
        ("carol", False),
    ]
    with pytest.raises(AttributeError):
        view.unread = 5  # type: ignore[misc]
    general.unread = 2
    assert snapshot.conversation("#general").unread == 0  # type: ignore[union-attr]


def test_set_members_keeps_known_away_flags() -> None:
    """A fresh member list (from joined) keeps the away flags learned earlier."""
    conversation = room()
    conversation.set_members(["bob"])
    conversation.set_away("bob", True)
    conversation.set_members(["bob", "carol"])
    assert conversation.members["bob"].away
    assert not conversation.members["carol"].away


def test_line_is_chat_only_for_messages_and_actions() -> None:
    """Only messages and actions count as chat."""
    assert chat("x").is_chat
    assert replace(chat("x"), kind=LineKind.ACTION).is_chat
    assert not note("x").is_chat


def test_leaving_a_conversation_sets_its_unread_marker() -> None:
    """Switching away marks the last line seen; switching back keeps it, so what came since is
    after the marker; a conversation never left has none."""
    state = ChatState("alice", "s")
    general = state.ensure("#general", ConversationKind.ROOM)
    side = state.ensure("#side", ConversationKind.ROOM)
    state.activate("#general")
    seen = chat("seen")
    general.append(seen, active=True)
    assert general.marker is None
    state.activate("#side")
    assert general.marker == seen.seq and side.marker is None
    general.append(chat("new"), active=False)
    state.activate("#general")
    assert general.marker == seen.seq


def test_away_text_comes_from_a_shared_room() -> None:
    """A member marked away with a reason gives that reason; back, or unknown, gives None."""
    state = ChatState("alice", "s")
    general = state.ensure("#general", ConversationKind.ROOM)
    general.set_members(["alice", "bob"])
    assert state.away_text("bob") is None
    general.set_away("bob", True, "lunch")
    assert state.away_text("BOB") == "lunch"
    general.set_away("bob", False)
    assert state.away_text("bob") is None
    assert state.away_text("nobody") is None
