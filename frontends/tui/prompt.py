"""The input line: what the user types, its ↑/↓ history, and Tab completion.

This module owns ``ChatInput``, a Textual ``Input`` with a bounded history of submitted lines
(↑ goes back, ↓ forward, and the line being written is kept while browsing) and IRC-style Tab
completion: the first Tab completes the word under the cursor to the first candidate, each
further Tab cycles through the others. Candidates come from ``app.client.completion.complete``, a
pure function of the latest ``StateSnapshot``, which the app hands down as the ``snapshot``
attribute; the input never talks to the engine. Submitting posts the usual ``Input.Submitted``,
and the line is cleared at that moment, so keys that arrive right after an Enter (a paste in a
terminal without bracketed paste: ``Q1⏎Q2⏎``) start the next line instead of joining this one.
A bracketed paste of several lines is not squeezed into the one line: it posts
``ChatInput.Pasted`` with the whole text, for the app to ask about.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Final

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from app.client.completion import Completion, complete
from app.client.paste import is_multiline
from app.client.state import StateSnapshot

HISTORY_SIZE: Final = 500


@dataclass
class _Cycle:
    """A completion in progress: Tab again offers the next candidate."""

    completion: Completion
    original: str
    index: int
    produced: str


class ChatInput(Input):
    """A one-line input with history and completion."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous line", show=False),
        Binding("down", "history(1)", "Next line", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    class Pasted(Message):
        """Several lines were pasted; nothing was inserted."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, select_on_focus=False)
        self.snapshot: StateSnapshot | None = None
        self.history: deque[str] = deque(maxlen=HISTORY_SIZE)
        self._position = 0  # len(history) while not browsing
        self._draft = ""
        self._cycle: _Cycle | None = None

    async def _on_key(self, event: events.Key) -> None:
        # Enter is handled here, in key order, rather than as a binding: Textual runs a
        # binding's action after the keys already queued, so the keys of a plain paste
        # (Q1⏎Q2⏎) were all typed into one line before the first Enter took it.
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()

    async def action_submit(self) -> None:
        # Taken and cleared now, not when the app gets the message.
        value = self.value
        self.value = ""
        self._cycle = None
        self.post_message(self.Submitted(self, value))

    def _on_paste(self, event: events.Paste) -> None:
        if is_multiline(event.text):
            event.prevent_default()
            event.stop()
            self.post_message(self.Pasted(event.text))

    def prefill(self, text: str) -> None:
        """Hold ``text`` with the cursor after it, and take the focus (Ctrl+F's "/search ")."""
        self.value = text
        self.cursor_position = len(text)
        self.focus()

    def remember(self, line: str) -> None:
        """Add a submitted line to the history (not twice in a row) and stop browsing."""
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        position = max(0, min(len(self.history), self._position + step))
        if position == self._position:
            return
        self._position = position
        text = self._draft if position == len(self.history) else self.history[position]
        self.value = text
        self.cursor_position = len(text)

    def action_complete(self) -> None:
        cycle = self._cycle
        if cycle is not None and self.value == cycle.produced:
            cycle.index = (cycle.index + 1) % len(cycle.completion.candidates)
        else:
            if self.snapshot is None:
                return
            found = complete(self.snapshot, self.value, self.cursor_position)
            if not found.candidates:
                self._cycle = None
                return
            cycle = _Cycle(found, self.value, 0, "")
        text, cursor = cycle.completion.apply(
            cycle.original, cycle.completion.candidates[cycle.index]
        )
        cycle.produced = text
        self._cycle = cycle
        self.value = text
        self.cursor_position = cursor
