"""Pasting several lines into the Tk window: asked once, then one message per line, in order."""

from __future__ import annotations

import tkinter as tk

from frontends.tk.dialogs import PasteDialog
from tests.conftest import Connect, message_texts
from tests.tk.conftest import OpenApp, connected, pump_until


def paste(root: tk.Tk, entry: tk.Misc, text: str) -> None:
    """Put ``text`` on the clipboard and paste it into ``entry`` as Ctrl+V would."""
    root.clipboard_clear()
    root.clipboard_append(text)
    entry.focus_force()
    entry.event_generate("<<Paste>>")


async def test_a_multi_line_paste_asks_then_sends_each_line(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Three pasted lines are not squeezed into the entry: one question, then three messages;
    a one-line paste goes into the entry as usual."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    paste(root, window.entry, "one\ntwo\nthree\n")
    await pump_until(root, lambda: isinstance(window.prompt, PasteDialog), "the question")
    dialog = window.prompt
    assert isinstance(dialog, PasteDialog)
    assert window.entry.value == ""
    dialog.send_button.invoke()
    assert await message_texts(bob, 3) == ["one", "two", "three"]
    paste(root, window.entry, "just one line")
    await pump_until(root, lambda: window.entry.value == "just one line", "inserted")


async def test_a_large_paste_defaults_to_cancel(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Fifty lines: the question's default (Enter) is Cancel and nothing is sent."""
    window = await connected(open_app("alice"))
    paste(root, window.entry, "\n".join(f"line {n}" for n in range(50)))
    await pump_until(root, lambda: isinstance(window.prompt, PasteDialog), "the question")
    dialog = window.prompt
    assert isinstance(dialog, PasteDialog)
    assert str(dialog.cancel_button.cget("default")) == "active"
    dialog.cancel_button.focus_force()
    root.update()
    dialog.cancel_button.event_generate("<Return>")
    await pump_until(root, lambda: not dialog.winfo_exists(), "cancelled")
    assert window.snapshot is not None and window.snapshot.outbox == 0
    assert not any(line.own for line in window.scrollbacks.lines("#general"))
