"""Copying in the terminal: Ctrl+C copies what is selected and never wipes the clipboard."""

from __future__ import annotations

from tests.tui.conftest import MakeApp, until_in_room


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
