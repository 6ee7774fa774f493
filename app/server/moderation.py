"""Moderation: room owners and ops, kick, ban, mute, topic lock and delete, as the protocol's rows.

Each handler is one row of ``docs/protocol.md``'s "Moderation" table; the server-wide rows
(``kill``, ``gban``, ``gunban`` and the server's ``bans``) are ``operators.py``'s, on the same rule
book. As the server's ``Gatekeeper`` (``feature.Rules``) this module also answers what rooms,
messages and presence ask: whether a join is banned (and makes the first account to join a room
with no owner its owner), whether a ``say`` is muted, whether a ``topic`` is locked, which role a
member shows, and whether a ``hello`` or ``nick`` matches a server-wide ban. The rules themselves
are kept by ``rulebook.RuleBook``, written through to the ``Moderation`` store before they take
effect. Rules owned here: the actor of a room action must be in the room; owners and server
operators may do everything in a room, ops all but ``op``, ``deop`` and ``owner``; an op cannot
kick, ban or mute an owner or a server operator, and nobody takes the last owner's ownership
except by ``owner``; owners and server operators are not bound by a room's bans and mutes. Every
action is logged on ``parley.moderation`` with who, what and where. On a node of a deployment
sharing rooms, a ``kick`` of a member on another node is an order to that node, and a room's rules
changed on another node are read again before this node's members see the change.
"""

from __future__ import annotations

import logging
from functools import partial

import msgspec

from app import protocol as p
from app.server.directory import Room
from app.server.feature import (
    MAX_ID,
    Context,
    Handlers,
    Unavailable,
    awaited,
    forget_if_empty,
    member_of,
    refuse,
)
from app.server.limits import reply_bytes
from app.server.masks import Mask, canonical, parse_mask
from app.server.operators import (
    ServerOperators,
    ban_list,
    check_duration,
    check_reason,
    expiry,
    lifted,
    refuse_banned,
    saved,
)
from app.server.roster import Member
from app.server.rulebook import OP, OWNER, RuleBook, now_ms
from app.server.session import Session
from app.store import (
    SERVER_WIDE,
    RoomRole,
    RoomRules,
    Snapshot,
    StoredBan,
    StoredMessage,
    StoredMute,
)

log = logging.getLogger("parley.moderation")

_NEEDS: dict[int, str] = {OP: "an op", OWNER: "an owner"}


class ModerationFeature:
    """The moderation frames' handlers, and the room rules other features ask about."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.rooms = context.rooms
        self.fanout = context.fanout
        self.reply_bytes = reply_bytes(context.config)
        self.book = RuleBook(context.moderation, frozenset(context.config.opers))
        self.operators = ServerOperators(context, self.book)
        self._claiming: set[str] = set()  # rooms whose first account is being made owner
        context.rules.rule = self
        context.fanout.rules_changed = self.book.refresh
        context.fanout.roles_of = self._roles_of
        context.roster.obey("expel", self._expelled_here)
        context.roster.obey("kill", self.operators.killed_here)
        self.handlers = (
            Handlers()
            .on(p.Op, self.op)
            .on(p.Deop, self.deop)
            .on(p.GiveOwner, self.give_owner)
            .on(p.Kick, self.kick)
            .on(p.Ban, self.ban)
            .on(p.Unban, self.unban)
            .on(p.ListBans, self.list_bans)
            .on(p.Mute, self.mute)
            .on(p.Unmute, self.unmute)
            .on(p.TopicLock, self.topic_lock)
            .on(p.Delete, self.delete)
            .on(p.Kill, self.operators.kill)
            .on(p.GlobalBan, self.operators.gban)
            .on(p.GlobalUnban, self.operators.gunban)
        )

    def load(self, snapshot: Snapshot) -> None:
        self.book.prune()
        self.book.read_ahead(SERVER_WIDE)

    def departed(self, session: Session, text: str | None) -> None:
        return None

    # --- Gatekeeper: what rooms, messages and presence ask ---

    async def may_join(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        if not self.ctx.roster.alone:
            # A ban that another node answered may not have reached this node's copy yet.
            await self.book.refresh(room)
        rules = await self._rules(s, f, room)
        if rules is None:
            return False
        now = now_ms()
        ban = self.book.ban_of(rules, s, now) if self.book.rank(rules, s) < OWNER else None
        if ban is not None:
            refuse_banned(s, f, f"you are banned from {room}", ban, now)
            return False
        if s.account and not self.book.owners(rules) and room not in self._claiming:
            self._claiming.add(room)
            try:
                await self.book.set_role(room, s.account, "owner")
            except Unavailable:
                self.fanout.refuse_unsaved(s, f.ref, "your ownership of the room")
                return False
            finally:
                self._claiming.discard(room)
            log.info("%s became the owner of %s, the first account to join it", s.account, room)
            self.fanout.rules_written(room)
        return True

    def may_say(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        rules = self.book.cached(room)
        if rules is None or self.book.rank(rules, s) >= OWNER:
            return True
        now = now_ms()
        mute = self.book.mute_of(rules, s.key, now)
        if mute is None:
            return True
        wait = None if mute.expires is None else mute.expires - now
        message = f"you are muted in {room}"
        if wait is not None:
            message += f" for {wait // 1000 + 1} s"
        s.send(p.make_error("muted", message, ref=f.ref, retry_after_ms=wait))
        return False

    def may_set_topic(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        rules = self.book.cached(room)
        if rules is None or not rules.locked or self.book.rank(rules, s) >= OP:
            return True
        refuse(s, f, "not_permitted", f"the topic of {room} is locked: only its ops set it")
        return False

    async def may_enter(self, s: Session, f: p.ClientFrame, account: str, nick: str) -> bool:
        return await self.operators.may_enter(s, f, account, nick)

    def role_of(self, room: str, s: Member) -> str | None:
        rules = self.book.cached(room)
        return None if rules is None else self.book.role(rules, s.account)

    def _roles_of(self, room: str) -> dict[str, str] | None:
        rules = self.book.cached(room)
        return None if rules is None else dict(rules.roles)

    def is_locked(self, room: str) -> bool:
        rules = self.book.cached(room)
        return rules is not None and rules.locked

    def forgotten(self, room: str) -> None:
        self.book.forget(room)

    async def account_deleted(self, account: str) -> None:
        successors = await self.book.drop_account(account)
        log.info("account %s deleted: its room roles are gone", account)
        for room, owner in successors.items():
            log.info("%s passes to its op %s: its owner %s was deleted", room, owner, account)
            try:
                members = await self.ctx.roster.members(room)
            except Unavailable:
                members = None  # this node's members are told, at least
            local = self.rooms.members(room).values()
            for member in local if members is None else members:
                if member.account == owner:
                    mode = p.Mode(room=room, nick=member.nick, role="owner", by=account)
                    self.fanout.broadcast(room, mode)

    # --- roles ---

    async def op(self, s: Session, f: p.Op) -> None:
        await self._set_role(s, f, f.room, f.nick, "op")

    async def deop(self, s: Session, f: p.Deop) -> None:
        await self._set_role(s, f, f.room, f.nick, None)

    async def _set_role(
        self, s: Session, f: p.Op | p.Deop, room_text: str, nick: str, role: RoomRole | None
    ) -> None:
        acting = await self._acting(s, f, room_text, OWNER)
        if acting is None:
            return
        room, rules = acting
        target = await self._account_in(s, f, room, nick)
        if target is None:
            return
        if self.book.owners(rules) == [target.account]:
            message = f"{target.nick} is the owner of {room.name}: it passes that on with owner"
            refuse(s, f, "not_permitted", message)
            return
        if not await saved(self.fanout, s, f, self.book.set_role(room.name, target.account, role)):
            return
        shown = role or "member"
        log.info("%s made %s %s in %s", s.nick, target.nick, shown, room.name)
        mode = p.Mode(room=room.name, nick=target.nick, role=shown, by=s.nick)
        self._announce(room.name, mode, s, f.ref)

    async def give_owner(self, s: Session, f: p.GiveOwner) -> None:
        acting = await self._acting(s, f, f.room, OWNER)
        if acting is None:
            return
        room, rules = acting
        target = await self._account_in(s, f, room, f.nick)
        if target is None:
            return
        giver_owned = self.book.role(rules, s.account) == "owner" and s.account != target.account
        owned = self.book.set_role(room.name, target.account, "owner")
        if not await saved(self.fanout, s, f, owned):
            return
        log.info("%s gave the ownership of %s to %s", s.nick, room.name, target.nick)
        mode = p.Mode(room=room.name, nick=target.nick, role="owner", by=s.nick)
        self._announce(room.name, mode, s, f.ref)
        if giver_owned:
            if not await saved(self.fanout, s, f, self.book.set_role(room.name, s.account, "op")):
                return
            mode = p.Mode(room=room.name, nick=s.nick, role="op", by=s.nick)
            self._announce(room.name, mode, s, f.ref)

    # --- kick, ban, mute, lock ---

    async def kick(self, s: Session, f: p.Kick) -> None:
        if not check_reason(s, f, f.reason):
            return
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, rules = acting
        if not any(m.key == p.fold(f.nick) for m in self.rooms.members(room.name).values()):
            await self._kick_elsewhere(s, f, room, rules)
            return
        victim = self._in_room(s, f, room, f.nick)
        if victim is None or not self._outranks(s, f, rules, victim.account, victim.nick):
            return
        log.info("%s kicked %s from %s: %s", s.nick, victim.nick, room.name, f.reason or "-")
        self._remove(room.name, [victim], s.nick, f.reason, s, f.ref)

    async def _kick_elsewhere(self, s: Session, f: p.Kick, room: Room, rules: RoomRules) -> None:
        """Kick a member on another node: its node removes it and tells the room."""
        try:
            found = await self.ctx.roster.find(room.name, p.fold(f.nick))
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read the members now; try again later")
            return
        if found is None:
            refuse(s, f, "no_such_nick", f"nobody called {f.nick} is in {room.name}")
            return
        _, victim = found
        if not self._outranks(s, f, rules, victim.account, victim.nick):
            return
        log.info("%s kicked %s from %s: %s", s.nick, victim.nick, room.name, f.reason or "-")
        self.ctx.roster.expel(room.name, [found], s.nick, f.reason, skip=s)
        own = p.Presence(
            room=room.name, nick=victim.nick, event="kick", by=s.nick, reason=f.reason, ref=f.ref
        )
        self.fanout.after_store(lambda: s.send(own))

    def _expelled_here(self, victim: Session, order: list[str]) -> None:
        """A kick (or a ban) on some node took ``victim`` out: removed as a local kick
        removes, before its room hears of it (``Roster.expel``)."""
        room, by, reason = order
        if not self.rooms.part(room, victim):
            return
        victim.send(p.Kicked(room=room, by=by, reason=reason or None))
        forget_if_empty(self.ctx, room)

    async def ban(self, s: Session, f: p.Ban) -> None:
        if not check_reason(s, f, f.reason) or not check_duration(s, f, f.duration_s):
            return
        mask = parse_mask(f.mask)
        if mask is None:
            refuse(s, f, "bad_mask", "a mask is account:NAME, nick:GLOB or ip:ADDR[/PREFIX]")
            return
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, rules = acting
        if self.book.rank(rules, s) < OWNER:
            try:
                elsewhere = [m for _, m in await self.ctx.roster.elsewhere(room.name)]
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot read the members now")
                return
            for member in (*self.rooms.members(room.name).values(), *elsewhere):
                if mask.matches(member.account, member.key, member.ip) and (
                    member is s or self.book.rank_of_account(rules, member.account) >= OWNER
                ):
                    message = f"{mask.text} would ban {member.nick}, whom an op cannot ban"
                    refuse(s, f, "not_permitted", message)
                    return
        now = now_ms()
        expires = expiry(now, f.duration_s)
        ban = StoredBan(room.name, mask.text, s.nick, f.reason, now, expires)
        if not await saved(self.fanout, s, f, self.book.add_ban(ban)):
            return
        log.info("%s banned %s from %s: %s", s.nick, mask.text, room.name, f.reason or "-")
        moderated = p.Moderated(
            action="ban",
            target=mask.text,
            by=s.nick,
            room=room.name,
            reason=f.reason,
            expires_ms=expires,
        )
        self._announce(room.name, moderated, s, f.ref)
        if not self.ctx.roster.alone:
            await self._expel_banned(room.name, mask, s.nick, f.reason)
            return
        # Once every member has the ban, the members it matches leave: they see it too.
        self.fanout.after_store(lambda: self._remove_banned(room.name, mask, s.nick, f.reason))

    async def unban(self, s: Session, f: p.Unban) -> None:
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, _rules = acting
        text = canonical(f.mask)
        removal = self.book.remove_ban(room.name, text)
        missing = f"{f.mask} is not banned from {room.name}"
        if not await lifted(self.fanout, s, f, removal, "bad_mask", missing):
            return
        log.info("%s lifted the ban of %s from %s", s.nick, text, room.name)
        moderated = p.Moderated(action="unban", target=text, by=s.nick, room=room.name)
        self._announce(room.name, moderated, s, f.ref)

    async def list_bans(self, s: Session, f: p.ListBans) -> None:
        if f.room is None:
            await self.operators.list_bans(s, f)
            return
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, rules = acting
        s.send(ban_list(self.book, rules, room.name, f.ref, self.reply_bytes))

    async def mute(self, s: Session, f: p.Mute) -> None:
        if not check_duration(s, f, f.duration_s) or not _valid_nick(s, f, f.nick):
            return
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, rules = acting
        key = p.fold(f.nick)
        if not self._outranks(s, f, rules, key, f.nick):
            return
        now = now_ms()
        expires = expiry(now, f.duration_s)
        mute = StoredMute(room.name, key, s.nick, now, expires)
        if not await saved(self.fanout, s, f, self.book.add_mute(mute)):
            return
        log.info("%s muted %s in %s until %s", s.nick, f.nick, room.name, expires or "unmuted")
        moderated = p.Moderated(
            action="mute", target=f.nick, by=s.nick, room=room.name, expires_ms=expires
        )
        self._announce(room.name, moderated, s, f.ref)

    async def unmute(self, s: Session, f: p.Unmute) -> None:
        if not _valid_nick(s, f, f.nick):
            return
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, _rules = acting
        removal = self.book.remove_mute(room.name, p.fold(f.nick))
        missing = f"{f.nick} is not muted in {room.name}"
        if not await lifted(self.fanout, s, f, removal, "no_such_nick", missing):
            return
        log.info("%s unmuted %s in %s", s.nick, f.nick, room.name)
        moderated = p.Moderated(action="unmute", target=f.nick, by=s.nick, room=room.name)
        self._announce(room.name, moderated, s, f.ref)

    async def topic_lock(self, s: Session, f: p.TopicLock) -> None:
        acting = await self._acting(s, f, f.room, OP)
        if acting is None:
            return
        room, _rules = acting
        if not await saved(self.fanout, s, f, self.book.set_locked(room.name, f.locked)):
            return
        action = "lock" if f.locked else "unlock"
        log.info("%s %sed the topic of %s", s.nick, action, room.name)
        moderated = p.Moderated(action=action, target=room.name, by=s.nick, room=room.name)
        self._announce(room.name, moderated, s, f.ref)

    # --- delete ---

    async def delete(self, s: Session, f: p.Delete) -> None:
        found = await self._message(s, f, f.id)
        if found is None:
            return
        rules = await self._rules(s, f, found.room)
        if rules is None:
            return
        author = (bool(s.account) and s.account == p.fold(found.sender)) or found.id in s.said
        if not author and self.book.rank(rules, s) < OP:
            refuse(s, f, "not_permitted", "only its author and the room's ops delete a message")
            return
        try:
            deleted = await awaited(self.ctx.store.delete_message, found.id)
        except Unavailable:
            self.fanout.refuse_unsaved(s, f.ref, "the deletion")
            return
        if not deleted:
            refuse(s, f, "no_such_message", f"there is no message {f.id}")
            return
        name, message_id = found.room, found.id
        log.info("%s deleted message %d of %s (by %s)", s.nick, message_id, name, found.sender)
        # After the fan-out of what was committed before: the window may only now hold it.
        self.fanout.after_store(lambda: self.rooms.blank(name, message_id))
        self._announce(name, p.Deleted(room=name, id=message_id, by=s.nick), s, f.ref)

    async def _message(self, s: Session, f: p.Delete, message_id: int) -> StoredMessage | None:
        """The room message ``message_id`` of a room ``s`` is in, or None (answered)."""
        found: StoredMessage | None = None
        if 0 < message_id <= MAX_ID:
            try:
                found = await awaited(self.ctx.store.find_message, message_id)
            except Unavailable:
                message = "the server cannot read its history now; try again later"
                refuse(s, f, "unavailable", message)
                return None
        if found is None or found.deleted or not self.rooms.is_member(found.room, s):
            refuse(s, f, "no_such_message", f"there is no message {message_id} in your rooms")
            return None
        return found

    # --- checks that answer the client when they fail ---

    async def _rules(self, s: Session, f: p.ClientFrame, room: str) -> RoomRules | None:
        """``room``'s rules, or None (``unavailable`` answered) if they cannot be read."""
        try:
            return await self.book.of(room)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read its rules now; try again later")
            return None

    async def _acting(
        self, s: Session, f: p.ClientFrame, room_text: str, needs: int
    ) -> tuple[Room, RoomRules] | None:
        """The room ``s`` acts in and its rules, if ``s`` is in it and ranks at least ``needs``;
        else None (answered)."""
        room = member_of(self.rooms, s, f, room_text)
        if room is None:
            return None
        rules = await self._rules(s, f, room.name)
        if rules is None:
            return None
        if self.book.rank(rules, s) < needs:
            refuse(s, f, "not_permitted", f"only {_NEEDS[needs]} of {room.name} may do that")
            return None
        return room, rules

    def _in_room(self, s: Session, f: p.ClientFrame, room: Room, nick: str) -> Session | None:
        """The member of ``room`` called ``nick``, or None (``no_such_nick`` answered)."""
        key = p.fold(nick)
        for member in self.rooms.members(room.name).values():
            if member.key == key:
                return member
        refuse(s, f, "no_such_nick", f"nobody called {nick} is in {room.name}")
        return None

    async def _account_in(
        self, s: Session, f: p.ClientFrame, room: Room, nick: str
    ) -> Member | None:
        """The member of ``room`` (on any node) signed in as the account ``nick``, or None
        (answered)."""
        key = p.fold(nick)
        member: Member | None = next(
            (m for m in self.rooms.members(room.name).values() if m.key == key), None
        )
        if member is None:
            try:
                found = await self.ctx.roster.find(room.name, key)
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot read the members now")
                return None
            member = None if found is None else found[1]
        if member is None:
            refuse(s, f, "no_such_nick", f"nobody called {nick} is in {room.name}")
            return None
        if not member.account:
            refuse(s, f, "no_account", f"{member.nick} is a guest: roles belong to accounts")
            return None
        return member

    def _outranks(
        self, s: Session, f: p.ClientFrame, rules: RoomRules, account: str, nick: str
    ) -> bool:
        """Whether ``s`` may act on ``account``: an op may not on an owner or server operator."""
        if self.book.rank(rules, s) >= OWNER or self.book.rank_of_account(rules, account) < OWNER:
            return True
        refuse(s, f, "not_permitted", f"an op cannot do that to {nick}")
        return False

    # --- effects ---

    def _announce(
        self, room: str, frame: p.ServerFrame, actor: Session, ref: p.Ref | p.UnsetType
    ) -> None:
        """``frame`` to every member of ``room``; the actor's copy carries its ``ref``."""
        self.fanout.broadcast(room, frame, skip=actor)
        own = msgspec.structs.replace(frame, ref=ref)
        self.fanout.after_store(lambda: actor.send(own))

    def _remove_banned(self, room: str, mask: Mask, by: str, reason: str | None) -> None:
        """Remove the members of ``room`` that ``mask`` bans (not its owners and operators)."""
        rules = self.book.cached(room)
        if rules is None:
            return  # everyone left meanwhile
        victims = [
            member
            for member in self.rooms.members(room).values()
            if mask.matches(member.account, member.key, member.ip)
            and self.book.rank(rules, member) < OWNER
        ]
        self._remove(room, victims, by, reason)

    async def _expel_banned(self, room: str, mask: Mask, by: str, reason: str | None) -> None:
        """On a node: the members of ``room`` on every node that ``mask`` bans leave, each
        with a room event published after the ban's (so they see it first) and before this
        session's next frame is handled (so its ``ping`` comes back after their kicks)."""
        try:
            members = await self.ctx.roster.everywhere(room)
        except Unavailable:
            log.warning("cannot read the members of %s to remove the banned", room)
            return
        rules = self.book.cached(room)
        if rules is None:
            return  # everyone left meanwhile
        victims = [
            (owner, member)
            for owner, member in members
            if mask.matches(member.account, member.key, member.ip)
            and self.book.rank_of_account(rules, member.account) < OWNER
        ]
        if victims:
            self.ctx.roster.expel(room, victims, by, reason)

    def _remove(
        self,
        room: str,
        victims: list[Session],
        by: str,
        reason: str | None,
        actor: Session | None = None,
        ref: p.Ref | p.UnsetType = p.UNSET,
    ) -> None:
        """Take ``victims`` out of ``room`` as a part does, all before anyone is told: each gets
        ``kicked``, those who stay a ``presence`` kick per victim (``actor``'s copy with
        ``ref``)."""
        removed = [victim for victim in victims if self.rooms.part(room, victim)]
        kicked = p.Kicked(room=room, by=by, reason=reason)
        for victim in removed:
            self.fanout.after_store(partial(victim.send, kicked))
            presence = p.Presence(room=room, nick=victim.nick, event="kick", by=by, reason=reason)
            if actor is not None and actor not in removed:
                self._announce(room, presence, actor, ref)
            else:
                self.fanout.broadcast(room, presence)
        forget_if_empty(self.ctx, room)


def _valid_nick(s: Session, f: p.ClientFrame, nick: str) -> bool:
    if p.is_valid_nick(nick):
        return True
    refuse(s, f, "bad_nick", f"{nick!r} is no nick")
    return False
