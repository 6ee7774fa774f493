"""The question the terminal asks before quitting drops lines that were typed but not sent.

This module owns ``QuitScreen``, a small modal over the chat: "2 lines not sent yet. Quit
anyway?" (``app.client.outbox.quit_question``), asked when Ctrl+Q or ``/quit`` would end the
session while the outbox still holds lines. Cancel has the focus, so a reflexive Enter keeps
them; ``y`` or the Quit anyway button quits, Esc or ``n`` cancels, and a second Ctrl+Q (the
app's own binding) quits as well. It dismisses with True (quit) or False and never talks to the
engine: the app does. ``ask_first`` puts it up when ``waiting`` lines would be dropped, and says
whether it did: with nothing waiting the app quits without asking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from app.client.outbox import QUIT_DETAIL, quit_question


class QuitScreen(ModalScreen[bool]):
    """Ask once whether to quit with lines not sent yet."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Quit"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box"):
            yield Static(self.question, id="quit-title", markup=False)
            yield Static(QUIT_DETAIL, id="quit-detail", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button("Quit anyway", id="quit-yes")
                yield Button("Cancel", id="quit-cancel")

    def on_mount(self) -> None:
        self.query_one("#quit-cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, quit_anyway: bool) -> None:
        self.dismiss(quit_anyway)


def ask_first(app: App[None], waiting: int, quit_now: Callable[[], None]) -> bool:
    """Ask on ``app`` whether to quit if ``waiting`` lines would be dropped, calling
    ``quit_now`` on yes; whether it asked."""
    question = quit_question(waiting)
    if question is None:
        return False

    def answered(quit_anyway: bool | None) -> None:
        if quit_anyway:
            quit_now()

    app.push_screen(QuitScreen(question), answered)
    return True
