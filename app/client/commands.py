"""The command language shared by every frontend, and completion.

This module owns what a typed line means. ``parse`` turns a line into a typed ``Command`` (plain
text becomes ``SayText``; ``//text`` sends ``/text`` literally) or raises ``CommandError`` with a
message fit to show the user, so an unknown command or a bad argument is refused here before
anything reaches the network. It also owns the help text and ``complete``, which offers commands,
room names and the nicks of the active conversation for the word under the cursor; completion is a
pure function of a ``StateSnapshot``, so a frontend on any thread may call it. Whether a command
makes sense in the active conversation (``/topic`` in a direct conversation, say) is the engine's
decision, not the parser's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.client.state import ConversationKind, StateSnapshot
from app.protocol import fold, is_valid_nick, is_valid_room


class CommandError(ValueError):
    """The user typed something we refuse; ``str(err)`` is the line to show them."""


@dataclass(frozen=True, slots=True)
class SayText:
    text: str


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    room: str | None  # None: the active conversation


@dataclass(frozen=True, slots=True)
class OpenDirect:
    nick: str


@dataclass(frozen=True, slots=True)
class SendDirect:
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class SendAction:
    text: str


@dataclass(frozen=True, slots=True)
class ChangeNick:
    nick: str


@dataclass(frozen=True, slots=True)
class ChangeTopic:
    topic: str | None  # None: show the current topic


@dataclass(frozen=True, slots=True)
class ListMembers:
    room: str | None


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class SetAway:
    text: str


@dataclass(frozen=True, slots=True)
class SetBack:
    pass


@dataclass(frozen=True, slots=True)
class QuitChat:
    text: str | None


@dataclass(frozen=True, slots=True)
class ShowHelp:
    command: str | None


@dataclass(frozen=True, slots=True)
class ClearScrollback:
    pass


@dataclass(frozen=True, slots=True)
class Register:
    """Make the current nick an account with ``password``."""

    password: str


@dataclass(frozen=True, slots=True)
class ChangePassword:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Unregister:
    password: str


@dataclass(frozen=True, slots=True)
class WhoIs:
    nick: str


Command = (
    SayText
    | JoinRoom
    | LeaveRoom
    | OpenDirect
    | SendDirect
    | SendAction
    | ChangeNick
    | ChangeTopic
    | ListMembers
    | ListRooms
    | SetAway
    | SetBack
    | QuitChat
    | ShowHelp
    | ClearScrollback
    | Register
    | ChangePassword
    | Unregister
    | WhoIs
)

DEFAULT_AWAY_TEXT: Final = "away"
MAX_TEXT: Final = 4000  # the server refuses longer messages, topics and away texts


@dataclass(frozen=True, slots=True)
class CommandHelp:
    usage: str
    summary: str


HELP: Final[dict[str, CommandHelp]] = {
    "join": CommandHelp("/join #room", "join a room (created if new) and switch to it"),
    "part": CommandHelp("/part [#room]", "leave a room (default: this one) or close a DM"),
    "msg": CommandHelp("/msg nick [text]", "open a direct conversation, sending text if given"),
    "me": CommandHelp("/me action", "describe an action: * you waves"),
    "nick": CommandHelp("/nick name", "change your nick"),
    "topic": CommandHelp("/topic [text]", "set this room's topic, or show it"),
    "who": CommandHelp("/who [#room]", "list the members of a room (default: this one)"),
    "rooms": CommandHelp("/rooms", "list the rooms on the server"),
    "away": CommandHelp("/away [text]", "mark yourself away, with an optional reason"),
    "back": CommandHelp("/back", "mark yourself back"),
    "quit": CommandHelp("/quit [text]", "leave the chat, with an optional goodbye"),
    "help": CommandHelp("/help [command]", "list the commands, or explain one"),
    "clear": CommandHelp("/clear", "clear this conversation's scrollback (locally)"),
    "register": CommandHelp("/register password", "make your nick an account (8+ characters)"),
    "password": CommandHelp("/password old new", "change your account's password"),
    "unregister": CommandHelp("/unregister password", "delete your account and its messages"),
    "whois": CommandHelp("/whois nick", "who a nick is: account, rooms you share, away, online"),
}
COMMAND_NAMES: Final = tuple(HELP)


def help_lines(command: str | None) -> list[str]:
    """The help text for one command, or for all of them."""
    if command is not None:
        entry = HELP[command]
        return [f"{entry.usage} - {entry.summary}"]
    width = max(len(entry.usage) for entry in HELP.values())
    lines = ["Commands:"]
    lines += [f"  {entry.usage.ljust(width)}  {entry.summary}" for entry in HELP.values()]
    lines.append("Anything else is sent to the conversation; start with // to send a leading /.")
    return lines


def _usage(name: str) -> CommandError:
    return CommandError(f"usage: {HELP[name].usage}")


def normalize_room(word: str) -> str:
    """``#room`` from ``#room`` or ``room``; raises ``CommandError`` for a bad room name."""
    room = word if word.startswith("#") else f"#{word}"
    if not is_valid_room(room):
        raise CommandError(f"bad room name {word!r}: # then 1-32 letters, digits, _ or -")
    return room


def _nick(word: str) -> str:
    if not is_valid_nick(word):
        raise CommandError(
            f"bad nick {word!r}: 1-24 letters, digits, _ or -, starting with a letter"
        )
    return word


def parse(line: str) -> Command | None:
    """The command a typed line means; None for a blank line. Raises ``CommandError``."""
    command = _parse(line)
    text = getattr(command, "text", None) or getattr(command, "topic", None)
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise CommandError(f"that is {len(text)} characters; the limit is {MAX_TEXT}")
    return command


def _parse(line: str) -> Command | None:
    if not line.strip():
        return None
    if not line.startswith("/"):
        return SayText(line)
    if line.startswith("//"):
        return SayText(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    rest = rest.strip()
    args = rest.split()
    if name not in HELP:
        raise CommandError(f"unknown command /{name} - /help lists the commands")
    if name == "join":
        if len(args) != 1:
            raise _usage(name)
        return JoinRoom(normalize_room(args[0]))
    if name == "part":
        if len(args) > 1:
            raise _usage(name)
        return LeaveRoom(normalize_room(args[0]) if args else None)
    if name == "msg":
        if not args:
            raise _usage(name)
        if len(args) == 1:
            return OpenDirect(_nick(args[0]))
        return SendDirect(_nick(args[0]), rest.split(None, 1)[1])
    if name == "me":
        if not rest:
            raise _usage(name)
        return SendAction(rest)
    if name == "nick":
        if len(args) != 1:
            raise _usage(name)
        return ChangeNick(_nick(args[0]))
    if name == "topic":
        return ChangeTopic(rest or None)
    if name == "who":
        if len(args) > 1:
            raise _usage(name)
        return ListMembers(normalize_room(args[0]) if args else None)
    if name == "away":
        return SetAway(rest or DEFAULT_AWAY_TEXT)
    if name == "quit":
        return QuitChat(rest or None)
    if name in ("register", "unregister"):
        # A password is one word: spaces would be ambiguous on a command line.
        if len(args) != 1:
            raise _usage(name)
        return Register(args[0]) if name == "register" else Unregister(args[0])
    if name == "password":
        if len(args) != 2:
            raise _usage(name)
        return ChangePassword(args[0], args[1])
    if name == "whois":
        if len(args) != 1:
            raise _usage(name)
        return WhoIs(_nick(args[0]))
    if name == "help":
        if len(args) > 1:
            raise _usage(name)
        if not args:
            return ShowHelp(None)
        wanted = args[0].lstrip("/").lower()
        if wanted not in HELP:
            raise CommandError(f"no such command /{wanted} - /help lists the commands")
        return ShowHelp(wanted)
    if args:  # /rooms, /back and /clear take nothing
        raise _usage(name)
    if name == "rooms":
        return ListRooms()
    if name == "back":
        return SetBack()
    return ClearScrollback()


# --- completion -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completion:
    """Candidates for ``text[start:end]``, the word under the cursor, best first."""

    start: int
    end: int
    candidates: tuple[str, ...]
    at_line_start: bool

    def apply(self, text: str, candidate: str) -> tuple[str, int]:
        """The line with the word replaced by ``candidate``, and the new cursor position.

        A nick completed at the start of a line is addressed (``alice: ``), as IRC clients do.
        """
        suffix = " "
        if self.at_line_start and not candidate.startswith(("/", "#")):
            suffix = ": "
        new = text[: self.start] + candidate + suffix + text[self.end :].lstrip(" ")
        return new, self.start + len(candidate) + len(suffix)


_ROOM_ARG_COMMANDS: Final = frozenset({"/join", "/part", "/who"})
_NICK_ARG_COMMANDS: Final = frozenset({"/msg", "/whois"})


def complete(state: StateSnapshot, text: str, cursor: int | None = None) -> Completion:
    """What the word before ``cursor`` (default: the end) could be completed to."""
    end = len(text) if cursor is None else max(0, min(cursor, len(text)))
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end]
    before = text[:start].split()
    at_line_start = not before
    if at_line_start and word.startswith("/"):
        names = [f"/{name}" for name in COMMAND_NAMES]
        return Completion(start, end, _matching(names, word), True)
    command = before[0].lower() if before else ""
    if word.startswith("#") or (command in _ROOM_ARG_COMMANDS and len(before) == 1):
        rooms = [view.name for view in state.conversations if view.kind is ConversationKind.ROOM]
        return Completion(start, end, _matching(rooms, word), at_line_start)
    if command in _NICK_ARG_COMMANDS and len(before) == 1:
        nicks = _all_nicks(state)
    else:
        active = state.active_view
        nicks = [member.nick for member in active.members] if active is not None else []
        if active is not None and active.kind is ConversationKind.DIRECT:
            nicks.append(active.name)
    nicks = [nick for nick in nicks if fold(nick) != fold(state.nick)]
    return Completion(start, end, _matching(nicks, word), at_line_start)


def _all_nicks(state: StateSnapshot) -> list[str]:
    seen: dict[str, str] = {}
    for view in state.conversations:
        if view.kind is ConversationKind.DIRECT:
            seen.setdefault(fold(view.name), view.name)
        for member in view.members:
            seen.setdefault(fold(member.nick), member.nick)
    return list(seen.values())


def _matching(names: list[str], prefix: str) -> tuple[str, ...]:
    folded = fold(prefix)
    unique = {fold(name): name for name in names if fold(name).startswith(folded)}
    return tuple(sorted(unique.values(), key=fold))
