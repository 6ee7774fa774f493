"""Fan-out: room messages from commit to every member, and every other effect in store order.

Room messages are handed to the ``History`` store and fanned out only once the store says they
are committed, so a client never sees a message that a crash could lose. Fan-out is per batch of
committed messages and per room: the batch is encoded once, published once to the ``Backplane``,
and every member gets it in one write; only the senders get a copy of their own (with their
``nonce``). Under load a pause between fan-outs lets batches grow instead of writes. Every other
room event (``broadcast``) and every reply that must follow earlier effects (``after_store``:
the ``pong`` barrier, a topic's echo, a direct message) waits behind the store's queue too, so
everything a client caused reaches it in the order it was caused. ``Fanout`` also writes each
batch into the rooms' windows of newest messages (``Rooms.remember``).

A message the store could not write is never fanned out: its sender alone gets ``unavailable``
(``refuse_unsaved``), in the store's order, after every echo committed before it, so that no
``pong`` and no later echo overtakes the refusal.

A node of a deployment sharing rooms through Redis has ``node.NodeFanout``, this class with
what differs there: room message ids taken in Redis (``assigns_ids``, ``take_id`` for direct
messages), delivery from the node's subscription, a room followed before it is first read
(``follow``), a reply that must not overtake its events' publication (``settle``), a
``roster`` of every node's nicks and members (``roster.py``), and rules changed on other nodes
(``rules_changed``, ``roles_of``). In one process those are the no-ops here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from app import protocol as p
from app.server.backplane import Backplane
from app.server.directory import Rooms
from app.server.roster import Alone, Roster
from app.server.session import Session
from app.server.timings import Timings
from app.store import History, StoredMessage

log = logging.getLogger("parley.server")

# A fan-out costs about the same per member whether it carries one message or twenty (the cost
# is the write to each socket), so after a fan-out that took t seconds of CPU the next one waits
# at least t: under load batches grow instead of writes, and the loop keeps at least half of its
# time for reading. An idle room is not delayed at all; this caps the wait in a huge one. A
# fan-out that carried one message per room is not followed by a pause: messages then come no
# faster than fan-outs go, a pause would not grow the next batch much and would add its length
# to every message's latency (the low-load floor of issue 14).
MAX_FANOUT_PAUSE = 0.05


@dataclass(slots=True)
class _Said:
    """A room message waiting for its commit, with what its sender's own copy needs."""

    message: StoredMessage
    sender: Session
    nonce: str | None
    ref: p.Ref | p.UnsetType
    arrived: int = 0  # monotonic ns when sampled by ``Fanout.timings``; 0 when not
    committed: int = 0  # monotonic ns of its commit, as the store says, for a sampled one
    called_back: int = 0  # monotonic ns of the commit's callback, for a sampled one


def to_wire(m: StoredMessage) -> p.Message:
    """A stored room message as the frame clients receive."""
    return p.Message(
        id=m.id,
        ts=m.ts,
        sender=m.sender,
        text=m.text,
        room=m.room,
        action=m.action,
        deleted=m.deleted,
        edited=m.edited and not m.deleted,
    )


class Fanout:
    """Commit-then-deliver for room messages, and store-ordered delivery of everything else."""

    # Whether room messages get their ids from the store (a node: ``node.NodeFanout``) rather
    # than from the message feature's counter.
    assigns_ids = False
    # Nicks and membership beyond this process: none in one process.
    roster: Roster = Alone()

    def __init__(self, store: History, backplane: Backplane, rooms: Rooms) -> None:
        self.store = store
        self.backplane = backplane
        self.rooms = rooms
        self._said: dict[int, _Said] = {}
        self._committed: list[_Said] = []
        self._flush_scheduled = False
        self._next_flush = 0.0  # loop time before which committed messages wait (batching)
        self._loop: asyncio.AbstractEventLoop | None = None
        # The benchmark's latency sampler (``timings.py``), set before ``start``; None in service.
        self.timings: Timings | None = None
        # Called with a room whose moderation rules another node changed (moderation rereads
        # them); one process changes them itself.
        self.rules_changed: Callable[[str], Awaitable[None]] = _unchanged
        # The roles of a room's accounts as this process holds them, or None if it holds no
        # rules of the room (a node compares them around a reread after an outage).
        self.roles_of: Callable[[str], Mapping[str, str] | None] = _no_roles
        backplane.attach(self._deliver)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fan out on ``loop`` (the one the store calls back on)."""
        self._loop = loop
        if self.timings is not None:
            self.timings.start(loop)

    def say(
        self, message: StoredMessage, sender: Session, nonce: str | None, ref: p.Ref | p.UnsetType
    ) -> None:
        """Store a room message; fan it out (the sender's copy with ``nonce``) once committed."""
        sender.said.append(message.id)  # its author may delete it, even as a guest
        arrived = 0 if self.timings is None else self.timings.sample()
        self._said[message.id] = _Said(message, sender, nonce, ref, arrived)
        self.store.append((message,), self._on_committed, self._on_failed)

    def take_id(self) -> int:
        """A direct message's id, when ``assigns_ids`` (never called otherwise)."""
        raise NotImplementedError

    async def follow(self, room: str) -> None:
        """Make sure what is published to ``room`` from now on reaches this process (a node
        subscribes; one process always does); raises ``Unavailable`` if it cannot."""
        return None

    async def settle(self) -> None:
        """Wait until the room events published so far are on their way to every process (a
        node's reach Redis; one process's already are), so that a reply sent after this cannot
        reach its client before the others can see what it did."""
        return None

    def refuse_unsaved(self, session: Session, ref: p.Ref | p.UnsetType, what: str) -> None:
        """Tell ``session`` that ``what`` it asked for was not saved, after every message
        committed before (call from a store callback, which keeps the store's order)."""
        self._flush()
        message = f"{what} could not be saved: the server cannot write its history now; try again"
        session.send(p.Error(code="unavailable", message=f"{message} later", ref=ref))

    def after_store(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything submitted before it was committed and delivered."""

        def run() -> None:
            self._flush()
            action()

        self.store.barrier(run)

    def broadcast(self, room: str, frame: p.ServerFrame, skip: Session | None = None) -> None:
        """Publish one room event, encoded once, in order behind pending messages."""
        payload = p.encode(frame)
        skipped = frozenset((skip.id,)) if skip is not None else frozenset()
        self.after_store(lambda: self.backplane.publish(room, payload, skipped))

    def rules_written(self, room: str) -> None:
        """``room``'s rules changed with nothing to tell its members (the first account to
        join became its owner): other processes must read them again. One process has none."""
        return None

    def _on_committed(self, messages: Sequence[StoredMessage]) -> None:
        for message in messages:
            said = self._said.pop(message.id, None)
            if said is not None:
                self._committed.append(said)
        if self.timings is not None:
            self._stamp_commit(messages)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            delay = self._next_flush - self._loop.time()
            if delay > 0:
                self._loop.call_later(delay, self._flush)
            else:
                self._loop.call_soon(self._flush)

    def _on_failed(self, messages: Sequence[StoredMessage], reason: str) -> None:
        for message in messages:
            said = self._said.pop(message.id, None)
            if said is not None:
                self.refuse_unsaved(said.sender, said.ref, "your message")

    def _flush(self) -> None:
        """Fan out every committed message: one payload per room, one write per member."""
        self._flush_scheduled = False
        if not self._committed:
            return
        began = time.thread_time()
        started = 0 if self.timings is None else time.monotonic_ns()
        batch, self._committed = self._committed, []
        by_room: dict[str, list[_Said]] = {}
        for said in batch:
            by_room.setdefault(said.message.room, []).append(said)
        for name, saids in by_room.items():
            frames = [p.encode(to_wire(said.message)) for said in saids]
            self.rooms.remember(name, (said.message for said in saids))
            senders = {said.sender.id: said.sender for said in saids}
            self.backplane.publish(name, b"".join(frames), frozenset(senders))
            for sender in senders.values():
                sender.write(self._own_copy(sender, saids, frames))
            if self.timings is not None:
                self._timed(self.timings, name, saids, started)
        if self._loop is not None:
            spent = time.thread_time() - began if len(batch) > len(by_room) else 0.0
            self._next_flush = self._loop.time() + min(spent, MAX_FANOUT_PAUSE)

    def _stamp_commit(self, messages: Sequence[StoredMessage]) -> None:
        """The sampled messages of a commit: when the store committed them (the SQLite writer
        thread says, ``committed_ns``) and when the loop heard of it (now)."""
        now = time.monotonic_ns()
        committed = getattr(self.store, "committed_ns", 0)
        ids = {message.id for message in messages}
        for said in self._committed[-len(ids) :]:
            if said.arrived and said.message.id in ids:
                said.committed, said.called_back = committed, now

    def _timed(self, timings: Timings, room: str, saids: list[_Said], started: int) -> None:
        """Record the sampled messages of a room's fan-out, which has just written its last."""
        done = time.monotonic_ns()
        members = len(self.rooms.members(room))
        for said in saids:
            if said.arrived:
                timings.record(
                    said.arrived, said.committed, said.called_back, started, done, members
                )

    @staticmethod
    def _own_copy(sender: Session, saids: list[_Said], frames: list[bytes]) -> bytes:
        """The batch as ``sender`` sees it: its own messages carry its nonce and ref."""
        parts = []
        for said, frame in zip(saids, frames, strict=True):
            if said.sender is sender:
                own = msgspec.structs.replace(to_wire(said.message), nonce=said.nonce, ref=said.ref)
                frame = p.encode(own)
            parts.append(frame)
        return b"".join(parts)

    def _deliver(self, room: str, payload: bytes, skip: frozenset[str]) -> None:
        """The backplane's delivery: write ``payload`` to this process's members of ``room``."""
        members = self.rooms.members(room)
        if not members:
            return
        if skip:
            for sid, member in list(members.items()):
                if sid not in skip:
                    member.write(payload)
        else:
            for member in list(members.values()):
                member.write(payload)


def _no_roles(room: str) -> Mapping[str, str] | None:
    return None


async def _unchanged(room: str) -> None:
    return None
