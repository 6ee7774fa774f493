"""A stalled connection holding our nick: the reconnect gets in under an alternate (``alice_``)
and takes the nick back once the server lets the old connection go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.client.link import Timings
from app.client.nicks import alternate_nick
from app.client.state import LineKind
from app.server import Server
from tests.client.conftest import MakeClient, Tap, eventually
from tests.conftest import Connect

StartServer = Callable[..., Awaitable[Server]]
MakeTap = Callable[[int], Awaitable[Tap]]


def test_alternates_fit_the_nick_limit() -> None:
    """``nick_`` then ``nick__``; a nick at the 24-character limit is cut to make room."""
    assert alternate_nick("frank", 1) == "frank_"
    assert alternate_nick("frank", 2) == "frank__"
    long = "a" * 24
    assert alternate_nick(long, 1) == "a" * 23 + "_"


async def test_a_stalled_connection_holding_the_nick_gets_an_alternate_then_ours_back(
    start_server: StartServer, make_client: MakeClient, make_tap: MakeTap, connect: Connect
) -> None:
    """Alice's link stalls while the server still holds 'alice': she is back at once as
    'alice_', saying why, and is 'alice' again once the server drops the stale connection;
    her config remembers 'alice', never the alternate."""
    server = await start_server(ping_interval=2.0, ping_timeout=1.0)
    tap = await make_tap(server.port)
    timings = Timings(
        backoff_initial=0.05, backoff_max=0.2, ping_after=0.2, dead_after=0.5, nick_reclaim=0.2
    )
    alice = await make_client("alice", tap.port, timings=timings)
    bob = await connect("bob")
    await bob.join("#general")
    tap.silent = tap.hold_open = True  # the old connection stalls; the server does not know
    alice.engine.port = server.port  # the next connection takes a healthy path
    await eventually(lambda: alice.engine.state.nick == "alice_", "in as alice_", 5.0)
    notices = alice.rec.texts("#general", LineKind.NOTICE)
    assert any("alice is still held by our old connection" in text for text in notices)
    assert not any("already taken" in text for text, _ in alice.rec.errors)
    await eventually(lambda: alice.engine.state.nick == "alice", "alice again", 10.0)
    assert "You are now known as alice" in alice.rec.texts("#general", LineKind.NICK)
    alice.engine.submit("/nick alicia")
    await eventually(lambda: alice.engine.state.nick == "alicia", "renamed by hand")
    assert alice.engine._nicks.wanted == "alicia" and not alice.engine._nicks.reclaiming
