"""Completion: what the word under the cursor could become, for every frontend alike.

``complete`` offers command names at the start of a line, room names after ``#`` or a command
that takes a room, any nick known for ``/msg``, ``/query``, ``/whois`` and ``/kill``, and the
active conversation's members otherwise (never our own nick). It is a pure function of a
``StateSnapshot``, so a frontend on any thread may call it; ``Completion.apply`` puts a candidate
in the line, addressing a nick completed at the start of a line (``alice: ``) as IRC clients do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.client.commands import COMMAND_NAMES
from app.client.state import ConversationKind, StateSnapshot
from app.protocol import fold


@dataclass(frozen=True, slots=True)
class Completion:
    """Candidates for ``text[start:end]``, the word under the cursor, best first."""

    start: int
    end: int
    candidates: tuple[str, ...]
    at_line_start: bool

    def apply(self, text: str, candidate: str) -> tuple[str, int]:
        """The line with the word replaced by ``candidate``, and the new cursor position.

        A nick completed at the start of a line is addressed (``alice: ``), as IRC clients do.
        """
        suffix = " "
        if self.at_line_start and not candidate.startswith(("/", "#")):
            suffix = ": "
        new = text[: self.start] + candidate + suffix + text[self.end :].lstrip(" ")
        return new, self.start + len(candidate) + len(suffix)


_ROOM_ARG_COMMANDS: Final = frozenset({"/join", "/part", "/who", "/close", "/names"})
# Any nick online; the other commands' nicks are the active conversation's members.
_NICK_ARG_COMMANDS: Final = frozenset({"/msg", "/query", "/whois", "/kill"})


def complete(state: StateSnapshot, text: str, cursor: int | None = None) -> Completion:
    """What the word before ``cursor`` (default: the end) could be completed to."""
    end = len(text) if cursor is None else max(0, min(cursor, len(text)))
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end]
    before = text[:start].split()
    at_line_start = not before
    if at_line_start and word.startswith("/"):
        names = [f"/{name}" for name in COMMAND_NAMES]
        return Completion(start, end, _matching(names, word), True)
    command = before[0].lower() if before else ""
    if word.startswith("#") or (command in _ROOM_ARG_COMMANDS and len(before) == 1):
        rooms = [view.name for view in state.conversations if view.kind is ConversationKind.ROOM]
        return Completion(start, end, _matching(rooms, word), at_line_start)
    if command in _NICK_ARG_COMMANDS and len(before) == 1:
        nicks = _all_nicks(state)
    else:
        active = state.active_view
        nicks = [member.nick for member in active.members] if active is not None else []
        if active is not None and active.kind is ConversationKind.DIRECT:
            nicks.append(active.name)
    nicks = [nick for nick in nicks if fold(nick) != fold(state.nick)]
    return Completion(start, end, _matching(nicks, word), at_line_start)


def _all_nicks(state: StateSnapshot) -> list[str]:
    seen: dict[str, str] = {}
    for view in state.conversations:
        if view.kind is ConversationKind.DIRECT:
            seen.setdefault(fold(view.name), view.name)
        for member in view.members:
            seen.setdefault(fold(member.nick), member.nick)
    return list(seen.values())


def _matching(names: list[str], prefix: str) -> tuple[str, ...]:
    folded = fold(prefix)
    unique = {fold(name): name for name in names if fold(name).startswith(folded)}
    return tuple(sorted(unique.values(), key=fold))
