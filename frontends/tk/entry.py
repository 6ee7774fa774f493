"""The input line: Enter sends, Up and Down walk the history, Tab completes.

This module owns typing. ``InputLine`` is a ``ttk.Entry`` that hands each non-blank line to
``on_submit`` (the window passes it to the engine, which parses commands), keeps a bounded
history of what was sent that Up and Down walk through like a shell's (keeping the half-typed
line as the newest entry), and completes the word under the cursor with the candidates of
``app.client.completion.complete``: one candidate is inserted, several are cycled through by
pressing Tab again. A paste of several lines is not put into the one-line entry: it goes to
``on_paste`` whole, for the window to ask about (``app.client.paste``). Completion reads the
latest ``StateSnapshot`` through ``state``, a callable, because the snapshot belongs to the
window and changes with every tick. Up on an empty line (not while walking the history) edits our
last message of the conversation, as in Slack and Element, when ``editable`` (the window's
``app.client.edits.last_editable`` over its mirror of the lines) finds one: the line holds its
text, ``on_mode`` tells the window to say so, Enter hands the id and the new text to ``on_edit``
and Escape (or ``stop_editing``, when the conversation changes) leaves the message as it was.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk
from typing import Final

from app.client.completion import Completion, complete
from app.client.paste import is_multiline
from app.client.state import Line, StateSnapshot

HISTORY_LIMIT: Final = 500


@dataclass
class _Cycle:
    """A completion in progress: the line before it, the candidates, and which one is shown."""

    original: str
    completion: Completion
    index: int
    result: str


class InputLine(ttk.Entry):
    """An entry with history and completion; only the Tk thread uses it."""

    def __init__(
        self,
        master: tk.Misc,
        on_submit: Callable[[str], None],
        state: Callable[[], StateSnapshot | None],
        on_paste: Callable[[str], None] | None = None,
        *,
        editable: Callable[[], Line | None] | None = None,
        on_edit: Callable[[int, str], None] | None = None,
        on_mode: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(master)
        self.on_submit = on_submit
        self.on_paste = on_paste
        self.editable = editable
        self.on_edit = on_edit
        self.on_mode = on_mode
        self.editing: Line | None = None  # the message being edited, in edit mode
        self.snapshot_of = state
        self.history: list[str] = []
        self._position = 0  # index into history; len(history) is the line being typed
        self._draft = ""
        self._cycle: _Cycle | None = None
        self.bind("<Return>", self._enter)
        self.bind("<KP_Enter>", self._enter)
        self.bind("<Up>", self._older)
        self.bind("<Down>", self._newer)
        self.bind("<Tab>", self._complete)
        self.bind("<KeyPress>", self._typed, add=True)
        self.bind("<<Paste>>", self._paste)
        self.bind("<Escape>", self._escape)

    @property
    def value(self) -> str:
        return self.get()

    def set_value(self, text: str, cursor: int | None = None) -> None:
        # No StringVar: see ``frontends.tk.dialogs.fill`` for why.
        self.delete(0, "end")
        self.insert(0, text)
        self.icursor(len(text) if cursor is None else cursor)
        self.xview_moveto(1.0)

    def _enter(self, _event: object = None) -> str:
        text = self.value
        self._cycle = None
        editing = self.editing
        if editing is not None and editing.id is not None:
            self.stop_editing()
            if self.on_edit is not None:
                self.on_edit(editing.id, text)
            return "break"
        if not text.strip():
            return "break"
        if not self.history or self.history[-1] != text:
            self.history.append(text)
            del self.history[:-HISTORY_LIMIT]
        self._position = len(self.history)
        self._draft = ""
        self.set_value("")
        self.on_submit(text)
        return "break"

    def _paste(self, _event: object = None) -> str | None:
        try:
            text = self.clipboard_get()
        except tk.TclError:
            return "break"  # an empty clipboard
        if self.on_paste is None or not is_multiline(text):
            return None  # Tk's own paste of one line
        self.on_paste(text)
        return "break"

    def _older(self, _event: object = None) -> str:
        if self.editing is not None:
            return "break"  # Enter saves, Escape cancels: the history is not walked meanwhile
        if not self.value and self._position == len(self.history) and self._start_editing():
            return "break"
        if self._position == 0:
            return "break"
        if self._position == len(self.history):
            self._draft = self.value
        self._position -= 1
        self.set_value(self.history[self._position])
        return "break"

    def _newer(self, _event: object = None) -> str:
        if self.editing is not None or self._position >= len(self.history):
            return "break"
        self._position += 1
        if self._position == len(self.history):
            self.set_value(self._draft)
        else:
            self.set_value(self.history[self._position])
        return "break"

    def _start_editing(self) -> bool:
        """Edit our last message of the conversation, if there is one."""
        line = self.editable() if self.editable is not None else None
        if line is None or line.id is None:
            return False
        self.editing = line
        self.set_value(line.text)
        if self.on_mode is not None:
            self.on_mode(True)
        return True

    def stop_editing(self) -> None:
        """Leave edit mode with an empty line; the message stays as it was."""
        if self.editing is None:
            return
        self.editing = None
        self.set_value("")
        if self.on_mode is not None:
            self.on_mode(False)

    def _escape(self, _event: object = None) -> str | None:
        if self.editing is None:
            return None
        self.stop_editing()
        return "break"

    def _typed(self, event: tk.Event[ttk.Entry]) -> None:
        # Any key but Tab (and bare modifiers) ends a completion cycle.
        if event.keysym not in ("Tab", "Shift_L", "Shift_R", "Control_L", "Control_R"):
            self._cycle = None

    def _complete(self, _event: object = None) -> str:
        cycle = self._cycle
        if cycle is not None and self.value == cycle.result:
            cycle.index = (cycle.index + 1) % len(cycle.completion.candidates)
        else:
            state = self.snapshot_of()
            if state is None:
                return "break"
            text = self.value
            completion = complete(state, text, self.index("insert"))
            if not completion.candidates:
                self.bell()
                return "break"
            cycle = _Cycle(text, completion, 0, "")
        candidate = cycle.completion.candidates[cycle.index]
        result, cursor = cycle.completion.apply(cycle.original, candidate)
        cycle.result = result
        self._cycle = cycle if len(cycle.completion.candidates) > 1 else None
        self.set_value(result, cursor)
        return "break"
