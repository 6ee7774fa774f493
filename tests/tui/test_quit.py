"""Quitting the terminal UI: at once with nothing waiting, after one question when lines typed are
not sent yet (Ctrl+Q or /quit)."""

from __future__ import annotations

from textual.pilot import Pilot

from app.client.state import ConnectionState
from app.server import Server
from frontends.tui.app import ParleyApp
from frontends.tui.questions import QuitScreen
from tests.tui.conftest import MakeApp, eventually, submit, until_in_room


async def two_lines_waiting(pilot: Pilot[None], server: Server) -> ParleyApp:
    """The server gone and two lines typed meanwhile: the outbox holds them."""
    app = pilot.app
    assert isinstance(app, ParleyApp)
    await until_in_room(pilot)
    await server.stop()
    await eventually(
        pilot,
        lambda: (
            app.snapshot is not None
            and app.snapshot.connection.state is ConnectionState.RECONNECTING
        ),
        "disconnected",
    )
    await submit(pilot, "first")
    await submit(pilot, "second")
    await eventually(pilot, lambda: "2 to send" in app.status_line.render().plain, "two waiting")
    return app


def asked(app: ParleyApp) -> QuitScreen | None:
    return app.screen if isinstance(app.screen, QuitScreen) else None


async def test_with_nothing_waiting_ctrl_q_quits_at_once(make_app: MakeApp) -> None:
    """An empty outbox: Ctrl+Q exits with no question."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        await pilot.press("ctrl+q")
        assert asked(app) is None
        await eventually(pilot, lambda: not app.is_running, "the app exited")


async def test_ctrl_q_with_lines_waiting_asks_and_a_second_ctrl_q_quits(
    make_app: MakeApp, server: Server
) -> None:
    """Two lines not sent: Ctrl+Q asks "2 lines not sent yet. Quit anyway?"; Esc and Enter
    (Cancel has the focus) keep the app and its lines; Ctrl+Q on the question quits."""
    app = make_app()
    async with app.run_test() as pilot:
        await two_lines_waiting(pilot, server)
        await pilot.press("ctrl+q")
        await eventually(pilot, lambda: asked(app) is not None, "the question")
        screen = asked(app)
        assert screen is not None and screen.question == "2 lines not sent yet. Quit anyway?"
        await pilot.press("escape")
        await eventually(pilot, lambda: asked(app) is None, "the question gone")
        await pilot.press("ctrl+q")
        await eventually(pilot, lambda: asked(app) is not None, "asked again")
        await pilot.press("enter")
        await eventually(pilot, lambda: asked(app) is None, "cancelled by Enter")
        assert app.is_running and app.engine is not None and app.engine.state.outbox == 2
        await pilot.press("ctrl+q")
        await eventually(pilot, lambda: asked(app) is not None, "asked once more")
        await pilot.press("ctrl+q")
        await eventually(pilot, lambda: not app.is_running, "the app exited")


async def test_slash_quit_with_lines_waiting_asks_first(make_app: MakeApp, server: Server) -> None:
    """/quit with lines waiting asks; y quits."""
    app = make_app()
    async with app.run_test() as pilot:
        await two_lines_waiting(pilot, server)
        await submit(pilot, "/quit see you")
        await eventually(pilot, lambda: asked(app) is not None, "the question")
        assert app.is_running
        await pilot.press("y")
        await eventually(pilot, lambda: not app.is_running, "the app exited")
