"""The Tk window's search dialog: Ctrl+F, the words and where, the hits, and one in context.

This module owns ``SearchDialog``, a non-modal ``Toplevel`` (as ``dialogs.Prompt``, so a test can
fill it and press its buttons like a user, and the chat stays usable beside it). It asks for the
words and where to look (all our rooms, or one of them, from the latest state), and draws the
engine's ``SearchView`` whenever it changes (``show``): a summary line, the hits newest first in
a list, numbered as the log numbers them (``hit_line``), a "More results" button while the
server has more, and below them the hit chosen among the messages around it, the hit in bold.
Enter in the words entry (or Search) calls ``on_search(query, room)``; a double-click (or Enter)
on a hit ``on_jump(number)``, which makes its room active in the window; More ``on_more()``.
Only the Tk thread touches it; the window forwards every call to the engine.
"""

from __future__ import annotations

import time
import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk
from typing import Final

from app.client.search_view import SearchContext, SearchView, hit_line

ALL_ROOMS: Final = "All my rooms"


class SearchDialog(tk.Toplevel):
    """Search the history; ``on_search(query, room or None)``, ``on_jump(n)``, ``on_more()``."""

    def __init__(
        self,
        master: tk.Misc,
        *,
        rooms: Sequence[str],
        on_search: Callable[[str, str | None], None],
        on_jump: Callable[[int], None],
        on_more: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self.title("Search")
        self.transient(master.winfo_toplevel())
        self.on_search = on_search
        self.on_jump = on_jump
        self.on_more = on_more
        frame = ttk.Frame(self, padding=10)
        frame.pack(fill="both", expand=True)
        top = ttk.Frame(frame)
        top.pack(fill="x")
        self.entry = ttk.Entry(top, width=40)
        self.entry.pack(side="left", fill="x", expand=True)
        self.where = ttk.Combobox(top, state="readonly", width=16, values=[ALL_ROOMS, *rooms])
        self.where.set(ALL_ROOMS)
        self.where.pack(side="left", padx=(6, 0))
        self.search_button = ttk.Button(top, text="Search", command=self.search, default="active")
        self.search_button.pack(side="left", padx=(6, 0))
        self.summary = ttk.Label(frame, text='Words, "a phrase", or a prefix*', anchor="w")
        self.summary.pack(fill="x", pady=(8, 4))
        self.hits = tk.Listbox(frame, height=10, width=80, activestyle="dotbox")
        self.hits.pack(fill="both", expand=True)
        self.more_button = ttk.Button(frame, text="More results", command=self.more)
        self.more_button.pack(anchor="e", pady=(4, 4))
        self.more_button.state(["disabled"])
        self.context = tk.Text(frame, height=8, width=80, wrap="word", state="disabled")
        self.context.tag_configure("hit", font="TkHeadingFont")
        self.context.pack(fill="both", expand=True)
        self.entry.bind("<Return>", lambda _event: self.search())
        self.hits.bind("<Double-1>", lambda _event: self.jump())
        self.hits.bind("<Return>", lambda _event: self.jump())
        self.bind("<Escape>", lambda _event: self.destroy())
        self.entry.focus_set()

    def search(self) -> None:
        query = self.entry.get().strip()
        if query:
            where = self.where.get()
            self.on_search(query, None if where == ALL_ROOMS else where)

    def selected(self) -> int | None:
        """The index of the hit selected in the list, or None."""
        hits = self.hits
        return next((i for i in range(hits.size()) if hits.selection_includes(i)), None)

    def jump(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self.on_jump(chosen + 1)

    def more(self) -> None:
        self.on_more()

    def set_rooms(self, rooms: Sequence[str]) -> None:
        """The rooms to offer: those we are in now."""
        self.where.configure(values=[ALL_ROOMS, *rooms])

    def show(self, view: SearchView) -> None:
        """Draw ``view``: its summary, its hits (kept selected across pages) and its context."""
        self.summary.configure(text=view.summary())
        lines = [hit_line(number, hit) for number, hit in enumerate(view.hits, 1)]
        if list(self.hits.get(0, "end")) != lines:
            chosen = self.selected()
            self.hits.delete(0, "end")
            for line in lines:
                self.hits.insert("end", line)
            if chosen is not None and chosen < len(lines):
                self.hits.selection_set(chosen)
        self.more_button.state(["!disabled"] if view.more and not view.loading else ["disabled"])
        self._show_context(view.context)

    def _show_context(self, context: SearchContext | None) -> None:
        self.context.configure(state="normal")
        self.context.delete("1.0", "end")
        if context is not None:
            if context.loading and not context.lines:
                self.context.insert("end", f"Loading the messages around it in {context.room}…")
            else:
                self.context.insert("end", f"In {context.room}:")
            for line in context.lines:
                when = time.strftime("%H:%M", time.localtime(line.ts / 1000))
                row = f"\n{when} <{line.sender}> {line.text}"
                self.context.insert("end", row, ("hit",) if line.id == context.id else ())
        self.context.configure(state="disabled")

    def context_text(self) -> str:
        """What the context pane shows, as plain text (for tests and screen readers)."""
        return self.context.get("1.0", "end-1c")
