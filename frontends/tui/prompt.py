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
``ChatInput.Pasted`` with the whole text, for the app to ask about. ↑ on an empty line (not while
browsing the history) asks the app for our last message of the conversation (``EditLast``); given
one (``edit``), the input is in edit mode, as in Slack and Element: it holds that message's text,
its border says so, Enter posts ``Edited`` with the message's id and the new text, and Esc (or
switching conversation: ``conversation``) leaves it unchanged. With no message to edit, ↑ browses
the history as before. ``read_alt_digits_as_alt_keys`` keeps Alt+digit from typing a character.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Final, cast

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from app.client.completion import Completion, complete
from app.client.paste import is_multiline
from app.client.state import Line, StateSnapshot

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
        Binding("up", "up", "Previous line, or edit the last message", show=False),
        Binding("down", "history(1)", "Next line", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    class Pasted(Message):
        """Several lines were pasted; nothing was inserted."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class EditLast(Message):
        """↑ on an empty line: the app answers with ``edit`` (our last message, or None)."""

    class Edited(Message):
        """Enter in edit mode: message ``id`` should say ``text`` now."""

        def __init__(self, id: int, text: str) -> None:
            super().__init__()
            self.id = id
            self.text = text

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, select_on_focus=False)
        self.snapshot: StateSnapshot | None = None
        self.editing: Line | None = None  # the message being edited, in edit mode
        self._conversation: str | None = None
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
        elif event.key == "escape" and self.editing is not None:
            event.stop()
            event.prevent_default()
            self.stop_editing()

    async def action_submit(self) -> None:
        # Taken and cleared now, not when the app gets the message.
        value = self.value
        self.value = ""
        self._cycle = None
        editing = self.editing
        if editing is not None and editing.id is not None:
            self.stop_editing()
            self.post_message(self.Edited(editing.id, value))
            return
        self.post_message(self.Submitted(self, value))

    @property
    def conversation(self) -> str | None:
        """The active conversation: a change of it ends edit mode."""
        return self._conversation

    @conversation.setter
    def conversation(self, key: str | None) -> None:
        if key != self._conversation and self.editing is not None:
            self.stop_editing()
        self._conversation = key

    def action_up(self) -> None:
        if self.editing is not None:
            return  # Enter saves, Esc cancels: the history is not browsed meanwhile
        if not self.value and self._position == len(self.history):
            self.post_message(self.EditLast())
        else:
            self.action_history(-1)

    def edit(self, line: Line | None) -> None:
        """The app's answer to ``EditLast``: edit ``line``, or (None) browse the history."""
        if line is None or line.id is None:
            self.action_history(-1)
            return
        if self.value:
            return  # typed meanwhile: not ours to replace
        self.editing = line
        self.add_class("-editing")
        self.border_title = "Editing your message · Enter saves · Esc cancels"
        self.value = line.text
        self.cursor_position = len(line.text)

    def stop_editing(self) -> None:
        """Leave edit mode with an empty line; the message stays as it was."""
        self.editing = None
        self.remove_class("-editing")
        self.border_title = None
        self.value = ""

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
        if self.editing is not None or not self.history:
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


def read_alt_digits_as_alt_keys() -> None:
    """Let Alt+1…9 reach the app as ``alt+1``…``alt+9``.

    xterm, VTE terminals, tmux and screen send Alt+digit as ESC and the digit. Textual maps those
    sequences to the characters that Option+digit types on a Mac (``¡``, ``™``, …, for WezTerm),
    so Alt+1 would type ``¡`` into the input instead of switching conversation. Without the
    mapping Textual's parser reads the sequence as the Alt modifier and the digit.
    """
    try:
        from textual import _ansi_sequences
    except ImportError:  # a Textual without the table has nothing to undo
        return
    table = cast("dict[str, object]", _ansi_sequences.ANSI_SEQUENCES_KEYS)
    for digit in "123456789":
        table.pop(f"\x1b{digit}", None)
