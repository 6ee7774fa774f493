"""``parley tui --fixed-server``, as the SSH and web gateways run it for their visitors."""

from __future__ import annotations

from textual.widgets import Input

from app.server import Server
from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, until_in_room


async def test_a_fixed_server_cannot_be_changed_on_the_login_screen(
    make_app: MakeApp, server: Server, connect: Connect
) -> None:
    """The server field is shown but disabled, stays so after a refusal, and the visitor still
    signs in to the gateway's server; no cursor blinks (it would redraw every idle session)."""
    await connect("alice")
    app = make_app(nick=None, store=None, server_fixed=True)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        field = login.query_one("#login-server", Input)
        assert field.disabled and field.value == f"127.0.0.1:{server.port}"
        assert not login.query_one("#login-nick", Input).cursor_blink
        login.query_one("#login-nick", Input).value = "alice"
        await pilot.press("enter")
        await eventually(pilot, lambda: "already taken" in login.error_text, "nick_taken shown")
        assert field.disabled
        await pilot.press("tab")
        assert app.screen.focused is not field

        login.query_one("#login-nick", Input).value = "carol"
        await pilot.press("enter")
        await until_in_room(pilot)
        assert not app.chat_input.cursor_blink


async def test_the_cursor_blinks_in_an_ordinary_terminal(make_app: MakeApp) -> None:
    """Without --fixed-server the login and chat inputs keep Textual's blinking cursor."""
    app = make_app(nick=None)
    async with app.run_test():
        login = app.login
        assert login is not None
        assert login.query_one("#login-nick", Input).cursor_blink
        assert app.chat_input.cursor_blink
