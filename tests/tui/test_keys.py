"""SSH keys in the terminal UI, on a real server: /keys in the ordinary TUI, and the login of a
gateway's visitor whose key is vouched for (the identity ``parley ssh`` hands its ``parley tui``).

The visitor's tests build the identity as the gateway would (``key_token`` of the secret the
server was started with); tests/ssh/test_keys.py does the same through a real gateway.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

from textual.widgets import Input, Switch

from app.client.accounts import SSHIdentity
from app.protocol.keys import fingerprint_of, key_token
from tests.conftest import Connect, StartServer
from tests.tui.conftest import MakeApp, eventually, rows_with, submit, until_in_room
from tests.tui.test_accounts import PASSWORD, register

SECRET = b"the gateway's and server's secret"


def new_key_line() -> tuple[str, str]:
    """An ed25519 public key line and its fingerprint."""
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} me@desk", fingerprint_of(blob)


def identity(name: str) -> SSHIdentity:
    fingerprint = fingerprint_of(name.encode())
    return SSHIdentity(fingerprint, key_token(SECRET, fingerprint))


async def test_keys_are_listed_added_and_removed_in_the_tui(
    make_app: MakeApp, connect: Connect
) -> None:
    """A password account types /keys (none yet), /keys add with a .pub line (listed with its
    comment), and /keys remove with its fingerprint (none again)."""
    await register(connect, "alice")
    app = make_app(nick="alice", password=PASSWORD)
    line, fingerprint = new_key_line()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/keys")
        await eventually(pilot, lambda: bool(rows_with(app, "no SSH keys")), "no keys listed")
        await submit(pilot, f"/keys add {line}")
        await eventually(pilot, lambda: bool(rows_with(app, fingerprint)), "the key listed")
        assert "ssh-ed25519 me@desk" in rows_with(app, fingerprint)[0]
        await submit(pilot, f"/keys remove {fingerprint}")
        await eventually(pilot, lambda: len(rows_with(app, "no SSH keys")) == 2, "removed")


async def test_a_visitor_pins_a_nick_and_signs_straight_in_next_time(
    make_app: MakeApp, start_server: StartServer, tmp_path: Path
) -> None:
    """A new key gets the login screen with the pin switch on; the nick typed is pinned; the
    next app with that key skips the login screen and is in as that nick."""
    keyed = await start_server(gateway_secret=SECRET, db=str(tmp_path / "keys.db"))
    visitor = identity("ann's key")
    app = make_app(nick=None, port=keyed.port, server_fixed=True, ssh_key=visitor)
    async with app.run_test() as pilot:
        await eventually(
            pilot,
            lambda: app.login is not None and bool(app.login.query("#login-nick")),
            "the login screen",
        )
        login = app.login
        assert login is not None
        assert login.query_one("#login-pin", Switch).value is True
        login.query_one("#login-nick", Input).value = "ann"
        login.query_one("#login-nick", Input).focus()
        await pilot.press("enter")
        await until_in_room(pilot)

    again = make_app(nick=None, port=keyed.port, server_fixed=True, ssh_key=visitor)
    async with again.run_test() as pilot:
        await until_in_room(pilot)
        assert again.snapshot is not None and again.snapshot.nick == "ann"
        assert again.login is None


async def test_another_key_for_a_pinned_nick_is_told_so(
    make_app: MakeApp, start_server: StartServer, tmp_path: Path
) -> None:
    """A second key asking for a nick pinned to the first is refused on the login screen in a
    sentence saying the nick is pinned to another key; it can take another nick."""
    keyed = await start_server(gateway_secret=SECRET, db=str(tmp_path / "keys.db"))
    first = make_app(nick=None, port=keyed.port, server_fixed=True, ssh_key=identity("one"))
    async with first.run_test() as pilot:
        await eventually(
            pilot,
            lambda: first.login is not None and bool(first.login.query("#login-nick")),
            "the login screen",
        )
        assert first.login is not None
        first.login.query_one("#login-nick", Input).value = "ann"
        await pilot.press("enter")
        await until_in_room(pilot)

    other = make_app(nick=None, port=keyed.port, server_fixed=True, ssh_key=identity("two"))
    async with other.run_test() as pilot:
        await eventually(
            pilot,
            lambda: other.login is not None and bool(other.login.query("#login-nick")),
            "the login screen",
        )
        login = other.login
        assert login is not None
        login.query_one("#login-nick", Input).value = "ann"
        await pilot.press("enter")
        await eventually(pilot, lambda: "another SSH key" in login.error_text, "the refusal")
        assert login.error_text == "ann is pinned to another SSH key: connect with that key."
        login.query_one("#login-nick", Input).value = "bea"
        login.query_one("#login-nick", Input).focus()
        await pilot.press("enter")
        await until_in_room(pilot)
