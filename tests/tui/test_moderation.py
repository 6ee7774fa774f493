"""Moderation in the terminal UI against a real server, as a person sees it: the member list's
role marks and order, a kick, and a deleted message.

The room's owner is a raw client that registers its nick and then joins the new room (the first
account to join it), so only one argon2 hash is made per test.
"""

from __future__ import annotations

from frontends.tui.panels import ConversationList, MemberList, TopicBar
from tests.conftest import Connect, owner_of
from tests.tui.conftest import MakeApp, eventually, rows_with, submit, until_in_room


async def test_member_list_marks_roles_and_sorts_by_them(
    make_app: MakeApp, connect: Connect
) -> None:
    """The owner is listed first as ~olga, before members in nick order; a lock shows on the
    topic bar."""
    olga = await owner_of(connect, "#dev")
    app = make_app("zed")
    async with app.run_test(size=(120, 30)) as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/join #dev")
        await until_in_room(pilot, "#dev")
        members = app.query_one(MemberList)
        await eventually(pilot, lambda: "~olga" in members.render().plain, "olga marked owner")
        rows = members.render().plain.splitlines()
        assert rows[1:3] == ["~olga", "zed"]
        await olga.send(type="topic_lock", room="#dev", locked=True)
        topic = app.query_one(TopicBar)
        await eventually(pilot, lambda: "locked" in topic.render().plain, "the lock shown")
        assert rows_with(app, "olga locked the topic")


async def test_a_kick_reads_as_a_sentence_and_leaves_the_room_listed(
    make_app: MakeApp, connect: Connect
) -> None:
    """Kicked by the owner, the user reads "You were kicked from #dev by olga: spam" in the
    room, which stays in the list until /part closes it."""
    olga = await owner_of(connect, "#dev")
    app = make_app("alice")
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        await submit(pilot, "/join #dev")
        await until_in_room(pilot, "#dev")
        await olga.send(type="kick", room="#dev", nick="alice", reason="spam")
        await eventually(
            pilot,
            lambda: bool(rows_with(app, "You were kicked from #dev by olga: spam")),
            "the kick line",
        )
        assert rows_with(app, "/join #dev to go back in")
        conversations = app.query_one(ConversationList)
        assert any(view.name == "#dev" and not view.joined for view in conversations.conversations)
        await submit(pilot, "/part")
        await eventually(
            pilot,
            lambda: all(view.name != "#dev" for view in conversations.conversations),
            "the kicked room closed",
        )


async def test_delete_replaces_our_last_message_for_everyone(
    make_app: MakeApp, connect: Connect
) -> None:
    """/delete takes back our last message: its row reads "(message deleted by you)", the text
    is gone from the log, and the others are told."""
    bob = await connect("bob")
    await bob.join("#general")
    app = make_app("alice")
    async with app.run_test() as pilot:
        await until_in_room(pilot)
        await submit(pilot, "oops, wrong window")
        await eventually(
            pilot,
            lambda: any(line.own and line.id is not None for line in app.chat_log.lines),
            "the message stored",
        )
        await submit(pilot, "/delete")
        await eventually(
            pilot, lambda: bool(rows_with(app, "(message deleted by you)")), "the row replaced"
        )
        assert not rows_with(app, "wrong window")
        while (frame := await bob.recv())["type"] != "deleted":
            pass
        assert frame["by"] == "alice" and frame["room"] == "#general"
