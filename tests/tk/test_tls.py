"""The sign-in form's TLS box, on a real server with a trustme certificate (Tk on Xvfb)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from app.client.config import ConfigStore
from frontends.tk.app import TkApp
from frontends.tk.dialogs import fill
from tests.certs import issue
from tests.client.conftest import FAST
from tests.conftest import StartServer
from tests.tk.conftest import connected, pump_until


@pytest.fixture
async def apps() -> AsyncIterator[list[TkApp]]:
    """The apps a test opens; each is closed and its threads joined at the end."""
    opened: list[TkApp] = []
    yield opened
    for app in opened:
        app.close()
        await pump_until(app.root, lambda app=app: app.finished, "the app to close")  # type: ignore[misc]


async def test_the_tls_box_chooses_the_transport_and_is_remembered(
    start_server: StartServer, root: tk.Tk, config_dir: Path, tmp_path: Path, apps: list[TkApp]
) -> None:
    """Unticked, the TLS port's refusal shows on the form; ticked, we get in; it is remembered."""
    pems = issue(trustme.CA(), tmp_path / "tls")
    server = await start_server(tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0)
    app = TkApp(
        root,
        host="127.0.0.1",
        port=server.tls_port,
        ca=str(pems.ca),
        store=ConfigStore.default(),
        timings=FAST,
    )
    apps.append(app)
    app.start(ask=True)
    form = app.login
    assert form is not None and form.tls  # --ca implies TLS
    fill(form.nick_entry, "alice")
    form.tls_check.invoke()
    assert not form.tls
    form.connect_button.invoke()
    await pump_until(
        root, lambda: "TLS port" in form.message.cget("text"), "the plain refusal on the form"
    )
    assert form.message.cget("text") == "This is a TLS port: connect with TLS (--tls)."
    form.tls_check.invoke()
    form.connect_button.invoke()
    await connected(app)
    remembered = ConfigStore.default().load()
    assert (remembered.port, remembered.tls, remembered.ca) == (server.tls_port, True, str(pems.ca))
