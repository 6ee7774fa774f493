"""The hub: registered sessions, rooms, and what each client frame does to them.

The hub owns the server's shared state (who is connected under which nick, which rooms exist,
who is in them, each room's newest messages) and it is only ever touched from the event loop, so
it needs no locks. ``handle`` dispatches one decoded frame from a ``Session``. Room messages are
given an id and a timestamp here, handed to the ``History`` store, and fanned out only once the
store says they are committed: a client never sees a message that a crash could lose. Fan-out is
per batch of committed messages and per room: the batch is encoded once, published once to the
``Backplane``, and every member gets it in one write; only the senders get a copy of their own
(with their ``nonce``). Every other room event and the ``pong`` barrier wait behind the store's
queue too, so everything a client caused reaches it in the order it was caused. Handlers are
coroutines: one that awaits (a ``history`` page read) holds back only its own connection's later
frames, which ``Session`` handles after it, so that order holds across the wait as well.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app import protocol as p
from app.server.backplane import Backplane
from app.server.config import ServerConfig
from app.server.session import Session
from app.store import History, Page, StoredMessage, StoredRoom

log = logging.getLogger("parley.server")

_ID_BLOCK = 4096  # ids reserved per write of the id ceiling
MAX_TEXT = 4000  # characters in a message, topic or away text; the line limit bounds bytes
# A fan-out costs about the same per member whether it carries one message or twenty (the cost
# is the write to each socket), so after a fan-out that took t seconds of CPU the next one waits
# at least t: under load batches grow instead of writes, and the loop keeps at least half of its
# time for reading. An idle room is not delayed at all; this caps the wait in a huge one.
MAX_FANOUT_PAUSE = 0.05
# SQLite integers are 64-bit: a larger id in a query would kill the store's writer thread.
MAX_ID = (1 << 63) - 1

_Handler = Callable[[Session, p.ClientFrame], Coroutine[Any, Any, None]]


@dataclass
class Room:
    """A room as the hub keeps it in memory."""

    name: str
    topic: str = ""
    topic_by: str = ""
    members: dict[int, Session] = field(default_factory=dict)
    recent: deque[StoredMessage] = field(default_factory=deque)
    has_older: bool = False


@dataclass(slots=True)
class _Said:
    """A room message waiting for its commit, with what its sender's own copy needs."""

    message: StoredMessage
    sender: Session
    nonce: str | None
    ref: p.Ref | p.UnsetType


def to_wire(m: StoredMessage) -> p.Message:
    """A stored room message as the frame clients receive."""
    return p.Message(id=m.id, ts=m.ts, sender=m.sender, text=m.text, room=m.room, action=m.action)


class Hub:
    """Sessions, rooms and the handling of every client frame."""

    def __init__(self, config: ServerConfig, store: History, backplane: Backplane) -> None:
        self.config = config
        self.store = store
        self.backplane = backplane
        self.sessions: dict[int, Session] = {}  # connected and not yet dropped
        self.live: dict[int, Session] = {}  # transports not yet closed
        self.nicks: dict[str, Session] = {}
        self.rooms: dict[str, Room] = {}
        self.per_ip: defaultdict[str, int] = defaultdict(int)
        self._next_session = 0
        self._next_id = 1
        self._reserved_id = 0
        self._said: dict[int, _Said] = {}
        self._committed: list[_Said] = []
        self._flush_scheduled = False
        self._next_flush = 0.0  # loop time before which committed messages wait (batching)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handlers: dict[type, _Handler] = {
            p.Hello: self._hello,  # type: ignore[dict-item]
            p.Join: self._join,  # type: ignore[dict-item]
            p.Part: self._part,  # type: ignore[dict-item]
            p.Say: self._say,  # type: ignore[dict-item]
            p.Nick: self._nick,  # type: ignore[dict-item]
            p.SetTopic: self._topic,  # type: ignore[dict-item]
            p.Who: self._who,  # type: ignore[dict-item]
            p.ListRooms: self._rooms,  # type: ignore[dict-item]
            p.GetHistory: self._history,  # type: ignore[dict-item]
            p.Away: self._away,  # type: ignore[dict-item]
            p.Ping: self._ping,  # type: ignore[dict-item]
            p.Pong: self._pong,  # type: ignore[dict-item]
            p.Quit: self._quit,  # type: ignore[dict-item]
        }
        backplane.attach(self._deliver)

    def load(self) -> None:
        """Read the store's rooms and newest messages (blocking; before serving)."""
        self._loop = asyncio.get_running_loop()
        # One message more than is kept tells whether older ones exist (``more`` on join).
        snapshot = self.store.open(self.config.recent + 1)
        self._next_id = snapshot.last_id + 1
        self._reserved_id = snapshot.last_id
        for stored in snapshot.rooms:
            recent = snapshot.recent.get(stored.room, [])
            self.rooms[stored.room] = Room(
                name=stored.room,
                topic=stored.topic,
                topic_by=stored.topic_by,
                recent=deque(recent, maxlen=self.config.recent),
                has_older=len(recent) > self.config.recent,
            )

    def new_session(self) -> Session:
        """The protocol factory for the listening socket."""
        self._next_session += 1
        return Session(self, self._next_session)

    # --- connection lifecycle ---

    def connect(self, session: Session) -> None:
        cap = self.config.max_conns_per_ip
        if cap and self.per_ip[session.ip] >= cap:
            session.drop(
                "too_many_connections", f"at most {cap} connections per address", error=True
            )
            return
        self.per_ip[session.ip] += 1
        self.sessions[session.id] = session

    def disconnect(self, session: Session, text: str | None) -> None:
        """Forget a session; its rooms hear that it quit. Safe to call more than once."""
        if self.sessions.pop(session.id, None) is None:
            return
        self.per_ip[session.ip] -= 1
        if self.per_ip[session.ip] <= 0:
            del self.per_ip[session.ip]
        if session.key:
            self.nicks.pop(session.key, None)
        for name in sorted(session.rooms):
            room = self.rooms[name]
            room.members.pop(session.id, None)
            self._broadcast(name, p.Presence(room=name, nick=session.nick, event="quit", text=text))
        session.rooms.clear()

    async def handle(self, session: Session, frame: p.ClientFrame) -> None:
        """Do what one client frame asks (``Session`` awaits it before the next frame)."""
        if not session.key and type(frame) not in (p.Hello, p.Ping, p.Pong, p.Quit):
            self._refuse(session, frame, "not_registered", "say hello first")
            return
        await self._handlers[type(frame)](session, frame)

    # --- frames ---

    async def _hello(self, s: Session, f: p.Hello) -> None:
        if s.key:
            self._refuse(s, f, "already_registered", f"you are already {s.nick}")
        elif f.proto != p.PROTO_VERSION:
            self._refuse(s, f, "bad_proto", f"this server speaks protocol {p.PROTO_VERSION}")
        elif self._check_nick(s, f, f.nick):
            s.nick, s.key = f.nick, p.fold(f.nick)
            self.nicks[s.key] = s
            s.send(
                p.Welcome(
                    nick=s.nick, server=self.config.server_name, proto=p.PROTO_VERSION, ref=f.ref
                )
            )
            log.info("register %s as %s", s.peer, s.nick)

    async def _join(self, s: Session, f: p.Join) -> None:
        name = self._room_name(s, f, f.room)
        if name is None:
            return
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, recent=deque(maxlen=self.config.recent))
        if s.id not in room.members:
            room.members[s.id] = s
            s.rooms.add(name)
            self._broadcast(name, p.Presence(room=name, nick=s.nick, event="join"), skip=s)
        s.send(p.Joined(room=name, topic=room.topic, members=self._nicks(room), ref=f.ref))
        s.send(
            p.HistoryPage(
                room=name,
                messages=[to_wire(m) for m in room.recent],
                more=room.has_older,
                ref=f.ref,
            )
        )

    async def _part(self, s: Session, f: p.Part) -> None:
        room = self._member_of(s, f, f.room)
        if room is None:
            return
        del room.members[s.id]
        s.rooms.discard(room.name)
        s.send(p.Parted(room=room.name, ref=f.ref))
        self._broadcast(room.name, p.Presence(room=room.name, nick=s.nick, event="part"))

    async def _say(self, s: Session, f: p.Say) -> None:
        if (f.room is None) == (f.to is None):
            self._refuse(s, f, "bad_frame", 'say needs exactly one of "room" and "to"')
        elif not f.text or len(f.text) > MAX_TEXT:
            self._refuse(s, f, "bad_frame", f"text must be 1 to {MAX_TEXT} characters")
        elif f.to is not None:
            self._direct(s, f, f.to)
        elif f.room is not None and (room := self._member_of(s, f, f.room)) is not None:
            message = StoredMessage(self._take_id(), _now_ms(), room.name, s.nick, f.text, f.action)
            self._said[message.id] = _Said(message, s, f.nonce, f.ref)
            self.store.append((message,), self._on_committed)

    def _direct(self, s: Session, f: p.Say, to: str) -> None:
        target = self.nicks.get(p.fold(to))
        if target is None:
            self._refuse(s, f, "no_such_nick", f"nobody is called {to}")
            return
        base = p.Message(
            id=self._take_id(),
            ts=_now_ms(),
            sender=s.nick,
            text=f.text,
            to=target.nick,
            action=f.action,
        )
        own = msgspec.structs.replace(base, nonce=f.nonce, ref=f.ref)

        def deliver() -> None:
            if target is not s:
                target.send(base)
            s.send(own)

        self._after_store(deliver)

    async def _nick(self, s: Session, f: p.Nick) -> None:
        if not self._check_nick(s, f, f.nick):
            return
        old = s.nick
        if f.nick == old:
            s.send(p.Renamed(nick=old, old=old, ref=f.ref))
            return
        del self.nicks[s.key]
        s.nick, s.key = f.nick, p.fold(f.nick)
        self.nicks[s.key] = s
        s.send(p.Renamed(nick=s.nick, old=old, ref=f.ref))
        for name in sorted(s.rooms):
            self._broadcast(name, p.Presence(room=name, nick=s.nick, old=old, event="nick"), skip=s)

    async def _topic(self, s: Session, f: p.SetTopic) -> None:
        room = self._member_of(s, f, f.room)
        if room is None:
            return
        if len(f.topic) > MAX_TEXT:
            self._refuse(s, f, "bad_frame", f"a topic is at most {MAX_TEXT} characters")
            return
        room.topic, room.topic_by = f.topic, s.nick
        self.store.save_room(StoredRoom(room.name, room.topic, room.topic_by))
        event = p.Topic(room=room.name, topic=f.topic, by=s.nick)
        self._broadcast(room.name, event, skip=s)
        own = p.Topic(room=room.name, topic=f.topic, by=s.nick, ref=f.ref)
        self._after_store(lambda: s.send(own))

    async def _who(self, s: Session, f: p.Who) -> None:
        name = self._room_name(s, f, f.room)
        if name is None:
            return
        room = self.rooms.get(name)
        if room is None or not room.members:
            self._refuse(s, f, "no_such_room", f"nobody is in {name}")
            return
        members = [
            p.Member(nick=m.nick, away=m.away is not None)
            for m in sorted(room.members.values(), key=lambda m: m.key)
        ]
        s.send(p.Members(room=name, members=members, ref=f.ref))

    async def _rooms(self, s: Session, f: p.ListRooms) -> None:
        rooms = [
            p.RoomInfo(room=r.name, topic=r.topic, members=len(r.members))
            for r in sorted(self.rooms.values(), key=lambda r: r.name)
            if r.members
        ]
        s.send(p.RoomList(rooms=rooms, ref=f.ref))

    async def _history(self, s: Session, f: p.GetHistory) -> None:
        room = self._member_of(s, f, f.room)
        if room is None:
            return
        if f.before is not None and f.after is not None:
            self._refuse(s, f, "bad_frame", 'give "before" or "after", not both')
            return
        limit = max(1, min(f.limit, p.HISTORY_LIMIT_MAX))
        # Ids are positive, so clamping to 0..MAX_ID keeps what the query means.
        before = None if f.before is None else max(0, min(f.before, MAX_ID))
        after = None if f.after is None else max(0, min(f.after, MAX_ID))

        page = await self._read_page(room.name, before, after, limit)
        messages = [to_wire(m) for m in page.messages]
        s.send(p.HistoryPage(room=room.name, messages=messages, more=page.more, ref=f.ref))

    async def _read_page(
        self, room: str, before: int | None, after: int | None, limit: int
    ) -> Page:
        """One page read from the store, in its queue's order, awaited."""
        read: asyncio.Future[Page] = asyncio.get_running_loop().create_future()

        def done(page: Page) -> None:
            if not read.done():  # the session may have gone (and its wait been cancelled)
                read.set_result(page)

        self.store.page(room, before, after, limit, done)
        return await read

    async def _away(self, s: Session, f: p.Away) -> None:
        if f.text is not None and len(f.text) > MAX_TEXT:
            self._refuse(s, f, "bad_frame", f"an away text is at most {MAX_TEXT} characters")
            return
        s.away = f.text or None
        s.send(p.AwaySet(text=s.away, ref=f.ref))
        event: p.PresenceEvent = "away" if s.away is not None else "back"
        for name in sorted(s.rooms):
            self._broadcast(
                name, p.Presence(room=name, nick=s.nick, event=event, text=s.away), skip=s
            )

    async def _ping(self, s: Session, f: p.Ping) -> None:
        pong = p.ServerPong(id=f.id, ref=f.ref)
        self._after_store(lambda: s.send(pong))

    async def _pong(self, s: Session, f: p.Pong) -> None:
        s.ping_sent = None  # any input already counts; this is the explicit answer

    async def _quit(self, s: Session, f: p.Quit) -> None:
        # The echo of a message said just before quit may still wait on the store.
        s.leaving = True
        self._after_store(lambda: s.drop("quit", f.text or ""))

    # --- checks that answer the client when they fail ---

    def _refuse(self, s: Session, f: p.ClientFrame, code: p.ErrorCode, message: str) -> None:
        s.send(p.Error(code=code, message=message, ref=f.ref))

    def _check_nick(self, s: Session, f: p.ClientFrame, nick: str) -> bool:
        if not p.is_valid_nick(nick):
            self._refuse(
                s, f, "bad_nick", "a nick is 1-24 letters, digits, _ or -, starting with a letter"
            )
            return False
        holder = self.nicks.get(p.fold(nick))
        if holder is not None and holder is not s:
            self._refuse(s, f, "nick_taken", f"{nick} is already taken")
            return False
        return True

    def _room_name(self, s: Session, f: p.ClientFrame, room: str) -> str | None:
        if not p.is_valid_room(room):
            self._refuse(s, f, "bad_room", "a room is # then 1-32 letters, digits, _ or -")
            return None
        return p.fold(room)

    def _member_of(self, s: Session, f: p.ClientFrame, room: str) -> Room | None:
        name = self._room_name(s, f, room)
        if name is None:
            return None
        if name not in s.rooms:
            self._refuse(s, f, "not_in_room", f"you are not in {name}")
            return None
        return self.rooms[name]

    # --- fan-out ---

    def _take_id(self) -> int:
        if self._next_id > self._reserved_id:
            # Direct messages are never stored, so their ids would be reused after a restart
            # unless a ceiling is; it is committed before the message is delivered.
            self._reserved_id = self._next_id + _ID_BLOCK
            self.store.reserve_ids(self._reserved_id)
        self._next_id += 1
        return self._next_id - 1

    def _nicks(self, room: Room) -> list[str]:
        return sorted((m.nick for m in room.members.values()), key=p.fold)

    def after_effects(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything caused so far has been sent (for ``Session``)."""
        self._after_store(action)

    def _after_store(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything submitted before it was committed and delivered."""

        def run() -> None:
            self._flush()
            action()

        self.store.barrier(run)

    def _broadcast(self, room: str, frame: p.ServerFrame, skip: Session | None = None) -> None:
        """Publish one room event, encoded once, in order behind pending messages."""
        payload = p.encode(frame)
        skipped = frozenset((skip.id,)) if skip is not None else frozenset()
        self._after_store(lambda: self.backplane.publish(room, payload, skipped))

    def _on_committed(self, messages: Sequence[StoredMessage]) -> None:
        for message in messages:
            said = self._said.pop(message.id, None)
            if said is not None:
                self._committed.append(said)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            delay = self._next_flush - self._loop.time()
            if delay > 0:
                self._loop.call_later(delay, self._flush)
            else:
                self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Fan out every committed message: one payload per room, one write per member."""
        self._flush_scheduled = False
        if not self._committed:
            return
        began = time.thread_time()
        batch, self._committed = self._committed, []
        by_room: dict[str, list[_Said]] = {}
        for said in batch:
            by_room.setdefault(said.message.room, []).append(said)
        for name, saids in by_room.items():
            room = self.rooms[name]
            frames = [p.encode(to_wire(said.message)) for said in saids]
            # Older messages exist once one is pushed out of the window, not when it is full.
            if len(room.recent) + len(saids) > (room.recent.maxlen or 0):
                room.has_older = True
            room.recent.extend(said.message for said in saids)
            senders = {said.sender.id: said.sender for said in saids}
            self.backplane.publish(name, b"".join(frames), frozenset(senders))
            for sender in senders.values():
                sender.write(self._own_copy(sender, saids, frames))
        if self._loop is not None:
            spent = time.thread_time() - began
            self._next_flush = self._loop.time() + min(spent, MAX_FANOUT_PAUSE)

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

    def _deliver(self, room: str, payload: bytes, skip: frozenset[int]) -> None:
        target = self.rooms.get(room)
        if target is None:
            return
        if skip:
            for sid, member in list(target.members.items()):
                if sid not in skip:
                    member.write(payload)
        else:
            for member in list(target.members.values()):
                member.write(payload)

    # --- housekeeping ---

    def sweep(self) -> None:
        """Drop unregistered and unresponsive sessions; ping the quiet ones."""
        now = time.monotonic()
        config = self.config
        for s in list(self.sessions.values()):
            if not s.key:
                if now - s.connected_at > config.register_timeout:
                    s.drop("register_timeout", "no hello in time", error=True)
            elif s.ping_sent is not None:
                if now - s.ping_sent > config.ping_timeout:
                    s.drop("ping_timeout", "no answer to ping", error=True)
            elif now - s.last_seen > config.ping_interval:
                s.ping_sent = now
                s.send(p.ServerPing(id=int(now * 1000)))

    def say_goodbye(self) -> None:
        """Tell every client the server is shutting down and close their connections."""
        for s in list(self.sessions.values()):
            s.drop("server_shutdown", "the server is shutting down", error=True)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
