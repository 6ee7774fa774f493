"""Client-side chat state, computed once in the engine and shown by every frontend.

This module owns what a client knows about the chat: its conversations (rooms and direct
messages) with their topic, members and away flags, a bounded scrollback of ``Line`` values, the
unread count and mention flag, the user's own messages that are still pending until the
server's echo confirms them by nonce, and moderation's part: each member's role in a room (owner,
op or member; the member list sorts by it, as IRC clients do), whether a room's topic is locked,
and whether we are a server operator. It also owns the immutable views handed to frontends:
``Line``, ``StateSnapshot``, ``ConversationView``, ``ConnectionStatus`` and ``PresenceChange``.
These are frozen values, so a frontend on another thread may keep them without locking. The
mutable ``ChatState`` and ``Conversation`` belong to the engine's event loop and are only touched
there. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import itertools
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Final

from app.protocol import fold

DEFAULT_SCROLLBACK: Final = 5000


class ConnectionState(str, enum.Enum):
    """Where the engine's link to the server stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class ConversationKind(str, enum.Enum):
    ROOM = "room"
    DIRECT = "direct"


class LineKind(str, enum.Enum):
    """What a scrollback line is, so a frontend can style it without parsing its text."""

    MESSAGE = "message"
    ACTION = "action"  # /me: shown as "* nick waves"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    NICK = "nick"
    TOPIC = "topic"
    NOTICE = "notice"  # local information: /help, /who, /rooms output
    ERROR = "error"  # a local or server error, already readable
    GAP = "gap"  # more was missed during a disconnection than was fetched
    MODERATION = "moderation"  # a kick, ban, mute, role change or topic lock


@dataclass(frozen=True, slots=True)
class Line:
    """One scrollback entry.

    ``seq`` is unique within an engine and survives updates: when a pending line is confirmed
    (or fails) the engine sends a new ``Line`` with the same ``seq``. ``id`` is the server's
    message id, present once the server has stored the message. ``ts`` is milliseconds since the
    Unix epoch (the server's clock for messages, ours for local lines).
    """

    seq: int
    kind: LineKind
    text: str
    ts: int
    sender: str | None = None
    id: int | None = None
    nonce: str | None = None
    own: bool = False
    pending: bool = False
    failed: bool = False
    mention: bool = False
    # A deleted message keeps its place; ``text`` then says so instead of what it said.
    deleted: bool = False
    # Its author changed ``text`` after sending it (``edits.py``); shown as "(edited)".
    edited: bool = False

    @property
    def is_chat(self) -> bool:
        """A message or action written by someone, as opposed to an event or a notice."""
        return self.kind in (LineKind.MESSAGE, LineKind.ACTION)


# Roles in a room, highest first, and the mark IRC clients put before a nick.
ROLE_RANK: Final = {"owner": 0, "op": 1, "member": 2}
ROLE_PREFIX: Final = {"owner": "~", "op": "@", "member": ""}


def role_of(word: str | None) -> str:
    """A role as the wire spells it, or ``member`` for none (or one this version does not know)."""
    return word if word in ROLE_RANK else "member"


@dataclass(frozen=True, slots=True)
class MemberView:
    nick: str
    away: bool = False
    role: str = "member"  # "owner" | "op" | "member"
    away_text: str = ""  # why, when a presence said so

    @property
    def prefix(self) -> str:
        """``~`` for the owner, ``@`` for an op, nothing for a member."""
        return ROLE_PREFIX.get(self.role, "")

    @property
    def sort_key(self) -> tuple[int, str]:
        return ROLE_RANK.get(self.role, len(ROLE_RANK)), fold(self.nick)


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as the sidebar and the member list need it (no scrollback)."""

    key: str
    name: str
    kind: ConversationKind
    topic: str
    members: tuple[MemberView, ...]
    unread: int
    mention: bool
    joined: bool
    has_older: bool
    locked: bool = False  # only ops may set the topic

    def member(self, nick: str) -> MemberView | None:
        wanted = fold(nick)
        for member in self.members:
            if fold(member.nick) == wanted:
                return member
        return None

    def role(self, nick: str) -> str:
        """``nick``'s role here: ``member`` for anyone not listed with another one."""
        member = self.member(nick)
        return member.role if member is not None else "member"


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """The link's state. While reconnecting, ``retry_at`` is a ``time.monotonic()`` instant.

    A frontend shows a countdown as ``max(0, retry_at - time.monotonic())``; the engine sends a
    new status when the attempt starts, so no timer is needed to learn the outcome.
    """

    state: ConnectionState
    server: str
    attempt: int = 0
    retry_at: float | None = None
    detail: str = ""

    def retry_in(self, now: float | None = None) -> float | None:
        """Seconds until the next attempt, or None when no attempt is scheduled."""
        if self.retry_at is None:
            return None
        return max(0.0, self.retry_at - (time.monotonic() if now is None else now))


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """Someone joined, left, quit, changed nick, went away or came back in a conversation."""

    conversation: str
    nick: str
    event: str  # "join" | "part" | "quit" | "nick" | "away" | "back" | "kick"
    old: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """Everything but scrollback, as one immutable value; sent on every state change."""

    nick: str
    server: str
    connection: ConnectionStatus
    conversations: tuple[ConversationView, ...]
    active: str | None
    away: str | None = None  # our own away text; None when we are here
    oper: bool = False  # we are a server operator
    outbox: int = 0  # our lines typed and not yet confirmed by the server
    # Of those, the ones not handed to the server on this connection: what quitting would drop.
    unsent: int = 0

    def conversation(self, key: str) -> ConversationView | None:
        wanted = fold(key)
        for view in self.conversations:
            if view.key == wanted:
                return view
        return None

    @property
    def active_view(self) -> ConversationView | None:
        return None if self.active is None else self.conversation(self.active)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_seq: Final = itertools.count(1)


def next_seq() -> int:
    """A process-wide line number; process-wide so two engines in one test never collide."""
    return next(_seq)


def mentions(text: str, nick: str) -> bool:
    """Whether ``text`` names ``nick`` as a whole word, ignoring case."""
    if not nick:
        return False
    pattern = rf"(?<![A-Za-z0-9_-]){re.escape(nick)}(?![A-Za-z0-9_-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


@dataclass
class Conversation:
    """A room or a direct conversation, owned and mutated by the engine's loop only."""

    name: str
    kind: ConversationKind
    scrollback: int = DEFAULT_SCROLLBACK
    topic: str = ""
    members: dict[str, MemberView] = field(default_factory=dict)
    unread: int = 0
    mention: bool = False
    joined: bool = False
    # Older history exists on the server before our oldest line (from ``history.more``).
    has_older: bool = False
    locked: bool = False
    # The highest message id seen here; the resume point after a reconnect.
    last_id: int | None = None
    pending: dict[str, Line] = field(default_factory=dict)
    # The seq of the last line held when the user last left this conversation (the unread
    # marker); None if they never left it.
    marker: int | None = None
    lines: deque[Line] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.scrollback)

    @property
    def key(self) -> str:
        return fold(self.name)

    @property
    def oldest_id(self) -> int | None:
        for line in self.lines:
            if line.id is not None:
                return line.id
        return None

    def view(self) -> ConversationView:
        members = tuple(sorted(self.members.values(), key=lambda m: m.sort_key))
        return ConversationView(
            key=self.key,
            name=self.name,
            kind=self.kind,
            topic=self.topic,
            members=members,
            unread=self.unread,
            mention=self.mention,
            joined=self.joined,
            has_older=self.has_older,
            locked=self.locked,
        )

    # --- members ------------------------------------------------------------------------

    def set_members(self, nicks: Iterable[str], roles: dict[str, str] | None = None) -> None:
        """The member list from ``joined``: away flags carry over, roles are ``roles``'."""
        old = self.members
        given = {fold(nick): role_of(role) for nick, role in (roles or {}).items()}
        self.members = {}
        for nick in nicks:
            previous = old.get(fold(nick))
            away = previous.away if previous else False
            self.members[fold(nick)] = MemberView(nick, away, given.get(fold(nick), "member"))

    def add_member(self, nick: str, away: bool = False) -> None:
        self.members[fold(nick)] = MemberView(nick, away)

    def set_role(self, nick: str, role: str) -> bool:
        member = self.members.get(fold(nick))
        if member is None or member.role == role:
            return False
        self.members[fold(nick)] = replace(member, role=role_of(role))
        return True

    def remove_member(self, nick: str) -> bool:
        return self.members.pop(fold(nick), None) is not None

    def rename_member(self, old: str, new: str) -> bool:
        member = self.members.pop(fold(old), None)
        if member is None:
            return False
        self.members[fold(new)] = replace(member, nick=new)
        return True

    def set_away(self, nick: str, away: bool, text: str = "") -> bool:
        member = self.members.get(fold(nick))
        if member is None or (member.away == away and member.away_text == text):
            return False
        self.members[fold(nick)] = replace(member, away=away, away_text=text if away else "")
        return True

    # --- scrollback ---------------------------------------------------------------------

    def append(self, line: Line, *, active: bool) -> None:
        """Add a line at the end, counting it as unread unless it is ours or shown already."""
        self.lines.append(line)
        if line.id is not None and (self.last_id is None or line.id > self.last_id):
            self.last_id = line.id
        if line.pending and line.nonce is not None:
            self.pending[line.nonce] = line
        if line.is_chat and not line.own and not active:
            self.unread += 1
            if line.mention or self.kind is ConversationKind.DIRECT:
                self.mention = True

    def find_id(self, message_id: int) -> Line | None:
        """The line of the server's message ``message_id``, if it is still held."""
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index].id == message_id:
                return self.lines[index]
        return None

    def message_ids(self) -> set[int]:
        """The server ids of the messages held, for de-duplicating a page in one pass."""
        return {line.id for line in self.lines if line.id is not None}

    def replace(self, updated: Line) -> bool:
        """Swap in a new version of the line with the same ``seq``; False if it scrolled away."""
        if updated.nonce is not None and not updated.pending:
            self.pending.pop(updated.nonce, None)
        if updated.id is not None and (self.last_id is None or updated.id > self.last_id):
            self.last_id = updated.id
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index].seq == updated.seq:
                self.lines[index] = updated
                return True
        return False

    def insert_before_id(self, lines: list[Line], limit_id: int | None) -> None:
        """Insert catch-up lines just before the first message whose id is ``limit_id`` or more.

        Used after a reconnect: the rejoin's history page (the newest messages) is already shown,
        and the messages missed between our last id and that page go in front of it.
        """
        if not lines:
            return
        index = len(self.lines)
        if limit_id is not None:
            for position, line in enumerate(self.lines):
                if line.id is not None and line.id >= limit_id:
                    index = position
                    break
        merged = list(self.lines)
        merged[index:index] = lines
        self._refill(merged, keep_newest=True)
        newest = max((line.id for line in lines if line.id is not None), default=None)
        if newest is not None and (self.last_id is None or newest > self.last_id):
            self.last_id = newest

    def prepend(self, lines: list[Line]) -> int:
        """Put older history in front; returns how many fitted in the free scrollback."""
        room = self.scrollback - len(self.lines)
        if room <= 0:
            return 0
        fitting = lines[-room:]
        self._refill(fitting + list(self.lines), keep_newest=True)
        return len(fitting)

    def clear(self) -> None:
        self.lines.clear()
        self.pending.clear()

    def mark_read(self) -> None:
        self.unread = 0
        self.mention = False

    def _refill(self, lines: list[Line], *, keep_newest: bool) -> None:
        kept = lines[-self.scrollback :] if keep_newest else lines[: self.scrollback]
        self.lines = deque(kept, maxlen=self.scrollback)


class ChatState:
    """The user's nick, the conversations in sidebar order, the active one, and the link."""

    def __init__(self, nick: str, server: str, scrollback: int = DEFAULT_SCROLLBACK) -> None:
        self.nick = nick
        self.server = server
        self.scrollback = scrollback
        self.connection = ConnectionStatus(ConnectionState.CONNECTING, server)
        self.conversations: dict[str, Conversation] = {}
        self.active: str | None = None
        self.away: str | None = None
        self.oper = False
        self.outbox = 0
        self.unsent = 0

    def __iter__(self) -> Iterator[Conversation]:
        return iter(self.conversations.values())

    def get(self, name: str) -> Conversation | None:
        return self.conversations.get(fold(name))

    def ensure(self, name: str, kind: ConversationKind) -> Conversation:
        """The conversation called ``name``, created at the end of the list if new."""
        conversation = self.conversations.get(fold(name))
        if conversation is None:
            conversation = Conversation(name=name, kind=kind, scrollback=self.scrollback)
            self.conversations[conversation.key] = conversation
        return conversation

    def remove(self, name: str) -> None:
        """Drop a conversation; if it was active, the one before it (or after) becomes active."""
        key = fold(name)
        if key not in self.conversations:
            return
        keys = list(self.conversations)
        position = keys.index(key)
        del self.conversations[key]
        if self.active == key:
            rest = list(self.conversations)
            self.active = rest[max(0, position - 1)] if rest else None
            if self.active is not None:
                self.conversations[self.active].mark_read()

    def rename(self, old: str, new: str) -> Conversation | None:
        """Re-key a direct conversation when its peer changes nick, keeping sidebar order."""
        conversation = self.conversations.get(fold(old))
        if conversation is None or (fold(new) in self.conversations and fold(new) != fold(old)):
            return None
        items = [
            (fold(new), conversation) if key == fold(old) else (key, value)
            for key, value in self.conversations.items()
        ]
        conversation.name = new
        self.conversations = dict(items)
        if self.active == fold(old):
            self.active = fold(new)
        return conversation

    def activate(self, name: str) -> Conversation | None:
        conversation = self.conversations.get(fold(name))
        left = self.active_conversation
        if conversation is not None and left is not None and left is not conversation:
            left.marker = left.lines[-1].seq if left.lines else None
        if conversation is not None:
            self.active = conversation.key
            conversation.mark_read()
        return conversation

    @property
    def active_conversation(self) -> Conversation | None:
        return None if self.active is None else self.conversations.get(self.active)

    def away_text(self, nick: str) -> str | None:
        """Why ``nick`` is away (``""`` if no reason is known) when a room we share says they
        are; None when they are not, or share no room with us."""
        for conversation in self.conversations.values():
            member = conversation.members.get(fold(nick))
            if member is not None and member.away:
                return member.away_text
        return None

    def joined_rooms(self) -> list[str]:
        return [
            c.name
            for c in self.conversations.values()
            if c.kind is ConversationKind.ROOM and c.joined
        ]

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(
            nick=self.nick,
            server=self.server,
            connection=self.connection,
            conversations=tuple(c.view() for c in self.conversations.values()),
            active=self.active,
            away=self.away,
            oper=self.oper,
            outbox=self.outbox,
            unsent=self.unsent,
        )


def confirmed(line: Line, *, message_id: int, ts: int) -> Line:
    """The confirmed version of a pending line, as the server's echo describes it."""
    return replace(line, id=message_id, ts=ts, pending=False, failed=False)


def failed(line: Line) -> Line:
    return replace(line, pending=False, failed=True)
