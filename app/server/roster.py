"""The roster seam: who holds which nick and who is in which room, beyond this process.

One process knows everyone itself (``Rooms`` and ``Context.nicks``), so its ``Roster`` is
``Alone``: every claim of a nick it has checked locally stands, and ``members`` and ``rooms``
answer ``None``, which tells the room feature to list what ``Rooms`` holds; ``where`` finds
nobody elsewhere. A node of a shared
deployment has a roster kept in Redis (``node_roster.NodeRoster``): a nick is claimed there
atomically before a session takes it, every join and part is recorded there (``Rooms`` tells its
``seats``), and ``who``, ``joined`` and ``rooms`` list the members of every node; a direct
message to a nick held on another node is sent there (``where``, ``deliver``), a kill of a
session there is an order to its node (``find``, ``order``, ``obey``), a kick or a ban's removal
is one room event that the member's node acts on before its members hear it (``everywhere``,
``expel``); a server-wide
ban is announced to every node (``announce``, ``heed``). ``Member`` is
what a listing needs of a member, whether it is a local ``Session`` or a seat recorded by
another node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, Protocol

from app import protocol as p
from app.server.session import Session


class Holder(NamedTuple):
    """Who holds a nick on another process: ``owner`` ("NODE SESSION"), the ``nick`` as
    written, and ``since`` when that session connected (ms since the epoch)."""

    owner: str
    nick: str
    since: int


class Member(Protocol):
    """A member of a room as listings show it (a ``Session`` is one)."""

    @property
    def nick(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def away(self) -> str | None: ...

    @property
    def ip(self) -> str: ...


class Roster(Protocol):
    """Nicks and membership across every process that shares the rooms."""

    alone: bool  # True for one process: there is nobody elsewhere

    async def claim(self, s: Session, nick: str) -> bool | None:
        """Claim ``nick`` (in any case) for ``s``: True if it holds it now, False if another
        process's session does, None if that cannot be known now."""
        ...

    def release(self, s: Session, key: str) -> None:
        """``s`` no longer holds ``key``."""
        ...

    def changed(self, s: Session, rooms: Sequence[str]) -> None:
        """``s``'s nick or away text changed; it is in ``rooms``."""
        ...

    async def where(self, key: str) -> Holder | None:
        """Who holds folded nick ``key`` on another process, or None. Raises
        ``feature.Unavailable``."""
        ...

    def deliver(self, owner: str, frame: p.ServerFrame) -> None:
        """Send ``frame`` to the session ``owner`` (as ``where`` names it) on its process."""
        ...

    async def find(self, room: str, key: str) -> tuple[str, Member] | None:
        """The member of ``room`` with folded nick ``key`` on another process, and who it is
        there ("NODE SESSION"), or None. Raises ``feature.Unavailable``."""
        ...

    async def elsewhere(self, room: str) -> list[tuple[str, Member]]:
        """The members of ``room`` on other processes, each with who it is there. Raises
        ``feature.Unavailable``."""
        ...

    async def everywhere(self, room: str) -> list[tuple[str, Member]]:
        """Every member of ``room`` on every process, each with who it is there. Raises
        ``feature.Unavailable``."""
        ...

    def expel(
        self,
        room: str,
        victims: Sequence[tuple[str, Member]],
        by: str,
        reason: str | None,
        skip: Session | None = None,
    ) -> None:
        """Take ``victims`` (who each is, as ``everywhere`` names it, and the member) out of
        ``room`` and tell the room a ``presence`` kick for each, as one room event: their
        processes remove them all (as ``obey("expel")`` registered) before any member hears a
        kick, and whoever hears one finds them gone; ``skip`` (the actor, answered apart) does
        not get it."""
        ...

    def order(self, owner: str, action: str, arguments: Sequence[str]) -> None:
        """Have the process of session ``owner`` do ``action`` to it (as ``obey`` registered)."""
        ...

    def obey(self, action: str, handler: Callable[[Session, list[str]], None]) -> None:
        """Do ``handler(session, arguments)`` when another process orders ``action``."""
        ...

    def announce(self, action: str, arguments: Sequence[str]) -> None:
        """Have every other process do ``action`` (as ``heed`` registered)."""
        ...

    def heed(self, action: str, handler: Callable[[list[str]], Awaitable[None]]) -> None:
        """Await ``handler(arguments)`` when another process announces ``action``."""
        ...

    async def members(self, room: str) -> Sequence[Member] | None:
        """Every member of ``room``, or None: only this process's, which ``Rooms`` has.
        Raises ``feature.Unavailable`` if they cannot be read."""
        ...

    async def rooms(self, after: str, limit: int) -> list[p.RoomInfo] | None:
        """Up to ``limit`` rooms with members, by name after ``after``, or None: this
        process's, which ``Rooms`` has. Raises ``feature.Unavailable``."""
        ...


class Alone:
    """The ``Roster`` of a single process: it knows everyone already."""

    alone = True

    async def claim(self, s: Session, nick: str) -> bool | None:
        return True

    def release(self, s: Session, key: str) -> None:
        return None

    def changed(self, s: Session, rooms: Sequence[str]) -> None:
        return None

    async def where(self, key: str) -> Holder | None:
        return None

    def deliver(self, owner: str, frame: p.ServerFrame) -> None:
        raise AssertionError("one process has no other to deliver to")

    async def find(self, room: str, key: str) -> tuple[str, Member] | None:
        return None

    async def elsewhere(self, room: str) -> list[tuple[str, Member]]:
        return []

    async def everywhere(self, room: str) -> list[tuple[str, Member]]:
        raise AssertionError("one process lists its members from Rooms")

    def expel(
        self,
        room: str,
        victims: Sequence[tuple[str, Member]],
        by: str,
        reason: str | None,
        skip: Session | None = None,
    ) -> None:
        raise AssertionError("one process removes its members itself")

    def order(self, owner: str, action: str, arguments: Sequence[str]) -> None:
        raise AssertionError("one process has no other to order")

    def obey(self, action: str, handler: Callable[[Session, list[str]], None]) -> None:
        return None

    def announce(self, action: str, arguments: Sequence[str]) -> None:
        return None

    def heed(self, action: str, handler: Callable[[list[str]], Awaitable[None]]) -> None:
        return None

    async def members(self, room: str) -> Sequence[Member] | None:
        return None

    async def rooms(self, after: str, limit: int) -> list[p.RoomInfo] | None:
        return None
