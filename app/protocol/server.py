"""The frames a server sends, one msgspec ``Struct`` per type, and ``ServerFrame``, their union.

Each class is an answer or event of ``docs/protocol.md``'s "Server → client" and "Moderation"
sections; the ``type`` tag on the wire is the class's ``tag``.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.protocol.base import Ref


class _ServerBase(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    ref: Ref | UnsetType = UNSET


class Limits(msgspec.Struct, frozen=True):
    """The limits a server holds each connection to, as its ``parley serve`` flags name them:
    the flood control's refill (frames per second, 0: none) and burst, the longest line in bytes
    and text in characters, the rooms one connection may be in and the new rooms one address may
    create a minute (0: no limit)."""

    msg_rate: float
    msg_burst: int
    max_line: int
    max_text: int
    max_rooms_per_conn: int
    new_rooms_per_min: int


class Welcome(_ServerBase, tag="welcome"):
    """``account`` is the nick when the session signed in to its account (absent for a guest);
    ``node`` names the process serving the connection when the server runs as several;
    ``limits`` (absent from servers before it) what the server enforces, so a client can pace
    itself from the first line."""

    nick: str
    server: str
    proto: int
    account: str | None = None
    oper: bool = False
    node: str | None = None
    limits: Limits | None = None


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
    edited: bool = False  # its text was changed by its author after it was sent


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


class KeyInfo(msgspec.Struct, omit_defaults=True):
    """One SSH key of an account: ``kind`` and ``comment`` are empty for a key pinned at sign-in
    (the gateway vouches for its fingerprint only); ``current`` marks this session's key."""

    fingerprint: str
    added_ms: int
    kind: str = ""
    comment: str = ""
    current: bool = False


class KeyList(_ServerBase, tag="key_list"):
    """The reply to ``keys``, ``key_add`` and ``key_remove``: the account's keys, oldest first;
    ``password`` says whether the account also has a password."""

    keys: list[KeyInfo]
    password: bool


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


class Edited(_ServerBase, tag="edited"):
    """Message ``id`` of ``room`` now says ``text``: its author ``by`` edited it at ``ts``."""

    room: str
    id: int
    text: str
    by: str | None = None
    ts: int | None = None


class SearchHit(msgspec.Struct):
    """One message a ``search`` found: where, which, who, what and when."""

    room: str
    id: int
    nick: str
    text: str
    ts: int


class SearchResults(_ServerBase, tag="search_results"):
    """The reply to ``search``: hits newest first; with ``more``, ``next`` is the ``before``
    that asks for the following page."""

    query: str
    results: list[SearchHit]
    more: bool
    room: str | None = None
    next: int | None = None


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
    | KeyList
    | WhoisInfo
    | Mode
    | Kicked
    | Moderated
    | BanList
    | Deleted
    | Edited
    | SearchResults
)
