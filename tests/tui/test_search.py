"""Search in the terminal UI, through Pilot against a real server: Ctrl+F opens the prompt with
"/search ", the results appear in the log and in the panel under it, Enter on a hit shows it
among its neighbours in its room, "More results" fetches the next page and Escape closes."""

from __future__ import annotations

from textual.widgets import OptionList, Static

from frontends.tui.search import SearchPanel
from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, rows_with, submit, type_line, until_in_room


async def test_ctrl_f_searches_and_enter_shows_a_hit_in_context(
    make_app: MakeApp, connect: Connect
) -> None:
    """Ctrl+F puts "/search " in the prompt; typing words and Enter lists the hits in the log
    and in the focused panel; Enter on a hit makes its room active and shows the hit, marked,
    among the messages around it; Escape closes the panel and gives the prompt back."""
    bob = await connect("bob")
    await bob.join("#ops")
    for text in ("before the fix", "the deploy broke", "after the fix"):
        await bob.send(type="say", room="#ops", text=text)
    await bob.barrier()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/join #ops")
        await until_in_room(pilot, "#ops")
        await submit(pilot, "/join #dev")
        await until_in_room(pilot, "#dev")
        await pilot.press("ctrl+f")
        assert app.chat_input.value == "/search " and app.chat_input.has_focus
        await type_line(pilot, "deploy")
        panel = app.query_one("#search", SearchPanel)
        hits = app.query_one("#search-hits", OptionList)
        await eventually(pilot, lambda: panel.display and hits.option_count == 1, "one hit")
        assert hits.has_focus
        assert rows_with(app, "Search for 'deploy' in your rooms: 1 message.")
        assert rows_with(app, "<bob> the deploy broke")
        await pilot.press("enter")
        context = app.query_one("#search-context", Static)
        await eventually(
            pilot,
            lambda: "> " in str(context.render()) and "after the fix" in str(context.render()),
            "the hit in context",
        )
        shown = str(context.render())
        assert "In #ops:" in shown and "before the fix" in shown
        assert "> " in next(row for row in shown.splitlines() if "the deploy broke" in row)
        await eventually(
            pilot, lambda: app.snapshot is not None and app.snapshot.active == "#ops", "#ops active"
        )
        await pilot.press("escape")
        await eventually(pilot, lambda: not panel.display, "the panel closed")
        assert app.chat_input.has_focus


async def test_more_results_fetches_the_next_page(make_app: MakeApp, connect: Connect) -> None:
    """With more hits than a page, the list ends in "More results…", and choosing it adds the
    rest."""
    bob = await connect("bob")
    await bob.join("#general")
    for n in range(60):
        await bob.send(type="say", room="#general", text=f"ticket {n}")
    await bob.barrier()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/search ticket")
        hits = app.query_one("#search-hits", OptionList)
        await eventually(pilot, lambda: hits.option_count == 51, "a page and More")
        assert hits.has_focus
        await pilot.press("end", "enter")
        await eventually(pilot, lambda: hits.option_count == 60, "every hit, no More")


async def test_a_hit_held_in_the_log_is_scrolled_into_view(
    make_app: MakeApp, connect: Connect
) -> None:
    """Jumping to a hit that the room's log holds, but out of sight above, scrolls the log to it
    and stops following the newest line."""
    bob = await connect("bob")
    await bob.join("#general")
    await bob.send(type="say", room="#general", text="the deploy broke")
    for n in range(45):
        await bob.send(type="say", room="#general", text=f"later line {n}")
    await bob.barrier()
    app = make_app()
    async with app.run_test(size=(100, 20)) as pilot:
        await until_in_room(pilot)
        await eventually(
            pilot,
            lambda: any("later line 44" in row for row in app.chat_log.visible_text()),
            "the join page, its newest line in view",
        )
        assert not any("the deploy broke" in row for row in app.chat_log.visible_text())
        await submit(pilot, "/search deploy")
        hits = app.query_one("#search-hits", OptionList)
        await eventually(pilot, lambda: hits.option_count == 1 and hits.has_focus, "the hit")
        await pilot.press("enter")
        await eventually(
            pilot,
            lambda: any("the deploy broke" in row for row in app.chat_log.visible_text()),
            "the hit in view in the log",
        )
        assert not app.chat_log.following
