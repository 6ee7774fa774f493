"""The message view: one ``tk.Text`` that shows the active conversation, drawn in batches.

This module owns the middle of the window. ``Scrollbacks`` mirrors, on the Tk thread, the lines
the engine reported for every conversation (bounded like the engine's own scrollback), so that
switching conversation redraws at once whatever order the engine's events arrive in.
``MessageView`` shows one conversation of that mirror in a read-only ``Text``: the window tells
it what changed since the last tick (lines appended, lines updated, a full redraw) and
``MessageView.flush`` applies all of it with one ``insert`` per batch, so a burst of a thousand
messages costs a handful of redraws, not a thousand. The view keeps exactly the mirror's lines,
one ``Text`` line each, so line ``n`` of the widget is line ``n`` of the conversation. When the
user scrolls to the very top it asks, once per page, for older history through ``on_top``; each
scroll is reported to ``on_scroll`` (at the bottom or not).
"""

from __future__ import annotations

import itertools
import logging
import tkinter as tk
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from tkinter import ttk

from app.client.state import DEFAULT_SCROLLBACK, Line
from frontends.tk.render import BACKGROUND, DEFAULT_TEXT_SIZE, configure_tags, insert_args

log = logging.getLogger("parley.tk")


class Scrollbacks:
    """Every conversation's lines as last reported by the engine, oldest first."""

    def __init__(self, limit: int = DEFAULT_SCROLLBACK) -> None:
        self.limit = limit
        self._lines: dict[str, deque[Line]] = {}
        # The seq of the last line seen before the user left each conversation (engine's word).
        self._markers: dict[str, int] = {}

    def lines(self, key: str) -> deque[Line]:
        found = self._lines.get(key)
        if found is None:
            found = self._lines[key] = deque(maxlen=self.limit)
        return found

    def append(self, key: str, line: Line) -> None:
        self.lines(key).append(line)

    def update(self, key: str, line: Line) -> int | None:
        """Swap in the new version of the line with the same ``seq``; its index, or None."""
        lines = self.lines(key)
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].seq == line.seq:
                lines[index] = line
                return index
        return None

    def reset(self, key: str, lines: tuple[Line, ...], marker: int | None = None) -> None:
        self._lines[key] = deque(lines, maxlen=self.limit)
        if marker is None:
            self._markers.pop(key, None)
        else:
            self._markers[key] = marker

    def marker(self, key: str) -> int | None:
        """Where the unread marker of ``key`` goes: after the line with this seq."""
        return self._markers.get(key)

    def forget(self, keys: set[str]) -> None:
        """Drop the mirrors of conversations the engine no longer has."""
        for key in keys:
            self._lines.pop(key, None)
            self._markers.pop(key, None)


@dataclass
class Changes:
    """What happened to the shown conversation since the last flush."""

    appended: int = 0
    updated: set[int] = field(default_factory=set)  # seqs
    redraw: bool = False
    # The seq of the line at the top of the viewport before a redraw, to keep the reader's place.
    anchor: int | None = None
    # The mirror the Text showed, unchanged, when the redraw was asked for (else None).
    shown: deque[Line] | None = None

    def __bool__(self) -> bool:
        return self.redraw or self.appended > 0 or bool(self.updated)


class MessageView(ttk.Frame):
    """A read-only, bounded ``Text`` with a scrollbar, showing one conversation's mirror."""

    def __init__(self, master: tk.Misc, scrollbacks: Scrollbacks) -> None:
        super().__init__(master)
        self.scrollbacks = scrollbacks
        self.key: str | None = None
        self.changes = Changes()
        # Statistics the tests read: how many inserts drew how many lines.
        self.batches = 0
        self.lines_drawn = 0
        self.on_top: Callable[[], None] | None = None
        # Told whether the view is at the bottom each time it scrolls (the "new below" button).
        self.on_scroll: Callable[[bool], None] | None = None
        self._shown = 0  # Text lines currently shown, always len(mirror) after a flush
        self._top_requested = False
        self.text = tk.Text(
            self,
            wrap="word",
            state="disabled",
            relief="flat",
            borderwidth=0,
            padx=8,
            pady=6,
            background=BACKGROUND,
            highlightthickness=0,
            spacing1=1,
            spacing3=1,
            cursor="arrow",
            takefocus=False,
        )
        self.scrollbar = ttk.Scrollbar(self, orient="vertical", command=self._scroll)
        self.text.configure(yscrollcommand=self._scrolled)
        self.text.grid(row=0, column=0, sticky="nsew")
        self.scrollbar.grid(row=0, column=1, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.text_size = DEFAULT_TEXT_SIZE
        configure_tags(self.text, self.text_size)
        for sequence in ("<MouseWheel>", "<Button-4>"):
            self.text.bind(sequence, self._wheel, add=True)

    # --- what the window reports ------------------------------------------------------------

    def show(self, key: str | None) -> None:
        """Switch to ``key``; the next flush redraws it from the mirror."""
        if key != self.key:
            self.key = key
            self.changes = Changes(redraw=True)
            self._top_requested = False

    def appended(self, key: str) -> None:
        if key == self.key:
            self.changes.appended += 1

    def updated(self, key: str, line: Line) -> None:
        if key == self.key:
            self.changes.updated.add(line.seq)

    def reset(self, key: str) -> None:
        """The mirror of ``key`` was replaced; redraw it, keeping the reader's place if scrolled."""
        if key != self.key:
            return
        if not self.changes:
            self.changes.shown = self.scrollbacks.lines(key)
        if not self.changes.redraw and not self.at_bottom():
            self.changes.anchor = self._top_seq()
        self.changes.redraw = True
        self._top_requested = False

    def set_text_size(self, size: int) -> None:
        """Draw the messages at ``size`` points."""
        self.text_size = size
        configure_tags(self.text, size)

    # --- drawing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Apply every change since the last flush, with at most one insert of new lines."""
        changes, self.changes = self.changes, Changes()
        if not changes:
            return
        follow = self.at_bottom()
        lines = self.scrollbacks.lines(self.key) if self.key is not None else deque()
        self.text.configure(state="normal")
        try:
            older = self._older_in_front(lines, changes)
            if older is not None:
                self._prepend(lines, older)
            elif changes.redraw or changes.appended >= len(lines):
                self._redraw(lines)
            else:
                self._append(lines, changes.appended)
                self._update(lines, changes.updated, len(lines) - changes.appended)
        finally:
            self.text.configure(state="disabled")
        if changes.anchor is not None and not follow:
            self._scroll_to_seq(changes.anchor)
        elif follow or changes.redraw:
            self.text.see("end")

    def _redraw(self, lines: deque[Line]) -> None:
        self.text.delete("1.0", "end")
        if lines:
            self._insert("end", lines)
            self.batches += 1
            self.lines_drawn += len(lines)
        self._shown = len(lines)

    @staticmethod
    def _older_in_front(lines: deque[Line], changes: Changes) -> int | None:
        """How many lines a redraw only puts in front of the ones shown; None if it does more.

        Older history arrives as a redraw of the whole conversation; drawing just the new page
        keeps a page's cost its own instead of the whole scrollback's.
        """
        shown = changes.shown
        if shown is None or changes.appended or changes.updated or len(lines) < len(shown):
            return None
        older = len(lines) - len(shown)
        kept = itertools.islice(lines, older, None)
        return older if all(new is old for new, old in zip(kept, shown, strict=True)) else None

    def _prepend(self, lines: deque[Line], count: int) -> None:
        if count == 0:
            return
        self._insert("1.0", itertools.islice(lines, count))
        self.batches += 1
        self.lines_drawn += count
        self._shown += count
        if count < len(lines):
            # The line that was first may share its day with the page now in front of it.
            self._update(lines, {lines[count].seq}, count + 1)

    def _append(self, lines: deque[Line], count: int) -> None:
        if count == 0:
            return
        first = len(lines) - count
        new = [lines[index] for index in range(first, len(lines))]
        self._insert("end-1c", new, lines[first - 1] if first > 0 else None)
        self.batches += 1
        self.lines_drawn += count
        self._shown += count
        excess = self._shown - len(lines)
        if excess > 0:
            # The mirror dropped its oldest lines when it overflowed; so does the view.
            self.text.delete("1.0", f"{excess + 1}.0")
            self._shown -= excess

    def _update(self, lines: deque[Line], seqs: set[int], old_count: int) -> None:
        for index in range(old_count):
            line = lines[index]
            if line.seq in seqs:
                row = index + 1
                self.text.delete(f"{row}.0", f"{row + 1}.0")
                self._insert(f"{row}.0", [line], lines[index - 1] if index > 0 else None)

    def _insert(self, index: str, lines: Iterable[Line], previous: Line | None = None) -> None:
        """One ``Text.insert`` call for all of ``lines``, each run with its own tags;
        ``previous`` is the line above them, for the day separator."""
        marker = self.scrollbacks.marker(self.key) if self.key is not None else None
        args = insert_args(lines, previous, marker)
        if args:
            chars, *rest = args
            assert isinstance(chars, str)
            self.text.insert(index, chars, *rest)

    # --- scrolling ----------------------------------------------------------------------------

    def at_bottom(self) -> bool:
        return self.text.yview()[1] >= 0.999

    def _top_seq(self) -> int | None:
        if self.key is None:
            return None
        row = int(self.text.index("@0,0").split(".")[0])
        lines = self.scrollbacks.lines(self.key)
        return lines[row - 1].seq if 0 < row <= len(lines) else None

    def _scroll_to_seq(self, seq: int) -> None:
        assert self.key is not None
        for index, line in enumerate(self.scrollbacks.lines(self.key)):
            if line.seq == seq:
                self.text.yview(f"{index + 1}.0")
                return

    def _scroll(self, *args: str) -> None:
        self.text.yview(*args)

    def _scrolled(self, first: float | str, last: float | str) -> None:
        self.scrollbar.set(first, last)
        if float(first) <= 0.0 and float(last) < 1.0:
            self._reached_top()
        if self.on_scroll is not None:
            self.on_scroll(float(last) >= 0.999)

    def _wheel(self, event: tk.Event[tk.Text]) -> None:
        # With a short conversation there is nothing to scroll, so yscrollcommand never fires;
        # scrolling up at the top must still reach older history.
        if (event.num == 4 or event.delta > 0) and self.text.yview()[0] <= 0.0:
            self._reached_top()

    def page_up(self) -> None:
        """Scroll up one page, or ask for older history when already at the top."""
        if self.text.yview()[0] <= 0.0:
            self._reached_top()
        else:
            self.text.yview_scroll(-1, "pages")

    def page_down(self) -> None:
        self.text.yview_scroll(1, "pages")

    def _reached_top(self) -> None:
        if not self._top_requested and self.on_top is not None:
            self._top_requested = True
            self.on_top()

    def line_at(self, x: int, y: int) -> Line | None:
        """The scrollback line drawn at pixel ``x, y`` of the ``Text``, if any."""
        if self.key is None:
            return None
        row = int(self.text.index(f"@{x},{y}").split(".")[0])
        lines = self.scrollbacks.lines(self.key)
        return lines[row - 1] if 0 < row <= len(lines) else None

    def visible_text(self) -> str:
        """Everything the view holds, for the window's own checks and the tests."""
        return self.text.get("1.0", "end-1c")
