"""The moderation commands with no server: parsing, durations, completion, and what a menu may
offer (``member_actions``, ``may_delete``) for each role."""

from __future__ import annotations

import pytest

from app.client.commands import (
    BanMask,
    Command,
    CommandError,
    DeleteMessage,
    KickMember,
    KillUser,
    LockTopic,
    MuteMember,
    SetRole,
    ShowBans,
    UnbanMask,
    UnmuteMember,
    describe_duration,
    help_lines,
    parse,
    parse_duration,
)
from app.client.completion import complete
from app.client.moderation import action_line, may_delete, member_actions
from app.client.state import (
    ChatState,
    ConversationKind,
    Line,
    LineKind,
    StateSnapshot,
    next_seq,
    now_ms,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/op bob", SetRole("bob", "op")),
        ("/deop bob", SetRole("bob", "member")),
        ("/owner bob", SetRole("bob", "owner")),
        ("/kick bob", KickMember("bob", None)),
        ("/kick bob spam and  more", KickMember("bob", "spam and  more")),
        ("/ban troll", BanMask("nick:troll", None, None)),
        ("/ban troll* 10m spam", BanMask("nick:troll*", 600, "spam")),
        ("/ban account:troll 2h", BanMask("account:troll", 7200, None)),
        ("/ban ip:10.0.0.0/8 flooding us", BanMask("ip:10.0.0.0/8", None, "flooding us")),
        ("/ban troll 1d", BanMask("nick:troll", 86400, None)),
        ("/unban troll", UnbanMask("nick:troll")),
        ("/unban ip:10.0.0.1", UnbanMask("ip:10.0.0.1")),
        ("/bans", ShowBans()),
        ("/mute bob", MuteMember("bob", None)),
        ("/mute bob 30s", MuteMember("bob", 30)),
        ("/unmute bob", UnmuteMember("bob")),
        ("/lock", LockTopic(True)),
        ("/unlock", LockTopic(False)),
        ("/delete", DeleteMessage(None)),
        ("/delete 42", DeleteMessage(42)),
        ("/kill bob", KillUser("bob", None)),
        ("/kill bob go away", KillUser("bob", "go away")),
    ],
)
def test_parse_each_moderation_command(line: str, expected: Command) -> None:
    """Every moderation command parses to its typed form; a bare nick to /ban is nick:NICK."""
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/op", "usage: /op nick"),
        ("/op bob carol", "usage: /op nick"),
        ("/deop 9bob", "bad nick"),
        ("/kick", "usage: /kick"),
        ("/ban", "usage: /ban"),
        ("/ban host:example.org", "bad mask"),
        ("/ban nick:", "bad mask"),
        ("/unban", "usage: /unban"),
        ("/bans all", "usage: /bans"),
        ("/mute bob forever", "bad time 'forever'"),
        ("/mute bob 10m now", "usage: /mute"),
        ("/lock #dev", "usage: /lock"),
        ("/delete last", "usage: /delete"),
        ("/kill", "usage: /kill"),
        ("/kick bob " + "x" * 4001, "the limit is 4000"),
    ],
)
def test_bad_moderation_commands_are_refused(line: str, fragment: str) -> None:
    """A moderation command with a missing or bad argument says what is wrong."""
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert fragment in str(caught.value)


def test_durations_read_and_written_in_the_same_words() -> None:
    """30s, 10m, 2h and 1d are seconds; a zero or a word is no duration; the words come back."""
    assert [parse_duration(w) for w in ("30s", "10m", "2h", "1d", "45", "10M")] == [
        30,
        600,
        7200,
        86400,
        45,
        600,
    ]
    assert parse_duration("0m") is None and parse_duration("soon") is None
    assert [describe_duration(s) for s in (30, 539.2, 600, 7200, 5400, 86400)] == [
        "30s",
        "9m",
        "10m",
        "2h",
        "1h30m",
        "1d",
    ]


def test_help_names_every_moderation_command() -> None:
    """/help lists the moderation commands with their usage."""
    text = "\n".join(help_lines(None))
    for usage in ("/op nick", "/kick nick [reason]", "/ban nick|mask", "/lock", "/delete"):
        assert usage in text


def snapshot(my_role: str = "member", *, oper: bool = False) -> StateSnapshot:
    """alice in #dev with the owner olga, the op otto and the member bob."""
    state = ChatState("alice", "h:1")
    state.oper = oper
    dev = state.ensure("#dev", ConversationKind.ROOM)
    dev.joined = True
    roles = {"olga": "owner", "otto": "op", "alice": my_role}
    dev.set_members(["alice", "bob", "olga", "otto"], roles)
    state.ensure("bob", ConversationKind.DIRECT).joined = True
    state.activate("#dev")
    return state.snapshot()


def test_members_sort_by_role_then_nick_with_their_marks() -> None:
    """The member list has the owner first, then ops, then the rest, marked ~ and @."""
    view = snapshot("op").active_view
    assert view is not None
    assert [m.prefix + m.nick for m in view.members] == ["~olga", "@alice", "@otto", "bob"]


def test_complete_moderation_arguments() -> None:
    """/kick and /op complete the room's members; /kill any nick we know; /lo the command."""
    state = snapshot()
    assert complete(state, "/kick o").candidates == ("olga", "otto")
    assert complete(state, "/op b").candidates == ("bob",)
    assert complete(state, "/kill b").candidates == ("bob",)
    assert complete(state, "/lo").candidates == ("/lock",)
    assert complete(state, "/unm").candidates == ("/unmute",)


def test_member_actions_follow_the_role() -> None:
    """A member may do nothing; an op kicks, bans and mutes all but the owner; the owner also
    ops and deops; a server operator may act on the owner too; nobody acts on themselves."""
    member = snapshot("member")
    op = snapshot("op")
    owner = snapshot("owner")
    oper = snapshot("member", oper=True)

    def actions(state: StateSnapshot, nick: str) -> tuple[str, ...]:
        view = state.active_view
        assert view is not None
        return member_actions(state, view, nick)

    assert actions(member, "bob") == ()
    assert actions(op, "bob") == ("kick", "ban", "mute")
    assert actions(op, "otto") == ("kick", "ban", "mute")
    assert actions(op, "olga") == ()
    assert actions(owner, "bob") == ("op", "kick", "ban", "mute")
    assert actions(owner, "otto") == ("deop", "kick", "ban", "mute")
    assert actions(oper, "olga") == ("kick", "ban", "mute")
    assert actions(owner, "alice") == ()
    assert action_line("mute", "bob") == "/mute bob 10m"


def test_may_delete_own_messages_or_any_as_an_op() -> None:
    """Our own stored message may be deleted by us; another's only by an op; never twice."""

    def line(sender: str, *, own: bool, deleted: bool = False) -> Line:
        return Line(
            next_seq(), LineKind.MESSAGE, "hi", now_ms(), sender, 7, own=own, deleted=deleted
        )

    member, op = snapshot("member"), snapshot("op")
    assert member.active_view is not None and op.active_view is not None
    assert may_delete(member, member.active_view, line("alice", own=True))
    assert not may_delete(member, member.active_view, line("bob", own=False))
    assert may_delete(op, op.active_view, line("bob", own=False))
    assert not may_delete(op, op.active_view, line("bob", own=False, deleted=True))
