"""The paged listings the server sends: a room's members (``who``) and the rooms (``rooms``).

This module owns how the receiver takes in ``members`` and ``rooms`` pages. The member list of
a room we are in is always fetched whole and replaces the one held (the first page replaces it,
later ones add to it), with each member's away flag and role; a listing asked for by the user
(``/who``, ``/rooms``) is fetched up to ``SHOWN_PAGES`` pages and then shown as notice lines,
members sorted by role then nick with their IRC marks (``~`` owner, ``@`` op). The next page is
asked for while the server says there is ``more``. The receiver (``receive.py``) owns the
requests and routes these frames here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from app.client.state import LineKind, MemberView, role_of
from app.protocol import ListRooms, Members, RoomList, Who, fold

if TYPE_CHECKING:
    from app.client.receive import Receiver

# Pages of a listing fetched for the user to read (/rooms, /who of a room we are not in); the
# member list of a room we are in is always fetched whole.
SHOWN_PAGES: Final = 5
SHOWN_NAMES: Final = 300  # /who prints at most this many nicks


class Listings:
    """Takes in the pages of ``who`` and ``rooms`` replies, and shows the finished listings."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def members(self, members: Members) -> None:
        """A page of members: the first replaces the member list, later ones add to it, and
        the next is asked for while ``more``."""
        receiver = self._receiver
        request = receiver.answered(members.ref)
        conversation = receiver.state.get(members.room)
        joined = conversation is not None and conversation.joined
        page = {fold(m.nick): MemberView(m.nick, m.away, role_of(m.role)) for m in members.members}
        if conversation is not None and joined:
            # ``who`` lists who is away, not why: keep the reason a presence gave.
            for key, member in page.items():
                known = conversation.members.get(key)
                if member.away and known is not None and known.away_text:
                    page[key] = MemberView(member.nick, True, member.role, known.away_text)
            if request is not None and request.pages:
                conversation.members.update(page)
            else:
                conversation.members = page
            receiver.notify.changed()
        if request is None:
            return
        request.members.extend(members.members)
        wanted = joined or request.pages + 1 < SHOWN_PAGES
        if members.more and members.next is not None and wanted:
            request.pages += 1
            receiver.send(Who(room=members.room, after=members.next), request)
            return
        if request.show:
            listed = [MemberView(m.nick, m.away, role_of(m.role)) for m in request.members]
            listed.sort(key=lambda m: m.sort_key)
            names = ", ".join(
                f"{m.prefix}{m.nick}{' (away)' if m.away else ''}" for m in listed[:SHOWN_NAMES]
            )
            count = f"{len(listed)}+" if members.more else str(len(listed))
            if len(listed) > SHOWN_NAMES or members.more:
                names += ", …"
            text = f"{members.room} ({count}): {names}"
            receiver.show(LineKind.NOTICE, text, request.conversation)

    def rooms(self, room_list: RoomList) -> None:
        """A page of rooms: shown once the last page (or the last one we fetch) is in."""
        receiver = self._receiver
        request = receiver.answered(room_list.ref)
        if request is not None:
            request.rooms.extend(room_list.rooms)
            if room_list.more and room_list.next is not None and request.pages + 1 < SHOWN_PAGES:
                request.pages += 1
                receiver.send(ListRooms(after=room_list.next), request)
                return
        where = request.conversation if request is not None else None
        rooms = request.rooms if request is not None else room_list.rooms
        if not rooms:
            receiver.show(LineKind.NOTICE, "No rooms on the server yet.", where)
            return
        receiver.show(LineKind.NOTICE, f"Rooms on {receiver.state.server}:", where)
        for info in sorted(rooms, key=lambda r: fold(r.room)):
            topic = f" - {info.topic}" if info.topic else ""
            receiver.show(LineKind.NOTICE, f"  {info.room} ({info.members}){topic}", where)
        if room_list.more:
            text = f"  … and more than the {len(rooms)} listed here."
            receiver.show(LineKind.NOTICE, text, where)
