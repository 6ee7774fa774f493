"""The command language and completion, with no server: what each line means or why not."""

from __future__ import annotations

import pytest

from app.client.commands import (
    COMMAND_NAMES,
    HELP,
    MAX_TEXT,
    CancelQueued,
    ChangeNick,
    ChangeTopic,
    ClearScrollback,
    Command,
    CommandError,
    GoToWindow,
    JoinRoom,
    LeaveRoom,
    ListMembers,
    ListRooms,
    ManageKeys,
    OpenDirect,
    QuitChat,
    SayText,
    SendAction,
    SendDirect,
    SetAway,
    SetBack,
    ShowHelp,
    help_lines,
    parse,
)
from app.client.completion import complete
from app.client.state import ChatState, ConversationKind, StateSnapshot


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hello there", SayText("hello there")),
        ("  spaced  ", SayText("  spaced  ")),
        ("//shrug", SayText("/shrug")),
        ("/join #rust", JoinRoom("#rust")),
        ("/join rust", JoinRoom("#rust")),
        ("/JOIN #Rust", JoinRoom("#Rust")),
        ("/part", LeaveRoom(None)),
        ("/part #rust", LeaveRoom("#rust")),
        ("/msg bob hi  there", SendDirect("bob", "hi  there")),
        ("/msg bob", OpenDirect("bob")),
        ("/msg Bob  ", OpenDirect("Bob")),
        ("/me waves", SendAction("waves")),
        ("/nick alice2", ChangeNick("alice2")),
        ("/topic Rust talk", ChangeTopic("Rust talk")),
        ("/topic", ChangeTopic(None)),
        ("/who", ListMembers(None)),
        ("/who #rust", ListMembers("#rust")),
        ("/rooms", ListRooms()),
        ("/away at lunch", SetAway("at lunch")),
        ("/away", SetAway("away")),
        ("/back", SetBack()),
        ("/quit", QuitChat(None)),
        ("/quit see you", QuitChat("see you")),
        ("/help", ShowHelp(None)),
        ("/help /join", ShowHelp("join")),
        ("/clear", ClearScrollback()),
        ("/cancel", CancelQueued()),
        ("/win 3", GoToWindow(3)),
        ("/query bob", OpenDirect("bob")),
        ("/query bob hi", SendDirect("bob", "hi")),
        ("/close", LeaveRoom(None)),
        ("/list", ListRooms()),
        ("/names", ListMembers(None)),
        ("/names #rust", ListMembers("#rust")),
        ("/help query", ShowHelp("query")),
    ],
)
def test_parse_each_command(line: str, expected: Command) -> None:
    """Every command of the language parses to its typed form."""
    assert parse(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_blank_lines_mean_nothing(line: str) -> None:
    """A blank line is no command at all."""
    assert parse(line) is None


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/frobnicate", "unknown command /frobnicate"),
        ("/join", "usage: /join #room"),
        ("/join #a #b", "usage: /join #room"),
        ("/join #bad!", "bad room name"),
        ("/join #" + "x" * 33, "bad room name"),
        ("/part #a #b", "usage: /part"),
        ("/msg", "usage: /msg nick [text]"),
        ("/msg 9bob hi", "bad nick"),
        ("/msg 9bob", "bad nick"),
        ("/me", "usage: /me action"),
        ("/nick", "usage: /nick name"),
        ("/nick two words", "usage: /nick name"),
        ("/nick -dash", "bad nick"),
        ("/who #a #b", "usage: /who"),
        ("/rooms all", "usage: /rooms"),
        ("/back now", "usage: /back"),
        ("/win", "usage: /win N"),
        ("/win zero", "usage: /win N"),
        ("/win 0", "usage: /win N"),
        ("/clear all", "usage: /clear"),
        ("/help a b", "usage: /help"),
        ("/help nosuch", "no such command /nosuch"),
        ("x" * (MAX_TEXT + 1), "the limit is 4000"),
        ("/me " + "x" * (MAX_TEXT + 1), "the limit is 4000"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(line: str, fragment: str) -> None:
    """An unknown command or a bad argument raises CommandError saying what is wrong."""
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert fragment in str(caught.value)


def test_help_covers_every_command() -> None:
    """The help lists every command with its usage; one command's help is one line."""
    text = "\n".join(help_lines(None))
    for entry in HELP.values():
        assert entry.usage in text
    assert help_lines("msg") == [f"{HELP['msg'].usage} - {HELP['msg'].summary}"]


def snapshot() -> StateSnapshot:
    state = ChatState("alice", "h:1")
    general = state.ensure("#general", ConversationKind.ROOM)
    general.set_members(["alice", "bob", "Bella", "carol"])
    rust = state.ensure("#rust", ConversationKind.ROOM)
    rust.set_members(["dave"])
    state.ensure("erin", ConversationKind.DIRECT)
    state.activate("#general")
    return state.snapshot()


def test_complete_commands_at_line_start() -> None:
    """A word starting with / at the start of the line completes to commands."""
    assert complete(snapshot(), "/h").candidates == ("/help",)
    everything = complete(snapshot(), "/").candidates
    assert everything == tuple(sorted(f"/{name}" for name in COMMAND_NAMES))


def test_complete_nicks_of_the_active_room_without_our_own() -> None:
    """A plain word completes to the active room's nicks, ignoring case, never to ourselves."""
    result = complete(snapshot(), "b")
    assert result.candidates == ("Bella", "bob")
    assert complete(snapshot(), "a").candidates == ()
    assert complete(snapshot(), "hi d").candidates == ()


def test_complete_rooms() -> None:
    """A word starting with # (or the argument of /join, /part, /who) completes to rooms."""
    assert complete(snapshot(), "see #r").candidates == ("#rust",)
    assert complete(snapshot(), "/join ").candidates == ("#general", "#rust")


def test_complete_msg_offers_every_known_nick() -> None:
    """The nick argument of /msg completes over all rooms and direct conversations."""
    assert complete(snapshot(), "/msg ").candidates == ("Bella", "bob", "carol", "dave", "erin")
    assert complete(snapshot(), "/msg e").candidates == ("erin",)


def test_completion_uses_the_word_under_the_cursor_and_applies() -> None:
    """Completion replaces the word before the cursor; a nick at line start gets ': '."""
    result = complete(snapshot(), "ca", 2)
    assert (result.start, result.end, result.candidates) == (0, 2, ("carol",))
    assert result.apply("ca", "carol") == ("carol: ", 7)
    middle = complete(snapshot(), "hi bo and more", 5)
    assert middle.candidates == ("bob",)
    assert middle.apply("hi bo and more", "bob") == ("hi bob and more", 7)
    command = complete(snapshot(), "/jo")
    assert command.apply("/jo", "/join") == ("/join ", 6)


def test_keys_lists_adds_and_removes() -> None:
    """/keys lists; /keys add takes the rest of the line (a .pub line with its comment); /keys
    remove takes one fingerprint; anything else is the usage."""
    assert parse("/keys") == ManageKeys()
    line = "ssh-ed25519 AAAAC3Nza ann@laptop (work)"
    assert parse(f"/keys add {line}") == ManageKeys("add", line)
    assert parse("/keys REMOVE SHA256:abc") == ManageKeys("remove", "SHA256:abc")
    bad_lines = ("/keys add", "/keys add x", "/keys remove", "/keys remove a b", "/keys x")
    for bad in bad_lines:
        with pytest.raises(CommandError, match="/keys"):
            parse(bad)
