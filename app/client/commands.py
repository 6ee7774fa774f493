"""The command language shared by every frontend.

This module owns what a typed line means. ``parse`` turns a line into a typed ``Command`` (plain
text becomes ``SayText``; ``//text`` sends ``/text`` literally) or raises ``CommandError`` with a
message fit to show the user, so an unknown command or a bad argument is refused here before
anything reaches the network. It also owns the help text and the command names that
``completion.py`` offers (the moderation commands, ``/op`` to ``/kill``, are parsed here too;
``moderation.py`` carries them out). Whether a command makes sense in the active conversation
(``/topic`` in a direct conversation, say) is the engine's decision, not the parser's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from app.protocol import is_valid_nick, is_valid_room


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
class CancelQueued:
    """Take back our lines in the active conversation that have not gone out yet."""


@dataclass(frozen=True, slots=True)
class GoToWindow:
    """Switch to the conversation numbered ``number`` in the list (1 is the first)."""

    number: int


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


@dataclass(frozen=True, slots=True)
class ManageKeys:
    """/keys: list the account's SSH keys, ``add`` an OpenSSH public key line, or ``remove`` a
    fingerprint."""

    action: Literal["list", "add", "remove"] = "list"
    argument: str = ""


@dataclass(frozen=True, slots=True)
class EditMessage:
    """/edit: our last message in this room says ``text`` instead (None: show it)."""

    text: str | None


# --- moderation (docs/protocol.md, "Moderation"); carried out by ``moderation.py`` ---------


@dataclass(frozen=True, slots=True)
class SetRole:
    """/op, /deop and /owner: make ``nick`` an ``op``, a ``member`` or the ``owner`` here."""

    nick: str
    role: str


@dataclass(frozen=True, slots=True)
class KickMember:
    nick: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class BanMask:
    mask: str
    duration_s: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class UnbanMask:
    mask: str


@dataclass(frozen=True, slots=True)
class ShowBans:
    pass


@dataclass(frozen=True, slots=True)
class MuteMember:
    nick: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class UnmuteMember:
    nick: str


@dataclass(frozen=True, slots=True)
class LockTopic:
    locked: bool


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    """``id`` None: our own newest message in this conversation."""

    id: int | None


@dataclass(frozen=True, slots=True)
class KillUser:
    nick: str
    reason: str | None


ModerationCommand = (
    SetRole
    | KickMember
    | BanMask
    | UnbanMask
    | ShowBans
    | MuteMember
    | UnmuteMember
    | LockTopic
    | DeleteMessage
    | KillUser
)
MODERATION_COMMANDS: Final = (
    SetRole,
    KickMember,
    BanMask,
    UnbanMask,
    ShowBans,
    MuteMember,
    UnmuteMember,
    LockTopic,
    DeleteMessage,
    KillUser,
)


@dataclass(frozen=True, slots=True)
class SearchHistory:
    """/search [#room] text: search the server's history (``room`` None: all our rooms);
    ``query`` None: the next page of the last search."""

    query: str | None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class JumpToResult:
    """/jump N: show search result N among the messages around it."""

    number: int


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
    | CancelQueued
    | GoToWindow
    | Register
    | ChangePassword
    | Unregister
    | WhoIs
    | ManageKeys
    | ModerationCommand
    | EditMessage
    | SearchHistory
    | JumpToResult
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
    "cancel": CommandHelp("/cancel", "take back your lines here that have not been sent yet"),
    "win": CommandHelp("/win N", "switch to conversation number N (as Alt+N)"),
    "register": CommandHelp("/register password", "make your nick an account (8+ characters)"),
    "password": CommandHelp("/password old new", "change your account's password"),
    "unregister": CommandHelp("/unregister password", "delete your account and its messages"),
    "whois": CommandHelp("/whois nick", "who a nick is: account, rooms you share, away, online"),
    "keys": CommandHelp(
        "/keys [add KEY | remove FINGERPRINT]",
        "list your account's SSH keys, add one (a line of your .pub file), or remove one",
    ),
    "op": CommandHelp("/op nick", "make nick an op of this room (owners)"),
    "deop": CommandHelp("/deop nick", "take op from nick in this room (owners)"),
    "owner": CommandHelp("/owner nick", "pass this room's ownership to nick; you become an op"),
    "kick": CommandHelp("/kick nick [reason]", "remove nick from this room (ops)"),
    "ban": CommandHelp(
        "/ban nick|mask [time] [reason]",
        "ban from this room: a nick, account:NAME, nick:GLOB or ip:ADDR[/N]; time 30s 10m 2h 1d",
    ),
    "unban": CommandHelp("/unban nick|mask", "lift a ban in this room"),
    "bans": CommandHelp("/bans", "list this room's bans"),
    "mute": CommandHelp("/mute nick [time]", "stop nick talking in this room (for 10m, 2h, ...)"),
    "unmute": CommandHelp("/unmute nick", "let nick talk in this room again"),
    "lock": CommandHelp("/lock", "lock this room's topic: only ops may set it"),
    "unlock": CommandHelp("/unlock", "let everyone in this room set the topic again"),
    "delete": CommandHelp("/delete", "delete your last message in this room"),
    "kill": CommandHelp("/kill nick [reason]", "disconnect nick (server operators)"),
    "edit": CommandHelp("/edit [text]", "change your last message in this room to text"),
    "search": CommandHelp(
        "/search [#room] text", 'search history: words, "a phrase", pre*; alone: more results'
    ),
    "jump": CommandHelp("/jump N", "show search result N among the messages around it"),
}
# IRC's names for our commands: what irssi and WeeChat users type by habit.
ALIASES: Final[dict[str, str]] = {
    "query": "msg",
    "close": "part",
    "list": "rooms",
    "names": "who",
}
COMMAND_NAMES: Final = (*HELP, *ALIASES)


def help_lines(command: str | None) -> list[str]:
    """The help text for one command, or for all of them."""
    if command is not None:
        entry = HELP[ALIASES.get(command, command)]
        return [f"{entry.usage} - {entry.summary}"]
    width = max(len(entry.usage) for entry in HELP.values())
    lines = ["Commands:"]
    lines += [f"  {entry.usage.ljust(width)}  {entry.summary}" for entry in HELP.values()]
    aliases = ", ".join(f"/{alias} = /{name}" for alias, name in ALIASES.items())
    lines.append(f"  As in IRC: {aliases}.")
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


_DURATION: Final = re.compile(r"(\d+)([smhd]?)", re.IGNORECASE)
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MASK_KINDS: Final = ("account:", "nick:", "ip:")


def parse_duration(word: str) -> int | None:
    """Seconds from ``30s``, ``10m``, ``2h``, ``1d`` (or a bare number of seconds); None when
    ``word`` is no duration."""
    match = _DURATION.fullmatch(word)
    if match is None or int(match[1]) == 0:
        return None
    return int(match[1]) * _UNIT_SECONDS[match[2].lower()]


def describe_duration(seconds: float) -> str:
    """``30s``, ``9m``, ``2h``, ``1h30m``, ``1d``: rounded up, so a mute never ends early."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    days, hours = divmod(math.ceil(minutes / 60), 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def ban_mask(word: str) -> str:
    """A ban mask from what was typed: a bare nick (or nick glob) means ``nick:WORD``."""
    if ":" not in word:
        return f"nick:{word}"
    if not word.lower().startswith(MASK_KINDS) or word.endswith(":"):
        raise CommandError(f"bad mask {word!r}: a nick, account:NAME, nick:GLOB or ip:ADDR[/N]")
    return word


def parse(line: str) -> Command | None:
    """The command a typed line means; None for a blank line. Raises ``CommandError``."""
    command = _parse(line)
    for name in ("text", "topic", "reason"):
        text = getattr(command, name, None)
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise CommandError(f"that is {len(text)} characters; the limit is {MAX_TEXT}")
    return command


def _parse_keys(args: list[str], rest: str) -> ManageKeys:
    if not args:
        return ManageKeys()
    action = args[0].lower()
    if action == "add" and len(args) >= 3:
        return ManageKeys("add", rest.split(None, 1)[1])
    if action == "remove" and len(args) == 2:
        return ManageKeys("remove", args[1])
    raise _usage("keys")


def _parse(line: str) -> Command | None:
    if not line.strip():
        return None
    if not line.startswith("/"):
        return SayText(line)
    if line.startswith("//"):
        return SayText(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    name = ALIASES.get(name, name)
    rest = rest.strip()
    args = rest.split()
    if name not in HELP:
        raise CommandError(f"unknown command /{name} - /help lists the commands")
    if name in _MODERATION_NAMES:
        return _parse_moderation(name, rest, args)
    if name == "edit":
        return EditMessage(rest or None)
    if name in ("search", "jump"):
        return _parse_search(name, rest, args)
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
    if name == "keys":
        return _parse_keys(args, rest)
    if name == "help":
        if len(args) > 1:
            raise _usage(name)
        if not args:
            return ShowHelp(None)
        wanted = args[0].lstrip("/").lower()
        if wanted not in HELP and wanted not in ALIASES:
            raise CommandError(f"no such command /{wanted} - /help lists the commands")
        return ShowHelp(wanted)
    if name == "win":
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise _usage(name)
        return GoToWindow(int(args[0]))
    if args:  # /rooms, /back, /cancel and /clear take nothing
        raise _usage(name)
    if name == "rooms":
        return ListRooms()
    if name == "back":
        return SetBack()
    if name == "cancel":
        return CancelQueued()
    return ClearScrollback()


_MODERATION_NAMES: Final = frozenset(
    {"op", "deop", "owner", "kick", "ban", "unban", "bans", "mute", "unmute"}
    | {"lock", "unlock", "delete", "kill"}
)
_ROLES: Final = {"op": "op", "deop": "member", "owner": "owner"}


def _parse_moderation(name: str, rest: str, args: list[str]) -> ModerationCommand:
    if name in _ROLES:
        if len(args) != 1:
            raise _usage(name)
        return SetRole(_nick(args[0]), _ROLES[name])
    if name in ("kick", "kill"):
        if not args:
            raise _usage(name)
        reason = rest.split(None, 1)[1] if len(args) > 1 else None
        nick = _nick(args[0])
        return KickMember(nick, reason) if name == "kick" else KillUser(nick, reason)
    if name in ("ban", "mute"):
        if not args:
            raise _usage(name)
        words = rest.split(None, 2)
        duration = parse_duration(words[1]) if len(words) > 1 else None
        if name == "mute":
            if len(args) > 2:
                raise _usage(name)
            if len(args) == 2 and duration is None:
                raise CommandError(f"bad time {args[1]!r}: like 30s, 10m, 2h or 1d")
            return MuteMember(_nick(args[0]), duration)
        # After the mask: a time if the next word is one, then the reason.
        reason_from = 2 if duration is not None else 1
        reason = rest.split(None, reason_from)[reason_from] if len(args) > reason_from else None
        return BanMask(ban_mask(args[0]), duration, reason)
    if name in ("unban", "unmute"):
        if len(args) != 1:
            raise _usage(name)
        return UnbanMask(ban_mask(args[0])) if name == "unban" else UnmuteMember(_nick(args[0]))
    if name == "delete":
        if len(args) > 1 or (args and not args[0].isdigit()):
            raise _usage(name)
        return DeleteMessage(int(args[0]) if args else None)
    if args:  # /bans, /lock and /unlock take nothing
        raise _usage(name)
    if name == "bans":
        return ShowBans()
    return LockTopic(name == "lock")


def _parse_search(name: str, rest: str, args: list[str]) -> SearchHistory | JumpToResult:
    if name == "jump":
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise _usage(name)
        return JumpToResult(int(args[0]))
    if not args:
        return SearchHistory(None)
    if args[0].startswith("#"):
        if len(args) == 1:
            raise _usage(name)
        return SearchHistory(rest.split(None, 1)[1], normalize_room(args[0]))
    return SearchHistory(rest)
