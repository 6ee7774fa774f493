"""Quitting the Tk window: at once with nothing waiting, after one question when lines typed are
not sent yet (Ctrl+Q, the window's close button, /quit)."""

from __future__ import annotations

import tkinter as tk

from app.server import Server
from frontends.tk.app import TkApp
from frontends.tk.dialogs import QuitDialog
from frontends.tk.window import ChatWindow
from tests.tk.conftest import OpenApp, connected, press, pump_until, type_line


def question(window: ChatWindow) -> QuitDialog:
    assert isinstance(window.prompt, QuitDialog) and window.prompt.winfo_exists(), "not asked"
    return window.prompt


async def two_lines_waiting(app: TkApp, server: Server, root: tk.Tk) -> ChatWindow:
    """The server gone and two lines typed meanwhile: the outbox holds them."""
    window = await connected(app)
    await server.stop()
    await pump_until(root, lambda: "Disconnected" in window.status_text(), "disconnected")
    type_line(window, "first")
    type_line(window, "second")
    await pump_until(root, lambda: "2 waiting to send" in window.status_text(), "two waiting")
    return window


async def test_with_nothing_waiting_ctrl_q_quits_at_once(open_app: OpenApp, root: tk.Tk) -> None:
    """An empty outbox: Ctrl+Q quits with no question."""
    app = open_app("alice")
    window = await connected(app)
    await press(root, window.entry, "<Control-q>")
    assert window.prompt is None
    await pump_until(root, lambda: app.finished, "the app to close")


async def test_ctrl_q_with_lines_waiting_asks_and_a_second_ctrl_q_quits(
    open_app: OpenApp, server: Server, root: tk.Tk
) -> None:
    """Two lines not sent: Ctrl+Q asks "2 lines not sent yet. Quit anyway?"; Escape and Return
    (Cancel is the default) keep the app; the close button asks again; Ctrl+Q there quits."""
    app = open_app("alice")
    window = await two_lines_waiting(app, server, root)

    await press(root, window.entry, "<Control-q>")
    dialog = question(window)
    assert dialog.question == "2 lines not sent yet. Quit anyway?"
    await press(root, dialog, "<Escape>")
    assert not dialog.winfo_exists() and not app.closed

    window.menus["Parley"].invoke("Quit")
    dialog = question(window)
    await press(root, dialog.cancel_button, "<Return>")
    assert not dialog.winfo_exists() and not app.closed
    await pump_until(root, lambda: "2 waiting to send" in window.status_text(), "still waiting")

    app.close_asked()  # what the window manager's close button calls
    dialog = question(window)
    await press(root, dialog.cancel_button, "<Control-q>")
    await pump_until(root, lambda: app.finished, "the app to close")


async def test_slash_quit_with_lines_waiting_asks_first(
    open_app: OpenApp, server: Server, root: tk.Tk
) -> None:
    """/quit with lines waiting asks; "Quit anyway" quits."""
    app = open_app("alice")
    window = await two_lines_waiting(app, server, root)
    type_line(window, "/quit see you")
    dialog = question(window)
    assert not app.closed
    dialog.quit_button.invoke()
    await pump_until(root, lambda: app.finished, "the app to close")
