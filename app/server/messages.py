"""Messages: what ``say`` and ``history`` do, and the ids that number every message.

Each handler is one row of ``docs/protocol.md``'s table. A room message gets an id and a timestamp
here and goes to ``Fanout.say``, which delivers it once the store has committed it; a direct message
(``say {to}``) and a page of one (``history {with}``) are ``directs.py``'s: stored between two
accounts, live-only otherwise, and never overtaking what its sender said before. A room message the
store cannot write is answered ``unavailable`` to its sender alone (``Fanout``), as is a ``history``
the store cannot read. ``history`` awaits a page read from the store. Rules owned here: a ``say``
names exactly one of ``room`` and ``to``, its text is 1 to ``MAX_TEXT`` characters, a ``history``
query names exactly one of ``room`` and ``with`` and gives at most one of ``before`` and ``after``,
its numbers are clamped to what the store can hold, and its reply holds what fits one reply line
(``limits.reply_bytes``), ``more`` saying the rest is there; a muted member's room ``say`` is
refused (``Context.rules``). Ids come from one counter per process whose ceiling is reserved in the
store in blocks, so that ids of guests' direct messages are not reused after a restart; a node of a
deployment sharing rooms (``Fanout.assigns_ids``) has its room messages' ids taken in Redis as they
are stored, and its direct messages' from blocks it claims there.
"""

from __future__ import annotations

import logging
import time

from app import protocol as p
from app.server.directs import Directs
from app.server.fanout import to_wire
from app.server.feature import (
    MAX_ID,
    MAX_TEXT,
    Context,
    Handlers,
    Unavailable,
    may_talk,
    member_of,
    read_page,
    refuse,
)
from app.server.limits import budget, fit, fit_newest, reply_bytes
from app.server.session import Session
from app.store import Snapshot, StoredMessage

log = logging.getLogger("parley.server")

_ID_BLOCK = 4096  # ids reserved per write of the id ceiling


class MessageFeature:
    """The message frames' handlers and the message id counter."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.rooms = context.rooms
        self.fanout = context.fanout
        self.reply_bytes = reply_bytes(context.config)
        self._next_id = 1
        self._reserved_id = 0
        take_id = context.fanout.take_id if context.fanout.assigns_ids else self._take_id
        self.directs = Directs(context, take_id)
        self.handlers = Handlers().on(p.Say, self.say).on(p.GetHistory, self.history)

    def load(self, snapshot: Snapshot) -> None:
        self._next_id = snapshot.last_id + 1
        self._reserved_id = snapshot.last_id

    def departed(self, session: Session, text: str | None) -> None:
        return None

    async def say(self, s: Session, f: p.Say) -> None:
        if not may_talk(self.ctx.config, s, f):
            return
        if (f.room is None) == (f.to is None):
            refuse(s, f, "bad_frame", 'say needs exactly one of "room" and "to"')
        elif not f.text or len(f.text) > MAX_TEXT:
            refuse(s, f, "bad_frame", f"text must be 1 to {MAX_TEXT} characters")
        elif f.to is not None:
            try:
                await self.directs.say(s, f, f.to)
            except Unavailable:  # a node with no message ids left (its Redis is away)
                refuse(s, f, "unavailable", "the server cannot send messages now; try again later")
        elif f.room is not None and (room := member_of(self.rooms, s, f, f.room)) is not None:
            if not self.ctx.rules.rule.may_say(s, f, room.name):
                return
            id = 0 if self.fanout.assigns_ids else self._take_id()  # a node's: Redis assigns
            message = StoredMessage(id, _now_ms(), room.name, s.nick, f.text, f.action)
            self.fanout.say(message, s, f.nonce, f.ref)

    async def history(self, s: Session, f: p.GetHistory) -> None:
        if (f.room is None) == (f.with_ is None):
            refuse(s, f, "bad_frame", 'history needs exactly one of "room" and "with"')
            return
        if f.before is not None and f.after is not None:
            refuse(s, f, "bad_frame", 'give "before" or "after", not both')
            return
        if f.with_ is not None:
            await self.directs.history(s, f, f.with_)
            return
        assert f.room is not None
        room = member_of(self.rooms, s, f, f.room)
        if room is None:
            return
        limit = max(1, min(f.limit, p.HISTORY_LIMIT_MAX))
        # Ids are positive, so clamping to 0..MAX_ID keeps what the query means.
        before = None if f.before is None else max(0, min(f.before, MAX_ID))
        after = None if f.after is None else max(0, min(f.after, MAX_ID))
        try:
            page = await read_page(self.ctx.store, room.name, before, after, limit)
        except Unavailable:
            message = "the server cannot read its history now; try again later"
            refuse(s, f, "unavailable", message)
            return
        # A page of long messages could be megabytes: it holds what fits one reply, and ``more``
        # sends the client back for the rest.
        messages = [to_wire(m) for m in page.messages]
        empty = p.HistoryPage(room=room.name, messages=[], more=True, ref=f.ref)
        room_left = budget(self.reply_bytes, empty)
        if after is None:
            shown, cut = fit_newest(messages, room_left)
        else:
            shown, cut = fit(messages, len(messages), room_left)
        s.send(p.HistoryPage(room=room.name, messages=shown, more=page.more or cut, ref=f.ref))

    def _take_id(self) -> int:
        if self._next_id > self._reserved_id:
            # Guests' direct messages are never stored, so their ids would be reused after a
            # restart unless a ceiling is; it is committed before the message is delivered.
            self._reserved_id = self._next_id + _ID_BLOCK
            self.ctx.store.reserve_ids(self._reserved_id)
        self._next_id += 1
        return self._next_id - 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
