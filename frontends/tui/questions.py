"""The yes-or-no questions the terminal asks before it does something hard to take back.

This module owns ``Question``, a small modal over the chat with a title, a line of detail and two
buttons: ``y`` or the first button says yes, Esc, ``n`` or Cancel says no, and it dismisses with
True or False; it never talks to the engine (the app does). Two questions are asked:

- ``PasteScreen``: before a paste of several lines, "Send 12 lines to #general?", with the detail
  of ``app.client.paste.PasteQuestion`` (past a size: how long it will take, and a suggestion to
  cancel). For a large paste Cancel has the focus, so a reflexive Enter does not send a whole
  wrong clipboard; otherwise Send has it.
- ``QuitScreen``: before quitting would drop lines typed but not sent, "2 lines not sent yet.
  Quit anyway?" (``app.client.outbox.quit_question``). Cancel has the focus, so a reflexive Enter
  keeps them; a second Ctrl+Q (the app's own binding) quits as well. ``ask_first`` puts it up
  when ``waiting`` lines would be dropped, and says whether it did: with nothing waiting the app
  quits without asking.
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
from app.client.paste import PasteQuestion


class Question(ModalScreen[bool]):
    """Ask ``title`` once, with ``detail`` below it; ``yes`` names the button that agrees."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, title: str, detail: str, yes: str, *, cancel_first: bool) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.yes = yes
        self.cancel_first = cancel_first

    def compose(self) -> ComposeResult:
        with Vertical(classes="question-box"):
            yield Static(self.title_text, classes="question-title", markup=False)
            yield Static(self.detail, classes="question-detail", markup=False)
            with Horizontal(classes="question-buttons"):
                yield Button(self.yes, id="question-yes")
                yield Button("Cancel", id="question-cancel")

    def on_mount(self) -> None:
        wanted = "#question-cancel" if self.cancel_first else "#question-yes"
        self.query_one(wanted, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "question-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PasteScreen(Question):
    """Ask once whether to send a paste of several lines."""

    def __init__(self, question: PasteQuestion) -> None:
        super().__init__(
            question.title,
            question.detail,
            f"Send {question.count} lines",
            cancel_first=question.large,
        )
        self.question = question


class QuitScreen(Question):
    """Ask once whether to quit with lines not sent yet."""

    def __init__(self, question: str) -> None:
        super().__init__(question, QUIT_DETAIL, "Quit anyway", cancel_first=True)
        self.question = question


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
