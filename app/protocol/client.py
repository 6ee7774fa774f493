"""The frames a client sends, one msgspec ``Struct`` per type, and ``ClientFrame``, their union.

Each class is one row of ``docs/protocol.md``'s "Client → server" (and "Moderation") table; the
``type`` tag on the wire is the class's ``tag``.
"""

from __future__ import annotations

from typing import Final

import msgspec
from msgspec import UNSET, UnsetType

from app.protocol.base import ROOMS_PAGE, SEARCH_LIMIT, WHO_PAGE, Ref


class _ClientBase(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    ref: Ref | UnsetType = UNSET


class KeyClaim(msgspec.Struct):
    """An SSH gateway's word that this session's key has ``fingerprint``, with its proof
    (``app/protocol/keys.py``): ``at`` is when it was made, in seconds since the epoch."""

    fingerprint: str
    at: int
    proof: str


class Hello(_ClientBase, tag="hello", kw_only=True):
    """``password`` signs in to the account ``nick`` is (a registered nick needs it); ``key``
    signs in to the account pinned to that SSH key (then ``nick`` may be left out), and ``pin``
    makes ``nick``, if it is no account yet, one pinned to the key."""

    nick: str | None = None
    proto: int
    password: str | None = None
    key: KeyClaim | None = None
    pin: bool = False


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


class ListKeys(_ClientBase, tag="keys"):
    """The SSH keys of the sender's account."""


class AddKey(_ClientBase, tag="key_add"):
    """Pin one more SSH key (an OpenSSH public key line) to the sender's account."""

    key: str


class RemoveKey(_ClientBase, tag="key_remove"):
    fingerprint: str


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


# Edits (docs/protocol.md, "Editing messages"): an author changes the text of a room message.


class Edit(_ClientBase, tag="edit"):
    """Replace the text of the room message ``id`` (its author's, within the server's window);
    ``room``, when given, must be the message's room."""

    id: int
    text: str
    room: str | None = None


class Search(_ClientBase, tag="search"):
    """Search the history of ``room``, or of every room the sender is in: a page of hits,
    newest first, older than the message id ``before``."""

    query: str
    room: str | None = None
    before: int | None = None
    limit: int = SEARCH_LIMIT


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
    | ListKeys
    | AddKey
    | RemoveKey
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
    | Edit
    | Search
)
CLIENT_TYPES: Final = frozenset(t.__struct_config__.tag for t in ClientFrame.__args__)
