"""The TUI's search results: a panel under the log listing the hits, with the one chosen shown
among its neighbours.

This module owns ``SearchPanel``, which draws the engine's ``SearchView`` (``app.client``'s
``search_view.py``) and nothing else: attributes down (``view``), messages up. Its list holds a
line per hit, newest first, numbered as the log numbers them (``hit_line``), and a last entry
"More results…" while the server has more; choosing a hit (Enter, or a click) posts ``Chosen``
with its number, choosing "More" ``Chosen`` with None; the app asks the engine, which makes the
hit's room active and fills the view's context, drawn below the list with the hit marked (and
the app scrolls its log to the hit when the log holds it). Escape
hides it and posts ``Closed`` (the prompt takes the focus back). A page of hits arriving
focuses the list, ready for the arrows. The panel is hidden until a search is made and when it
is closed; Ctrl+F (the app's binding) puts "/search " in the prompt.
"""

from __future__ import annotations

import time
from typing import ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from app.client.search_view import SearchContext, SearchView, hit_line
from frontends.tui.chatlog import printable

MORE: Final = "more"


class SearchPanel(Vertical):
    """The hits of the current search and the one chosen, in context."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=False),
    ]

    view: reactive[SearchView | None] = reactive(None, always_update=True)

    class Chosen(Message):
        """Show hit ``number`` (1 is the newest) in context; None: fetch the next page."""

        def __init__(self, number: int | None) -> None:
            super().__init__()
            self.number = number

    class Closed(Message):
        """The user closed the results."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._revealed: SearchContext | None = None

    def hit_to_reveal(self, shown: str | None) -> int | None:
        """The id of the hit just shown in context, once, if the log shows its room (``shown``)."""
        context = self.view.context if self.view is not None else None
        if context is None or context.loading or context.room != shown or context is self._revealed:
            return None
        self._revealed = context
        return context.id

    def compose(self) -> ComposeResult:
        yield Static(id="search-summary")
        yield OptionList(id="search-hits")
        yield Static(id="search-context")

    @property
    def hits(self) -> OptionList:
        return self.query_one("#search-hits", OptionList)

    def watch_view(self, view: SearchView | None) -> None:
        if not self.is_mounted:
            return
        self.display = view is not None
        if view is None:
            return
        self.query_one("#search-summary", Static).update(Text(printable(view.summary())))
        hits = self.hits
        highlighted = hits.highlighted
        options = [
            Option(Text(printable(hit_line(number, hit)), no_wrap=True), id=str(number))
            for number, hit in enumerate(view.hits, 1)
        ]
        if view.more:
            options.append(Option("More results…", id=MORE))
        if [option.id for option in hits.options] != [option.id for option in options]:
            hits.clear_options()
            hits.add_options(options)
            if highlighted is not None and highlighted < len(options):
                hits.highlighted = highlighted
            elif options:
                hits.highlighted = 0
        self.query_one("#search-context", Static).update(_context_text(view.context))
        if view.hits and not view.loading and view.context is None:
            hits.focus()  # a page of hits came: ready to pick one with the arrows

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = event.option.id
        if chosen is not None:
            self.post_message(self.Chosen(None if chosen == MORE else int(chosen)))

    def action_close(self) -> None:
        self.view = None
        self.post_message(self.Closed())


def _context_text(context: SearchContext | None) -> Text:
    """The hit among its neighbours, one line each, the hit marked with ``>`` and in bold."""
    if context is None:
        return Text()
    if context.loading and not context.lines:
        return Text(f"Loading the messages around it in {context.room}…")
    text = Text(f"In {context.room}:")
    for line in context.lines:
        mark = ">" if line.id == context.id else " "
        when = time.strftime("%H:%M", time.localtime(line.ts / 1000))
        row = printable(f"{mark} {when} <{line.sender}> {line.text}")
        text.append("\n")
        text.append(row, style="bold" if line.id == context.id else "")
    return text
