"""Pasting several lines in the terminal: asked once, then one message per line, in order,
through the outbox; a large paste suggests cancelling."""

from __future__ import annotations

from textual import events

from frontends.tui.questions import PasteScreen
from tests.conftest import Connect, StartServer, message_texts
from tests.tui.conftest import MakeApp, eventually, until_in_room


async def test_a_three_line_paste_asks_once_then_sends_three_messages(
    make_app: MakeApp, connect: Connect
) -> None:
    """A bracketed paste of three lines keeps all three: one question, then three messages."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        app.chat_input.post_message(events.Paste("first line\nsecond line\n/third is text\n"))
        await eventually(pilot, lambda: isinstance(app.screen, PasteScreen), "the question")
        assert isinstance(app.screen, PasteScreen)
        assert app.screen.question.title == "Send 3 lines to #general?"
        assert app.chat_input.value == ""
        await pilot.press("enter")
        assert await message_texts(bob, 3) == ["first line", "second line", "/third is text"]
        assert not isinstance(app.screen, PasteScreen)


async def test_a_paste_of_fifty_lines_suggests_cancel_then_sends_all_in_order(
    make_app: MakeApp, start_server: StartServer, connect: Connect
) -> None:
    """Fifty lines: Enter on the question cancels (its default for a large paste) and nothing
    goes; pasted again and confirmed, all fifty arrive once each, in order, paced past the
    server's flood limit."""
    limited = await start_server(msg_rate=50, msg_burst=5)
    app = make_app(port=limited.port)
    lines = [f"pasted {n:02}" for n in range(50)]
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob", port=limited.port)
        await bob.join("#general")
        app.chat_input.post_message(events.Paste("\n".join(lines)))
        await eventually(pilot, lambda: isinstance(app.screen, PasteScreen), "the question")
        assert isinstance(app.screen, PasteScreen)
        assert app.screen.question.large and "Cancel if" in app.screen.question.detail
        await pilot.press("enter")
        await eventually(pilot, lambda: not isinstance(app.screen, PasteScreen), "cancelled")
        assert app.engine is not None and app.engine.state.outbox == 0
        app.chat_input.post_message(events.Paste("\n".join(lines)))
        await eventually(pilot, lambda: isinstance(app.screen, PasteScreen), "asked again")
        await pilot.press("y")
        assert await message_texts(bob, 50) == lines
        await eventually(
            pilot, lambda: app.engine is not None and app.engine.state.outbox == 0, "drained"
        )
        own = [line for line in app.chat_log.lines if line.own]
        assert [line.text for line in own] == lines
        assert not any(line.failed or line.pending for line in own)
