"""The Parley wire protocol, version 1, without any I/O.

This module owns the bytes: it turns a stream of bytes into typed frames and typed frames into
bytes, and nothing else. There are no sockets and no asyncio here, in the manner of h11: the
server and the client engine feed it what they read (``LineDecoder.feed``), decode each line
(``decode_client_frame`` / ``decode_server_frame``) and write what ``encode`` returns. A peer's bad
input becomes a ``RemoteProtocolError`` that carries the error code the wire sends back; a frame
we built wrongly is a bug and raises ``LocalProtocolError``.

The frames are msgspec ``Struct`` classes tagged by their ``"type"`` field: one class per frame
type, ``ClientFrame`` for any frame a client may send and ``ServerFrame`` for any frame a server
may send. ``docs/protocol.md`` is the prose description of the same contract.
"""

from __future__ import annotations

import json
import re
from typing import Final, Literal, TypeGuard, get_args

import msgspec
from msgspec import UNSET as UNSET
from msgspec import UnsetType as UnsetType

PROTO_VERSION: Final = 1
DEFAULT_PORT: Final = 65433
DEFAULT_TLS_PORT: Final = 65434  # the same frames inside TLS
DEFAULT_MAX_LINE: Final = 16384
MAX_DEPTH: Final = 32  # levels of [ and { in one line; frames need 3
DEFAULT_ROOM: Final = "#general"
HISTORY_LIMIT_MAX: Final = 200
# Listings come in pages: ``rooms`` and ``who`` take an optional ``limit`` (clamped to the most) and
# ``after`` (the last name of the previous page); a ``joined`` lists at most JOINED_MEMBERS_MAX.
ROOMS_PAGE: Final = 100
ROOMS_PAGE_MAX: Final = 500
WHO_PAGE: Final = 500
WHO_PAGE_MAX: Final = 1000
JOINED_MEMBERS_MAX: Final = 500
# Accounts: a password is at least PASSWORD_MIN characters (else ``weak_password``) and at most
# PASSWORD_MAX_BYTES bytes of UTF-8 (else ``bad_frame``), so that hashing one costs a bounded time.
PASSWORD_MIN: Final = 8
PASSWORD_MAX_BYTES: Final = 1024

NICK_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,23}")
ROOM_RE: Final = re.compile(r"#[A-Za-z0-9_-]{1,32}")

# A ``ref`` is any JSON scalar the client chose; absent and ``null`` are different things.
Ref = str | int | float | bool | None

ErrorCode = Literal[
    "bad_json",
    "bad_utf8",
    "bad_frame",
    "unknown_type",
    "frame_too_large",
    "not_registered",
    "already_registered",
    "bad_proto",
    "nick_taken",
    "bad_nick",
    "bad_room",
    "no_such_room",
    "not_in_room",
    "no_such_nick",
    "too_many_rooms",
    "server_full",
    "rate_limited",
    "too_many_connections",
    "slow_consumer",
    "register_timeout",
    "ping_timeout",
    "server_shutdown",
    "unavailable",
    "nick_registered",
    "weak_password",
    "bad_password",
    "no_account",
    "not_permitted",
    "muted",
    "banned",
    "bad_mask",
    "no_such_message",
]

# The one list of error codes: the client's texts, its fatal-on-hello set and docs/protocol.md are
# checked against it (by mypy where they are typed ``ErrorCode``, and by the tests).
ERROR_CODES: Final[frozenset[ErrorCode]] = frozenset(get_args(ErrorCode))


def is_error_code(code: str) -> TypeGuard[ErrorCode]:
    """Whether ``code`` is one this version knows; a newer server may send others."""
    return code in ERROR_CODES


class LocalProtocolError(Exception):
    """We tried to send something the protocol forbids: a bug on our side."""


class RemoteProtocolError(Exception):
    """The peer sent something we refuse; ``code`` is what the wire answers with."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref | UnsetType = UNSET) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.ref = ref


# --- client -> server -----------------------------------------------------------------------


class _ClientBase(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    ref: Ref | UnsetType = UNSET


class Hello(_ClientBase, tag="hello"):
    """``password`` signs in to the account ``nick`` is (a registered nick needs it)."""

    nick: str
    proto: int
    password: str | None = None


class Join(_ClientBase, tag="join"):
    room: str


class Part(_ClientBase, tag="part"):
    room: str


class Say(_ClientBase, tag="say"):
    text: str
    room: str | None = None
    to: str | None = None
    nonce: str | None = None
    action: bool = False


class Nick(_ClientBase, tag="nick"):
    """``password`` signs in to the account the new nick is (a registered nick needs it)."""

    nick: str
    password: str | None = None


class SetTopic(_ClientBase, tag="topic"):
    room: str
    topic: str


class Who(_ClientBase, tag="who"):
    """One page of a room's members: those whose nick sorts after ``after`` (ignoring case)."""

    room: str
    after: str | None = None
    limit: int = WHO_PAGE


class ListRooms(_ClientBase, tag="rooms"):
    """One page of the rooms with members: those whose name sorts after ``after``."""

    after: str | None = None
    limit: int = ROOMS_PAGE


class GetHistory(_ClientBase, tag="history"):
    """A page of a room's history, or (``with``, between accounts) of stored direct messages."""

    room: str | None = None
    with_: str | None = msgspec.field(name="with", default=None)
    before: int | None = None
    after: int | None = None
    limit: int = 50


class Away(_ClientBase, tag="away"):
    text: str | None = None


class Ping(_ClientBase, tag="ping"):
    id: str | int | float | None = None


class Pong(_ClientBase, tag="pong"):
    """A client's answer to the server's keepalive ``ping``."""

    id: str | int | float | None = None


class Quit(_ClientBase, tag="quit"):
    text: str | None = None


class Register(_ClientBase, tag="register"):
    """Make the sender's current nick an account with this password."""

    password: str


class ChangePassword(_ClientBase, tag="password"):
    old: str
    new: str


class Unregister(_ClientBase, tag="unregister"):
    """Delete the sender's account (and its stored direct messages)."""

    password: str


class Whois(_ClientBase, tag="whois"):
    nick: str


# Moderation (docs/protocol.md, "Moderation"): room roles belong to accounts; server operators are
# named by the server's configuration. ``duration_s`` absent means until lifted.


class Op(_ClientBase, tag="op"):
    room: str
    nick: str


class Deop(_ClientBase, tag="deop"):
    room: str
    nick: str


class GiveOwner(_ClientBase, tag="owner"):
    """Pass the room's ownership to ``nick`` (an account in the room); the giver becomes an op."""

    room: str
    nick: str


class Kick(_ClientBase, tag="kick"):
    room: str
    nick: str
    reason: str | None = None


class Ban(_ClientBase, tag="ban"):
    """``mask`` is ``account:NAME``, ``nick:GLOB`` or ``ip:ADDR[/PREFIX]``."""

    room: str
    mask: str
    duration_s: int | None = None
    reason: str | None = None


class Unban(_ClientBase, tag="unban"):
    room: str
    mask: str


class ListBans(_ClientBase, tag="bans"):
    """A room's bans, or with no ``room`` (server operators) the server-wide ones."""

    room: str | None = None


class Mute(_ClientBase, tag="mute"):
    room: str
    nick: str
    duration_s: int | None = None


class Unmute(_ClientBase, tag="unmute"):
    room: str
    nick: str


class TopicLock(_ClientBase, tag="topic_lock"):
    room: str
    locked: bool


class Delete(_ClientBase, tag="delete"):
    """Delete the room message ``id`` (its author, or an op of its room)."""

    id: int


class Kill(_ClientBase, tag="kill"):
    """Disconnect ``nick`` (server operators)."""

    nick: str
    reason: str | None = None


class GlobalBan(_ClientBase, tag="gban"):
    """Ban ``mask`` from the whole server (server operators)."""

    mask: str
    duration_s: int | None = None
    reason: str | None = None


class GlobalUnban(_ClientBase, tag="gunban"):
    mask: str


ClientFrame = (
    Hello
    | Join
    | Part
    | Say
    | Nick
    | SetTopic
    | Who
    | ListRooms
    | GetHistory
    | Away
    | Ping
    | Pong
    | Quit
    | Register
    | ChangePassword
    | Unregister
    | Whois
    | Op
    | Deop
    | GiveOwner
    | Kick
    | Ban
    | Unban
    | ListBans
    | Mute
    | Unmute
    | TopicLock
    | Delete
    | Kill
    | GlobalBan
    | GlobalUnban
)
CLIENT_TYPES: Final = frozenset(t.__struct_config__.tag for t in ClientFrame.__args__)


# --- server -> client -----------------------------------------------------------------------


class _ServerBase(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    ref: Ref | UnsetType = UNSET


class Welcome(_ServerBase, tag="welcome"):
    """``account`` is the nick when the session signed in to its account (absent for a guest)."""

    nick: str
    server: str
    proto: int
    account: str | None = None
    oper: bool = False


class Message(_ServerBase, tag="message"):
    """A chat line. ``room`` for a room message, ``to`` for a direct one; never both. ``offline``
    on the sender's copy of a direct message: its recipient is offline and gets it at sign-in."""

    id: int
    ts: int
    sender: str = msgspec.field(name="from")
    text: str
    room: str | None = None
    to: str | None = None
    action: bool = False
    nonce: str | None = None
    offline: bool = False
    deleted: bool = False


class Joined(_ServerBase, tag="joined"):
    """``members`` is the first page of the room's members; ``more`` says ``who`` has the rest.
    ``roles`` maps those of them who are an owner or op to their role; ``locked``: only ops may
    set the topic."""

    room: str
    topic: str
    members: list[str]
    more: bool = False
    roles: dict[str, str] | None = None
    locked: bool = False


class Parted(_ServerBase, tag="parted"):
    room: str


class HistoryPage(_ServerBase, tag="history"):
    """A page of a ``room``'s messages, or of the direct messages ``with`` an account."""

    messages: list[Message]
    more: bool
    room: str | None = None
    with_: str | None = msgspec.field(name="with", default=None)


PresenceEvent = Literal["join", "part", "quit", "nick", "away", "back", "kick"]


class Presence(_ServerBase, tag="presence"):
    """``by`` and ``reason`` on a ``kick``: who removed ``nick``, and why."""

    room: str
    nick: str
    event: PresenceEvent
    old: str | None = None
    text: str | None = None
    by: str | None = None
    reason: str | None = None


class Topic(_ServerBase, tag="topic"):
    room: str
    topic: str
    by: str


Role = Literal["owner", "op", "member"]


class Member(msgspec.Struct, omit_defaults=True):
    nick: str
    away: bool = False
    role: str | None = None  # "owner" or "op"; absent for a member


class Members(_ServerBase, tag="members"):
    """One page of members; with ``more``, ``next`` is the ``after`` that asks for the next."""

    room: str
    members: list[Member]
    more: bool = False
    next: str | None = None


class RoomInfo(msgspec.Struct):
    room: str
    topic: str
    members: int


class RoomList(_ServerBase, tag="room_list"):
    """One page of rooms; with ``more``, ``next`` is the ``after`` that asks for the next."""

    rooms: list[RoomInfo]
    more: bool = False
    next: str | None = None


class Renamed(_ServerBase, tag="renamed"):
    """The reply to ``nick``: the sender's own name changed."""

    nick: str
    old: str


class AwaySet(_ServerBase, tag="away_set"):
    """The reply to ``away``: ``text`` is null when the sender is back."""

    text: str | None


class ServerPong(_ServerBase, tag="pong"):
    id: str | int | float | None = None


class ServerPing(_ServerBase, tag="ping"):
    """The server's keepalive; a client answers with ``pong`` carrying the same ``id``."""

    id: str | int | float | None = None


class Error(_ServerBase, tag="error"):
    """A refusal. Build one with ``make_error`` so that its code is checked against ``ErrorCode``.

    ``code`` is a plain ``str`` on purpose: version 1 may gain codes, and a client must read an
    ``error`` with a code it does not know rather than fail to decode it (msgspec refuses a value
    outside a ``Literal``). ``is_error_code`` narrows it to ``ErrorCode``.
    """

    code: str
    message: str
    retry_after_ms: int | None = None


class AccountInfo(_ServerBase, tag="account"):
    """The reply to ``register``, ``password`` and ``unregister``: ``nick`` is (or, with
    ``registered`` false, is no longer) an account."""

    nick: str
    registered: bool = True


class WhoisInfo(_ServerBase, tag="whois"):
    """The reply to ``whois``: ``rooms`` are those the asker shares with ``nick``;
    ``connected_ms`` is how long it has been connected (absent when offline)."""

    nick: str
    account: bool
    online: bool
    rooms: list[str]
    away: str | None = None
    connected_ms: int | None = None


class Mode(_ServerBase, tag="mode"):
    """``nick``'s role in ``room`` changed to ``role`` (``owner``, ``op`` or ``member``)."""

    room: str
    nick: str
    role: str
    by: str


class Kicked(_ServerBase, tag="kicked"):
    """To the one removed from ``room`` (kicked, or banned while in it): it is no longer in it."""

    room: str
    by: str
    reason: str | None = None


ModerationAction = Literal[
    "ban", "unban", "mute", "unmute", "lock", "unlock", "kill", "gban", "gunban"
]


class Moderated(_ServerBase, tag="moderation"):
    """A moderation action done: to the room (``room``), or to the server operator alone for
    the server-wide ones (no ``room``). ``target`` is the mask or nick; ``expires_ms`` when the
    ban or mute ends (milliseconds since the epoch; absent: until lifted)."""

    action: str
    target: str
    by: str
    room: str | None = None
    reason: str | None = None
    expires_ms: int | None = None


class BanInfo(msgspec.Struct, omit_defaults=True):
    mask: str
    by: str
    reason: str | None = None
    expires_ms: int | None = None


class BanList(_ServerBase, tag="ban_list"):
    """The reply to ``bans``: a room's bans, or (no ``room``) the server-wide ones."""

    bans: list[BanInfo]
    room: str | None = None


class Deleted(_ServerBase, tag="deleted"):
    """Message ``id`` of ``room`` was deleted by ``by``; clients drop its text."""

    room: str
    id: int
    by: str


class Bye(_ServerBase, tag="bye"):
    reason: str
    message: str = ""


ServerFrame = (
    Welcome
    | Message
    | Joined
    | Parted
    | HistoryPage
    | Presence
    | Topic
    | Members
    | RoomList
    | Renamed
    | AwaySet
    | ServerPong
    | ServerPing
    | Error
    | Bye
    | AccountInfo
    | WhoisInfo
    | Mode
    | Kicked
    | Moderated
    | BanList
    | Deleted
)


# --- framing --------------------------------------------------------------------------------


class LineDecoder:
    """Splits a byte stream into lines, whatever the read boundaries.

    Lines end with ``\\n``; a ``\\r`` before it is dropped and empty lines are skipped. Nothing
    is decoded as text here, so a multibyte character cut by a read boundary is simply joined up
    with the next read. A line longer than ``max_line`` bytes cannot be resynchronised the way the
    sender would expect: ``feed`` returns the lines before it, sets ``too_large``, and takes
    nothing more; the caller answers ``frame_too_large`` and closes.
    """

    __slots__ = ("_buffer", "_max_line", "_scanned", "too_large")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._scanned = 0
        self.too_large = False

    def feed(self, data: bytes) -> list[bytes]:
        """Take the bytes just read and return every line they complete, oldest first."""
        if self.too_large:
            return []
        buffer = self._buffer
        buffer += data
        lines: list[bytes] = []
        start = 0
        find = buffer.find
        end = find(b"\n", self._scanned)
        limit = self._max_line
        while end != -1:
            line_end = end
            if line_end > start and buffer[line_end - 1] == 0x0D:
                line_end -= 1
            if line_end - start > limit:
                self._overflow()
                return lines
            if line_end > start:
                lines.append(bytes(buffer[start:line_end]))
            start = end + 1
            end = find(b"\n", start)
        if start:
            del buffer[:start]
        # One byte of slack: the line may still end in "\r\n".
        if len(buffer) > limit + 1:
            self._overflow()
        self._scanned = len(buffer)
        return lines

    def _overflow(self) -> None:
        self.too_large = True
        self._buffer = bytearray()
        self._scanned = 0

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet end in a newline."""
        return len(self._buffer)

    @property
    def error(self) -> RemoteProtocolError:
        """The error that answers an over-long line."""
        return RemoteProtocolError(
            "frame_too_large", f"a line is longer than {self._max_line} bytes"
        )


# --- decoding and encoding ------------------------------------------------------------------

_client_decoder: Final[msgspec.json.Decoder[ClientFrame]] = msgspec.json.Decoder(ClientFrame)
_server_decoder: Final[msgspec.json.Decoder[ServerFrame]] = msgspec.json.Decoder(ServerFrame)
_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def decode_client_frame(line: bytes) -> ClientFrame:
    """Decode one line from a client, or raise ``RemoteProtocolError`` saying what is wrong."""
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
        _check_depth(line)
    try:
        return _client_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _classify(line, exc, CLIENT_TYPES) from None


def decode_server_frame(line: bytes) -> ServerFrame:
    """Decode one line from a server, or raise ``RemoteProtocolError``."""
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
        _check_depth(line)
    try:
        return _server_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _classify(line, exc, _SERVER_TYPES) from None


# Brackets inside strings do not nest; an escaped quote does not end a string.
_STRUCTURE: Final = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _check_depth(line: bytes) -> None:
    """Refuse a line nested deeper than ``MAX_DEPTH`` before a decoder recurses into it.

    Only lines with more than ``MAX_DEPTH`` brackets in all are scanned, so a normal frame costs
    two ``bytes.count`` calls.
    """
    depth = 0
    for match in _STRUCTURE.finditer(line):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise RemoteProtocolError(
                    "bad_json", f"nested too deeply: at most {MAX_DEPTH} levels of [ and {{"
                )
        elif token in (b"]", b"}"):
            depth -= 1


def _classify(line: bytes, exc: Exception, known: frozenset[str]) -> RemoteProtocolError:
    """Work out which error code a refused line deserves (the slow path, taken only on error)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as err:
        return RemoteProtocolError("bad_utf8", f"not valid UTF-8 at byte {err.start}")
    try:
        raw = _any_decoder.decode(line)
    except RecursionError:
        return RemoteProtocolError("bad_json", "nested too deeply")
    except msgspec.DecodeError as err:
        surrogate = _lone_surrogate(line)
        if surrogate:
            return RemoteProtocolError(
                "bad_json",
                f"\\u{ord(surrogate):04x} is half of a UTF-16 surrogate pair, not a character",
            )
        return RemoteProtocolError("bad_json", f"not valid JSON: {err}")
    if not isinstance(raw, dict):
        return RemoteProtocolError("bad_frame", "a frame must be a JSON object")
    ref = raw.get("ref", UNSET)
    if not isinstance(ref, (str, int, float, bool, type(None), UnsetType)):
        ref = UNSET
    kind = raw.get("type")
    if not isinstance(kind, str):
        return RemoteProtocolError("bad_frame", 'a frame needs a string "type"', ref)
    if kind not in known:
        return RemoteProtocolError("unknown_type", f"unknown frame type {kind!r}", ref)
    detail = str(exc).replace("`$.", "`")
    return RemoteProtocolError("bad_frame", f"bad {kind} frame: {detail}", ref)


def _lone_surrogate(line: bytes) -> str:
    """The first unpaired surrogate (escaped as ``\\ud800``) in the strings of ``line``, or "".

    JSON lets such an escape through but it is no character: text holding one cannot be encoded.
    Python's own parser keeps it, so it finds where msgspec only says "truncated".
    """
    try:
        value = json.loads(line)
    except ValueError:
        return ""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            for char in item:
                if "\ud800" <= char <= "\udfff":
                    return char
    return ""


_SERVER_TYPES: Final = frozenset(t.__struct_config__.tag for t in ServerFrame.__args__)


def encode(frame: ClientFrame | ServerFrame) -> bytes:
    """One frame as one line of bytes, newline included."""
    try:
        return _encoder.encode(frame) + b"\n"
    except (TypeError, msgspec.EncodeError) as exc:
        raise LocalProtocolError(f"cannot encode {frame!r}: {exc}") from exc


def make_error(
    code: ErrorCode,
    message: str,
    *,
    ref: Ref | UnsetType = UNSET,
    retry_after_ms: int | None = None,
) -> Error:
    """An ``error`` frame whose code mypy checks against ``ErrorCode`` (``Error`` takes any str)."""
    return Error(code=code, message=message, ref=ref, retry_after_ms=retry_after_ms)


def error_frame(err: RemoteProtocolError) -> Error:
    """The ``error`` frame that answers a refused input."""
    return make_error(err.code, err.message, ref=err.ref)


# --- names ----------------------------------------------------------------------------------


def is_valid_nick(nick: str) -> bool:
    """1-24 letters, digits, ``_`` or ``-``, starting with a letter."""
    return NICK_RE.fullmatch(nick) is not None


def is_valid_room(room: str) -> bool:
    """``#`` then 1-32 letters, digits, ``_`` or ``-``."""
    return ROOM_RE.fullmatch(room) is not None


def fold(name: str) -> str:
    """The case-insensitive key of a nick or a room."""
    return name.lower()
