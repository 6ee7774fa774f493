"""Losing the server and getting it back: backoff, catch-up with nothing missed, gaps, keepalive."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from app.client.link import Timings, backoff_delay
from app.client.state import ConnectionState, LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, Tap, eventually
from tests.conftest import Connect, closed_port

StartServer = Callable[..., Awaitable[Server]]
MakeTap = Callable[[int], Awaitable[Tap]]


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    """Delays start near 0.5 s, double each attempt, stay within the jitter and stop at 30 s."""
    timings = Timings()
    rng = random.Random(7)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0)]:
        delays = [backoff_delay(attempt, timings, rng) for _ in range(200)]
        assert min(delays) >= base * 0.75 and max(delays) <= base * 1.25
        assert max(delays) - min(delays) > base * 0.2  # really jittered
    late = [backoff_delay(20, timings, rng) for _ in range(200)]
    assert max(late) == 30.0 and min(late) >= 22.5


async def send_all(client: Client, room: str, texts: list[str]) -> None:
    """Say each text and wait until the server has confirmed every one."""
    for text in texts:
        client.engine.submit(text)
    await eventually(
        lambda: not client.room(room).pending,
        f"{client.engine.state.nick}'s {len(texts)} messages confirmed",
    )


async def restart_with_traffic(
    start_server: StartServer,
    make_client: MakeClient,
    make_tap: MakeTap,
    missed: int,
    **engine_options: object,
) -> tuple[Client, list[str]]:
    """Alice (behind a tap) loses the server; while she is away carol says ``missed`` lines."""
    first = await start_server()
    tap = await make_tap(first.port)
    alice = await make_client("alice", tap.port, **engine_options)
    bob = await make_client("bob", first.port)
    await send_all(bob, "#general", ["before 1", "before 2"])
    await eventually(lambda: len(alice.rec.chat("#general")) == 2, "alice saw the first two")
    tap.refusing = True  # the server stays unreachable for alice until we say so
    await first.stop()
    await eventually(lambda: alice.rec.state is ConnectionState.RECONNECTING, "reconnecting")
    second = await start_server(port=first.port)
    carol = await make_client("carol", second.port)
    texts = [f"missed {n}" for n in range(missed)]
    await send_all(carol, "#general", texts)
    tap.refusing = False
    await alice.ready()
    await alice.settled()
    return alice, ["before 1", "before 2", *texts]


async def test_reconnect_after_server_restart_misses_nothing(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """After a restart the engine rejoins and fetches every message sent while it was away."""
    alice, expected = await restart_with_traffic(start_server, make_client, make_tap, 320)
    assert alice.rec.chat("#general") == expected
    assert alice.rec.lines("#general", LineKind.GAP) == []
    ids = [line.id or 0 for line in alice.rec.lines("#general", LineKind.MESSAGE)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert alice.rec.view("#general").unread == 0  # she was looking at #general
    states = [s.state for s in alice.rec.statuses]
    assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert states[-1] is ConnectionState.CONNECTED
    assert ConnectionState.RECONNECTING in states


async def test_missed_messages_count_as_unread_elsewhere(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """Messages fetched after a reconnect in a room not being looked at count as unread."""
    first = await start_server()
    tap = await make_tap(first.port)
    alice = await make_client("alice", tap.port)
    alice.engine.submit("/join #side")
    await alice.ready("#side")
    tap.refusing = True
    await first.stop()
    await eventually(lambda: not alice.engine.connected, "disconnected")
    second = await start_server(port=first.port)
    carol = await make_client("carol", second.port)
    await send_all(carol, "#general", [f"m{n}" for n in range(60)] + ["alice?"])
    tap.refusing = False
    await alice.ready("#side")
    await alice.settled()
    assert len(alice.rec.chat("#general")) == 61
    await eventually(lambda: alice.rec.view("#general").unread == 61, "all unread")
    assert alice.rec.view("#general").mention


async def test_a_gap_is_shown_when_more_was_missed_than_fetched(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """With the catch-up capped at one page, the hole is marked by a gap line in its place."""
    alice, expected = await restart_with_traffic(
        start_server, make_client, make_tap, 320, catchup_pages=1
    )
    lines = alice.rec.lines("#general", LineKind.MESSAGE, LineKind.GAP)
    kinds = [line.kind for line in lines]
    assert kinds.count(LineKind.GAP) == 1
    gap = kinds.index(LineKind.GAP)
    before = [line.text for line in lines[:gap]]
    after = [line.text for line in lines[gap + 1 :]]
    assert before == expected[: 2 + 200]  # the first catch-up page
    assert after == expected[-50:]  # the rejoin's recent history


async def test_reconnect_status_has_a_countdown(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """While the server is gone the status says reconnecting, with attempts and a retry time."""
    server = await start_server()
    alice = await make_client("alice", server.port)
    await server.stop()
    await eventually(
        lambda: any(s.retry_at is not None and s.attempt >= 2 for s in alice.rec.statuses),
        "a scheduled second retry",
    )
    waiting = [s for s in alice.rec.statuses if s.retry_at is not None]
    assert all(s.state is ConnectionState.RECONNECTING and s.detail for s in waiting)
    assert [s.attempt for s in waiting] == list(range(1, len(waiting) + 1))
    last = waiting[-1]
    assert last.retry_at is not None
    assert last.retry_in(now=last.retry_at + 5.0) == 0.0
    assert last.retry_in(now=last.retry_at - 1.0) == 1.0
    assert alice.rec.snap.connection.state is ConnectionState.RECONNECTING


async def test_giving_up_before_welcome_closes_when_the_server_cannot_be_reached(
    make_client: MakeClient,
) -> None:
    """With give_up_before_welcome an unreachable server closes the engine, with the reason."""
    alice = await make_client("alice", closed_port(), ready=False, give_up_before_welcome=True)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "closed")
    assert [s.state for s in alice.rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.CLOSED,
    ]
    assert alice.engine.closed_reason.startswith("cannot connect to 127.0.0.1:")
    assert alice.rec.statuses[-1].detail == alice.engine.closed_reason


async def test_giving_up_before_welcome_closes_when_the_server_turns_us_away(
    start_server: StartServer, make_client: MakeClient, connect: Connect
) -> None:
    """A refusal a retry could cure (too many connections) also ends it before the welcome."""
    server = await start_server(max_conns_per_ip=1)
    await connect("bob", port=server.port)
    alice = await make_client("alice", server.port, ready=False, give_up_before_welcome=True)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "closed")
    assert alice.engine.closed_reason == "At most 1 connections per address."
    assert ConnectionState.RECONNECTING not in [s.state for s in alice.rec.statuses]


async def test_giving_up_before_welcome_still_reconnects_after_it(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """Once welcomed, an engine that gives up before the welcome reconnects like any other."""
    server = await start_server()
    alice = await make_client("alice", server.port, give_up_before_welcome=True)
    port = server.port
    await server.stop()
    await eventually(lambda: alice.rec.state is ConnectionState.RECONNECTING, "reconnecting")
    await start_server(port=port)
    await alice.ready()


async def test_quit_while_reconnecting_closes_at_once(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """quit() during the backoff wait ends the engine without waiting for the server."""
    server = await start_server()
    slow = Timings(backoff_initial=60.0, backoff_max=60.0, backoff_jitter=0.0)
    alice = await make_client("alice", server.port, timings=slow)
    await server.stop()
    await eventually(lambda: alice.rec.statuses[-1].retry_at is not None, "waiting a minute")
    alice.engine.quit()
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "closed promptly", 2.0)


async def test_a_silent_link_is_declared_dead_and_replaced(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """When nothing arrives (a dead network), the engine pings, gives up, and reconnects."""
    tap = await make_tap(server.port)
    timings = Timings(backoff_initial=0.05, backoff_max=0.2, ping_after=0.2, dead_after=0.6)
    alice = await make_client("alice", tap.port, timings=timings)
    tap.silent = True
    await eventually(lambda: alice.rec.state is ConnectionState.RECONNECTING, "link dead", 5.0)
    assert "nothing heard from the server" in alice.rec.statuses[-1].detail
    tap.silent = False
    await alice.ready()


async def test_the_engine_answers_server_keepalive_pings(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """Each keepalive ping from the server gets a pong with its id, so the server keeps us."""
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    tap = await make_tap(server.port)
    quiet = Timings(ping_after=30.0, dead_after=60.0)  # so only the server pings
    alice = await make_client("alice", tap.port, timings=quiet)

    def answered() -> int:
        pings = {f.get("id") for f in tap.received if f["type"] == "ping"}
        pongs = {f.get("id") for f in tap.sent if f["type"] == "pong"}
        return len(pings & pongs)

    await eventually(lambda: answered() >= 3, "three keepalives answered")
    assert alice.engine.connected
    assert [s.state for s in alice.rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
    ]


async def test_a_message_whose_echo_was_lost_is_confirmed_from_history(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """If the link dies after the server stored our message, the catch-up confirms it."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    bob = await make_client("bob", server.port)
    tap.mute = True
    alice.engine.submit("did this arrive?")
    await eventually(lambda: bob.rec.chat("#general") == ["did this arrive?"], "stored")
    tap.cut()
    tap.mute = False
    await eventually(lambda: not alice.engine.connected, "alice noticed the cut")
    await alice.ready()
    await alice.settled()
    [line] = alice.rec.lines("#general", LineKind.MESSAGE)
    assert (line.text, line.pending, line.failed) == ("did this arrive?", False, False)
    assert line.id == bob.rec.lines("#general", LineKind.MESSAGE)[0].id


async def test_a_message_lost_on_the_way_is_sent_again_once(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """If the server never got our message, after the reconnect's catch-up shows it is not in
    the history, it is sent again: bob gets it exactly once."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    bob = await make_client("bob", server.port)
    tap.deaf = True
    alice.engine.submit("into the void")
    await eventually(lambda: [f["type"] for f in tap.dropped] == ["say"], "the say was lost")
    tap.cut()
    tap.deaf = False
    await eventually(lambda: not alice.engine.connected, "alice noticed the cut")
    await alice.ready()
    await eventually(lambda: alice.engine.state.outbox == 0, "the outbox drained")
    [line] = alice.rec.lines("#general", LineKind.MESSAGE)
    assert (line.text, line.pending, line.failed) == ("into the void", False, False)
    await eventually(lambda: bob.rec.chat("#general") == ["into the void"], "bob got it")
    await bob.settled()
    assert bob.rec.chat("#general") == ["into the void"]


async def test_a_pending_direct_message_fails_when_the_connection_drops(
    server: Server, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """Direct messages are never replayed, so one still pending at a drop is failed at once."""
    tap = await make_tap(server.port)
    alice = await make_client("alice", tap.port)
    await make_client("bob", server.port)
    tap.deaf = True
    alice.engine.submit("/msg bob are you there?")
    await eventually(lambda: [f["type"] for f in tap.dropped] == ["say"], "the say was lost")
    [line] = alice.rec.lines("bob", LineKind.MESSAGE)
    assert line.pending
    tap.cut()
    await eventually(lambda: not alice.engine.connected, "alice noticed the cut")
    [line] = alice.rec.lines("bob", LineKind.MESSAGE)
    assert (line.text, line.pending, line.failed) == ("are you there?", False, True)
    assert [updated.seq for _, updated in alice.rec.updated] == [line.seq]


async def test_the_log_says_when_the_connection_went_and_came_back(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap
) -> None:
    """A lost connection leaves a line in the log, and the return one saying how many missed
    messages were fetched."""
    alice, _ = await restart_with_traffic(start_server, make_client, make_tap, 4)
    notices = alice.rec.texts("#general", LineKind.NOTICE)
    lost = [n for n in notices if n.startswith("Connection lost (")]
    assert len(lost) == 1 and lost[0].endswith("; reconnecting.")
    await eventually(
        lambda: "Reconnected; 4 missed messages fetched." in alice.rec.texts("#general"),
        "the reconnected line",
    )
    texts = alice.rec.texts("#general")
    back = texts.index("Reconnected; 4 missed messages fetched.")
    assert texts.index(lost[0]) < texts.index("missed 0") < texts.index("missed 3") < back
