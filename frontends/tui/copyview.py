"""The copy view: the conversation as plain lines, to select and copy with the keyboard.

This module owns ``CopyScreen`` (F4). The log draws each line with a time column, a nick column and
a rule, so what a terminal's own mouse selection picks up is the layout, gutters and wrapped halves
included, and over SSH without a mouse there is no selection at all. The copy view shows the same
lines as the text people paste into a ticket or another chat, one line each, unwrapped: ``12:04
<alice> the build is green`` (``copy_line``). It is a read-only ``TextArea`` with the cursor on the
newest line: Shift with the arrows (or the mouse) selects, F7 selects all, Ctrl+C copies the
selection, Enter copies the selection or else the line under the cursor, and Esc or F4 goes back to
the chat. Copying goes through the app (OSC 52, so it works over SSH), which never sends an empty
copy. The view is a snapshot: lines that arrive meanwhile are in the log when it closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static, TextArea

from app.client.state import Line, LineKind
from frontends.tui.chatlog import printable


def copy_line(line: Line) -> str:
    """``line`` as plain text: its time, then ``<nick> text`` for a message, ``* nick text``
    for an action, the text alone for the rest (joins, notices... already say who)."""
    stamp = datetime.fromtimestamp(line.ts / 1000).strftime("%H:%M")
    text = printable(line.text)
    if line.deleted:
        text = "(message deleted)"
    elif line.edited:
        text += " (edited)"
    if line.kind is LineKind.MESSAGE:
        return f"{stamp} <{line.sender or '?'}> {text}"
    if line.kind is LineKind.ACTION:
        return f"{stamp} * {line.sender or '?'} {text}"
    return f"{stamp} {text}"


class CopyScreen(Screen[None]):
    """``lines`` of ``where`` as plain text, read-only, for selecting and copying."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f4", "close", "Back to the chat"),
        Binding("enter", "copy_line", "Copy the line", priority=True),
    ]

    def __init__(self, where: str, lines: Iterable[Line]) -> None:
        super().__init__()
        self.where = where
        self.text = "\n".join(copy_line(line) for line in lines)

    def compose(self) -> ComposeResult:
        yield Static(
            f"{self.where}: Shift+arrows or F7 (all) select · Ctrl+C or Enter copies · Esc: back",
            id="copy-title",
            markup=False,
        )
        yield TextArea(self.text, read_only=True, soft_wrap=True, id="copy-text")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        last = area.document.line_count - 1
        area.move_cursor((last, 0))

    def action_copy_line(self) -> None:
        """Copy the selection, or the line under the cursor when nothing is selected."""
        area = self.query_one(TextArea)
        text = area.selected_text or area.document.get_line(area.cursor_location[0])
        if text:
            self.app.copy_to_clipboard(text)
            self.notify("Copied", timeout=1.5)

    def action_close(self) -> None:
        self.dismiss()
