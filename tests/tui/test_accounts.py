"""Signing in to an account from the terminal UI: the login screen's password, on a real server.

The account is registered first by a raw client, which then leaves. The login screen's masked
password field goes to the engine; a missing or wrong one is shown on the screen as the server's
sentence and the user retries without restarting; the client config never holds the password.
A password for a server on another machine without TLS is refused before anything is sent, and
the screen says how to go on.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, login_screen, until_in_room

PASSWORD = "correct horse"


async def register(connect: Connect, nick: str, password: str = PASSWORD) -> None:
    """Make ``nick`` an account with ``password`` and leave."""
    client = await connect(nick)
    await client.send(type="register", password=password)
    await client.expect("account", nick=nick)
    await client.close()


async def test_login_signs_in_with_a_password_after_refusals(
    make_app: MakeApp, connect: Connect, config_dir: Path
) -> None:
    """A registered nick without a password, then with a wrong one, is refused on the screen in
    a sentence with the password field focused; the right one gets in; client.json has no
    password."""
    await register(connect, "alice")
    app = make_app(nick=None)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        password = login.query_one("#login-password", Input)
        assert password.password  # masked
        login.query_one("#login-nick", Input).value = "alice"
        await pilot.press("enter")
        await eventually(pilot, lambda: app.engine is None, "the refused engine to end")
        assert login.error_text == "alice is registered: sign in with its password."
        assert app.screen.focused is password

        password.value = "wrong horse"
        await pilot.press("enter")
        await eventually(pilot, lambda: "Wrong" in login.error_text, "bad_password shown")
        assert login.error_text == "Wrong nick or password."
        assert app.login is login and app.engine is None

        password.value = PASSWORD
        await pilot.press("enter")
        await until_in_room(pilot)
        assert app.login is None
    saved = (config_dir / "client.json").read_text()
    assert '"alice"' in saved
    assert PASSWORD not in saved and "password" not in saved


async def test_a_wrong_password_allows_another_nick(make_app: MakeApp, connect: Connect) -> None:
    """After bad_password the user can pick a guest nick instead, with no password."""
    await register(connect, "alice")
    app = make_app(nick="alice", password="wrong horse")
    async with app.run_test() as pilot:
        login = await login_screen(pilot)
        await eventually(pilot, lambda: "Wrong" in login.error_text, "bad_password shown")
        login.query_one("#login-nick", Input).value = "dave"
        login.query_one("#login-password", Input).value = ""
        login.query_one("#login-nick", Input).focus()
        await pilot.press("enter")
        await until_in_room(pilot)
        assert app.snapshot is not None and app.snapshot.nick == "dave"


async def test_no_password_in_clear_text_to_another_machine(make_app: MakeApp) -> None:
    """A password for a host that is not loopback, without TLS, is refused before connecting,
    and the login screen says why and what to do."""
    app = make_app(nick="alice", host="192.0.2.1", password=PASSWORD)
    async with app.run_test() as pilot:
        login = await login_screen(pilot)
        await eventually(pilot, lambda: "TLS" in login.error_text, "the refusal shown")
        assert login.error_text == (
            "Not sending a password to 192.0.2.1 without TLS: anyone on the way could read it. "
            "Connect with --tls, or confirm with --allow-plain-password."
        )
