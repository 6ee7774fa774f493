"""Edits: an author changes the text of a room message it sent, within the server's window.

This module owns the ``edit`` frame, one row of ``docs/protocol.md``'s "Editing messages". A
message is addressed by its id alone, as moderation's ``delete`` addresses it (``room``, when
given, must be the message's room). Rules owned here: only its author edits a message, an account
by its account (the message's sender is the account's nick) and a guest only from the connection
that sent it (among its last room messages, ``Session.said``); a deleted message cannot be edited
(it has no text left), nor one in a room the editor is not in; an edit comes at most
``--edit-window`` seconds after the message was sent (``edit_window_closed`` after that; a window
of 0 turns editing off), its text follows the rules of ``say`` (1 to ``MAX_TEXT`` characters), and
a member muted in the room cannot edit there either (``Context.rules``). The new text is written
through to the store in place (``History.edit_message``) before anyone sees it; then the room's
window of newest messages takes it (``Rooms.revise``, so a later ``join`` and ``history`` show it)
and every member of the room, on every node, gets ``edited``, the author's copy with its ``ref``.
Direct messages cannot be edited: they are stored apart, between accounts, or not at all. Every
edit is logged on ``parley.edits``.
"""

from __future__ import annotations

import logging
import time

import msgspec

from app import protocol as p
from app.server.feature import (
    MAX_ID,
    MAX_TEXT,
    Context,
    Handlers,
    Unavailable,
    awaited,
    read_page,
    refuse,
    room_name,
)
from app.server.session import Session
from app.store import Snapshot, StoredMessage

log = logging.getLogger("parley.edits")


class EditFeature:
    """The ``edit`` frame's handler."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.rooms = context.rooms
        self.fanout = context.fanout
        self.window_ms = context.config.edit_window * 1000
        self.handlers = Handlers().on(p.Edit, self.edit)

    def load(self, snapshot: Snapshot) -> None:
        return None

    def departed(self, session: Session, text: str | None) -> None:
        return None

    async def edit(self, s: Session, f: p.Edit) -> None:
        if self.window_ms == 0:
            refuse(s, f, "not_permitted", "editing messages is turned off on this server")
            return
        if not f.text or len(f.text) > MAX_TEXT:
            refuse(s, f, "bad_frame", f"text must be 1 to {MAX_TEXT} characters")
            return
        room = None if f.room is None else room_name(s, f, f.room)
        if f.room is not None and room is None:
            return
        found = await self._message(s, f, room)
        if found is None or not self._may_edit(s, f, found):
            return
        at = time.time_ns() // 1_000_000
        try:
            edited = await awaited(self.ctx.store.edit_message, found.id, found.room, f.text, at)
        except Unavailable:
            self.fanout.refuse_unsaved(s, f.ref, "the edit")
            return
        if not edited:  # deleted (or trimmed) since it was read
            refuse(s, f, "no_such_message", f"there is no message {f.id} in your rooms")
            return
        name, message_id, text = found.room, found.id, f.text
        log.info("%s edited message %d of %s", s.nick, message_id, name)
        # After the fan-out of what was committed before: the window may only now hold it.
        self.fanout.after_store(lambda: self.rooms.revise(name, message_id, text))
        frame = p.Edited(room=name, id=message_id, text=text, by=s.nick, ts=at)
        self.fanout.broadcast(name, frame, skip=s)
        own = msgspec.structs.replace(frame, ref=f.ref)
        self.fanout.after_store(lambda: s.send(own))

    async def _message(self, s: Session, f: p.Edit, room: str | None) -> StoredMessage | None:
        """The live room message ``f.id`` of a room ``s`` is in (and of ``room``, if named), or
        None (answered)."""
        found: StoredMessage | None = None
        if 0 < f.id < MAX_ID:
            try:
                found = await self._find(f.id, room)
            except Unavailable:
                message = "the server cannot read its history now; try again later"
                refuse(s, f, "unavailable", message)
                return None
        if (
            found is None
            or found.deleted
            or (room is not None and found.room != room)
            or not self.rooms.is_member(found.room, s)
        ):
            refuse(s, f, "no_such_message", f"there is no message {f.id} in your rooms")
            return None
        return found

    async def _find(self, message_id: int, room: str | None) -> StoredMessage | None:
        """Message ``message_id`` read from the store: from ``room`` alone when it is named (one
        page of one message, where Redis would otherwise ask every room that holds messages)."""
        if room is None:
            found: StoredMessage | None = await awaited(self.ctx.store.find_message, message_id)
            return found
        page = await read_page(self.ctx.store, room, message_id + 1, None, 1)
        newest = page.messages[-1] if page.messages else None
        return newest if newest is not None and newest.id == message_id else None

    def _may_edit(self, s: Session, f: p.Edit, found: StoredMessage) -> bool:
        """Whether ``s`` may edit ``found`` now: its author, within the window, not muted."""
        author = (bool(s.account) and s.account == p.fold(found.sender)) or found.id in s.said
        if not author:
            refuse(s, f, "not_permitted", "only its author may edit a message")
            return False
        age = time.time_ns() // 1_000_000 - found.ts
        if age > self.window_ms:
            window = _duration(self.window_ms // 1000)
            message = f"message {found.id} is older than {window}: too late to edit it"
            refuse(s, f, "edit_window_closed", message)
            return False
        return self.ctx.rules.rule.may_say(s, f, found.room)


def _duration(seconds: int) -> str:
    """``seconds`` in the largest unit that divides it: 900 is "15 min"."""
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
