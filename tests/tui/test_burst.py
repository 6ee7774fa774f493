"""A burst of live messages in the terminal UI: every line shown once and in order, the view
following the newest, and the keyboard answered while the burst is still being drawn."""

from __future__ import annotations

import asyncio
import json

from textual import events

from app.client.events import LineAdded
from app.client.receive import local_line
from app.client.state import LineKind
from tests.conftest import Connect
from tests.tui.conftest import TIMEOUT, MakeApp, eventually, until_in_room

BURST = 1_500


async def test_a_burst_shows_every_line_once_in_order_and_follows_the_newest(
    make_app: MakeApp, connect: Connect
) -> None:
    """Messages sent in one go appear in the log each once, in order, with the newest on screen."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        texts = [f"burst line {number:05d}" for number in range(BURST)]
        frames = (json.dumps({"type": "say", "room": "#general", "text": t}) for t in texts)
        await bob.send_raw("".join(f"{frame}\n" for frame in frames).encode())

        def shown() -> list[str]:
            lines = app.chat_log.lines
            return [line.text for line in lines if line.sender == "bob" and line.is_chat]

        await eventually(pilot, lambda: len(shown()) >= BURST, "the whole burst", TIMEOUT * 3)
        assert shown() == texts
        log = app.chat_log

        def newest_on_screen() -> bool:
            return log.at_bottom and any(texts[-1] in row for row in log.visible_text())

        await eventually(pilot, newest_on_screen, "the view at the newest line")


async def test_a_key_is_handled_while_a_burst_is_still_being_drawn(make_app: MakeApp) -> None:
    """A key typed after thousands of lines were queued is handled before they are all drawn."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        frontend = app._frontend
        assert frontend is not None
        before = len(app.chat_log.lines)
        lines = [local_line(LineKind.NOTICE, f"queued {n} " + "word " * 30) for n in range(5_000)]
        for line in lines:  # as the engine hands over one read of a flood, all at once
            frontend.handle(LineAdded("#general", line))
        app.chat_input.focus()
        # As a terminal's key arrives: posted, not pressed through Pilot, which waits for idle.
        app.post_message(events.Key("x", "x"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT * 3
        while app.chat_input.value != "x":
            assert loop.time() < deadline, "the key was never handled"
            await asyncio.sleep(0.001)
        drawn = len(app.chat_log.lines) - before
        assert drawn < len(lines), "the key waited for the whole burst"
        await eventually(
            pilot, lambda: len(app.chat_log.lines) == before + len(lines), "the burst drawn"
        )
        assert list(app.chat_log.lines[before:]) == lines
