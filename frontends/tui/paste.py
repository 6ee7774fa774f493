"""The question a multi-line paste asks in the terminal before anything is sent.

This module owns ``PasteScreen``, a small modal over the chat: "Send 12 lines to #general?",
with the detail of ``app.client.paste.PasteQuestion`` (past a size: how long it will take, and
a suggestion to cancel). Enter or ``y`` sends, Esc or ``n`` cancels; for a large paste the
Cancel button has the focus, so a reflexive Enter does not send a whole wrong clipboard. It
dismisses with True (send) or False and never talks to the engine: the app does.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from app.client.paste import PasteQuestion


class PasteScreen(ModalScreen[bool]):
    """Ask once whether to send a paste of several lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Send"),
    ]

    def __init__(self, question: PasteQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="paste-box"):
            yield Static(self.question.title, id="paste-title", markup=False)
            yield Static(self.question.detail, id="paste-detail", markup=False)
            with Horizontal(id="paste-buttons"):
                yield Button(f"Send {self.question.count} lines", id="paste-send")
                yield Button("Cancel", id="paste-cancel")

    def on_mount(self) -> None:
        wanted = "#paste-cancel" if self.question.large else "#paste-send"
        self.query_one(wanted, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "paste-send")

    def action_answer(self, send: bool) -> None:
        self.dismiss(send)
