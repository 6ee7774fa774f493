"""The demo's invite: the command a second person types to join, and where the TUI shows it.

This module owns ``Invite``. ``parley demo`` starts the TUI with the command that joins its
server from another terminal. The command stays in the status line until someone else is in one
of our rooms, and is written once, as two notices, into the log of the first room we join, below
the notice that we joined it, where it then stays as history. The engine does not hold those
lines (they are the TUI's own), so each redraw of that room puts them back in by time
(``into``). ``ParleyApp`` tells it what happens; it draws nothing itself.
"""

from __future__ import annotations

from bisect import bisect_right

from app.client.receive import local_line
from app.client.state import ConversationKind, Line, LineKind, StateSnapshot
from app.protocol import fold


class Invite:
    """The invite's text ("" once someone has come, or if there is none) and its lines."""

    def __init__(self, text: str) -> None:
        self.text = text
        # The first room we joined, where the invite goes once a state shows no one else there.
        self._due: str | None = None
        # Where the invite was written into the log, and its lines.
        self.room: str | None = None
        self.lines: tuple[Line, ...] = ()

    def joined(self, conversation: str) -> None:
        """We joined room ``conversation``: the first one is where the invite goes."""
        if self._due is None:
            self._due = conversation

    def follow(self, state: StateSnapshot) -> tuple[str, tuple[Line, ...]] | None:
        """Take a new state: drop the invite once someone else is here; else, the first time
        the room it is due in is known, the room and the lines to write into its log."""
        if not self.text:
            return None
        if someone_else_is_here(state):
            self.text = ""
            return None
        # Written on a state rather than on the join notice: the snapshot that lists the room's
        # members comes after that notice.
        if self._due is None or self.room is not None:
            return None
        self.room = self._due
        self.lines = (
            local_line(LineKind.NOTICE, "To join from another terminal:"),
            local_line(LineKind.NOTICE, self.text),
        )
        return self.room, self.lines

    def into(self, conversation: str, lines: tuple[Line, ...]) -> tuple[Line, ...]:
        """``lines`` with the invite back in its place by time, if it was written here and
        is not older than everything the engine still holds."""
        if conversation != self.room or not self.lines:
            return lines
        at = bisect_right([line.ts for line in lines], self.lines[0].ts)
        if at == 0 and lines:
            return lines
        return (*lines[:at], *self.lines, *lines[at:])


def someone_else_is_here(state: StateSnapshot) -> bool:
    """Whether a nick other than ours is a member of one of our rooms: for the demo, that
    someone has joined (whether they came in before us or after)."""
    me = fold(state.nick)
    return any(
        fold(member.nick) != me
        for view in state.conversations
        if view.kind is ConversationKind.ROOM
        for member in view.members
    )
