"""The rule book: each held room's roles, bans, mutes and topic lock in memory, written through.

``RuleBook`` is the moderation feature's cache of the ``Moderation`` store. A room's rules are
read from the store (``room_rules``) when the room is first needed (a join, a moderation frame)
and dropped when nobody is in it any more (``forget``); the server-wide bans are read once, at
start-up or at their first use if that read failed. Every change is written to the store first and
takes effect here in the store's callback, in the store's order, so that what this process shows
is what a restart reads back; a write the store refuses changes nothing and raises
``Unavailable`` to the handler that asked, which answers its client ``unavailable``. Bans and
mutes that have ended are still held until pruned: every question here takes the time
(``now_ms``) and ignores them. Who outranks whom is here too (``rank``): a server operator and an
owner rank highest, then an op, then a member.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from app.server.feature import Unavailable, awaited
from app.server.masks import Mask, parse_mask
from app.server.session import Session
from app.store import SERVER_WIDE, Moderation, RoomRole, RoomRules, StoredBan, StoredMute

log = logging.getLogger("parley.moderation")

MEMBER: Final = 0
OP: Final = 1
OWNER: Final = 2  # owners and server operators

_RANKS: Final[dict[RoomRole | None, int]] = {None: MEMBER, "op": OP, "owner": OWNER}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def in_force(expires: int | None, now: int) -> bool:
    """Whether a ban or mute ending at ``expires`` (None: never) still holds at ``now``."""
    return expires is None or expires > now


@lru_cache(maxsize=4096)
def _mask(text: str) -> Mask | None:
    return parse_mask(text)


class RuleBook:
    """Rooms' rules and the server-wide bans, as stored, for the rooms in use."""

    def __init__(self, store: Moderation, opers: frozenset[str]) -> None:
        self.store = store
        self.opers = opers  # folded account names of the server operators
        self._rooms: dict[str, RoomRules] = {}
        self._reading: dict[str, asyncio.Future[RoomRules]] = {}

    # --- reading ---

    def cached(self, room: str) -> RoomRules | None:
        """``room``'s rules if they are in memory."""
        return self._rooms.get(room)

    async def of(self, room: str) -> RoomRules:
        """``room``'s rules (``SERVER_WIDE``: the server's), read from the store the first time;
        raises ``Unavailable`` if they cannot be read."""
        rules = self._rooms.get(room)
        if rules is not None:
            return rules
        return await asyncio.shield(self.read_ahead(room))

    def read_ahead(self, room: str) -> asyncio.Future[RoomRules]:
        """Start reading ``room``'s rules unless that is under way; the read."""
        reading = self._reading.get(room)
        if reading is None:
            reading = self._reading[room] = asyncio.get_running_loop().create_future()
            self.store.room_rules(
                room, lambda read: self._read(room, read), lambda why: self._unread(room, why)
            )
        return reading

    def _read(self, room: str, rules: RoomRules) -> None:
        # In the store's order: writes submitted after the read apply to this copy.
        self._rooms.setdefault(room, rules)
        reading = self._reading.pop(room, None)
        if reading is not None and not reading.done():
            reading.set_result(self._rooms[room])

    def _unread(self, room: str, reason: str) -> None:
        log.warning("cannot read the rules of %r: %s", room or "the server", reason)
        reading = self._reading.pop(room, None)
        if reading is not None and not reading.done():
            reading.set_exception(Unavailable(reason))
            reading.exception()  # retrieved: nobody may be waiting on it any more

    async def refresh(self, room: str) -> None:
        """Another node changed ``room``'s rules: read them again if they are in memory."""
        if room not in self._rooms:
            return
        try:
            rules: RoomRules = await awaited(self.store.room_rules, room)
        except Unavailable as exc:
            log.warning("cannot read the rules of %r again: %s", room, exc)
            return
        if room in self._rooms:
            self._rooms[room] = rules

    def forget(self, room: str) -> None:
        """Nobody is in ``room``: drop its rules (the store keeps them)."""
        if room != SERVER_WIDE:
            self._rooms.pop(room, None)

    def is_oper(self, s: Session) -> bool:
        return bool(s.account) and s.account in self.opers

    def role(self, rules: RoomRules, account: str) -> RoomRole | None:
        return rules.roles.get(account) if account else None

    def rank(self, rules: RoomRules, s: Session) -> int:
        """How much ``s`` may do in a room of ``rules``."""
        if self.is_oper(s):
            return OWNER
        return _RANKS[self.role(rules, s.account)]

    def rank_of_account(self, rules: RoomRules, account: str) -> int:
        """The rank of ``account`` (folded; "" a guest) whether it is online or not."""
        if account and account in self.opers:
            return OWNER
        return _RANKS[self.role(rules, account)]

    @staticmethod
    def owners(rules: RoomRules) -> list[str]:
        return sorted(account for account, role in rules.roles.items() if role == "owner")

    @staticmethod
    def bans(rules: RoomRules, now: int) -> list[StoredBan]:
        """The bans in force at ``now``."""
        return [ban for ban in rules.bans if in_force(ban.expires, now)]

    @staticmethod
    def ban_of(rules: RoomRules, s: Session, now: int) -> StoredBan | None:
        """A ban in force that matches ``s``, if any."""
        return RuleBook.ban_matching(rules, s.account, s.key, s.ip, now)

    @staticmethod
    def ban_matching(
        rules: RoomRules, account: str, nick_key: str, ip: str, now: int
    ) -> StoredBan | None:
        for ban in rules.bans:
            mask = _mask(ban.mask)
            if in_force(ban.expires, now) and mask and mask.matches(account, nick_key, ip):
                return ban
        return None

    @staticmethod
    def mute_of(rules: RoomRules, nick_key: str, now: int) -> StoredMute | None:
        """The mute in force on ``nick_key`` (folded), if any."""
        for mute in rules.mutes:
            if mute.nick == nick_key and in_force(mute.expires, now):
                return mute
        return None

    # --- writing through: the store first, then here, in the store's order ---

    async def set_role(self, room: str, account: str, role: RoomRole | None) -> None:
        def apply(rules: RoomRules) -> None:
            if role is None:
                rules.roles.pop(account, None)
            else:
                rules.roles[account] = role

        await self._write(room, apply, self.store.set_role, room, account, role)

    async def drop_account(self, account: str) -> dict[str, str]:
        """``account`` is deleted: it holds no role in any room, stored or held here; the rooms
        it was the last owner of, with the ops who now own them (``Moderation.drop_account``)."""

        def apply(successors: dict[str, str]) -> None:
            for room, rules in self._rooms.items():
                rules.roles.pop(account, None)
                if room in successors:
                    rules.roles[successors[room]] = "owner"

        successors: dict[str, str] = await self._through(
            apply, f"account {account}", self.store.drop_account, account
        )
        return successors

    async def add_ban(self, ban: StoredBan) -> None:
        def apply(rules: RoomRules) -> None:
            rules.bans[:] = [b for b in rules.bans if b.mask.lower() != ban.mask.lower()]
            rules.bans.append(ban)

        await self._write(ban.room, apply, self.store.add_ban, ban)

    async def remove_ban(self, room: str, mask: str) -> bool:
        def apply(rules: RoomRules) -> None:
            rules.bans[:] = [b for b in rules.bans if b.mask.lower() != mask.lower()]

        removed: bool = await self._write(room, apply, self.store.remove_ban, room, mask)
        return removed

    async def add_mute(self, mute: StoredMute) -> None:
        def apply(rules: RoomRules) -> None:
            rules.mutes[:] = [m for m in rules.mutes if m.nick != mute.nick]
            rules.mutes.append(mute)

        await self._write(mute.room, apply, self.store.add_mute, mute)

    async def remove_mute(self, room: str, nick: str) -> bool:
        def apply(rules: RoomRules) -> None:
            rules.mutes[:] = [m for m in rules.mutes if m.nick != nick]

        removed: bool = await self._write(room, apply, self.store.remove_mute, room, nick)
        return removed

    async def set_locked(self, room: str, locked: bool) -> None:
        def apply(rules: RoomRules) -> None:
            rules.locked = locked

        await self._write(room, apply, self.store.set_locked, room, locked)

    async def _write(
        self,
        room: str,
        apply: Callable[[RoomRules], None],
        operation: Callable[..., None],
        *args: Any,
    ) -> Any:
        """Do a store ``operation``; once the store has it, ``apply`` it to ``room``'s rules if
        they are held (a read still on its way already has it). Raises ``Unavailable``."""

        def then(*result: Any) -> None:
            rules = self._rooms.get(room)
            if rules is not None:
                apply(rules)

        return await self._through(then, repr(room or "the server"), operation, *args)

    async def _through(
        self, then: Callable[..., None], what: str, operation: Callable[..., None], *args: Any
    ) -> Any:
        """Do a store ``operation`` and, in its ``done`` (the store's order), ``then`` with what
        it gave; return that, or raise ``Unavailable`` if the store refused (logged as a change
        of ``what``)."""
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(*result: Any) -> None:
            then(*result)
            if not written.done():
                written.set_result(result[0] if result else None)

        def failed(reason: str) -> None:
            log.warning("cannot store a moderation change of %s: %s", what, reason)
            if not written.done():
                written.set_exception(Unavailable(reason))

        operation(*args, done, failed)
        return await written

    def prune(self) -> None:
        """Ask the store to delete the bans and mutes that have ended (in the background)."""

        def pruned(count: int) -> None:
            if count:
                log.info("pruned %d ended bans and mutes", count)

        def failed(reason: str) -> None:
            log.warning("cannot prune ended bans and mutes: %s", reason)

        self.store.prune(now_ms(), pruned, failed)
