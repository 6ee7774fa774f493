"""The sign-in form of ``parley tk``: remembered values, refusals shown in place, and retrying."""

from __future__ import annotations

import threading
import tkinter as tk

from app.client.config import ConfigStore
from app.client.state import ConnectionState
from app.server import Server
from frontends.tk.dialogs import fill
from tests.conftest import Connect, closed_port
from tests.tk.conftest import OpenApp, chat, connected, pump_until


async def test_form_signs_in_and_the_config_remembers(
    open_app: OpenApp, server: Server, root: tk.Tk
) -> None:
    """The form signs in with the nick and server typed, and the config file keeps both."""
    ConfigStore.default().remember(host="127.0.0.1", port=server.port, nick="zed", rooms=[])
    app = open_app(None, ask=True)
    assert app.login is not None
    assert app.login.nick_entry.get() == "zed"
    assert app.login.server_entry.get() == f"127.0.0.1:{server.port}"
    fill(app.login.nick_entry, "alice")
    app.login.connect_button.invoke()
    window = await connected(app)
    assert app.login is None
    assert window.identity_label.cget("text").startswith("alice")
    assert "#general" in root.title()
    remembered = ConfigStore.default().load()
    assert (remembered.nick, remembered.host, remembered.port) == (
        "alice",
        "127.0.0.1",
        server.port,
    )


async def test_taken_nick_is_shown_on_the_form_and_a_retry_works(
    open_app: OpenApp, connect: Connect
) -> None:
    """nick_taken appears on the form, the failed engine thread ends, and another nick gets in."""
    await connect("bob")
    app = open_app("bob", ask=True)
    assert app.login is not None
    app.login.connect_button.invoke()
    first = app.session
    assert first is not None
    await pump_until(
        app.root,
        lambda: app.login is not None and "already taken" in app.login.message.cget("text"),
        "nick_taken on the form",
    )
    assert app.window is None
    assert app.login.message.cget("text") == "bob is already taken."
    assert app.login.connect_button.instate(["!disabled"])
    await pump_until(app.root, lambda: not first.thread.is_alive(), "the refused engine to end")
    fill(app.login.nick_entry, "bobby")
    app.login.connect_button.invoke()
    window = await connected(app)
    assert window.snapshot is not None and window.snapshot.nick == "bobby"


async def test_bad_input_and_an_unreachable_server_are_refused_on_the_form(
    open_app: OpenApp,
) -> None:
    """A bad nick or port is refused before connecting; a dead server is reported, not retried."""
    app = open_app(None, ask=True)
    form = app.login
    assert form is not None
    fill(form.nick_entry, "9lives")
    form.submit()
    assert "starting with a letter" in form.message.cget("text")
    assert app.session is None
    fill(form.nick_entry, "alice")
    fill(form.server_entry, "localhost:http")
    form.submit()
    assert "port" in form.message.cget("text")
    assert app.session is None
    fill(form.server_entry, f"127.0.0.1:{closed_port()}")
    form.submit()
    await pump_until(
        app.root,
        lambda: "cannot connect" in form.message.cget("text").lower(),
        "the refused connection on the form",
    )
    assert app.session is None and app.window is None


async def test_a_taken_nick_from_the_command_line_falls_back_to_the_form(
    open_app: OpenApp, connect: Connect
) -> None:
    """``parley tk --nick bob`` while bob is online shows the form with the reason."""
    await connect("bob")
    app = open_app("bob")
    assert app.window is not None  # straight to the chat window while connecting
    await pump_until(
        app.root,
        lambda: app.login is not None and "already taken" in app.login.message.cget("text"),
        "the form with nick_taken",
    )
    assert app.window is None
    fill(app.login.nick_entry, "robert")
    app.login.submit()
    window = await connected(app)
    assert window.status is not None and window.status.state is ConnectionState.CONNECTED
    assert chat(app) is window


async def test_connect_menu_signs_out_and_in_again(open_app: OpenApp, root: tk.Tk) -> None:
    """Parley > Connect… ends the current engine thread and signs in anew from the form."""
    app = open_app("alice")
    window = await connected(app)
    first = app.session
    assert first is not None
    window.menus["Parley"].invoke("Connect…")
    form = app.login
    assert form is not None and app.window is None
    assert form.nick_entry.get() == "alice"
    await pump_until(root, lambda: not first.thread.is_alive(), "the old engine to end")
    fill(form.nick_entry, "alice2")
    form.connect_button.invoke()
    window = await connected(app)
    assert window.snapshot is not None and window.snapshot.nick == "alice2"
    assert app.session is not None
    engines = [t for t in threading.enumerate() if t.name.startswith("parley-engine")]
    assert engines == [app.session.thread]
