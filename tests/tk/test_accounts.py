"""Signing in to an account from the Tk form, on a real server and a virtual display.

The account is registered first by a raw client, which then leaves. The form's masked password
goes to the engine: a wrong one is shown on the form as the server's sentence, the user fixes it
and gets in without restarting, and the config file never holds the password.
"""

from __future__ import annotations

import tkinter as tk

from app.client.config import ConfigStore
from frontends.tk.dialogs import fill
from tests.conftest import Connect
from tests.tk.conftest import OpenApp, connected, pump_until

PASSWORD = "correct horse"


async def test_form_signs_in_with_a_password_after_a_wrong_one(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """A wrong password is shown on the form and focuses the password; the right one signs in,
    and client.json has no password."""
    owner = await connect("alice")
    await owner.send(type="register", password=PASSWORD)
    await owner.expect("account", nick="alice")
    await owner.close()

    app = open_app("alice", ask=True)
    login = app.login
    assert login is not None
    assert login.password_entry.cget("show") == "•"
    fill(login.password_entry, "wrong horse")
    login.connect_button.invoke()
    await pump_until(
        root,
        lambda: "Wrong" in login.message.cget("text"),
        "bad_password on the form",
    )
    assert login.message.cget("text") == "Wrong nick or password."
    assert login.connect_button.instate(["!disabled"])
    assert app.window is None
    root.update()
    assert root.focus_get() is login.password_entry

    fill(login.password_entry, PASSWORD)
    login.password_entry.event_generate("<Return>")
    window = await connected(app)
    assert window.identity_label.cget("text").startswith("alice")
    saved = ConfigStore.default().path.read_text()
    assert '"alice"' in saved
    assert PASSWORD not in saved and "password" not in saved
