"""Copying in the terminal: Ctrl+C copies what is selected and never wipes the clipboard; F4's
copy view gives the conversation as plain lines to copy."""

from __future__ import annotations

import re

from frontends.tui.copyview import CopyScreen
from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, until_in_room


async def test_ctrl_c_with_nothing_selected_keeps_the_clipboard(make_app: MakeApp) -> None:
    """Ctrl+C after a click that selects nothing leaves the clipboard (and the terminal's) as it
    was: no empty OSC 52 request goes out."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        app.copy_to_clipboard("keep me")
        await pilot.click("#log", offset=(30, 3))
        await pilot.press("ctrl+c")
        # A drag over the blank end of the status line selects no text at all.
        await pilot.mouse_down("#status", offset=(70, 0))
        await pilot.hover("#status", offset=(76, 0))
        await pilot.mouse_up("#status", offset=(76, 0))
        await pilot.press("ctrl+c")
        await pilot.click("#input")
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.clipboard == "keep me"


async def test_ctrl_c_copies_a_selection_in_the_input(make_app: MakeApp) -> None:
    """With text selected in the input line, Ctrl+C copies exactly that text."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        app.chat_input.value = "copy this please"
        app.chat_input.action_select_all()
        await pilot.press("ctrl+c")
        assert app.clipboard == "copy this please"


async def test_the_copy_view_copies_plain_lines_without_the_log_s_columns(
    make_app: MakeApp, connect: Connect
) -> None:
    """F4 shows the conversation as plain lines (``HH:MM <nick> text``, no nick column or rule);
    Enter copies the line under the cursor, F7 then Ctrl+C every line, and Esc
    goes back to the chat."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await bob.send(type="say", room="#general", text="the build is green")
        await bob.send(type="say", room="#general", text="a line long enough to wrap " * 4)
        await eventually(
            pilot, lambda: any("wrap" in line.text for line in app.chat_log.lines), "arrived"
        )
        await pilot.press("f4")
        await eventually(pilot, lambda: isinstance(app.screen, CopyScreen), "the copy view")
        await pilot.pause()
        await pilot.press("enter")
        last = app.clipboard
        assert re.fullmatch(r"\d\d:\d\d <bob> (a line long enough to wrap ){4}", last)
        await pilot.press("f7")  # select all
        await pilot.press("ctrl+c")
        assert re.search(
            r"\d\d:\d\d <bob> the build is green\n" + re.escape(last) + "$", app.clipboard
        )
        assert "│" not in app.clipboard
        await pilot.press("escape")
        await eventually(pilot, lambda: not isinstance(app.screen, CopyScreen), "back")
        assert app.chat_input.has_focus or app.focused is not None
