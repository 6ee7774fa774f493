"""The window's dialogs and the keyboard: Escape closes, Return presses, and the window's shortcuts
still work while a dialog has the focus."""

from __future__ import annotations

import tkinter as tk

from frontends.tk.dialogs import CommandsHelp, Prompt, fill
from frontends.tk.window import ChatWindow
from tests.conftest import Connect
from tests.tk.conftest import OpenApp, connected, frame_of, press, pump_until


def prompt_of(window: ChatWindow) -> Prompt:
    assert isinstance(window.prompt, Prompt) and window.prompt.winfo_exists(), "no prompt open"
    return window.prompt


async def test_ctrl_q_in_a_dialog_quits(open_app: OpenApp, root: tk.Tk) -> None:
    """With the Join prompt open and typing in it, Ctrl+Q still quits the app."""
    app = open_app("alice")
    window = await connected(app)
    window.menus["Room"].invoke("Join…")
    prompt = prompt_of(window)
    await press(root, prompt.entry, "<Control-q>")
    await pump_until(root, lambda: app.finished, "the app to close")


async def test_escape_closes_and_return_presses_the_focused_button(
    open_app: OpenApp, root: tk.Tk
) -> None:
    """Escape closes the Join prompt with nothing sent; Return on its entry joins; Return with
    the focus on Cancel cancels."""
    window = await connected(open_app("alice"))

    window.menus["Room"].invoke("Join…")
    prompt = prompt_of(window)
    fill(prompt.entry, "#escaped")
    await press(root, prompt.entry, "<Escape>")
    assert not prompt.winfo_exists()

    window.menus["Room"].invoke("Join…")
    prompt = prompt_of(window)
    fill(prompt.entry, "#cancelled")
    await press(root, prompt.cancel_button, "<Return>")
    assert not prompt.winfo_exists()

    window.menus["Room"].invoke("Join…")
    prompt = prompt_of(window)
    fill(prompt.entry, "#entered")
    await press(root, prompt.entry, "<Return>")
    assert not prompt.winfo_exists()
    await pump_until(root, lambda: window.view.key == "#entered", "#entered joined and shown")
    assert window.snapshot is not None
    rooms = {view.key for view in window.snapshot.conversations}
    assert "#escaped" not in rooms and "#cancelled" not in rooms


async def test_switching_from_a_prompt_closes_it_and_text_size_leaves_it(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """In the topic prompt Ctrl+N closes it (no topic set) and switches conversation; Ctrl++
    makes the text larger and leaves the prompt open."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    window.entry.set_value("/join #second")
    window.entry.event_generate("<Return>")
    await pump_until(root, lambda: window.view.key == "#second", "#second shown")

    window.menus["Room"].invoke("Set topic…")
    prompt = prompt_of(window)
    size = window.view.text_size
    await press(root, prompt.entry, "<Control-plus>")
    assert window.view.text_size == size + 1
    assert prompt.winfo_exists()
    fill(prompt.entry, "never set")
    await press(root, prompt.entry, "<Control-n>")
    assert not prompt.winfo_exists()
    await pump_until(root, lambda: window.view.key == "#general", "back in #general")
    await pump_until(root, lambda: root.focus_get() is window.entry, "the input has the keyboard")
    await bob.send(type="topic", room="#general", topic="bob's")
    await frame_of(bob, "topic", topic="bob's")
    assert window.snapshot is not None
    assert all(view.topic != "never set" for view in window.snapshot.conversations)


async def test_the_help_stays_open_while_its_shortcuts_are_tried(
    open_app: OpenApp, root: tk.Tk
) -> None:
    """F1's help is a reference: Ctrl+J from it opens the Join prompt and the help stays; Return
    in the help closes it."""
    window = await connected(open_app("alice"))
    await press(root, window.entry, "<F1>")
    help_window = window.help
    assert isinstance(help_window, CommandsHelp)
    await press(root, help_window.text, "<Control-j>")
    assert help_window.winfo_exists()
    assert prompt_of(window).title() == "Join a room"
    await press(root, prompt_of(window).entry, "<Escape>")
    await press(root, help_window.close_button, "<Return>")
    assert not help_window.winfo_exists()
