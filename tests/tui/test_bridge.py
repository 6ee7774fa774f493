"""The engine's events reach the terminal app whole and in order, a slice at a time, and every
kind is handled."""

from __future__ import annotations

import asyncio
from typing import cast

from textual.message import Message
from textual.message_pump import MessagePump

from frontends.tui.bridge import EngineEvents, TextualFrontend
from tests.client.conftest import QUIET_STATE, one_event_of_each_kind
from tests.tui.conftest import MakeApp, eventually, rows_with, until_in_room


class Posted:
    """Stands in for the app: keeps what is posted to it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True


def test_a_batch_of_events_wakes_the_app_once_and_is_taken_whole_in_order() -> None:
    """The bridge adds nothing and drops nothing: one wake-up for a batch, every event in order."""
    target = Posted()
    frontend = TextualFrontend(cast(MessagePump, target))
    sent = one_event_of_each_kind(QUIET_STATE) * 5
    for event in sent:
        frontend.handle(event)
    assert len(target.messages) == 1
    message = target.messages[0]
    assert isinstance(message, EngineEvents) and message.origin is frontend
    taken = []
    while chunk := frontend.take(3):
        assert len(chunk) <= 3
        taken += chunk
    assert taken == sent
    assert frontend.waiting == 0


async def test_events_left_after_a_slice_wake_the_app_after_a_turn_of_the_loop() -> None:
    """What a slice leaves is announced again, but only once the loop has run a turn."""
    target = Posted()
    frontend = TextualFrontend(cast(MessagePump, target))
    sent = one_event_of_each_kind(QUIET_STATE)
    for event in sent:
        frontend.handle(event)
    first = frontend.take(1)
    frontend.taken()
    assert len(target.messages) == 1  # not at once: keys and drawing come first
    for _ in range(100):
        if len(target.messages) == 2:
            break
        await asyncio.sleep(0)
    assert len(target.messages) == 2
    frontend.handle(sent[0])  # already woken: no third message
    assert len(target.messages) == 2
    assert first + frontend.take(len(sent) + 1) == [*sent, sent[0]]
    frontend.taken()
    frontend.handle(sent[0])  # all taken: the next event wakes the app again
    assert len(target.messages) == 3


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
