"""A node's roster in Redis: nick claims, room membership, heartbeats, and reaping dead nodes.

``NodeRoster`` is the ``Roster`` of a node (``roster.py`` says what it answers). A nick is claimed
with one script (``SET NX`` of ``PREFIX:nick:KEY`` to ``NODE SESSION``, listed in the node's nicks)
before a session takes it, and released with a compare-and-delete, both through the node's store
queue, so that one node's release and later claim reach Redis in that order. Every join and part
that ``Rooms`` records is written to the room's members hash (``PREFIX:{ROOM}:members``: session id
to nick, account and away), the set of rooms with members (``PREFIX:occupied``) and the node's
seats. The node's heartbeat key (``PREFIX:node:NODE:alive``) lives for the lease (``node_lease``,
15 s by default) and is renewed every third of it; at each renewal the node looks for nodes whose
heartbeat ran out and reaps them with one script, which only the first node to try runs (it takes
the dead node out of ``PREFIX:nodes``): the dead node's seats and nicks go, and the reaper
announces each of its members' ``quit`` in their rooms. So a node killed with ``kill -9`` is
noticed within the lease and a third, and its users' nicks are free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import msgspec

from app import protocol as p
from app.server.feature import Unavailable, awaited
from app.server.roster import Holder, Member
from app.server.session import Session
from app.store.redis_node import Envelope, RedisNodeStore, Seat, wrap

log = logging.getLogger("parley.server")

_encode = msgspec.json.encode
_decode_order = msgspec.json.Decoder(list[str]).decode

TellRoom = Callable[[str, p.ServerFrame], None]


class NodeRoster:
    """Nicks and membership of every node, in Redis; this node's heartbeat and reaper."""

    alone = False

    def __init__(self, store: RedisNodeStore, node: str, lease: float, tell_room: TellRoom):
        self.store = store
        self.node = node
        self.lease = lease
        self.tell_room = tell_room  # publishes a room event (the reaper's quits)
        self._beating: asyncio.Task[None] | None = None
        self._orders: dict[str, Callable[[Session, list[str]], None]] = {}
        self._announced: dict[str, Callable[[list[str]], Awaitable[None]]] = {}
        self._beats = 0
        self._healthy_since: float | None = None  # loop time of the first beat in a row
        # Records this node's members and nicks again (set by the node's fan-out).
        self.reseat: Callable[[], None] = _nothing

    def start(self) -> None:
        self._beat()
        self._beating = asyncio.get_running_loop().create_task(self._heart(), name="parley-heart")

    async def close(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        self.store.leave(self.node)

    # --- Roster ---

    async def claim(self, s: Session, nick: str) -> bool | None:
        since = int((time.time() - (time.monotonic() - s.connected_at)) * 1000)
        try:
            held: bool = await awaited(
                self.store.claim_nick, nick, since, self.node, self._owner(s)
            )
        except Unavailable:
            return None
        return held

    def release(self, s: Session, key: str) -> None:
        self.store.release_nick(key, self.node, self._owner(s))

    def changed(self, s: Session, rooms: Sequence[str]) -> None:
        for room in rooms:
            self.seated(room, s)

    async def where(self, key: str) -> Holder | None:
        found: tuple[str, str, int] | None = await awaited(self.store.nick_owner, key)
        if found is None or found[0].startswith(f"{self.node} "):
            return None
        return Holder(*found)

    def deliver(self, owner: str, frame: p.ServerFrame) -> None:
        node, _, session = owner.partition(" ")
        envelope = Envelope(k="d", skip=[session])
        self.store.publish(self.store.keys.node(node), wrap(envelope, p.encode(frame)))

    async def members(self, room: str) -> Sequence[Member] | None:
        seats: dict[str, Seat] = await awaited(self.store.members, room)
        return list(seats.values())

    async def find(self, room: str, key: str) -> tuple[str, Member] | None:
        return next(((o, m) for o, m in await self.elsewhere(room) if m.key == key), None)

    async def elsewhere(self, room: str) -> list[tuple[str, Member]]:
        seats: dict[str, Seat] = await awaited(self.store.members, room)
        return [
            (f"{seat.node} {session}", seat)
            for session, seat in seats.items()
            if seat.node != self.node
        ]

    async def everywhere(self, room: str) -> list[tuple[str, Member]]:
        seats: dict[str, Seat] = await awaited(self.store.members, room)
        return [(f"{seat.node} {session}", seat) for session, seat in seats.items()]

    def expel(
        self,
        room: str,
        victims: Sequence[tuple[str, Member]],
        by: str,
        reason: str | None,
        skip: Session | None = None,
    ) -> None:
        sessions = []
        for owner, _ in victims:
            node, _, session = owner.partition(" ")
            # Gone from the listings before anyone hears the kick (its node unseats it again).
            self.store.unseat(room, node, session)
            sessions.append(session)
        envelope = Envelope(
            k="e",
            skip=[skip.id] if skip is not None else [],
            expel=sessions,
            order=["expel", room, by, reason or ""],
        )
        kicks = b"".join(
            p.encode(p.Presence(room=room, nick=m.nick, event="kick", by=by, reason=reason))
            for _, m in victims
        )
        self.store.publish(self.store.keys.events(room), wrap(envelope, kicks))

    def order(self, owner: str, action: str, arguments: Sequence[str]) -> None:
        node, _, session = owner.partition(" ")
        envelope = wrap(Envelope(k="c", skip=[session]), _encode([action, *arguments]))
        self.store.publish(self.store.keys.node(node), envelope)

    def obey(self, action: str, handler: Callable[[Session, list[str]], None]) -> None:
        self._orders[action] = handler

    def announce(self, action: str, arguments: Sequence[str]) -> None:
        envelope = wrap(Envelope(k="c", skip=[self.node]), _encode([action, *arguments]))
        self.store.publish(self.store.keys.everyone, envelope)

    def heed(self, action: str, handler: Callable[[list[str]], Awaitable[None]]) -> None:
        self._announced[action] = handler

    async def heeded(self, envelope: Envelope, order: bytes) -> None:
        """Do what another node announced to every node."""
        if envelope.skip == [self.node]:
            return  # this node's own, done already
        action, *arguments = _decode_order(order)
        handler = self._announced.get(action)
        if handler is None:
            log.warning("an announcement %r this node does not know", action)
        else:
            await handler(arguments)

    def obeyed(self, s: Session, order: bytes | list[str]) -> None:
        """Carry out an order a node sent for ``s`` (on its channel, or with a room event)."""
        action, *arguments = _decode_order(order) if isinstance(order, bytes) else order
        handler = self._orders.get(action)
        if handler is None:
            log.warning("an order %r this node does not know", action)
        else:
            handler(s, arguments)

    async def rooms(self, after: str, limit: int) -> list[p.RoomInfo] | None:
        found: list[tuple[str, str, int]] = await awaited(self.store.occupied, after, limit)
        return [p.RoomInfo(room=room, topic=topic, members=n) for room, topic, n in found]

    # --- Seats: what ``Rooms`` tells ---

    def seated(self, room: str, s: Session) -> None:
        self.store.seat(room, self.node, s.id, Seat(s.nick, s.account, s.away, self.node, s.ip))

    def unseated(self, room: str, s: Session) -> None:
        self.store.unseat(room, self.node, s.id)

    # --- heartbeat and reaping ---

    def _owner(self, s: Session) -> str:
        return f"{self.node} {s.id}"

    async def _heart(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            self._beat()

    def _beat(self) -> None:
        self.store.heartbeat(self.node, int(self.lease * 1000), self._beaten, self._unbeaten)

    def _unbeaten(self, reason: str) -> None:
        self._healthy_since = None

    def _beaten(self, added: bool, dead: list[str]) -> None:
        now = asyncio.get_running_loop().time()
        if added and self._beats:
            log.error("another node took this one for dead: recording its members and nicks again")
            self.reseat()
        self._beats += 1
        if self._healthy_since is None:
            self._healthy_since = now
        # After a start or an outage the others had no time to beat yet: a lease first.
        if now - self._healthy_since < self.lease:
            return
        for node in dead:
            self.store.reap(node, partial(self._gone, node))

    def _gone(self, node: str, gone: list[tuple[str, Seat]]) -> None:
        if not gone:
            return
        log.warning("node %s stopped beating: %d members of its rooms quit", node, len(gone))
        for room, seat in gone:
            self.tell_room(
                room, p.Presence(room=room, nick=seat.nick, event="quit", text="node_lost")
            )


def _nothing() -> None:
    return None
