"""The terminal UI chatting with a real server: messages both ways, rooms, unread counts, commands,
input history and completion, and the bell on mentions."""

from __future__ import annotations

from typing import Any

from app.client.state import ConversationKind
from frontends.tui.panels import ConversationList, MemberList, StatusLine
from tests.conftest import Connect, WireClient
from tests.tui.conftest import (
    MakeApp,
    eventually,
    rows_with,
    submit,
    type_line,
    until_in_room,
)


async def frame_with(client: WireClient, kind: str, **fields: Any) -> dict[str, Any]:
    """The next frame of type ``kind`` with ``fields``, skipping any others."""
    while True:
        frame = await client.recv()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
            return frame


async def test_two_users_chat(make_app: MakeApp, connect: Connect) -> None:
    """A message from another user appears in the log and what alice types reaches them."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await eventually(pilot, lambda: bool(rows_with(app, "bob joined")), "bob's join line")
        await bob.send(type="say", room="#general", text="hello from bob")
        await eventually(pilot, lambda: bool(rows_with(app, "bob │ hello from bob")), "bob's line")

        await type_line(pilot, "hi bob, nice to see you")
        received = await frame_with(bob, "message", text="hi bob, nice to see you")
        assert received["from"] == "alice"
        await eventually(
            pilot,
            lambda: any(
                line.text == "hi bob, nice to see you" and line.own and not line.pending
                for line in app.chat_log.lines
            ),
            "alice's own line confirmed by the server's echo",
        )
        assert rows_with(app, "alice ┃ hi bob, nice to see you")


async def test_mention_rings_the_bell_unless_turned_off(
    make_app: MakeApp, connect: Connect
) -> None:
    """A line naming alice rings the bell once; after F3 turns the bell off, a mention is silent."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await bob.send(type="say", room="#general", text="no names here")
        await bob.send(type="say", room="#general", text="ALICE, look")
        await eventually(pilot, lambda: bool(rows_with(app, "ALICE, look")), "the mention")
        assert app.bells == 1
        mention = app.chat_log.lines[-1]
        assert mention.mention and not mention.own

        await pilot.press("f3")
        assert "bell off" in app.query_one(StatusLine).render().plain
        await bob.send(type="say", room="#general", text="alice again")
        await eventually(pilot, lambda: bool(rows_with(app, "alice again")), "second mention")
        assert app.bells == 1


async def test_switching_rooms_and_unread_counts(make_app: MakeApp, connect: Connect) -> None:
    """Messages in a room not shown count as unread in the list (a mention marked with !);
    switching there shows them and clears the count; Ctrl+N/P and Alt+N switch."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/join #dev")
        await until_in_room(pilot, "#dev")
        sidebar = app.query_one(ConversationList)
        assert [view.name for view in sidebar.conversations] == ["#general", "#dev"]

        bob = await connect("bob")
        await bob.join("#general")
        for text in ("one", "two", "three"):
            await bob.send(type="say", room="#general", text=text)

        def general_unread() -> int:
            state = app.snapshot
            view = state.conversation("#general") if state is not None else None
            return view.unread if view is not None else -1

        await eventually(pilot, lambda: general_unread() == 3, "three unread in #general")
        general_row = next(r for r in sidebar.render().plain.splitlines() if "#general" in r)
        assert general_row.split() == ["1", "#general", "3"]
        await bob.send(type="say", room="#general", text="alice: ping")
        await eventually(pilot, lambda: general_unread() == 4, "the mention counted")
        general_row = next(r for r in sidebar.render().plain.splitlines() if "#general" in r)
        assert general_row.split() == ["1", "#general", "!4"]
        assert not rows_with(app, "bob │ one")

        await pilot.press("ctrl+p")
        await until_in_room(pilot, "#general")
        await eventually(pilot, lambda: general_unread() == 0, "#general read")
        said = [row.split("│ ")[-1] for row in rows_with(app, "bob │")]
        assert said == ["one", "two", "three", "alice: ping"]

        await pilot.press("alt+2")
        await eventually(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.active == "#dev",
            "Alt+2 shows #dev",
        )
        await pilot.press("ctrl+n")
        await eventually(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.active == "#general",
            "Ctrl+N wraps around to #general",
        )


async def test_commands_from_the_input_line(make_app: MakeApp, connect: Connect) -> None:
    """/me, /nick, /away, /msg, /help and an unknown command show up where they should."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await eventually(pilot, lambda: bool(rows_with(app, "bob joined")), "bob's join line")

        await submit(pilot, "/me waves")
        await frame_with(bob, "message", text="waves", action=True)
        await eventually(pilot, lambda: bool(rows_with(app, "* alice waves")), "the action line")

        await submit(pilot, "/frobnicate")
        await eventually(
            pilot, lambda: bool(rows_with(app, "unknown command /frobnicate")), "a local error line"
        )

        await submit(pilot, "/help")
        await eventually(pilot, lambda: bool(rows_with(app, "/join #room")), "the help text")

        await submit(pilot, "/away lunch")
        status = app.query_one(StatusLine)
        await eventually(pilot, lambda: "(away)" in status.render().plain, "away in the status")

        await submit(pilot, "/nick alicia")
        await frame_with(bob, "presence", event="nick", nick="alicia")
        await eventually(pilot, lambda: "alicia" in status.render().plain, "the new nick shown")

        await submit(pilot, "/msg bob psst")
        await frame_with(bob, "message", text="psst", to="bob")
        await eventually(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.active == "bob",
            "the direct conversation opened",
        )
        view = app.snapshot.active_view if app.snapshot is not None else None
        assert view is not None and view.kind is ConversationKind.DIRECT
        assert "@bob" in app.query_one(ConversationList).render().plain


async def test_history_and_tab_completion(make_app: MakeApp, connect: Connect) -> None:
    """↑ recalls earlier lines and ↓ returns to the draft; Tab completes nicks and commands."""
    app = make_app()
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        for nick in ("bob", "bobby"):
            peer = await connect(nick)
            await peer.join("#general")
        await eventually(pilot, lambda: bool(rows_with(app, "bobby joined")), "bobby's join")
        await eventually(
            pilot,
            lambda: app.snapshot is not None and len(app.snapshot.conversations[0].members) == 3,
            "three members in the state",
        )
        chat_input = app.chat_input
        await submit(pilot, "first")
        await submit(pilot, "second")
        await pilot.press(*"draft")
        await pilot.press("up")
        assert chat_input.value == "second"
        await pilot.press("up", "up")
        assert chat_input.value == "first"
        await pilot.press("down", "down")
        assert chat_input.value == "draft"

        chat_input.value = ""
        await pilot.press("b", "o", "tab")
        assert chat_input.value == "bob: "
        await pilot.press("tab")
        assert chat_input.value == "bobby: "
        chat_input.value = ""
        await pilot.press("/", "j", "o", "tab")
        assert chat_input.value == "/join "


async def test_members_panel_follows_width_and_toggles(make_app: MakeApp, connect: Connect) -> None:
    """The member list shows on wide terminals, hides at 80 columns until F2, and dims away."""
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until_in_room(pilot)
        members = app.query_one(MemberList)
        assert members.display
        await pilot.resize_terminal(80, 24)
        await eventually(pilot, lambda: not members.display, "hidden at 80 columns")
        await pilot.press("f2")
        assert members.display
        bob = await connect("bob")
        await bob.join("#general")
        await bob.send(type="away", text="brb")
        await eventually(pilot, lambda: "bob (away)" in members.render().plain, "bob away")
        assert "2 members" in members.render().plain
        await pilot.press("f2")
        assert not members.display


async def test_clicking_a_member_opens_the_direct_conversation(
    make_app: MakeApp, connect: Connect
) -> None:
    """A click on a nick in the member list switches to a direct conversation, sending nothing."""
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        members = app.query_one(MemberList)
        await eventually(pilot, lambda: "bob" in members.render().plain, "bob in the list")
        # Rows: the title, alice, bob; the content starts after the border and the padding.
        await pilot.click(MemberList, offset=(3, 2))
        await eventually(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.active == "bob",
            "the direct conversation with bob",
        )
        assert app.focused is app.chat_input
        assert app.chat_input.value == ""
        assert [f for f in await bob.barrier() if f["type"] == "message"] == []
