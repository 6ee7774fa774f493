"""Editing room messages on a real server over loopback, with a real SQLite file: who may edit
what, the window, the typed refusals, what history and a later join show, and a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from app.server import Server
from app.store import SQLiteHistory, StoredMessage
from tests.conftest import Connect, Dial, StartServer, WireClient, stop_and_hang_up
from tests.server.wire import PASSWORD, in_room, registered


async def said(client: WireClient, text: str, ref: object = "s") -> dict[str, object]:
    """What ``client`` said in ``#dev``, as its own echo."""
    await client.send(type="say", room="#dev", text=text, ref=ref)
    return await client.expect("message", text=text, ref=ref)


async def test_an_author_edits_and_every_member_sees_it(connect: Connect) -> None:
    """The author's edit reaches every member as edited (the author's with its ref); history and
    a later join give the new text marked edited, and a message never edited carries no mark."""
    guest, other = await in_room(connect, "#dev", "guest", "other")
    first = await said(guest, "teh plan", ref=1)
    await said(guest, "kept", ref=2)
    await guest.send(type="edit", id=first["id"], text="the plan", ref="e")
    own = await guest.expect("edited", room="#dev", id=first["id"], text="the plan", ref="e")
    assert own["by"] == "guest" and isinstance(own["ts"], int)
    frames = await other.barrier()
    assert [f["type"] for f in frames] == ["message", "message", "edited"]
    assert frames[2] == {k: v for k, v in own.items() if k != "ref"}
    await other.send(type="history", room="#dev")
    page = await other.expect("history")
    assert [(m["text"], m.get("edited")) for m in page["messages"]] == [
        ("the plan", True),
        ("kept", None),
    ]
    late = await connect("late")
    _joined, history = await late.join("#dev")
    assert [(m["text"], m.get("edited")) for m in history["messages"]] == [
        ("the plan", True),
        ("kept", None),
    ]


async def test_only_the_author_edits_and_only_live_messages_of_its_rooms(
    connect: Connect,
) -> None:
    """Another member gets not_permitted; an unknown id, a room one is not in, a room that is
    not the message's and a deleted message get no_such_message; the text stays unchanged."""
    guest, other = await in_room(connect, "#dev", "guest", "other")
    message = await said(guest, "mine")
    await other.barrier()
    await other.send(type="edit", id=message["id"], text="hijacked", ref=1)
    await other.expect("error", code="not_permitted", ref=1)
    await other.send(type="edit", id=999_999, text="x", ref=2)
    await other.expect("error", code="no_such_message", ref=2)
    outsider = await connect("outsider")
    await outsider.send(type="edit", id=message["id"], text="x", ref=3)
    await outsider.expect("error", code="no_such_message", ref=3)
    await guest.join("#elsewhere")
    await guest.send(type="edit", id=message["id"], text="x", room="#elsewhere", ref=4)
    await guest.expect("error", code="no_such_message", ref=4)
    await guest.send(type="edit", id=message["id"], text="same room", room="#DEV", ref=5)
    await guest.expect("edited", text="same room", ref=5)
    await guest.send(type="delete", id=message["id"], ref=6)
    await guest.expect("deleted", ref=6)
    await guest.send(type="edit", id=message["id"], text="back", ref=7)
    await guest.expect("error", code="no_such_message", ref=7)
    assert [f["type"] for f in await other.barrier()] == ["edited", "deleted"]
    await other.send(type="history", room="#dev")
    page = await other.expect("history")
    assert [(m["text"], m.get("deleted"), m.get("edited")) for m in page["messages"]] == [
        ("", True, None)
    ]


async def test_an_edit_is_checked_like_a_say(connect: Connect) -> None:
    """An empty or too long text and a bad room name are refused, and nothing changes."""
    (guest,) = await in_room(connect, "#dev", "guest")
    message = await said(guest, "short")
    await guest.send(type="edit", id=message["id"], text="", ref=1)
    await guest.expect("error", code="bad_frame", ref=1)
    await guest.send(type="edit", id=message["id"], text="x" * 4001, ref=2)
    await guest.expect("error", code="bad_frame", ref=2)
    await guest.send(type="edit", id=message["id"], text="ok", room="dev", ref=3)
    await guest.expect("error", code="bad_room", ref=3)
    await guest.send(type="edit", id=message["id"], text="x" * 4000, ref=4)
    await guest.expect("edited", ref=4)


async def test_an_account_edits_from_another_connection_but_a_guest_does_not(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """An account edits its message after signing in again; a guest who comes back under the
    same nick is no longer its author."""
    alice = await registered(connect, "alice")
    await alice.join("#dev")
    message = await said(alice, "typo")
    await alice.close()
    again = await dial(server.port)
    await again.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await again.expect("welcome", account="alice")
    await again.join("#dev")
    await again.send(type="edit", id=message["id"], text="fixed", ref=1)
    await again.expect("edited", text="fixed", by="alice", ref=1)

    (guest,) = await in_room(connect, "#dev", "gus")
    guest_said = await said(guest, "a guest's")
    await guest.close()
    impostor = await connect("gus")
    await impostor.join("#dev")
    await impostor.send(type="edit", id=guest_said["id"], text="not mine", ref=2)
    await impostor.expect("error", code="not_permitted", ref=2)


async def test_a_muted_author_cannot_edit(connect: Connect) -> None:
    """A member muted in the room gets muted for an edit there too."""
    alice = await registered(connect, "alice")
    await alice.join("#dev")
    (guest,) = await in_room(connect, "#dev", "guest")
    message = await said(guest, "before the mute")
    await alice.barrier()
    await alice.send(type="mute", room="#dev", nick="guest", ref="m")
    await alice.expect("moderation", action="mute", ref="m")
    await guest.barrier()
    await guest.send(type="edit", id=message["id"], text="after", ref=1)
    await guest.expect("error", code="muted", ref=1)


async def test_an_edit_past_the_window_is_edit_window_closed(
    start_server: StartServer, db_path: Path, dial: Dial
) -> None:
    """A message older than --edit-window gets edit_window_closed, saying how long the window
    is; a message inside it is edited."""
    history = SQLiteHistory(str(db_path))
    history.open()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    now = time.time_ns() // 1_000_000
    old = StoredMessage(1, now - 16 * 60_000, "#dev", "alice", "from long ago", False)
    history.append([old], lambda _: done.set_result(None), lambda _m, r: done.set_result(None))
    await asyncio.wait_for(done, 10)
    await history.close()

    server = await start_server(edit_window=900)
    alice = await dial(server.port, "alice")
    await alice.send(type="register", password=PASSWORD, ref="r")
    await alice.expect("account", ref="r")
    _joined, page = await alice.join("#dev")
    assert [m["id"] for m in page["messages"]] == [1]
    await alice.send(type="edit", id=1, text="too late", ref=1)
    error = await alice.expect("error", code="edit_window_closed", ref=1)
    assert "15 min" in error["message"]
    fresh = await said(alice, "now")
    await alice.send(type="edit", id=fresh["id"], text="now, edited", ref=2)
    await alice.expect("edited", ref=2)


async def test_a_window_of_zero_turns_editing_off(start_server: StartServer, dial: Dial) -> None:
    """With --edit-window 0 every edit is not_permitted, even the author's of a new message."""
    server = await start_server(edit_window=0)
    guest = await dial(server.port, "guest")
    await guest.join("#dev")
    message = await said(guest, "final")
    await guest.send(type="edit", id=message["id"], text="changed", ref=1)
    error = await guest.expect("error", code="not_permitted", ref=1)
    assert "turned off" in error["message"]


async def test_an_edit_survives_a_restart(start_server: StartServer, dial: Dial) -> None:
    """After a restart on the same file, history and a join give the edited text, marked."""
    server = await start_server()
    guest = await dial(server.port, "guest")
    await guest.join("#dev")
    message = await said(guest, "draft")
    await guest.send(type="edit", id=message["id"], text="final", ref=1)
    await guest.expect("edited", ref=1)
    await stop_and_hang_up(server, guest)

    again = await start_server()
    late = await dial(again.port, "late")
    _joined, page = await late.join("#dev")
    assert [(m["id"], m["text"], m.get("edited")) for m in page["messages"]] == [
        (message["id"], "final", True)
    ]
