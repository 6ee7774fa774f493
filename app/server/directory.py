"""Who is where: the rooms this process knows, who is in each, and what it caches about them.

``Rooms`` is the only owner of room membership. It keeps two indexes (members by room, rooms by
session) and nothing else writes either: ``join``, ``part`` and ``leave_all`` change both, and
every other view (``members``, ``rooms_of``, ``is_member``) is read from them.

A room is held only while it is used: ``create`` makes it for the join that names it, and
``forget_if_unused`` drops it once nobody is in it and no join is waiting for it, so memory grows
with the rooms in use, never with the rooms ever made. Two things per room are *caches* of the
store, read when the room is first joined (``refill`` with the store's ``load_room``) and then kept
up to date by this process alone: the topic (written through by the ``topic`` frame) and the window
of newest messages that answers a later ``join`` without reading the disk (extended by fan-out on
each commit, losing the text of a message deleted: ``blank``, and taking the new text of one edited:
``revise``). With one process they are exact. A node of a deployment sharing rooms follows the
room's channel from before the first read until the room is forgotten, and its fan-out puts every
message it delivers into the window (``remember``) and calls ``topic_changed``, ``blank`` and
``revise`` for other nodes' changes, so its copies stay exact too; a ``refill`` keeps what was
delivered while the read was on its way. ``stale`` marks a window to be read again at the next join.
Two hooks tell a node what changes here: ``seats`` hears every join (before the member is added) and
part, ``on_forget`` every room dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, Protocol

from app.server.session import Session
from app.store import Page, StoredMessage, StoredRoom

log = logging.getLogger("parley.server")

_NOBODY: Mapping[str, Session] = MappingProxyType({})
# A room's window of newest messages holds at most this many characters of text (and at most
# ``--recent`` messages): it bounds the memory of each held room and the history a join sends.
WINDOW_CHARS: Final = 16_000


@dataclass
class Room:
    """A room's cached state: topic, newest messages, and whether older ones exist."""

    name: str
    recent: deque[StoredMessage]
    topic: str = ""
    topic_by: str = ""
    has_older: bool = False
    # False until the window is read from the store, and again once another process may have
    # added messages: the next join reads the window anew.
    fresh: bool = False
    # Whether the topic was read from the store (only the first read sets it).
    loaded: bool = False
    # Joins waiting for the store's read of this room: it is not forgotten under them.
    waiting: int = 0
    # Ids read by a refill that a fan-out already on its way may bring again (see ``refill``).
    refilled: frozenset[int] = frozenset()
    # Characters of text in ``recent``, kept at most ``WINDOW_CHARS``.
    recent_chars: int = 0
    # Whether its creation was charged to an address: once, to the first of the joins that
    # arrive together before anyone is in it.
    charged: bool = False

    def add_newest(self, message: StoredMessage) -> None:
        """Put ``message`` at the new end of the window, pushing out what no longer fits."""
        window = self.recent
        if len(window) == window.maxlen:
            self.drop_oldest()
        window.append(message)
        self.recent_chars += len(message.text)
        while self.recent_chars > WINDOW_CHARS and len(window) > 1:
            self.drop_oldest()

    def drop_oldest(self) -> StoredMessage:
        """Take the oldest message out of the window: older ones now exist (in the store)."""
        message = self.recent.popleft()
        self.recent_chars -= len(message.text)
        self.has_older = True
        return message


class Seats(Protocol):
    """Who is told each change of membership."""

    def seated(self, name: str, session: Session) -> None: ...

    def unseated(self, name: str, session: Session) -> None: ...


class _NoSeats:
    def seated(self, name: str, session: Session) -> None:
        return None

    def unseated(self, name: str, session: Session) -> None:
        return None


class Rooms:
    """Every room this process knows, and the only record of who is in which."""

    def __init__(self, recent: int) -> None:
        self.recent = recent  # the size of each room's window of newest messages
        self._rooms: dict[str, Room] = {}
        self._members: dict[str, dict[str, Session]] = {}  # room -> session id -> session
        self._joined: dict[str, set[str]] = {}  # session id -> rooms
        # Told the name of each room dropped (a node stops following its channel).
        self.on_forget: Callable[[str], None] = _nothing
        # Told every join and part (a node records them in Redis: ``node_roster.py``).
        self.seats: Seats = _NoSeats()

    # --- rooms ---

    def get(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def create(self, name: str) -> Room:
        """Hold ``name`` (not yet read from the store: ``fresh`` is False)."""
        room = self._rooms[name] = Room(name, deque(maxlen=self.recent))
        return room

    def forget_if_unused(self, name: str) -> bool:
        """Drop ``name`` if nobody is in it and no join waits for it; whether it was dropped."""
        room = self._rooms.get(name)
        if room is None or room.waiting or name in self._members:
            return False
        del self._rooms[name]
        self.on_forget(name)
        return True

    def __iter__(self) -> Iterator[Room]:
        return iter(self._rooms.values())

    def __len__(self) -> int:
        return len(self._rooms)

    # --- membership ---

    def members(self, name: str) -> Mapping[str, Session]:
        """The members of ``name`` by session id (read-only; empty for an unknown room)."""
        members = self._members.get(name)
        return _NOBODY if members is None else members

    def is_member(self, name: str, session: Session) -> bool:
        return session.id in self._members.get(name, _NOBODY)

    def rooms_of(self, session: Session) -> list[str]:
        """The rooms ``session`` is in, sorted (the order its events are announced in)."""
        return sorted(self._joined.get(session.id, ()))

    def count_of(self, session: Session) -> int:
        """How many rooms ``session`` is in."""
        return len(self._joined.get(session.id, ()))

    def join(self, name: str, session: Session) -> bool:
        """Put ``session`` in ``name``; False if it already was."""
        members = self._members.setdefault(name, {})
        if session.id in members:
            return False
        self.seats.seated(name, session)  # before: a node writes what its members were due
        members[session.id] = session
        self._joined.setdefault(session.id, set()).add(name)
        return True

    def part(self, name: str, session: Session) -> bool:
        """Take ``session`` out of ``name``; False if it was not in it."""
        members = self._members.get(name)
        if members is None or members.pop(session.id, None) is None:
            return False
        if not members:
            del self._members[name]
        joined = self._joined[session.id]
        joined.discard(name)
        if not joined:
            del self._joined[session.id]
        self.seats.unseated(name, session)
        return True

    def leave_all(self, session: Session) -> list[str]:
        """Take ``session`` out of every room; the rooms it was in, sorted."""
        names = self.rooms_of(session)
        for name in names:
            self.part(name, session)
        return names

    # --- caches and their invalidation ---

    def remember(self, name: str, messages: Iterable[StoredMessage]) -> None:
        """Committed messages of ``name`` enter its window (called by fan-out); a room no longer
        held reads them from the store when it is next joined."""
        room = self._rooms.get(name)
        if room is None:
            return
        refilled, room.refilled = room.refilled, frozenset()
        for message in messages:
            if message.id in refilled:
                continue
            # Older messages exist once one is pushed out of the window, not when it is full.
            room.add_newest(message)

    def refill(self, room: Room, stored: StoredRoom | None, page: Page) -> None:
        """Replace the window of a room not fresh with ``page``, its newest messages from the
        store, and take its topic from ``stored`` if it was never read.

        Called from the read's completion, in the store's order: every message committed before
        the read is in ``page``, every later one is not yet committed. Those committed but not
        yet fanned out (fan-out is paced) are in the next ``remember``, which skips them. A topic
        set here since the read was submitted is newer than ``stored``, so only the first read
        sets it.
        """
        if self._rooms.get(room.name) is not room:
            return  # forgotten while the read was on its way
        if not room.loaded:
            room.loaded = True
            if stored is not None:
                room.topic, room.topic_by = stored.topic, stored.topic_by
        # A node may have delivered messages newer than the read while it was on its way.
        top = page.messages[-1].id if page.messages else 0
        later = [m for m in room.recent if m.id > top]
        room.recent.clear()
        room.recent_chars = 0
        room.has_older = page.more
        for message in (*page.messages, *later):
            room.add_newest(message)
        room.fresh = True
        room.refilled = frozenset(m.id for m in page.messages)

    def blank(self, name: str, message_id: int) -> None:
        """Message ``message_id`` of ``name`` was deleted: its window keeps it without its text."""
        room = self._rooms.get(name)
        if room is None:
            return
        for i, message in enumerate(room.recent):
            if message.id == message_id:
                room.recent_chars -= len(message.text)
                room.recent[i] = replace(message, text="", deleted=True)
                return

    def revise(self, name: str, message_id: int, text: str) -> None:
        """Message ``message_id`` of ``name`` was edited: its window holds the new ``text``."""
        room = self._rooms.get(name)
        if room is None:
            return
        for i, message in enumerate(room.recent):
            if message.id == message_id:
                if not message.deleted:
                    room.recent_chars += len(text) - len(message.text)
                    room.recent[i] = replace(message, text=text, edited=True)
                    while room.recent_chars > WINDOW_CHARS and len(room.recent) > 1:
                        room.drop_oldest()
                return

    def stale(self, name: str) -> None:
        """Hook: messages of ``name`` were committed elsewhere; reread its window on next join."""
        room = self._rooms.get(name)
        if room is not None:
            room.fresh = False

    def topic_changed(self, name: str, topic: str, by: str) -> None:
        """Hook, and the ``topic`` frame's write: the room's topic is now ``topic``."""
        room = self._rooms.get(name)
        if room is not None:
            room.topic, room.topic_by = topic, by
            room.loaded = True  # newer than what a read on its way would bring


def _nothing(name: str) -> None:
    return None
