"""The demo's invite, in the app as ``parley demo`` builds it, at 80x24 against a real server.

The join command is written into the log of the first room and shown in the status line; it
stays in the status line, on no timer, until another nick is in one of our rooms, and stays in
the log as history. (``tests/tui/test_terminal.py`` runs the real ``parley demo`` in a pty.)
"""

from __future__ import annotations

from textual.geometry import Region

from app.server import Server
from frontends.tui.app import ParleyApp
from frontends.tui.run import DEMO_HOST, demo_app, join_command
from tests.conftest import Connect
from tests.tui.conftest import eventually, rows_with, submit, until_in_room

SIZE = (80, 24)


def status_on_screen(app: ParleyApp) -> str:
    """The status line as drawn, cut at the screen's width."""
    status = app.status_line
    return status.render_lines(Region(0, 0, status.size.width, 1))[0].text


def log_on_screen(app: ParleyApp) -> list[str]:
    return app.chat_log.visible_text()


async def test_invite_is_in_the_log_and_the_status_line_at_80_columns(server: Server) -> None:
    """The join command shows whole, on one row, in the log and in the status line at 80x24."""
    command = join_command(DEMO_HOST, server.port)
    app = demo_app(port=server.port, nick="host")
    async with app.run_test(size=SIZE) as pilot:
        await until_in_room(pilot)
        await eventually(pilot, lambda: command in status_on_screen(app), "invite in the status")
        await eventually(
            pilot, lambda: any(command in row for row in log_on_screen(app)), "invite in the log"
        )
        rows = app.chat_log.plain_rows()
        joined = next(n for n, row in enumerate(rows) if "You joined #general" in row)
        assert "To join from another terminal:" in rows[joined + 1]
        assert rows[joined + 2].endswith(command)
        assert "● connected" in status_on_screen(app)


async def test_invite_leaves_the_status_line_once_someone_joins(
    server: Server, connect: Connect
) -> None:
    """When a guest joins, the status line shows the server instead; the log keeps the invite."""
    command = join_command(DEMO_HOST, server.port)
    app = demo_app(port=server.port, nick="host")
    async with app.run_test(size=SIZE) as pilot:
        await until_in_room(pilot)
        await eventually(pilot, lambda: command in status_on_screen(app), "invite in the status")
        guest = await connect("guest")
        await guest.join("#general")
        await eventually(pilot, lambda: bool(rows_with(app, "guest joined")), "guest's join line")
        await eventually(pilot, lambda: command not in status_on_screen(app), "invite gone")
        assert f"127.0.0.1:{server.port}" in status_on_screen(app)
        assert app.status_line.invite == ""
        rows = app.chat_log.plain_rows()
        assert [n for n, row in enumerate(rows) if row.endswith(command)] < [
            n for n, row in enumerate(rows) if "guest joined" in row
        ]
        # Leaving does not bring it back: someone has come, the invite was kept.
        await guest.close()
        await eventually(pilot, lambda: bool(rows_with(app, "guest quit")), "guest's quit line")
        assert command not in status_on_screen(app)


async def test_invite_stays_in_the_log_when_the_room_is_drawn_again(server: Server) -> None:
    """Going to another room and back redraws #general with the invite still under our join."""
    command = join_command(DEMO_HOST, server.port)
    app = demo_app(port=server.port, nick="host")
    async with app.run_test(size=SIZE) as pilot:
        await until_in_room(pilot)
        await eventually(pilot, lambda: bool(rows_with(app, command)), "invite in the log")
        await submit(pilot, "/join #side")
        await until_in_room(pilot, "#side")
        assert not rows_with(app, command)
        await pilot.press("alt+1")
        await eventually(pilot, lambda: bool(rows_with(app, "You joined #general")), "#general")
        rows = app.chat_log.plain_rows()
        joined = next(n for n, row in enumerate(rows) if "You joined #general" in row)
        assert rows[joined + 2].endswith(command)
        assert command in status_on_screen(app)


async def test_no_invite_when_someone_is_already_there(server: Server, connect: Connect) -> None:
    """A guest who joined before the host signed in counts: no invite in status line or log."""
    guest = await connect("guest")
    await guest.join("#general")
    command = join_command(DEMO_HOST, server.port)
    app = demo_app(port=server.port, nick="host")
    async with app.run_test(size=SIZE) as pilot:
        await until_in_room(pilot)
        await eventually(pilot, lambda: command not in status_on_screen(app), "no invite")
        assert not rows_with(app, command)
