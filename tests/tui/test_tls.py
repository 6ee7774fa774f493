"""The login screen's TLS switch, on a real server with a trustme certificate (Pilot)."""

from __future__ import annotations

from pathlib import Path

import trustme
from textual.widgets import Input, Switch

from app.client.config import ConfigStore
from app.server import Server
from frontends.tui.app import ParleyApp
from tests.certs import Pems, issue
from tests.client.conftest import FAST
from tests.conftest import StartServer
from tests.tui.conftest import eventually, until_in_room


async def tls_server(start_server: StartServer, pems: Pems) -> Server:
    return await start_server(tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0)


def login_app(server: Server, config_dir: Path, ca: Path) -> ParleyApp:
    return ParleyApp(
        host="127.0.0.1",
        port=server.tls_port,
        ca=str(ca),
        store=ConfigStore(config_dir / "client.json"),
        timings=FAST,
    )


async def test_the_tls_switch_chooses_the_transport_and_is_remembered(
    start_server: StartServer, tmp_path: Path, config_dir: Path
) -> None:
    """Switched off, the TLS port says to use TLS; switched on, we get in and it is remembered."""
    pems = issue(trustme.CA(), tmp_path / "tls")
    server = await tls_server(start_server, pems)
    app = login_app(server, config_dir, pems.ca)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        switch = login.query_one("#login-tls", Switch)
        assert switch.value  # --ca implies TLS
        login.query_one("#login-nick", Input).value = "alice"
        await pilot.click("#login-tls")
        assert not login.tls
        login.query_one("#login-server", Input).focus()
        await pilot.press("enter")
        await eventually(pilot, lambda: "TLS port" in login.error_text, "the plain refusal")
        assert login.error_text == "This is a TLS port: connect with TLS (--tls)."
        await pilot.click("#login-tls")
        login.query_one("#login-server", Input).focus()
        await pilot.press("enter")
        await until_in_room(pilot)
    remembered = ConfigStore(config_dir / "client.json").load()
    assert (remembered.port, remembered.tls, remembered.ca) == (server.tls_port, True, str(pems.ca))


async def test_an_untrusted_certificate_is_shown_on_the_login_screen(
    start_server: StartServer, tmp_path: Path, config_dir: Path
) -> None:
    """A certificate the CA did not sign: the login screen says whose and why, and waits."""
    server = await tls_server(start_server, issue(trustme.CA(), tmp_path / "tls"))
    stranger = issue(trustme.CA(), tmp_path / "stranger")
    app = login_app(server, config_dir, stranger.ca)
    async with app.run_test() as pilot:
        login = app.login
        assert login is not None
        login.query_one("#login-nick", Input).value = "alice"
        login.query_one("#login-server", Input).focus()
        await pilot.press("enter")
        await eventually(pilot, lambda: "not trusted" in login.error_text, "the refusal")
        assert login.error_text.startswith("the certificate of 127.0.0.1 is not trusted: ")
        assert app.engine is None
