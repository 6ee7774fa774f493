"""Editing in the terminal UI against a real server, as a person does it: ↑ on an empty input
takes our last message into edit mode, Enter saves it for everyone, Esc leaves it, and edited
lines read "(edited)"."""

from __future__ import annotations

from frontends.tui.app import ParleyApp
from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, rows_with, submit, until_in_room


def last_message_confirmed(app: ParleyApp, text: str) -> bool:
    """Whether the engine holds ``text`` as our message the server stored."""
    line = app.engine.last_editable() if app.engine is not None else None
    return line is not None and line.text == text


async def test_up_on_an_empty_input_edits_our_last_line_end_to_end(
    make_app: MakeApp, connect: Connect
) -> None:
    """↑ on the empty input puts our last message in it, in edit mode (its border says so);
    Enter sends the edit: another member gets ``edited`` and our log shows the new text with
    "(edited)" in the line's place; the input is back to normal."""
    bob = await connect("bob")
    await bob.join("#general")
    app = make_app("alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        await submit(pilot, "I sent teh wrong word")
        await eventually(
            pilot, lambda: last_message_confirmed(app, "I sent teh wrong word"), "stored"
        )
        await submit(pilot, "/who")  # a command is no message: ↑ still finds the message
        chat_input = app.chat_input
        assert chat_input.value == ""
        await pilot.press("up")
        await eventually(pilot, lambda: chat_input.editing is not None, "edit mode")
        assert chat_input.value == "I sent teh wrong word"
        assert "Editing" in str(chat_input.border_title)
        assert chat_input.has_class("-editing")
        chat_input.cursor_position = len("I sent teh")
        await pilot.press("backspace", "backspace", "backspace", *"the")
        assert chat_input.value == "I sent the wrong word"
        await pilot.press("enter")
        assert chat_input.editing is None and chat_input.value == ""
        assert not chat_input.has_class("-editing")
        await eventually(
            pilot, lambda: bool(rows_with(app, "I sent the wrong word  (edited)")), "our line"
        )
        assert not rows_with(app, "teh wrong")
        frames = await bob.barrier()
        edited = [f for f in frames if f["type"] == "edited"]
        assert [(f["text"], f["by"]) for f in edited] == [("I sent the wrong word", "alice")]


async def test_escape_leaves_edit_mode_and_the_message_as_it_was(
    make_app: MakeApp, connect: Connect
) -> None:
    """Esc in edit mode empties the input and sends nothing; ↑ on an empty input with no
    message of ours browses the history of typed lines as before."""
    bob = await connect("bob")
    await bob.join("#general")
    app = make_app("alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        chat_input = app.chat_input
        await submit(pilot, "/who")
        await pilot.press("up")
        await eventually(pilot, lambda: chat_input.value == "/who", "the history's last line")
        assert chat_input.editing is None
        chat_input.value = ""
        chat_input.remember("")
        await submit(pilot, "keep me")
        await eventually(pilot, lambda: last_message_confirmed(app, "keep me"), "stored")
        await pilot.press("up")
        await eventually(pilot, lambda: chat_input.editing is not None, "edit mode")
        await pilot.press(*" and change me")
        await pilot.press("escape")
        assert chat_input.editing is None and chat_input.value == ""
        # Our frames take effect in order: an edit sent at Esc would reach bob before "after".
        await submit(pilot, "after")
        seen = [await bob.recv()]
        while seen[-1].get("text") != "after":
            seen.append(await bob.recv())
        assert [f["type"] for f in seen if f["type"] == "edited"] == []
        assert rows_with(app, "keep me") and not rows_with(app, "(edited)")


async def test_another_members_edit_shows_in_place(make_app: MakeApp, connect: Connect) -> None:
    """A line bob edits takes its new text in our log, marked "(edited)"."""
    bob = await connect("bob")
    await bob.join("#general")
    app = make_app("alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        await bob.barrier()
        await bob.send(type="say", room="#general", text="hello wrold", ref=1)
        said = await bob.expect("message", ref=1)
        await eventually(pilot, lambda: bool(rows_with(app, "hello wrold")), "bob's line")
        await bob.send(type="edit", id=said["id"], text="hello world", ref=2)
        await bob.expect("edited", ref=2)
        await eventually(
            pilot, lambda: bool(rows_with(app, "hello world  (edited)")), "the edit shown"
        )
        assert not rows_with(app, "wrold")
