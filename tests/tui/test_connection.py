"""The login screen's error path and the connection state in the status line, on a real server."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import Input, Static
from textual.widgets._toast import Toast

import frontends.tui
from app.client.events import ErrorReported
from app.client.state import ConnectionState, ConnectionStatus
from app.protocol import DEFAULT_PORT
from app.server import Server
from frontends.tui.login import parse_server
from frontends.tui.panels import StatusLine
from tests.conftest import Connect, StartServer, closed_port
from tests.tui.conftest import MakeApp, eventually, login_screen, rows_with, submit, until_in_room


async def test_login_shows_nick_taken_and_allows_a_retry(
    make_app: MakeApp, connect: Connect
) -> None:
    """A taken nick is reported on the login screen; Tab moves between the fields; a second nick
    then gets into the chat."""
    await connect("alice")
    app = make_app(nick=None)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        nick = login.query_one("#login-nick", Input)
        assert app.screen.focused is nick
        nick.value = "alice"
        await pilot.press("enter")
        await eventually(pilot, lambda: "already taken" in login.error_text, "nick_taken shown")
        assert login.error_text == "alice is already taken."
        assert app.login is login and app.engine is None
        assert app.screen.focused is nick
        await pilot.press("tab")
        assert app.screen.focused is login.query_one("#login-server", Input)

        nick.value = "carol"
        await pilot.press("enter")
        await until_in_room(pilot)
        assert app.login is None
        assert "carol" in app.query_one(StatusLine).render().plain


async def test_login_refuses_a_bad_nick_and_server_locally(make_app: MakeApp) -> None:
    """An invalid nick or server address is refused on the screen without starting an engine."""
    app = make_app(nick=None)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        login.query_one("#login-nick", Input).value = "9lives"
        await pilot.press("enter")
        assert "starting with a letter" in login.error_text
        login.query_one("#login-nick", Input).value = "dave"
        login.query_one("#login-server", Input).value = "localhost:notaport"
        await pilot.press("enter")
        assert "host:port" in login.error_text
        assert app.engine is None


async def test_login_reports_an_unreachable_server_and_stops_trying(
    make_app: MakeApp, server: Server
) -> None:
    """From the login screen a server that cannot be reached is reported there and the engine
    ends, instead of retrying behind the screen; the right address then gets in."""
    app = make_app(nick=None)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        login.query_one("#login-nick", Input).value = "dave"
        server_input = login.query_one("#login-server", Input)
        server_input.value = f"127.0.0.1:{closed_port()}"
        await pilot.press("enter")
        await eventually(pilot, lambda: app.engine is None, "the engine to give up")
        assert app.login is login
        assert login.error_text.startswith("cannot connect to 127.0.0.1:")

        server_input.value = f"127.0.0.1:{server.port}"
        await pilot.press("enter")
        await until_in_room(pilot)


def test_parse_server_accepts_host_port_and_bare_hosts() -> None:
    """``host:port``, a bare host (default port) and a bracketed IPv6 address all parse."""
    assert parse_server("example.org:7000") == ("example.org", 7000)
    assert parse_server("[::1]:7000") == ("::1", 7000)
    assert parse_server("example.org") == ("example.org", DEFAULT_PORT)
    assert parse_server("example.org:0") is None
    assert parse_server("") is None


async def test_nick_taken_at_startup_falls_back_to_login(
    make_app: MakeApp, connect: Connect
) -> None:
    """With --nick already taken, the app opens the login screen with the server's reason."""
    await connect("alice")
    app = make_app(nick="alice")
    async with app.run_test() as pilot:
        login = await login_screen(pilot)
        await eventually(pilot, lambda: "already taken" in login.error_text, "the reason")


async def test_status_line_shows_reconnecting_then_connected(
    make_app: MakeApp, start_server: StartServer
) -> None:
    """When the server goes away the status line says reconnecting, then connected again."""
    first = await start_server()
    app = make_app(port=first.port)
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        status = app.query_one(StatusLine)
        assert "● connected" in status.render().plain
        port = first.port
        await first.stop()
        await eventually(pilot, lambda: "reconnecting" in status.render().plain, "reconnecting")
        await submit(pilot, "anyone there?")
        await eventually(pilot, lambda: bool(rows_with(app, "Not connected")), "refusal line")

        await start_server(port=port)
        await eventually(
            pilot,
            lambda: (
                app.snapshot is not None
                and app.snapshot.connection.state is ConnectionState.CONNECTED
            ),
            "reconnected",
        )
        await eventually(pilot, lambda: "● connected" in status.render().plain, "connected shown")


async def test_quit_command_closes_the_app(make_app: MakeApp, connect: Connect) -> None:
    """/quit says goodbye to the server, which tells the others, and the app exits."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await submit(pilot, "/quit see you")
        await eventually(pilot, lambda: not app.is_running, "the app exited")
    while True:
        frame = await bob.recv()
        if frame["type"] == "presence" and frame["event"] == "quit":
            assert frame["nick"] == "alice"
            assert frame.get("text") == "see you"
            break


async def test_refusals_and_errors_from_the_server_are_shown_literally(make_app: MakeApp) -> None:
    """Text from the network on the login screen and in an error toast is not read as markup."""
    raw = "Room [b]ops[/b] is closed [/x]"
    app = make_app(nick=None)
    async with app.run_test(notifications=True) as pilot:
        login = app.login
        assert login is not None
        login.show_error(raw)
        await pilot.pause()
        assert login.query_one("#login-error", Static).render() == Content(raw)

        login.query_one("#login-nick", Input).value = "dave"
        await pilot.press("enter")
        await until_in_room(pilot)
        frontend = app._frontend
        assert frontend is not None
        frontend.handle(ErrorReported(raw, None))
        await eventually(pilot, lambda: bool(app.screen.query(Toast)), "the error toast")
        assert app.screen.query_one(Toast).render() == Content(raw)


async def test_control_characters_in_a_server_reason_never_reach_the_terminal(
    make_app: MakeApp,
) -> None:
    """A server's goodbye or refusal with terminal escapes shows them as symbols in the status
    line, on the login screen and in an error toast."""
    raw = "the server said goodbye: \x1b[2Jgone"
    shown = "the server said goodbye: ␛[2Jgone"
    app = make_app(nick=None)
    async with app.run_test(notifications=True) as pilot:
        login = app.login
        assert login is not None
        login.show_error(raw)
        await pilot.pause()
        assert login.query_one("#login-error", Static).render() == Content(shown)

        login.query_one("#login-nick", Input).value = "dave"
        await pilot.press("enter")
        await until_in_room(pilot)
        status = app.query_one(StatusLine)
        status.status = ConnectionStatus(ConnectionState.RECONNECTING, "here:1", 1, None, raw)
        assert shown in status.render().plain
        frontend = app._frontend
        assert frontend is not None
        frontend.handle(ErrorReported(raw, None))
        await eventually(pilot, lambda: bool(app.screen.query(Toast)), "the error toast")
        assert app.screen.query_one(Toast).render() == Content(shown)


class StatusHost(App[None]):
    """Just the status line at the bottom, styled as in the real app."""

    CSS_PATH = Path(frontends.tui.__file__).parent / "parley.tcss"

    def compose(self) -> ComposeResult:
        yield Static("log", id="filler")
        yield StatusLine(id="status")


async def test_a_long_reconnect_reason_is_not_cut_at_80_columns() -> None:
    """At 80 columns a reason longer than the status line wraps to a second row instead of
    being cut off."""
    async with StatusHost().run_test(size=(80, 24)) as pilot:
        status = pilot.app.query_one(StatusLine)
        status.nick = "frank"
        reason = "frank is already taken. (waiting for the server to forget our old connection)"
        status.status = ConnectionStatus(
            ConnectionState.RECONNECTING, "127.0.0.1:65433", 3, None, reason
        )
        await pilot.pause()
        region = status.region
        rows = [
            "".join(segment.text for segment in strip)
            for strip in status.render_lines(region.reset_offset)
        ]
        shown = " ".join(row.strip() for row in rows)
        assert region.height >= 2
        assert "forget our old connection)" in shown, rows
