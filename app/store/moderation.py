"""The moderation interface: what the server asks of a backend that keeps roles, bans and mutes.

A room's *rules* are who owns it and who is an op (by account, folded nick), its bans, its mutes
and whether its topic is locked; the server reads them when a room is first joined
(``room_rules``) and writes each change through before it takes effect, so that roles, bans,
mutes and locks survive restarts. Server-wide bans are the bans of room ``""``. A ban or mute with
``expires`` (milliseconds since the epoch) ends then; backends return expired ones too (the server
filters by time) and ``prune`` deletes them. Like ``History`` (``base.py``), every operation is
ordered after the ones submitted before it and answers on the caller's event loop through ``done``
or, if the storage refused, ``failed`` with the reason. The SQLite backend
(``sqlite_moderation.py``) shares the history's file, writer thread and queue; the Redis backend
(``redis_moderation.py``) a ``RedisHistory``'s connection, worker and queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.store.base import Failed

SERVER_WIDE: str = ""  # the "room" of server-wide bans

RoomRole = Literal["owner", "op"]


@dataclass(frozen=True, slots=True)
class StoredBan:
    """A ban of ``mask`` (``account:NAME``, ``nick:GLOB`` or ``ip:ADDR[/PREFIX]``, as given) from
    ``room`` (``SERVER_WIDE`` for the whole server), by whom, why and until when."""

    room: str
    mask: str
    by: str
    reason: str | None
    created: int
    expires: int | None = None


@dataclass(frozen=True, slots=True)
class StoredMute:
    """``nick`` (folded) may not speak in ``room`` until ``expires`` (``None``: until lifted)."""

    room: str
    nick: str
    by: str
    created: int
    expires: int | None = None


@dataclass(slots=True)
class RoomRules:
    """One room's moderation state as stored; ``roles`` maps folded account names to roles."""

    roles: dict[str, RoomRole] = field(default_factory=dict)
    bans: list[StoredBan] = field(default_factory=list)
    mutes: list[StoredMute] = field(default_factory=list)
    locked: bool = False


class Moderation(Protocol):
    """Roles, bans, mutes and topic locks; callbacks run on the loop, in order."""

    def room_rules(self, room: str, done: Callable[[RoomRules], None], failed: Failed) -> None:
        """Read ``room``'s rules (empty ones if it has none); ``SERVER_WIDE`` gives the
        server-wide bans."""
        ...

    def set_role(
        self,
        room: str,
        account: str,
        role: RoomRole | None,
        done: Callable[[], None],
        failed: Failed,
    ) -> None:
        """Make ``account`` (folded) ``role`` in ``room``, or a plain member with ``None``."""
        ...

    def drop_account(
        self, account: str, done: Callable[[dict[str, str]], None], failed: Failed
    ) -> None:
        """Take every role ``account`` (folded) holds in any room: its account is deleted, and
        whoever registers the nick next must not inherit them. A room it was the last owner of
        passes to its first op by account name; ``done`` gets those rooms and their new owners."""
        ...

    def add_ban(self, ban: StoredBan, done: Callable[[], None], failed: Failed) -> None:
        """Store ``ban``, replacing a ban of the same room and mask."""
        ...

    def remove_ban(
        self, room: str, mask: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Lift the ban of ``mask`` (compared ignoring case) from ``room``; ``done(False)`` if
        there was none."""
        ...

    def add_mute(self, mute: StoredMute, done: Callable[[], None], failed: Failed) -> None:
        """Store ``mute``, replacing a mute of the same room and nick."""
        ...

    def remove_mute(
        self, room: str, nick: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Lift the mute of ``nick`` (folded) in ``room``; ``done(False)`` if there was none."""
        ...

    def set_locked(self, room: str, locked: bool, done: Callable[[], None], failed: Failed) -> None:
        """Lock (only ops set the topic) or unlock ``room``'s topic."""
        ...

    def prune(self, now: int, done: Callable[[int], None], failed: Failed) -> None:
        """Delete the bans and mutes that ended before ``now``; ``done`` gets how many."""
        ...
