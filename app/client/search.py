"""Searching the server's history: ``/search``, its pages, and a hit shown in context.

This module owns ``Searches``, the engine's side of the protocol's ``search``: one search at a
time, kept as a ``SearchView`` (``search_view.py``) that every change hands to the frontend whole
(``events.SearchChanged``). A search asks the server for a page of hits, newest first, in one room
or in all of ours; the hits are also written as notice lines in the conversation it was asked
from (so a log-only frontend shows them too), numbered across pages. ``more`` asks for the next
page with ``before`` set to the server's ``next``. ``jump`` shows a hit in context: it switches to
the hit's room and asks for the messages around it with two ``history`` requests (``before`` the
id after it, and ``after`` it: the protocol has no ``around``, and needs none), which land in the
view's ``SearchContext``, the hit among its neighbours. Replies and refusals come back through the
``Receiver`` (``receive.py``), which owns the requests; nothing here touches the state's
conversations but to read them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from app.client import receive  # a module: it imports this one too
from app.client.events import SearchChanged
from app.client.search_view import SearchContext, SearchHitView, SearchView, hit_line
from app.client.state import Line, LineKind
from app.protocol import GetHistory, HistoryPage, Search, SearchResults, fold

if TYPE_CHECKING:
    from app.client.receive import Receiver, Request

CONTEXT: Final = 5  # messages shown on each side of a hit
PAGE: Final = 50  # hits asked for per page
DELETED: Final = "(message deleted)"


class Searches:
    """The current search and the hit shown in context, for one engine."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self.view: SearchView | None = None
        self._next: int | None = None
        self._asked: object = None  # the ref of the page asked for last: older answers are stale
        self._around: dict[int, bool] = {}  # ref of a context page -> whether it is the newer side
        self._older: tuple[Line, ...] = ()
        self._newer: tuple[Line, ...] = ()

    # --- requests ---------------------------------------------------------------------------

    def start(self, query: str, room: str | None) -> None:
        """A new search for ``query`` in ``room`` (None: every room we are in)."""
        self.view = SearchView(query, fold(room) if room is not None else None)
        self._next = None
        self._ask()

    def more(self) -> bool:
        """Ask for the next page of the current search; False if there is none to ask for."""
        view = self.view
        if view is None or not view.more or view.loading:
            return False
        self.view = replace(view, loading=True, error=None)
        self._ask()
        return True

    def jump(self, number: int) -> str | None:
        """Show hit ``number`` (1 is the newest) in context: its room becomes active and the
        messages around it are fetched. The refusal to show, or None."""
        view = self.view
        if view is None or not view.hits:
            return "There are no search results to jump to; /search text first."
        if not 1 <= number <= len(view.hits):
            return f"There is no result {number}; there are {len(view.hits)}."
        hit = view.hits[number - 1]
        conversation = self._receiver.state.get(hit.room)
        if conversation is None or not conversation.joined:
            return f"You are no longer in {hit.room}; /join it to see that message."
        self._around.clear()
        self._older = self._newer = ()
        self.view = replace(view, context=SearchContext(hit.room, hit.id))
        send = self._receiver.send
        before = GetHistory(room=hit.room, before=hit.id + 1, limit=CONTEXT + 1)
        after = GetHistory(room=hit.room, after=hit.id, limit=CONTEXT)
        for frame, newer in ((before, False), (after, True)):
            request = receive.Request("context", conversation.key)
            if send(frame, request) and isinstance(frame.ref, int):
                self._around[frame.ref] = newer
        self._emit()
        return None

    def close(self) -> None:
        """Forget the search (the frontend closed its results)."""
        self.view = None
        self._around.clear()

    def _ask(self) -> None:
        view = self.view
        assert view is not None
        frame = Search(query=view.query, room=view.room, before=self._next, limit=PAGE)
        request = receive.Request("search", self._receiver.state.active)
        if not self._receiver.send(frame, request):
            self.view = replace(view, loading=False, error="not connected")
        self._asked = frame.ref
        self._emit()

    # --- replies ------------------------------------------------------------------------------

    def results(self, frame: SearchResults, request: Request | None) -> None:
        """A page of hits: added to the view, and written where the search was asked."""
        view = self.view
        if request is None or view is None or frame.ref != self._asked:
            return  # an answer to a search since replaced
        first = len(view.hits) + 1
        hits = tuple(SearchHitView(h.room, h.id, h.nick, h.text, h.ts) for h in frame.results)
        self._next = frame.next if frame.more else None
        self.view = replace(
            view, hits=view.hits + hits, more=frame.more and frame.next is not None, loading=False
        )
        where = request.conversation
        show = self._receiver.show
        show(LineKind.NOTICE, self.view.summary(), where)
        for number, hit in enumerate(hits, first):
            show(LineKind.NOTICE, hit_line(number, hit), where)
        if hits:
            show(LineKind.NOTICE, "/jump N shows result N among the messages around it.", where)
        self._emit()

    def context_page(self, page: HistoryPage, request: Request, ref: object) -> None:
        """One side of the hit's context."""
        view = self.view
        newer = self._around.pop(ref, None) if isinstance(ref, int) else None
        if view is None or view.context is None or newer is None:
            return
        lines = tuple(receive.message_line(m, self._receiver.state.nick) for m in page.messages)
        if newer:
            self._newer = lines
        else:
            self._older = lines
        context = replace(view.context, lines=self._older + self._newer, loading=bool(self._around))
        self.view = replace(view, context=context)
        self._emit()

    def deleted(self, room: str, message_id: int) -> None:
        """Message ``message_id`` of ``room`` was deleted: a hit of it no longer shows its text."""
        view = self.view
        if view is None or not any(hit.id == message_id for hit in view.hits):
            return
        hits = tuple(
            replace(hit, text=DELETED) if hit.id == message_id and hit.room == room else hit
            for hit in view.hits
        )
        self.view = replace(view, hits=hits)
        self._emit()

    def refused(self, request: Request, text: str) -> None:
        """The server refused a search page or a context page (the error is shown already)."""
        view = self.view
        if view is None:
            return
        if request.kind == "search":
            self.view = replace(view, loading=False, error=text)
        elif view.context is not None:
            self._around.clear()
            self.view = replace(view, context=replace(view.context, loading=False))
        self._emit()

    def connection_lost(self) -> None:
        """No answer will come: what was on its way is not."""
        self._around.clear()
        view = self.view
        if view is not None and (view.loading or (view.context and view.context.loading)):
            context = replace(view.context, loading=False) if view.context else None
            self.view = replace(view, loading=False, error="connection lost", context=context)
            self._emit()

    def _emit(self) -> None:
        if self.view is not None:
            self._receiver.notify.emit(SearchChanged(self.view))
