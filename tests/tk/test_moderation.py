"""Moderation in the Tk window against a real server, on Xvfb: role marks in the member list,
a right-click member menu that offers only the actions allowed, a kick line, and deleting a
message from its right-click menu."""

from __future__ import annotations

import tkinter as tk

from frontends.tk.menus import labels
from frontends.tk.window import ChatWindow
from tests.conftest import Connect, owner_of
from tests.tk.conftest import OpenApp, connected, frame_of, pump_until, rows, type_line


def right_click_member(window: ChatWindow, nick: str) -> list[str]:
    """Right-click ``nick`` in the member list; the labels of the menu that opens."""
    tree = window.members.tree
    x, y, _, _ = tree.bbox(f"m:{nick}")
    tree.event_generate("<Button-3>", x=x + 5, y=y + 5)
    menu = window.context_menus.posted
    assert menu is not None, "no menu opened"
    return labels(menu)


def choose(window: ChatWindow, label: str) -> None:
    """Invoke ``label`` in the menu that is open, and close it."""
    menu = window.context_menus.posted
    assert menu is not None
    menu.invoke(label)  # a menu index may be an entry's label
    menu.unpost()


async def join_dev(window: ChatWindow, root: tk.Tk) -> None:
    type_line(window, "/join #dev")
    await pump_until(root, lambda: window.view.key == "#dev", "#dev shown")


async def test_member_roles_show_with_marks_and_the_menu_offers_only_what_is_allowed(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """The owner is listed first as ~olga; as a member alice's menu on bob only offers a
    message; made an op, it also offers kick, ban and mute for bob, but nothing against the
    owner; a kick from the menu reads "You kicked bob" and bob gets ``kicked``."""
    olga = await owner_of(connect, "#dev")
    window = await connected(open_app("alice"))
    type_line(window, "/register correct-horse")
    await pump_until(root, lambda: "is your account" in window.view.visible_text(), "registered")
    await join_dev(window, root)
    bob = await connect("bob")
    await bob.join("#dev")
    await pump_until(root, lambda: "bob" in window.members.nicks(), "bob listed")
    assert window.members.nicks() == ["~olga", "alice", "bob"]
    assert right_click_member(window, "bob") == ["Message"]
    window.context_menus.posted.unpost()  # type: ignore[union-attr]

    await olga.send(type="op", room="#dev", nick="alice")
    await pump_until(root, lambda: "@alice" in window.members.nicks(), "alice an op")
    assert window.members.nicks() == ["~olga", "@alice", "bob"]
    assert "olga made you an op" in window.view.visible_text()
    assert right_click_member(window, "olga") == ["Message"]
    window.context_menus.posted.unpost()  # type: ignore[union-attr]
    assert right_click_member(window, "bob") == ["Message", "Kick", "Ban", "Mute for 10 minutes"]
    choose(window, "Kick")
    kicked = await frame_of(bob, "kicked", room="#dev")
    assert kicked["by"] == "alice"
    await pump_until(root, lambda: "You kicked bob" in window.view.visible_text(), "kick line")
    assert "bob" not in window.members.nicks()


async def test_a_message_menu_deletes_it(open_app: OpenApp, connect: Connect, root: tk.Tk) -> None:
    """Right-clicking our own message offers Delete; choosing it turns the line into "(message
    deleted by you)" in grey italics, and a line of another's offers nothing to a member."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await bob.send(type="say", room="#general", text="bob was here")
    type_line(window, "take this back")
    await pump_until(
        root,
        lambda: any(
            line.own and line.id is not None for line in window.scrollbacks.lines("#general")
        ),
        "alice's line stored",
    )
    await pump_until(root, lambda: "bob was here" in window.view.visible_text(), "bob's line")
    text = window.view.text

    def right_click_row(needle: str) -> None:
        number = next(i for i, row in enumerate(rows(window), 1) if needle in row)
        window.view.text.see(f"{number}.0")
        root.update()
        x, y, _, _ = text.bbox(f"{number}.0")
        window.context_menus.posted = None
        text.event_generate("<Button-3>", x=x + 2, y=y + 2)

    right_click_row("bob was here")
    assert window.context_menus.posted is None
    right_click_row("take this back")
    menu = window.context_menus.posted
    assert menu is not None and labels(menu) == ["Delete"]
    choose(window, "Delete")
    await pump_until(
        root, lambda: "(message deleted by you)" in window.view.visible_text(), "deleted"
    )
    assert "take this back" not in window.view.visible_text()
    number = next(i for i, row in enumerate(rows(window), 1) if "message deleted" in row)
    assert "deleted" in text.tag_names(f"{number}.end-2c")
