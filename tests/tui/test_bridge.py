"""The engine's events reach the terminal app whole, one Textual message each, and every kind is
handled."""

from __future__ import annotations

from typing import cast

from textual.message import Message
from textual.message_pump import MessagePump

from frontends.tui.bridge import EngineMessage, TextualFrontend
from tests.client.conftest import QUIET_STATE, one_event_of_each_kind
from tests.tui.conftest import MakeApp, eventually, rows_with, until_in_room


class Posted:
    """Stands in for the app: keeps what is posted to it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True


def test_every_event_is_posted_as_one_message_carrying_it() -> None:
    """The bridge adds nothing and drops nothing: each event rides in its own message, in order."""
    target = Posted()
    frontend = TextualFrontend(cast(MessagePump, target))
    sent = one_event_of_each_kind(QUIET_STATE)
    for event in sent:
        frontend.handle(event)
    assert all(isinstance(m, EngineMessage) and m.origin is frontend for m in target.messages)
    assert [cast(EngineMessage, m).event for m in target.messages] == sent


async def test_the_app_handles_every_kind_of_event(make_app: MakeApp) -> None:
    """An event of each kind from the live engine is acted on and breaks nothing."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        frontend = app._frontend
        assert frontend is not None and app.snapshot is not None
        for event in one_event_of_each_kind(app.snapshot):
            frontend.handle(event)
        await eventually(pilot, lambda: bool(rows_with(app, "one of each kind")), "the notice")
        assert app.is_running
