"""The "n new below" button: shown while scrolled back, counting what arrives out of sight."""

from __future__ import annotations

import tkinter as tk

from frontends.tk.newbelow import describe
from frontends.tk.window import ChatWindow
from tests.conftest import Connect, WireClient
from tests.tk.conftest import OpenApp, connected, pump_until, rows, type_line


async def scrolled_back(window: ChatWindow, root: tk.Tk) -> None:
    """Scroll the view a little up from the bottom, as a reader would, and wait until it is."""
    window.view.text.yview_moveto(0.2)
    await pump_until(root, lambda: not window.view.at_bottom(), "the view scrolled back")
    await pump_until(root, lambda: window.new_below.shown, "the button to show")


async def say(bob: WireClient, *texts: str) -> None:
    for text in texts:
        await bob.send(type="say", room="#general", text=text)
    await bob.barrier()


async def test_lines_arriving_while_scrolled_back_are_counted_and_a_click_shows_them(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Scrolled back, three new lines show "3 new below ↓"; clicking it jumps to the bottom,
    where the button is gone and the newest line is in view."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await say(bob, *(f"filler {n:02}" for n in range(60)))
    await pump_until(root, lambda: "filler 59" in window.view.visible_text(), "the filler")
    await pump_until(root, window.view.at_bottom, "the view following the filler")
    assert not window.new_below.shown

    await scrolled_back(window, root)
    assert window.new_below.cget("text") == "scrolled back ↓"
    top = window.view.text.index("@0,0")
    await say(bob, "one", "two", "three")
    await pump_until(
        root,
        lambda: window.new_below.cget("text") == "3 new below ↓",
        f"the count of three, not {window.new_below.count} {window.view.text.yview()}",
    )
    assert window.view.text.index("@0,0") == top  # the reader's place is kept
    assert not window.view.at_bottom()

    window.new_below.invoke()
    await pump_until(root, window.view.at_bottom, "the view at the bottom")
    assert not window.new_below.shown
    assert window.new_below.count == 0
    assert rows(window)[-1].endswith("three")
    await say(bob, "four")
    await pump_until(root, lambda: rows(window)[-1].endswith("four"), "the next line")
    assert not window.new_below.shown  # at the bottom, new lines scroll into view


async def test_end_keys_and_scrolling_down_clear_the_count(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Ctrl+End and End jump to the bottom and clear the count; so does scrolling down by hand;
    only chat lines count, and our own line sent while scrolled back brings the view down."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await say(bob, *(f"filler {n:02}" for n in range(60)))
    await pump_until(root, lambda: "filler 59" in window.view.visible_text(), "the filler")

    for key in ("<Control-End>", "<End>"):
        await scrolled_back(window, root)
        await say(bob, f"before {key}")
        carol = await connect(f"carol{len(key)}")
        await carol.join("#general")  # a join notice is no chat line: not counted
        await pump_until(
            root, lambda: window.new_below.cget("text") == describe(1), "the count of one"
        )
        window.entry.focus_force()
        window.entry.event_generate(key)
        await pump_until(root, window.view.at_bottom, f"{key} to reach the bottom")
        assert not window.new_below.shown and window.new_below.count == 0

    await scrolled_back(window, root)
    await say(bob, "below")
    await pump_until(root, lambda: window.new_below.count == 1, "the count of one")
    window.view.text.yview_moveto(1.0)
    await pump_until(root, lambda: not window.new_below.shown, "the button gone at the bottom")
    assert window.new_below.count == 0

    await scrolled_back(window, root)
    type_line(window, "my own line")
    await pump_until(root, lambda: rows(window)[-1].endswith("my own line"), "our line shown")
    await pump_until(root, window.view.at_bottom, "the view at the bottom")
    assert not window.new_below.shown


def test_the_words_match_the_terminal_status_line() -> None:
    """The button says what the TUI's status line says: "n new below", or "scrolled back"."""
    assert describe(0) == "scrolled back ↓"
    assert describe(3) == "3 new below ↓"
