"""What a node's members were told of each followed room beyond its messages, and what to tell
them when the node's subscription comes back after an outage.

Room events (joins, parts, quits, kicks, nick changes, topics, roles) travel on the room's channel
as messages do, but only messages are stored in order in Redis and read again after a gap: a node
whose subscription was down misses the events other nodes published meanwhile (after Redis itself
returns, a node's store connection is back at once, its subscription only after its backoff).
``RoomViews`` keeps, for every room the node follows, its members as the node's clients were told
them: read from Redis when the node starts following the room, then changed by each ``presence``
the subscription delivers. Once the subscription is back, the node reads each followed room's
members and topic again, and its rules (``NodeFanout._resync``); ``changed_members`` and
``changed_roles`` say what its local members must then be told, in the frames they know: a
``part`` for a member who is gone, a ``join`` for one who came (a nick changed meanwhile is both),
a ``nick`` for a change of case, and a ``mode`` for each role that changed, ``by`` the member
itself, since nobody here knows who gave it. The topic is the room's copy in ``Rooms``, compared
there. So a client's member list, topic and roles agree with Redis again (its ``away`` texts
may not); it may see a change twice (one published between the resubscription and the read is in
both), never miss one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app import protocol as p
from app.store.redis_node import Seat


class RoomViews:
    """The members of each followed room as this node's clients know them (folded nick to
    nick)."""

    def __init__(self) -> None:
        self._members: dict[str, dict[str, str]] = {}

    def start(self, room: str, seats: Iterable[Seat]) -> None:
        """This node follows ``room`` from now; ``seats`` are its members read from Redis."""
        self._members[room] = {seat.key: seat.nick for seat in seats}

    def stop(self, room: str) -> None:
        self._members.pop(room, None)

    def heard(self, room: str, body: bytes) -> None:
        """The room's members were told the frames of ``body`` (one event of the channel)."""
        members = self._members.get(room)
        if members is None or b'"presence"' not in body:
            return
        for line in body.splitlines():
            if not line:
                continue
            frame = p.decode_server_frame(line)
            if not isinstance(frame, p.Presence):
                continue
            key = p.fold(frame.nick)
            if frame.event == "join":
                members[key] = frame.nick
            elif frame.event in ("part", "quit", "kick"):
                members.pop(key, None)
            elif frame.event == "nick" and frame.old is not None:
                members.pop(p.fold(frame.old), None)
                members[key] = frame.nick

    def changed_members(self, room: str, seats: Iterable[Seat]) -> list[p.Presence]:
        """What tells the room's clients its members are ``seats`` (read from Redis now), and
        from now on what they know."""
        members = self._members.get(room)
        if members is None:
            return []
        now = {seat.key: seat.nick for seat in seats}
        frames = [
            p.Presence(room=room, nick=nick, event="part")
            for key, nick in sorted(members.items())
            if key not in now
        ]
        for key, nick in sorted(now.items()):
            known = members.get(key)
            if known is None:
                frames.append(p.Presence(room=room, nick=nick, event="join"))
            elif known != nick:
                frames.append(p.Presence(room=room, nick=nick, old=known, event="nick"))
        self._members[room] = now
        return frames


def changed_roles(
    room: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    seats: Iterable[Seat],
) -> list[p.Mode]:
    """A ``mode`` for each member of ``room`` (``seats``) whose account's role is not what it
    was (``before`` and ``after`` map folded accounts to roles)."""
    nicks = {seat.account: seat.nick for seat in seats if seat.account}
    frames = []
    for account in sorted(before.keys() | after.keys()):
        role = after.get(account)
        if before.get(account) != role and account in nicks:
            nick = nicks[account]
            frames.append(p.Mode(room=room, nick=nick, role=role or "member", by=nick))
    return frames
