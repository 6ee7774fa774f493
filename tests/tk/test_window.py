"""The chat window against a real server: talking, rooms, unread counts, commands, reconnecting."""

from __future__ import annotations

import tkinter as tk

from app.server import Server
from frontends.tk.dialogs import fill
from tests.client.conftest import one_event_of_each_kind
from tests.conftest import Connect, StartServer
from tests.tk.conftest import (
    OpenApp,
    connected,
    frame_of,
    pump_until,
    pump_without_server,
    row_tags,
    rows,
    type_line,
)


async def test_a_sent_line_is_pending_until_the_echo_and_replies_arrive(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Enter sends; the line is grey until the server confirms it; bob's reply shows up."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await pump_until(root, lambda: "bob" in window.members.nicks(), "bob in the member list")

    type_line(window, "hello bob")
    assert window.entry.value == ""
    # With the server starved, the line can only be waiting for its echo.
    pump_without_server(
        root, lambda: "<alice> hello bob" in window.view.visible_text(), "the pending line"
    )
    assert "pending" in row_tags(window, "hello bob")
    sent = await frame_of(bob, "message", text="hello bob")
    assert sent["from"] == "alice" and sent["room"] == "#general"
    await pump_until(
        root, lambda: "pending" not in row_tags(window, "hello bob"), "the echo to confirm it"
    )
    assert {"own-nick"} <= row_tags(window, "hello bob")

    await bob.send(type="say", room="#general", text="alice: welcome aboard")
    await bob.send(type="say", room="#general", text="plain chatter")
    await pump_until(
        root, lambda: "<bob> plain chatter" in window.view.visible_text(), "bob's lines"
    )
    assert "mention" in row_tags(window, "welcome aboard")
    assert "mention" not in row_tags(window, "plain chatter")
    bob_colour = {tag for tag in row_tags(window, "plain chatter") if tag.startswith("nick")}
    assert bob_colour and bob_colour <= row_tags(window, "welcome aboard")


async def test_unread_counts_mentions_and_switching_rooms(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Lines in another room count as unread (mentions marked) until the user switches there."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))

    window.menus["Room"].invoke("Join…")
    assert window.prompt is not None
    fill(window.prompt.entry, "#random")
    window.prompt.ok_button.invoke()
    await pump_until(root, lambda: window.view.key == "#random", "#random to open")
    assert root.title().startswith("#random")

    for number in range(3):
        await bob.send(type="say", room="#general", text=f"news {number}")
    lists = window.conversations
    await pump_until(root, lambda: lists.row_text("#general")[1] == "3", "3 unread in #general")
    assert "unread" in lists.row_tags("#general")
    assert root.title().startswith("(3) #random")
    await bob.send(type="say", room="#general", text="alice: are you there?")
    await pump_until(root, lambda: lists.row_text("#general")[1] == "@4", "the mention marked")
    assert "mention" in lists.row_tags("#general")
    assert "news 0" not in window.view.visible_text()

    window.entry.event_generate("<Control-p>")
    await pump_until(root, lambda: window.view.key == "#general", "Ctrl+P to #general")
    await pump_until(root, lambda: lists.row_text("#general")[1] == "", "#general read")
    assert "news 2" in window.view.visible_text()
    assert "mention" in row_tags(window, "are you there?")
    assert not root.title().startswith("(")
    assert window.members.nicks() == ["alice", "bob"]

    lists.tree.selection_set(lists.row_id("#random"))
    await pump_until(root, lambda: window.view.key == "#random", "a click on #random")
    assert "You joined #random" in window.view.visible_text()


async def test_commands_from_the_input_line_and_the_menus(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """/me, /topic, /nick, /away and /msg show their effect; an unknown command sends nothing."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))

    type_line(window, "/me waves")
    action = await frame_of(bob, "message", text="waves")
    assert action["action"] is True
    await pump_until(root, lambda: "* alice waves" in window.view.visible_text(), "the /me line")
    assert "action" in row_tags(window, "alice waves")

    window.menus["Room"].invoke("Set topic…")
    assert window.prompt is not None
    fill(window.prompt.entry, "release day")
    window.prompt.ok_button.invoke()
    await frame_of(bob, "topic", topic="release day", by="alice")
    await pump_until(
        root, lambda: window.topic_label.cget("text") == "release day", "the topic bar"
    )

    type_line(window, "/nick alicia")
    await frame_of(bob, "presence", event="nick", nick="alicia", old="alice")
    await pump_until(
        root,
        lambda: window.identity_label.cget("text").startswith("alicia @"),
        "the new nick in the status bar",
    )

    type_line(window, "/away lunch")
    await frame_of(bob, "presence", event="away", nick="alicia")
    await pump_until(
        root, lambda: "away" in window.members.member_tags("alicia"), "alicia dimmed as away"
    )

    type_line(window, "/frobnicate now")
    await pump_until(root, lambda: "unknown command" in window.view.visible_text(), "the error")
    assert "error" in row_tags(window, "unknown command")
    assert [f for f in await bob.barrier() if f["type"] == "message"] == []

    type_line(window, "/msg ghost are you real?")
    # Nobody has that nick: the conversation it opened closes and the error shows where we were.
    await pump_until(
        root, lambda: "Nobody is called ghost." in window.view.visible_text(), "the error"
    )
    assert window.view.key != "ghost"
    assert window.snapshot is not None and window.snapshot.conversation("ghost") is None

    window.menus["Help"].invoke("Commands")
    assert window.help is not None
    assert "/join #room" in window.help.text.get("1.0", "end")
    window.help.close_button.invoke()
    await pump_until(root, lambda: root.focus_get() is window.entry, "the focus back on the input")


async def test_input_history_and_tab_completion(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Up and Down walk what was sent; Tab completes commands and nicks from the engine's state."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await pump_until(root, lambda: "bob" in window.members.nicks(), "bob in the member list")
    entry = window.entry

    type_line(window, "first")
    type_line(window, "second")
    entry.set_value("draft")
    entry.event_generate("<Up>")
    assert entry.value == "second"
    entry.event_generate("<Up>")
    assert entry.value == "first"
    entry.event_generate("<Down>")
    entry.event_generate("<Down>")
    assert entry.value == "draft"

    entry.set_value("/jo")
    entry.event_generate("<Tab>")
    assert entry.value == "/join "
    entry.set_value("b")
    entry.event_generate("<Tab>")
    assert entry.value == "bob: "
    assert root.focus_get() is entry


async def test_the_status_bar_follows_a_server_restart(
    open_app: OpenApp, server: Server, start_server: StartServer, connect: Connect, root: tk.Tk
) -> None:
    """Stopping the server shows the reconnect countdown; a new server on the port reconnects."""
    window = await connected(open_app("alice"))
    assert window.status_text().startswith("● Connected")
    port = server.port
    await server.stop()
    await pump_until(
        root, lambda: "Disconnected" in window.status_text(), "the disconnected status"
    )
    assert str(window.status_label.cget("style")) == "Reconnecting.Status.TLabel"
    assert "attempt" in window.status_text()

    again = await start_server(port=port)
    await pump_until(root, lambda: "Connected" in window.status_text(), "the reconnection")
    bob = await connect("bob", port=again.port)
    await bob.join("#general")
    type_line(window, "back again")
    await frame_of(bob, "message", text="back again")


async def test_scrolling_to_the_top_loads_older_history(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Reaching the top of the view fetches older pages until the room's first message shows."""
    bob = await connect("bob")
    await bob.join("#general")
    for number in range(130):
        await bob.send(type="say", room="#general", text=f"old {number:03}")
    await bob.barrier()
    window = await connected(open_app("alice"))
    await pump_until(root, lambda: "old 129" in window.view.visible_text(), "the join page")
    assert "old 000" not in window.view.visible_text()

    for _ in range(5):
        shown = len(rows(window))
        window.view.text.yview_moveto(0.0)
        await pump_until(root, lambda shown=shown: len(rows(window)) > shown, "an older page")
        assert window.view.text.yview()[0] > 0.0  # the reader's place is kept
        if "old 000" in window.view.visible_text():
            break
    texts = [row.split("> ", 1)[-1] for row in rows(window) if "<bob> old" in row]
    assert texts == [f"old {number:03}" for number in range(130)]


async def test_double_clicking_a_member_opens_the_direct_conversation(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Double-clicking a member opens a direct conversation with them and sends nothing."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await pump_until(root, lambda: "bob" in window.members.nicks(), "bob in the member list")
    tree = window.members.tree
    tree.selection_set("m:bob")
    x, y, _, _ = tree.bbox("m:bob")
    for _ in range(2):  # a double-click is two presses at one place in quick succession
        tree.event_generate("<ButtonPress-1>", x=x + 5, y=y + 5)
        tree.event_generate("<ButtonRelease-1>", x=x + 5, y=y + 5)
    await pump_until(root, lambda: window.view.key == "bob", "the direct conversation shown")
    assert window.conversations.row_text("bob")[0] == "bob"
    assert window.entry.value == ""
    assert root.focus_get() is window.entry
    assert [f for f in await bob.barrier() if f["type"] == "message"] == []


async def test_the_window_handles_every_kind_of_event(open_app: OpenApp, root: tk.Tk) -> None:
    """An event of each kind, as the engine queues them, is applied and breaks nothing."""
    window = await connected(open_app("alice"))
    assert window.snapshot is not None
    window.receive(one_event_of_each_kind(window.snapshot))
    root.update()
    assert "one of each kind" in window.view.visible_text()
    assert window.last_error == "An error."
