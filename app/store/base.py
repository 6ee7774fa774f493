"""The store interface: what the server asks of a history backend.

The hub never touches a database. It hands messages to a ``History`` to be made durable and is
called back, on its own event loop and in submission order, once they are; reads are answered the
same way. Every operation is ordered after the ones submitted before it, which is what lets the
hub use ``barrier`` to send a reply only after the effects of a client's earlier frames went out.
A write the storage refuses (read-only, full, an I/O error) is never silent: its ``failed``
callback runs in that same order, with the reason, and the store logs one line when writing
starts failing and one when it works again (``WriteHealth``), not one per operation.
SQLite (``app/store/sqlite.py``) is the embedded default; a Redis or PostgreSQL backend is another
class with the same methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# Why a write or read did not happen, for the log: "database or disk is full".
Failed = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A room message as history keeps it."""

    id: int
    ts: int
    room: str
    sender: str
    text: str
    action: bool
    deleted: bool = False  # deleted by moderation or its author: ``text`` is "" then
    edited: bool = False  # its text was replaced by its author's ``edit_message``


@dataclass(frozen=True, slots=True)
class StoredRoom:
    """A room's durable state: its display name and topic."""

    room: str
    topic: str
    topic_by: str


@dataclass(frozen=True, slots=True)
class Page:
    """Messages of one room, oldest first; ``more`` says older (or newer) ones exist."""

    messages: list[StoredMessage]
    more: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the hub needs at start-up: the last id used (stored or reserved). Nothing per room:
    a room is read when it is first joined (``load_room``), so start-up does not grow with the
    number of rooms stored."""

    last_id: int


class History(Protocol):
    """Durable history, driven from one event loop; callbacks run on that loop, in order."""

    def open(self) -> Snapshot:
        """Open the store and read what the hub starts from (blocking: call before serving)."""
        ...

    def append(
        self,
        messages: Sequence[StoredMessage],
        done: Callable[[Sequence[StoredMessage]], None],
        failed: Callable[[Sequence[StoredMessage], str], None],
    ) -> None:
        """Make ``messages`` durable, then call ``done`` with them; or, if the storage refused
        them, ``failed`` with them and the reason (none of them is stored)."""
        ...

    def reserve_ids(self, upto: int) -> None:
        """Record that ids up to ``upto`` may be in use (direct messages are not stored)."""
        ...

    def save_room(self, room: StoredRoom, done: Callable[[], None], failed: Failed) -> None:
        """Record a room's topic, then call ``done``; or ``failed`` with the reason."""
        ...

    def page(
        self,
        room: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[Page], None],
        failed: Failed | None = None,
    ) -> None:
        """Read one page of ``room`` older than ``before`` or newer than ``after``; if the
        storage cannot be read, call ``failed`` with the reason (without it, nothing is called
        and the failure is only logged)."""
        ...

    def trim(
        self,
        older_than: int | None,
        keep: int | None,
        limit: int,
        done: Callable[[int], None],
        failed: Failed,
    ) -> None:
        """Delete at most ``limit`` messages that are older than ``older_than`` (a ``ts``) or
        beyond the newest ``keep`` of their room, oldest first; ``done`` gets how many went, or
        ``failed`` the reason none did.

        Bounded so that a large trim is many small jobs between which other work runs: call
        again until fewer than ``limit`` were deleted.
        """
        ...

    def barrier(self, done: Callable[[], None]) -> None:
        """Call ``done`` once everything submitted before it has completed."""
        ...

    @property
    def idle(self) -> bool:
        """True when nothing submitted is still in flight."""
        ...

    async def close(self) -> None:
        """Finish everything submitted, then close."""
        ...

    def load_room(
        self,
        room: str,
        recent: int,
        done: Callable[[StoredRoom | None, Page], None],
        failed: Failed,
    ) -> None:
        """Read ``room``'s stored state (``None`` if it has none) and its newest ``recent``
        messages, oldest first, with ``more`` saying whether older ones exist; ``failed`` if the
        storage cannot be read."""
        ...

    def forget_room(self, room: str) -> None:
        """Delete ``room``'s stored state unless it holds messages (ordered, no callback)."""
        ...

    def find_message(
        self, id: int, done: Callable[[StoredMessage | None], None], failed: Failed
    ) -> None:
        """Read room message ``id`` (``None`` if no room message has it)."""
        ...

    def delete_message(self, id: int, done: Callable[[bool], None], failed: Failed) -> None:
        """Mark room message ``id`` deleted and forget its text for good (it pages on as
        ``deleted`` with ``text`` ""); ``done(False)`` if there is no such message."""
        ...

    def edit_message(
        self,
        id: int,
        room: str,
        text: str,
        at: int,
        done: Callable[[bool], None],
        failed: Failed,
    ) -> None:
        """Replace the text of message ``id`` of ``room`` by ``text`` and mark it edited (at
        ``at``, a ``ts``), in place: it pages on with the new text and ``edited``. ``done(False)``
        if ``room`` has no such message or it is deleted (a deleted message keeps no text)."""
        ...


class WriteHealth:
    """Whether the storage takes writes, logged once per change rather than once per write.

    A backend calls ``failed`` for every write its storage refused and ``worked`` for every one
    it committed; the first failure after success logs one error line, the first success after
    a failure one warning line. Called from one thread (a backend's writer) only.
    """

    def __init__(self, where: str, log: logging.Logger) -> None:
        self.where = where
        self.log = log
        self.writable = True

    def failed(self, reason: str) -> None:
        if self.writable:
            self.writable = False
            self.log.error(
                "cannot write the history in %s: %s; messages and topics are refused as"
                " unavailable until it can be written again",
                self.where,
                reason,
            )

    def worked(self) -> None:
        if not self.writable:
            self.writable = True
            self.log.warning("the history in %s can be written again", self.where)
