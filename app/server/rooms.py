"""Rooms: joining, leaving, topics and listings, as the protocol table's rows for them.

Each handler is one row of ``docs/protocol.md``'s table for the frames ``join``, ``part``,
``topic``, ``who`` and ``rooms``. Membership itself is kept by ``directory.Rooms`` (this module
asks it to change and reads its views); room events go out through ``Fanout.broadcast``, behind
the store's queue. Rules owned here: a room name is folded to lower case; ``who`` answers only for
a room with someone in it and ``rooms`` lists only those; a topic is at most ``MAX_TEXT``
characters and is shown and kept only once the store has saved it (else the setter alone gets
``unavailable``); a session that departs is announced in each of its rooms as ``quit``. A room is
read from the store (topic and newest messages) when a join first needs it (a join the store
cannot answer gets ``unavailable``), and forgotten when its last member leaves: in memory at once,
and in the store unless it holds messages someone may page. Whether a join may take one more room
is ``limits.RoomQuota``'s rule; a room counts as new (charged to its creator's address) when the
store has never heard of it. What moderation decides (whether a join is banned, a topic locked,
and the roles ``joined`` and ``members`` show) is asked of ``Context.rules``. On a node of a
deployment sharing rooms, ``joined``, ``who`` and ``rooms`` list every node's members
(``Context.roster``), a room is followed before it is first read (``Fanout.follow``), and a join's
and a part's replies wait until their announcements reached Redis (``Fanout.settle``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Collection, Iterable, Sequence

from app import protocol as p
from app.server.directory import Room
from app.server.fanout import to_wire
from app.server.feature import (
    MAX_TEXT,
    Context,
    Handlers,
    Unavailable,
    forget_if_empty,
    may_talk,
    member_of,
    refuse,
    room_name,
    save_room,
)
from app.server.limits import Refusal, RoomQuota, budget, fit, fit_newest, reply_bytes
from app.server.roster import Member
from app.server.session import Session
from app.store import Page, Snapshot, StoredRoom

log = logging.getLogger("parley.server")


class RoomFeature:
    """The room frames' handlers."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.rooms = context.rooms
        self.fanout = context.fanout
        self.quota = RoomQuota(context.config)
        self.reply_bytes = reply_bytes(context.config)
        self.handlers = (
            Handlers()
            .on(p.Join, self.join)
            .on(p.Part, self.part)
            .on(p.SetTopic, self.set_topic)
            .on(p.Who, self.who)
            .on(p.ListRooms, self.list_rooms)
        )

    def load(self, snapshot: Snapshot) -> None:
        return None  # rooms are read from the store when first joined

    def departed(self, session: Session, text: str | None) -> None:
        for name in self.rooms.leave_all(session):
            event = p.Presence(room=name, nick=session.nick, event="quit", text=text)
            self.fanout.broadcast(name, event)
            forget_if_empty(self.ctx, name)

    async def join(self, s: Session, f: p.Join) -> None:
        if not may_talk(self.ctx.config, s, f):
            return
        name = room_name(s, f, f.room)
        if name is None:
            return
        if not self.rooms.is_member(name, s):
            refusal = self.quota.may_join(self.rooms.count_of(s))
            if refusal is None and self.rooms.get(name) is None:
                refusal = self.quota.may_hold(len(self.rooms))
            if refusal is not None:
                _refuse(s, f, refusal)
                return
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms.create(name)
        if not room.fresh:
            try:
                await self.fanout.follow(name)
                known = await self._load(room)
            except Unavailable:
                message = f"{name} cannot be read from the history just now; try again later"
                refuse(s, f, "unavailable", message)
                return
            if not known and not self.rooms.members(name) and not room.charged:
                # Nobody is in it and the store has never heard of it: a new room, charged
                # once however many joins of it arrive before the first is in.
                refusal = self.quota.may_create(s.ip)
                if refusal is not None:
                    self.rooms.forget_if_unused(name)
                    _refuse(s, f, refusal)
                    return
                room.charged = True
        if not self.rooms.is_member(name, s) and not await self._admitted(s, f, room):
            return
        # Read before joining: once in, messages come, and none may precede ``joined``.
        try:
            shared = await self._shared_members(room)
        except Unavailable:
            refuse(s, f, "unavailable", f"the members of {name} cannot be read just now")
            return
        if s.closing:
            forget_if_empty(self.ctx, name)
            return
        if not self.rooms.is_member(name, s):
            # Announced first: once ``joined`` is sent, the others can see the join.
            self.fanout.broadcast(name, p.Presence(room=name, nick=s.nick, event="join"), skip=s)
            room.waiting += 1
            try:
                await self.fanout.settle()
            finally:
                room.waiting -= 1
            if s.closing:
                forget_if_empty(self.ctx, name)
                return
            self.rooms.join(name, s)
        everyone: Collection[Member] = self.rooms.members(name).values()
        if shared is not None:
            everyone = shared if any(m.key == s.key for m in shared) else [*shared, s]
        s.send(self._joined(name, room.topic, f.ref, everyone))
        empty = p.HistoryPage(room=name, messages=[], more=True, ref=f.ref)
        shown, cut = fit_newest([to_wire(m) for m in room.recent], budget(self.reply_bytes, empty))
        s.send(p.HistoryPage(room=name, messages=shown, more=room.has_older or cut, ref=f.ref))

    async def part(self, s: Session, f: p.Part) -> None:
        room = member_of(self.rooms, s, f, f.room)
        if room is None:
            return
        self.rooms.part(room.name, s)
        self.fanout.broadcast(room.name, p.Presence(room=room.name, nick=s.nick, event="part"))
        forget_if_empty(self.ctx, room.name)
        await self.fanout.settle()
        s.send(p.Parted(room=room.name, ref=f.ref))

    async def set_topic(self, s: Session, f: p.SetTopic) -> None:
        room = member_of(self.rooms, s, f, f.room)
        if room is None:
            return
        if len(f.topic) > MAX_TEXT:
            refuse(s, f, "bad_frame", f"a topic is at most {MAX_TEXT} characters")
            return
        if not self.ctx.rules.rule.may_set_topic(s, f, room.name):
            return
        name, by = room.name, s.nick

        def saved() -> None:
            self.rooms.topic_changed(name, f.topic, by)
            self.fanout.broadcast(name, p.Topic(room=name, topic=f.topic, by=by), skip=s)
            own = p.Topic(room=name, topic=f.topic, by=by, ref=f.ref)
            self.fanout.after_store(lambda: s.send(own))

        def refused() -> None:
            self.fanout.refuse_unsaved(s, f.ref, "the topic")

        await save_room(self.ctx.store, StoredRoom(name, f.topic, by), saved, refused)

    async def _shared_members(self, room: Room) -> Sequence[Member] | None:
        """The members of ``room`` on every node (None in one process: ``Rooms`` has them);
        raises ``Unavailable``. The room is not forgotten meanwhile."""
        room.waiting += 1
        try:
            return await self.ctx.roster.members(room.name)
        finally:
            room.waiting -= 1

    def _joined(
        self, name: str, topic: str, ref: p.Ref | p.UnsetType, everyone: Collection[Member]
    ) -> p.Joined:
        """The ``joined`` reply: the first members by nick, as many as fit; ``who`` pages on."""
        limit = p.JOINED_MEMBERS_MAX
        first = heapq.nsmallest(limit + 1, everyone, key=_by_key)
        room = budget(self.reply_bytes, p.Joined(room=name, topic=topic, members=[], ref=ref))
        gate = self.ctx.rules.rule
        roles = {m.nick: role for m in first if (role := gate.role_of(name, m)) is not None}
        # A member with a role costs its entry in ``roles`` too: counted as a longer entry.
        entries = ((m.nick, m.nick, roles[m.nick]) if m.nick in roles else m.nick for m in first)
        listed, more = fit(entries, limit, room)
        members = [entry if isinstance(entry, str) else entry[0] for entry in listed]
        shown = {nick: roles[nick] for nick in members if nick in roles}
        return p.Joined(
            room=name,
            topic=topic,
            members=members,
            more=more,
            roles=shown or None,
            locked=gate.is_locked(name),
            ref=ref,
        )

    async def who(self, s: Session, f: p.Who) -> None:
        name = room_name(s, f, f.room)
        if name is None:
            return
        try:
            everyone = await self.ctx.roster.members(name)
        except Unavailable:
            refuse(s, f, "unavailable", f"the members of {name} cannot be read just now")
            return
        members = self.rooms.members(name).values() if everyone is None else everyone
        if not members:
            refuse(s, f, "no_such_room", f"nobody is in {name}")
            return
        limit = max(1, min(f.limit, p.WHO_PAGE_MAX))
        after = p.fold(f.after) if f.after is not None else ""
        chosen = heapq.nsmallest(limit + 1, (m for m in members if m.key > after), key=_by_key)
        room = budget(self.reply_bytes, p.Members(room=name, members=[], ref=f.ref))
        role_of = self.ctx.rules.rule.role_of
        listed, more = fit(
            (p.Member(nick=m.nick, away=m.away is not None, role=role_of(name, m)) for m in chosen),
            limit,
            room,
        )
        cursor = listed[-1].nick if more else None
        s.send(p.Members(room=name, members=listed, more=more, next=cursor, ref=f.ref))

    async def list_rooms(self, s: Session, f: p.ListRooms) -> None:
        limit = max(1, min(f.limit, p.ROOMS_PAGE_MAX))
        after = p.fold(f.after) if f.after is not None else ""
        try:
            shared = await self.ctx.roster.rooms(after, limit + 1)
        except Unavailable:
            refuse(s, f, "unavailable", "the rooms cannot be listed just now")
            return
        infos: Iterable[p.RoomInfo]
        if shared is not None:
            infos = shared
        else:
            names = heapq.nsmallest(
                limit + 1,
                (r.name for r in self.rooms if r.name > after and self.rooms.members(r.name)),
            )
            infos = (
                p.RoomInfo(room=n, topic=r.topic, members=len(self.rooms.members(n)))
                for n in names
                if (r := self.rooms.get(n)) is not None
            )
        room = budget(self.reply_bytes, p.RoomList(rooms=[], ref=f.ref))
        rooms, more = fit(infos, limit, room)
        cursor = rooms[-1].room if more else None
        s.send(p.RoomList(rooms=rooms, more=more, next=cursor, ref=f.ref))

    async def _load(self, room: Room) -> bool:
        """Read a room's topic (the first time) and window of newest messages from the store;
        whether the store knew the room at all. The room is not forgotten while this waits; if
        the join is cancelled (its client left) and nobody else uses the room, it is dropped."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def loaded(stored: StoredRoom | None, page: Page) -> None:
            # Here, in the store's order, not after the await: fan-out may run in between.
            self.rooms.refill(room, stored, page)
            if not done.done():
                done.set_result(stored is not None or bool(page.messages))

        def unreadable(reason: str) -> None:
            if not done.done():
                done.set_exception(Unavailable(reason))

        room.waiting += 1
        self.ctx.store.load_room(room.name, self.rooms.recent, loaded, unreadable)
        try:
            known = await done
        except BaseException:
            room.waiting -= 1
            self.rooms.forget_if_unused(room.name)
            raise
        room.waiting -= 1
        return known

    async def _admitted(self, s: Session, f: p.Join, room: Room) -> bool:
        """Whether the room's rules let ``s`` in (asked of ``Context.rules``, which may read them
        from the store); the room is held meanwhile and dropped if ``s`` was refused."""
        room.waiting += 1
        try:
            admitted = await self.ctx.rules.rule.may_join(s, f, room.name)
        except BaseException:
            room.waiting -= 1
            forget_if_empty(self.ctx, room.name)
            raise
        room.waiting -= 1
        if not admitted:
            forget_if_empty(self.ctx, room.name)
        return admitted


def _refuse(s: Session, f: p.ClientFrame, refusal: Refusal) -> None:
    """Answer ``f`` with the error a limit gives."""
    s.send(
        p.make_error(
            refusal.code, refusal.message, ref=f.ref, retry_after_ms=refusal.retry_after_ms
        )
    )


def _by_key(member: Member) -> str:
    return member.key
