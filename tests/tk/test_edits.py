"""Editing in the Tk window against a real server: Up in the empty entry takes our last message
into edit mode, Return saves it for everyone, Escape leaves it, and edited lines read
"(edited)"."""

from __future__ import annotations

import tkinter as tk

from frontends.tk.window import ChatWindow
from tests.conftest import Connect
from tests.tk.conftest import OpenApp, connected, frame_of, pump_until, row_tags, type_line


def stored(window: ChatWindow, text: str) -> bool:
    """Whether the window's mirror holds ``text`` as our message the server stored."""
    active = window.snapshot.active if window.snapshot is not None else None
    lines = window.scrollbacks.lines(active) if active else ()
    return any(line.own and line.text == text and line.id is not None for line in lines)


async def test_up_in_the_empty_entry_edits_our_last_line(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Up puts our last message in the entry with a hint above it; Return sends the edit, which
    bob gets, and the line shows its new text and "(edited)"; the entry is back to normal."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    type_line(window, "meet at noon")
    await pump_until(root, lambda: stored(window, "meet at noon"), "the message stored")
    type_line(window, "/who")
    entry = window.entry
    entry.focus_force()
    entry.event_generate("<Up>")
    assert entry.editing is not None and entry.value == "meet at noon"
    root.update()
    assert window.edit_hint.winfo_ismapped()
    entry.set_value("meet at one")
    entry.event_generate("<Return>")
    assert entry.editing is None and entry.value == ""
    root.update()
    assert not window.edit_hint.winfo_ismapped()
    edited = await frame_of(bob, "edited", text="meet at one")
    assert edited["by"] == "alice"
    await pump_until(
        root, lambda: "meet at one  (edited)" in window.view.visible_text(), "the edited line"
    )
    assert "meet at noon" not in window.view.visible_text()
    assert "edited" in row_tags(window, "meet at one")


async def test_escape_cancels_and_up_walks_the_history_without_a_message(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """With no message of ours Up walks the history; in edit mode Escape empties the entry and
    sends nothing, and a line another member edits shows its new text in place."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    entry = window.entry
    type_line(window, "/who")
    entry.focus_force()
    entry.event_generate("<Up>")
    assert entry.editing is None and entry.value == "/who"
    entry.event_generate("<Down>")
    entry.set_value("")
    type_line(window, "draft")
    await pump_until(root, lambda: stored(window, "draft"), "the message stored")
    entry.event_generate("<Up>")
    assert entry.editing is not None
    entry.event_generate("<Escape>")
    assert entry.editing is None and entry.value == ""
    # Our frames take effect in order: an edit sent at Escape would reach bob before "after".
    type_line(window, "after")
    seen = []
    while not seen or seen[-1].get("text") != "after":
        seen.append(await bob.recv())
    assert [f["type"] for f in seen if f["type"] == "edited"] == []

    await bob.barrier()
    await bob.send(type="say", room="#general", text="teh end", ref=1)
    said = await bob.expect("message", ref=1)
    await bob.send(type="edit", id=said["id"], text="the end", ref=2)
    await bob.expect("edited", ref=2)
    await pump_until(
        root, lambda: "<bob> the end  (edited)" in window.view.visible_text(), "bob's edit"
    )
