"""Search in the Tk window on Xvfb, against a real server: Ctrl+F opens the search dialog, its
words and room go to the server, the hits are listed, a double-click on one shows it among its
neighbours and makes its room active, and More results fetches the next page."""

from __future__ import annotations

import tkinter as tk

from tests.conftest import Connect
from tests.tk.conftest import OpenApp, connected, pump_until, type_line


async def test_ctrl_f_searches_and_a_double_click_shows_the_hit_in_context(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """The dialog offers our rooms; a search in one lists its hits; a double-click on a hit
    shows it, in bold, among the messages around it and makes its room the one shown."""
    bob = await connect("bob")
    await bob.join("#ops")
    for text in ("before the fix", "the deploy broke", "after the fix"):
        await bob.send(type="say", room="#ops", text=text)
    await bob.barrier()
    await bob.join("#general")
    await bob.send(type="say", room="#general", text="deploy here too")
    await bob.barrier()
    window = await connected(open_app("alice"))
    type_line(window, "/join #ops")
    await pump_until(root, lambda: window.view.key == "#ops", "#ops shown")
    window.select("#general")
    await pump_until(root, lambda: window.view.key == "#general", "#general shown")

    window.root.focus_force()
    window.root.event_generate("<Control-f>")
    await pump_until(root, lambda: window.search_dialog is not None, "the search dialog")
    dialog = window.search_dialog
    assert dialog is not None
    assert list(dialog.where.cget("values")) == ["All my rooms", "#general", "#ops"]
    dialog.entry.insert(0, "deploy")
    dialog.where.set("#ops")
    dialog.search_button.invoke()
    await pump_until(root, lambda: dialog.hits.size() == 1, "one hit in #ops")
    assert dialog.hits.get(0).endswith("<bob> the deploy broke")
    assert dialog.summary.cget("text") == "Search for 'deploy' in #ops: 1 message."

    root.update()  # drawn, so that the row has a place to click on
    x, y, _, height = dialog.hits.bbox(0)
    for _ in range(2):  # a double-click is two presses at one place in quick succession
        dialog.hits.event_generate("<ButtonPress-1>", x=x + 5, y=y + height // 2)
        dialog.hits.event_generate("<ButtonRelease-1>", x=x + 5, y=y + height // 2)
    await pump_until(
        root, lambda: "after the fix" in dialog.context_text(), "the hit among its neighbours"
    )
    shown = dialog.context_text().splitlines()
    assert shown[0] == "In #ops:" and "before the fix" in shown[1] and "the deploy" in shown[2]
    start = dialog.context.search("the deploy broke", "1.0")
    assert "hit" in dialog.context.tag_names(start)
    await pump_until(root, lambda: window.view.key == "#ops", "#ops shown again")


async def test_more_results_fetches_the_next_page(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """A typed /search opens the dialog with the first page; More results adds the rest and is
    then disabled."""
    bob = await connect("bob")
    await bob.join("#general")
    for n in range(55):
        await bob.send(type="say", room="#general", text=f"ticket {n}")
    await bob.barrier()
    window = await connected(open_app("alice"))
    type_line(window, "/search ticket")
    await pump_until(
        root,
        lambda: window.search_dialog is not None and window.search_dialog.hits.size() == 50,
        "the first page",
    )
    dialog = window.search_dialog
    assert dialog is not None and dialog.more_button.instate(["!disabled"])
    dialog.more_button.invoke()
    await pump_until(root, lambda: dialog.hits.size() == 55, "the second page")
    assert dialog.more_button.instate(["disabled"])
    assert dialog.hits.get(54).endswith("<bob> ticket 0")
