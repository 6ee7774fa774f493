"""Node fan-out: room messages and events of a deployment whose nodes share rooms through Redis.

``NodeFanout`` is ``Fanout`` for a node (``ServerConfig.redis_url``). A room message gets its id
inside Redis, in the script that stores and publishes it (``RedisNodeStore.append_new``), and every
node, the sender's included, delivers room messages only from its subscription to the room's
channel (``Subscription``), in the order Redis published them, which is id order. The sender's own
copy is recognised by the token the node put in the script (``NODE.SEQ``) and carries its nonce.
Per followed room the node remembers the last id it delivered: a message at or below it is a
repeat and dropped; a message whose ``prev`` (the room's newest before it) is above it shows a gap,
and the node reads the room's messages after its last one from Redis before going on; after a lost
connection it does that for every room before it delivers anything new. So every member, on every
node, gets one room's messages in id order, each once.

Room events (presences, topics, moderation) are published on the room's channel too, in the order
the node's writes go to Redis, and delivered from the subscription like messages; a topic change,
a deletion, an edit and a change of the room's rules carry what other nodes need to bring their
copies up to date (``Rooms.topic_changed``, ``Rooms.blank``, ``Rooms.revise``, ``rules_changed``,
awaited before the members see the event). ``after_store`` (the ``pong`` barrier, replies that
must follow earlier effects) waits for the store's queue and then for a marker the node publishes
on its own channel: when the marker comes back, everything published before it, by any node, was
delivered here. The node's channel also brings direct messages and orders (a kick, a kill) for its
sessions, and the channel of all nodes what concerns every one (``node_roster.NodeRoster``). A
room is followed from the first join of it on this node (the subscription is confirmed before the
room is read, so nothing published after the read is missed) until it is forgotten and this node's
own messages in it came back.

What the subscription delivers in a burst waits in the node's ``Outbox`` until the loop is next
free, and then each member gets all of its room's frames in one write, as one process's fan-out
writes a batch; the sender's own copy is one version of a frame, and a session about to join a
room first lets the room's outbox be written, so that it does not get twice what its join page
holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import redis

from app import protocol as p
from app.server.backplane import Backplane, Deliver
from app.server.directory import Rooms
from app.server.fanout import Fanout, _Said, to_wire
from app.server.feature import Unavailable, awaited, read_page
from app.server.node_resync import RoomViews, changed_roles
from app.server.node_roster import NodeRoster
from app.server.registry import Sessions
from app.server.session import Session
from app.server.subscription import Subscription
from app.store import StoredMessage
from app.store.redis_node import Envelope, RedisNodeStore, decode_envelope, wrap
from app.store.redis_rows import message as _message

log = logging.getLogger("parley.server")

_CATCH_UP_PAGE: Final = 500  # messages read per round trip when a node fills a gap
_ID_BLOCK: Final = 4096  # ids a node claims at once for direct messages


class NodeBackplane:
    """``Backplane`` of a node: room events go to the room's channel (the subscription of each
    node delivers them)."""

    def __init__(self, store: RedisNodeStore) -> None:
        self.store = store
        self.deliver: Deliver | None = None

    def attach(self, deliver: Deliver) -> None:
        self.deliver = deliver

    def publish(self, room: str, payload: bytes, skip: frozenset[str]) -> None:
        envelope = Envelope(k="e", skip=sorted(skip))
        self.store.publish(self.store.keys.events(room), wrap(envelope, payload))


class NodeFanout(Fanout):
    """Room messages with ids from Redis, delivered from the node's subscription."""

    assigns_ids = True

    def __init__(
        self, store: RedisNodeStore, backplane: Backplane, rooms: Rooms, node: str, lease: float
    ):
        super().__init__(store, backplane, rooms)
        self.node_roster = NodeRoster(store, node, lease, self.broadcast)
        self.roster = self.node_roster
        rooms.seats = self
        self.outbox = Outbox(rooms)
        self.node_roster.reseat = self._reseat
        self._reclaims: set[asyncio.Task[None]] = set()
        self.sessions: Sessions | None = None  # set by the runner: who a direct message is for
        self.node_store = store
        self.keys = store.keys
        self.node = node
        self.subscription = Subscription(store.url, self._receive, self._confirmed, self._resumed)
        self._seq = 0
        self._pending: dict[int, _Said] = {}  # by token sequence: sent, not yet delivered
        self._stored: dict[int, int] = {}  # message id -> token sequence, once Redis replied
        self._last: dict[str, int] = {}  # followed room -> last message id delivered here
        self.views = RoomViews()  # followed room -> its members as the local clients know them
        self._lingering: set[str] = set()  # forgotten, followed until its messages came back
        self._marks = 0
        self._marking: list[Callable[[], None]] = []  # actions for the next marker
        self._marked: dict[int, list[Callable[[], None]]] = {}  # marker -> its actions
        # This node's blocks of ids for direct messages: [next, top] each, used in order.
        self._blocks: deque[list[int]] = deque()
        self._claiming = False
        rooms.on_forget = self._unfollow

    # --- lifecycle, for the runner ---

    async def open(self) -> None:
        """Subscribe to the node's own channel and claim the first block of ids."""
        self.subscription.start(self.keys.node(self.node))
        await self.subscription.follow(self.keys.everyone)
        self.node_roster.start()
        top = await awaited(self.node_store.claim_ids, _ID_BLOCK)
        self._blocks.append([top - _ID_BLOCK + 1, top])

    async def close(self) -> None:
        await self.node_roster.close()
        await self.subscription.close()
        for actions in (*self._marked.values(), self._marking):
            for action in actions:
                action()
        self._marked.clear()
        self._marking = []

    # --- what features ask ---

    def say(
        self, message: StoredMessage, sender: Session, nonce: str | None, ref: p.Ref | p.UnsetType
    ) -> None:
        self._seq += 1
        seq = self._seq
        self._pending[seq] = _Said(message, sender, nonce, ref)

        def stored(id: int) -> None:
            if seq in self._pending:
                self._stored[id] = seq

        def failed(reason: str) -> None:
            said = self._pending.pop(seq, None)
            if said is not None:
                self.refuse_unsaved(said.sender, said.ref, "your message")
                self._settled(said.message.room)

        self.node_store.append_new(message, self.node, seq, stored, failed)

    def take_id(self) -> int:
        """A direct message's id: from this node's blocks, claimed in Redis; raises
        ``Unavailable`` when they are spent and no new one came."""
        blocks = self._blocks
        while blocks and blocks[0][0] > blocks[0][1]:
            blocks.popleft()
        left = sum(top - next + 1 for next, top in blocks)
        if left < _ID_BLOCK // 4 and not self._claiming:
            self._claiming = True
            self.node_store.claim_ids(_ID_BLOCK, self._claimed, self._unclaimed)
        if not blocks:
            # Every id claimed is spent and Redis has not answered for more (it is away).
            raise Unavailable("no message ids left to give")
        blocks[0][0] += 1
        return blocks[0][0] - 1

    def refuse_unsaved(self, session: Session, ref: p.Ref | p.UnsetType, what: str) -> None:
        message = f"{what} could not be saved: the server cannot write its history now; try again"
        # At once, from the store's completion: before the pong of any later ping, which waits
        # for the store and then for its marker. (It may overtake an earlier echo.)
        session.send(p.Error(code="unavailable", message=f"{message} later", ref=ref))

    def after_store(self, action: Callable[[], None]) -> None:
        self.store.barrier(lambda: self._after_marker(action))

    def broadcast(self, room: str, frame: p.ServerFrame, skip: Session | None = None) -> None:
        envelope = Envelope(k="e", skip=[skip.id] if skip is not None else [])
        if isinstance(frame, p.Topic):
            envelope.topic, envelope.by = frame.topic, frame.by or ""
        elif isinstance(frame, p.Deleted):
            envelope.blank = frame.id
        elif isinstance(frame, (p.Mode, p.Moderated)):
            envelope.rules = True
        elif isinstance(frame, p.Edited):
            envelope.revise, envelope.text = frame.id, frame.text
        self.node_store.publish(self.keys.events(room), wrap(envelope, p.encode(frame)))

    def rules_written(self, room: str) -> None:
        envelope = Envelope(k="e", rules=True)
        self.node_store.publish(self.keys.events(room), wrap(envelope))

    async def settle(self) -> None:
        executed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not executed.done():  # the session's wait may have been cancelled
                executed.set_result(None)

        self.store.barrier(done)
        await executed

    async def follow(self, room: str) -> None:
        channel = self.keys.events(room)
        self._lingering.discard(room)
        if room in self._last and self.subscription.follows(channel):
            return
        try:
            await self.subscription.follow(channel)
        except TimeoutError as exc:
            raise Unavailable("Redis did not confirm the subscription") from exc

    # --- the subscription's side ---

    async def _confirmed(self, channel: str) -> None:
        room = self.keys.room_of(channel)
        if room is None or room in self._last:
            return
        # What Redis stored up to here the room's reads (after this) have; later ones come here.
        try:
            newest, (seats, _, _) = await asyncio.gather(
                read_page(self.store, room, None, None, 1),
                awaited(self.node_store.room_view, room),
            )
        except Unavailable as exc:
            raise redis.ConnectionError(f"cannot read {room}: {exc}") from exc
        self._last[room] = newest.messages[-1].id if newest.messages else 0
        self.views.start(room, seats.values())

    async def _receive(self, channel: str, data: bytes) -> None:
        head, _, body = data.partition(b"\n")
        envelope = decode_envelope(head)
        room = self.keys.room_of(channel)
        if channel == self.keys.everyone:
            await self.node_roster.heeded(envelope, body)
            return
        if room is None:
            self.outbox.flush()  # what came before reaches its members before any of this
            if envelope.k == "s":
                self._run_marked(envelope.seq)
            elif envelope.k in ("d", "c") and self.sessions is not None:
                target = self.sessions.get(envelope.skip[0])
                if target is None or target.closing:
                    return
                if envelope.k == "d":
                    target.write(body)
                else:
                    self.node_roster.obeyed(target, body)
            return
        last = self._last.get(room)
        if last is None:
            return  # not (or no longer) followed
        if envelope.k == "m":
            message = _message(room, body)
            if message.id <= last:
                return
            if envelope.prev > last:
                await self._catch_up(room)
                if message.id <= self._last.get(room, message.id):
                    return
            token = envelope.token
            mine = token.startswith(self.node) and token[len(self.node)] == "."
            self._deliver_message(message, int(token[len(self.node) + 1 :]) if mine else None)
        elif envelope.k == "e":
            if envelope.expel:
                self._expel(room, envelope)
            if envelope.topic is not None:
                self.rooms.topic_changed(room, envelope.topic, envelope.by)
            if envelope.blank:
                self.rooms.blank(room, envelope.blank)
            if envelope.revise:
                self.rooms.revise(room, envelope.revise, envelope.text)
            if envelope.rules:
                await self.rules_changed(room)  # before the members see what changed
            if body:
                self.views.heard(room, body)
                self.outbox.add(room, body, frozenset(envelope.skip))

    def _expel(self, room: str, envelope: Envelope) -> None:
        """A kick of ``envelope.expel``: this node's sessions among them leave ``room`` first
        (after what came before, the ban that removes them, say), so that none hears a kick."""
        self.outbox.flush_room(room)
        if self.sessions is None:
            return
        for session in envelope.expel:
            victim = self.sessions.get(session)
            if victim is not None and not victim.closing:
                self.node_roster.obeyed(victim, envelope.order)

    async def _resumed(self) -> None:
        """After a lost connection: the messages each room missed, then what its members must
        be told of the events it missed, then the markers that were lost."""
        for room in list(self._last):
            await self._catch_up(room)
        for room in list(self._last):
            await self._resync(room)
        for seq in sorted(self._marked):
            self._run_marked(seq)

    async def _resync(self, room: str) -> None:
        """Tell the local members of ``room`` how its members, topic and roles in Redis differ
        from what they were told (``node_resync``): events published while the subscription
        was down were not delivered here."""
        before = self.roles_of(room)
        try:
            (seats, topic, by), _ = await asyncio.gather(
                awaited(self.node_store.room_view, room), self.rules_changed(room)
            )
        except Unavailable as exc:
            raise redis.ConnectionError(f"cannot read {room} again: {exc}") from exc
        if room not in self._last:
            return  # forgotten meanwhile
        frames: list[p.ServerFrame] = [*self.views.changed_members(room, seats.values())]
        here = self.rooms.get(room)
        if here is not None and (here.topic, here.topic_by) != (topic, by):
            self.rooms.topic_changed(room, topic, by)
            frames.append(p.Topic(room=room, topic=topic, by=by))
        after = self.roles_of(room)
        if before is not None and after is not None:
            frames.extend(changed_roles(room, before, after, seats.values()))
        if frames:
            log.info("%s changed while the subscription was down: %d events", room, len(frames))
            self.outbox.add(room, b"".join(p.encode(frame) for frame in frames))

    async def _catch_up(self, room: str) -> None:
        """Deliver the messages of ``room`` stored after the last one delivered here."""
        while room in self._last:
            try:
                page = await read_page(self.store, room, None, self._last[room], _CATCH_UP_PAGE)
            except Unavailable as exc:
                # The subscription reconnects, and catches up once Redis answers.
                raise redis.ConnectionError(f"cannot catch up on {room}: {exc}") from exc
            for message in page.messages:
                if message.id > self._last.get(room, message.id):
                    self._deliver_message(message, self._stored.get(message.id))
            if not page.more:
                return

    def _deliver_message(self, message: StoredMessage, seq: int | None) -> None:
        room = message.room
        self._last[room] = message.id
        if seq is None:
            seq = self._stored.get(message.id)
        said = self._pending.pop(seq, None) if seq is not None else None
        self._stored.pop(message.id, None)
        self.rooms.remember(room, (message,))
        frame = p.encode(to_wire(message))
        if said is None:
            self.outbox.add(room, frame)
            return
        said.sender.said.append(message.id)
        own = msgspec.structs.replace(to_wire(message), nonce=said.nonce, ref=said.ref)
        self.outbox.add(room, frame, own=(said.sender, p.encode(own)))
        self._settled(room)

    # --- Seats: what ``Rooms`` tells, passed on to the roster ---

    def seated(self, name: str, session: Session) -> None:
        self.outbox.flush_room(name)  # the newcomer's join page holds what is due already
        self.node_roster.seated(name, session)

    def unseated(self, name: str, session: Session) -> None:
        self.node_roster.unseated(name, session)

    def _reseat(self) -> None:
        """Another node reaped this one (it lost Redis for longer than the lease): claim its
        sessions' nicks again, then record them in their rooms and announce them back; a
        session whose nick another took meanwhile is dropped. The claim comes first, so that
        nobody who sees one back can take its nick in between."""
        if self.sessions is None:
            return
        for s in self.sessions.in_chat():
            if not s.key:
                continue
            task = asyncio.get_running_loop().create_task(self._reclaim(s))
            self._reclaims.add(task)
            task.add_done_callback(self._reclaims.discard)

    async def _reclaim(self, s: Session) -> None:
        if await self.node_roster.claim(s, s.nick) is False:
            if not s.closing:
                s.drop(
                    "nick_taken", "your nick was taken while this server was cut off", error=True
                )
            return
        if s.closing:
            return
        for room in self.rooms.rooms_of(s):
            self.node_roster.seated(room, s)
            # The other nodes' members saw it quit when this node was reaped.
            self.broadcast(room, p.Presence(room=room, nick=s.nick, event="join"), skip=s)

    def _unfollow(self, room: str) -> None:
        """``room`` was forgotten here: stop following it, once this node's messages in it
        came back (their senders get their copies, even after leaving)."""
        if any(said.message.room == room for said in self._pending.values()):
            self._lingering.add(room)
            return
        self._lingering.discard(room)
        self._last.pop(room, None)
        self.views.stop(room)
        self.subscription.unfollow(self.keys.events(room))

    def _settled(self, room: str) -> None:
        if room in self._lingering and self.rooms.get(room) is None:
            self._unfollow(room)

    # --- markers: "everything published before this was delivered here" ---

    def _after_marker(self, action: Callable[[], None]) -> None:
        self._marking.append(action)
        if len(self._marking) == 1:
            asyncio.get_running_loop().call_soon(self._send_marker)

    def _send_marker(self) -> None:
        if not self._marking:
            return
        self._marks += 1
        seq = self._marks
        self._marked[seq], self._marking = self._marking, []
        if not self.subscription.connected:
            self._run_marked(seq)  # nothing can arrive before the subscription is back
            return
        marker = wrap(Envelope(k="s", seq=seq))
        self.node_store.publish(
            self.keys.node(self.node), marker, lambda reason: self._run_marked(seq)
        )

    def _run_marked(self, seq: int) -> None:
        for mark in sorted(m for m in self._marked if m <= seq):
            for action in self._marked.pop(mark):
                try:
                    action()
                except Exception:
                    log.exception("an action after the store failed")

    def _claimed(self, top: int) -> None:
        self._claiming = False
        self._blocks.append([top - _ID_BLOCK + 1, top])

    def _unclaimed(self, reason: str) -> None:
        self._claiming = False
        log.warning("cannot claim ids for direct messages: %s", reason)


@dataclass(frozen=True, slots=True)
class _Frame:
    payload: bytes
    skip: frozenset[str]
    own: tuple[Session, bytes] | None  # (sender, its own copy)


class Outbox:
    """Frames due to each followed room's local members, written together."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms
        self._due: dict[str, list[_Frame]] = {}
        self._scheduled = False

    def add(
        self,
        room: str,
        payload: bytes,
        skip: frozenset[str] = frozenset(),
        own: tuple[Session, bytes] | None = None,
    ) -> None:
        self._due.setdefault(room, []).append(_Frame(payload, skip, own))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        due, self._due = self._due, {}
        for room, frames in due.items():
            self._write(room, frames)

    def flush_room(self, room: str) -> None:
        frames = self._due.pop(room, None)
        if frames:
            self._write(room, frames)

    def _write(self, room: str, frames: list[_Frame]) -> None:
        special = {sid for frame in frames for sid in frame.skip}
        senders = {frame.own[0].id: frame.own[0] for frame in frames if frame.own is not None}
        special.update(senders)
        common = b"".join(frame.payload for frame in frames)
        members = self.rooms.members(room)
        for sid, member in list(members.items()):
            if sid not in special:
                member.write(common)
        for sid in special:
            someone = members.get(sid) or senders.get(sid)
            if someone is not None:
                someone.write(b"".join(_version(frame, someone) for frame in frames))


def _version(frame: _Frame, member: Session) -> bytes:
    """``frame`` as ``member`` gets it: its own copy, nothing, or the common one."""
    if frame.own is not None and frame.own[0] is member:
        return frame.own[1]
    return b"" if member.id in frame.skip else frame.payload
