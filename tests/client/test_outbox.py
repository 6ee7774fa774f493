"""The outbox: lines past the flood limit, typed while disconnected, or on the wire when the server
went away are sent once each, in order, and can be taken back before they go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.client.outbox import quit_question, quits
from app.client.state import ConnectionState, LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, Tap, eventually
from tests.conftest import Connect

StartServer = Callable[..., Awaitable[Server]]
MakeTap = Callable[[int], Awaitable[Tap]]


async def stored_texts(connect: Connect, room: str = "#general") -> list[str]:
    """What the server's history holds for ``room``, oldest first, as a new member sees it."""
    reader = await connect("reader")
    _joined, history = await reader.join(room)
    await reader.close()
    return [message["text"] for message in history["messages"]]


async def offline_alice(start_server: StartServer, make_client: MakeClient) -> tuple[int, Client]:
    """Alice connected to a server that then stops: its port (to start it again) and her."""
    first = await start_server()
    alice = await make_client("alice", first.port)
    await first.stop()
    await eventually(lambda: not alice.engine.connected, "alice lost the server")
    return first.port, alice


def confirmed(client: Client, room: str = "#general") -> list[str]:
    """Alice's own lines in ``room`` that the server confirmed, in the order shown."""
    return [
        line.text
        for line in client.rec.lines(room, LineKind.MESSAGE)
        if line.own and line.id is not None and not line.pending and not line.failed
    ]


async def test_lines_past_the_flood_limit_are_paced_not_refused(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap, connect: Connect
) -> None:
    """From a server that does not announce its limits: fifteen lines at once against a burst of
    four all arrive, in order, none "not sent", and the person sees no error; the rest go at the
    pace the server asks for."""
    server = await start_server(msg_rate=10, msg_burst=4)
    tap = await make_tap(server.port)
    tap.old_welcome = True
    alice = await make_client("alice", tap.port)
    texts = [f"quick {n}" for n in range(15)]
    for text in texts:
        alice.engine.submit(text)
    assert alice.rec.snap.outbox > 0 or alice.engine.state.outbox > 0
    await eventually(lambda: confirmed(alice) == texts, "all fifteen confirmed in order")
    assert not any(line.failed for line in alice.rec.lines("#general"))
    assert alice.rec.errors == []
    assert alice.engine._outbox.interval > 0  # it learned the server's pace from rate_limited
    # Paced at that rate, the eleven lines past the burst are not each refused first.
    assert 1 <= alice.engine._outbox.refusals <= 3, alice.engine._outbox.refusals
    assert "limits" not in next(f for f in tap.received if f["type"] == "welcome")
    await eventually(lambda: alice.engine.state.outbox == 0, "the outbox drained")
    assert await stored_texts(connect) == texts


async def test_a_server_announcing_its_limits_is_paced_from_the_first_line(
    start_server: StartServer, make_client: MakeClient, connect: Connect
) -> None:
    """Told the flood control in welcome, the engine sends fifteen lines against a burst of four
    without a single rate_limited, in order; while they go, a /join (and the member list it
    asks for) finds the frames the outbox keeps in reserve and is not refused either."""
    server = await start_server(msg_rate=10, msg_burst=4)
    alice = await make_client("alice", server.port)
    assert alice.engine.send_interval == pytest.approx(1 / 10)
    texts = [f"quick {n}" for n in range(15)]
    for text in texts:
        alice.engine.submit(text)
    await eventually(lambda: len(confirmed(alice)) >= 3, "the first lines through")
    assert alice.engine.state.outbox > 0
    alice.engine.submit("/join #elsewhere")
    await eventually(lambda: confirmed(alice) == texts, "all fifteen confirmed in order")
    await alice.ready("#elsewhere")
    assert alice.engine._outbox.refusals == 0
    assert alice.rec.errors == []
    assert await stored_texts(connect) == texts


async def test_a_line_typed_while_disconnected_is_sent_when_back(
    start_server: StartServer, make_client: MakeClient, connect: Connect
) -> None:
    """Typed during an outage, a line shows as pending and goes out once the server is back."""
    port, alice = await offline_alice(start_server, make_client)
    alice.engine.submit("typed in the dark")
    line = alice.rec.lines("#general", LineKind.MESSAGE)[-1]
    assert line.text == "typed in the dark" and line.pending and not line.failed
    assert alice.engine.state.outbox == alice.engine.state.unsent == 1
    assert any("waits and is sent when we are back" in t for t in alice.rec.texts("#general"))
    await start_server(port=port)
    await eventually(lambda: confirmed(alice) == ["typed in the dark"], "sent after reconnect")
    assert await stored_texts(connect) == ["typed in the dark"]


async def test_nothing_lost_or_doubled_across_a_server_restart(
    start_server: StartServer, make_client: MakeClient, connect: Connect
) -> None:
    """Thirty lines paced by flood control, the server restarted halfway and three more typed
    during the outage: the history holds each line exactly once, in the order typed."""
    first = await start_server(msg_rate=20, msg_burst=3)
    alice = await make_client("alice", first.port)
    texts = [f"line {n:02}" for n in range(30)]
    for text in texts:
        alice.engine.submit(text)
    await eventually(lambda: len(confirmed(alice)) >= 8, "some lines through")
    await first.stop()
    await eventually(lambda: not alice.engine.connected, "alice lost the server")
    during = [f"during {n}" for n in range(3)]
    for text in during:
        alice.engine.submit(text)
    await start_server(port=first.port, msg_rate=20, msg_burst=3)
    everything = texts + during
    await eventually(lambda: alice.engine.state.outbox == 0, "the outbox drained", timeout=20)
    assert confirmed(alice) == everything
    assert not any(line.failed for line in alice.rec.lines("#general"))
    assert await stored_texts(connect) == everything
    assert alice.rec.state is ConnectionState.CONNECTED


async def test_cancel_takes_back_what_has_not_gone_out(
    start_server: StartServer, make_client: MakeClient, connect: Connect
) -> None:
    """/cancel marks the lines still queued here as not sent, and they never reach the server."""
    port, alice = await offline_alice(start_server, make_client)
    alice.engine.submit("never mind 1")
    alice.engine.submit("never mind 2")
    alice.engine.submit("/cancel")
    assert "Took back 2 lines not sent yet." in alice.rec.texts("#general")
    assert [line.failed for line in alice.rec.lines("#general", LineKind.MESSAGE)] == [True, True]
    assert alice.engine.state.outbox == 0
    await start_server(port=port)
    await alice.ready()
    alice.engine.submit("this one goes")
    await eventually(lambda: confirmed(alice) == ["this one goes"], "the next line sent")
    assert await stored_texts(connect) == ["this one goes"]


async def test_closing_a_conversation_takes_its_waiting_lines_back_and_says_so(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """Lines for bob typed offline, then /close: the notice says they went with it, the outbox
    is empty, and after the reconnect nothing is sent to bob."""
    port, alice = await offline_alice(start_server, make_client)
    alice.engine.submit("/msg bob one")
    alice.engine.submit("two")
    assert alice.engine.state.outbox == 2
    alice.engine.submit("/close")
    assert alice.engine.state.get("bob") is None and alice.engine.state.outbox == 0
    notices = alice.rec.texts("#general", LineKind.NOTICE)
    assert "2 lines to bob not sent yet went with it when it closed." in notices
    await start_server(port=port)
    await alice.ready()
    alice.engine.submit("still here")
    await eventually(lambda: confirmed(alice) == ["still here"], "the outbox still works")


def test_the_quit_question_counts_the_lines_and_knows_slash_quit() -> None:
    """Quitting asks only with lines waiting, in the words both frontends show; /quit is told
    from text and from a command that merely starts like it."""
    assert quit_question(0) is None
    assert quit_question(1) == "1 line not sent yet. Quit anyway?"
    assert quit_question(2) == "2 lines not sent yet. Quit anyway?"
    assert quits("/quit") and quits("/QUIT see you")
    assert not quits("quit") and not quits("/quitter") and not quits("//quit")


async def test_a_line_on_the_wire_is_not_counted_as_unsent(
    server: Server, make_client: MakeClient
) -> None:
    """A line sent and waiting for its echo is in the outbox but not unsent (quitting would not
    drop it, so it asks nothing); once echoed it leaves both counts, in the snapshot too."""
    alice = await make_client("alice", server.port)
    alice.engine.submit("on its way")
    assert (alice.engine.state.outbox, alice.engine.state.unsent) == (1, 0)
    await eventually(lambda: confirmed(alice) == ["on its way"], "the echo")
    await eventually(
        lambda: (alice.rec.snap.outbox, alice.rec.snap.unsent) == (0, 0), "the counts in the view"
    )
