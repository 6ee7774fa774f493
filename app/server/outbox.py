"""A node's outbox: what its subscription delivered, written to each member in one write.

A node's subscription hands over room messages and events one at a time, often hundreds in a
burst; writing each to every member would cost one socket write per member per message. The
``Outbox`` keeps them per room, in order, until the loop is next free (``call_soon``: the
subscription reads what Redis already sent without giving the loop up), then gives each member
all of its room's frames in one write, as the single process's fan-out does with a batch. A frame
may skip sessions (a room event's actor) and may have another version for one session (a sender's
own copy, with its ``nonce``), which a sender gets even if it left the room meanwhile. Before a
session joins a room, the room's outbox is written (``flush_room``), so that the newcomer, whose
join page already holds those messages, does not get them twice; before a node's marker or order
runs, everything is written (``flush``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.server.directory import Rooms
from app.server.session import Session


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
