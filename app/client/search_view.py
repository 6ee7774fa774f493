"""What a frontend is shown of a search: the hits found so far and the one shown in context.

This module owns the frozen values the engine hands frontends about ``/search`` (in
``events.SearchChanged``), so that both frontends draw the same results from one engine: the
query and where it looked, the hits newest first, whether more can be fetched, whether a request
is on its way, an error, and the hit chosen with the messages around it (``SearchContext``).
``hit_line`` is the one way a hit reads as a line of text, in the log and in a list.
They are built by ``search.py``; nothing here talks to the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.client.state import Line


@dataclass(frozen=True, slots=True)
class SearchHitView:
    """One message found: its room, id, author, text and time (ms since the epoch)."""

    room: str
    id: int
    nick: str
    text: str
    ts: int


@dataclass(frozen=True, slots=True)
class SearchContext:
    """The hit ``id`` of ``room`` among its neighbours, oldest first; ``loading`` until both
    pages around it have come."""

    room: str
    id: int
    lines: tuple[Line, ...] = ()
    loading: bool = True


@dataclass(frozen=True, slots=True)
class SearchView:
    """The current search: ``room`` None for all of ours; ``hits`` newest first."""

    query: str
    room: str | None = None
    hits: tuple[SearchHitView, ...] = ()
    more: bool = False
    loading: bool = True
    error: str | None = None
    context: SearchContext | None = None

    @property
    def where(self) -> str:
        return self.room if self.room is not None else "your rooms"

    def summary(self) -> str:
        """One line saying what was found so far."""
        if self.error is not None:
            return f"Search for {self.query!r} in {self.where} failed: {self.error}"
        if self.loading and not self.hits:
            return f"Searching {self.where} for {self.query!r}…"
        found = len(self.hits)
        count = "no messages" if found == 0 else "1 message" if found == 1 else f"{found} messages"
        more = "; more with /search or Ctrl+F" if self.more else ""
        return f"Search for {self.query!r} in {self.where}: {count}{more}."


def hit_line(number: int, hit: SearchHitView) -> str:
    """``3. #ops 2026-12-02 17:03 <bob> deploy on Friday?``, as the log and lists show a hit."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.ts / 1000))
    return f"{number}. {hit.room} {when} <{hit.nick}> {hit.text}"
