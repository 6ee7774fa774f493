"""Who owns what: session ids across processes, the rooms' caches and their hooks, the tables.

Two servers in one test stand for two processes sharing rooms: each has its own hub and SQLite
file, and a backplane that hands every publication to both hubs (as a Redis one would).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app import protocol as p
from app.server import Server, ServerConfig
from app.server.backplane import Deliver
from app.server.feature import Context, FeatureFactory, Handlers
from app.server.hub import Hub
from app.server.messages import MessageFeature
from app.server.presence import PresenceFeature
from app.server.rooms import RoomFeature
from app.server.runner import FEATURES
from app.server.session import Session
from app.store import Snapshot, SQLiteAccounts, SQLiteHistory, SQLiteModeration, StoredMessage
from tests.conftest import Connect, Dial, StartServer, hang_up


class SharedBackplane:
    """Every attached hub gets every publication: processes sharing rooms, in one process."""

    def __init__(self) -> None:
        self.hubs: list[Deliver] = []

    def attach(self, deliver: Deliver) -> None:
        self.hubs.append(deliver)

    def publish(self, room: str, payload: bytes, skip: frozenset[str]) -> None:
        for deliver in self.hubs:
            deliver(room, payload, skip)


async def test_fan_out_across_processes_skips_only_the_sender(tmp_path: Path, dial: Dial) -> None:
    """The first session of each of two processes are different ids: each gets the other's say."""
    backplane = SharedBackplane()
    servers = []
    for name in ("one", "two"):
        config = ServerConfig(port=0, db=str(tmp_path / f"{name}.db"), msg_rate=0)
        server = Server(config, backplane=backplane)
        await server.start()
        servers.append(server)
    try:
        alice = await dial(servers[0].port, "alice")
        bob = await dial(servers[1].port, "bob")
        await alice.join("#a")
        await bob.join("#a")
        await alice.barrier()
        await alice.send(type="say", room="#a", text="hi", nonce="n")
        own = await alice.expect("message", text="hi", nonce="n")
        heard = await bob.expect("message", text="hi")
        assert heard["from"] == "alice" and "nonce" not in heard
        # The sender's copy came once: nothing else is waiting before the pong.
        assert await alice.barrier() == []
        assert own["id"] == heard["id"]
        await hang_up(alice, bob)
    finally:
        for server in servers:
            await server.stop()


async def test_session_ids_are_unique_across_hubs(start_server: StartServer) -> None:
    """Two hubs' ids never collide, even for their first sessions."""
    first, second = await start_server(), await start_server()
    ids = {first.hub.sessions.new_id(), second.hub.sessions.new_id()}
    assert len(ids) == 2


async def test_a_stale_room_rereads_its_window_on_join(
    start_server: StartServer, connect: Connect, db_path: Path
) -> None:
    """After ``stale``, a join sends the messages another process committed; before, not."""
    server = await start_server()
    alice = await connect("alice", port=server.port)
    await alice.join("#a")
    await alice.send(type="say", room="#a", text="here")
    await alice.barrier()

    elsewhere = SQLiteHistory(str(db_path))
    elsewhere.open()
    committed = asyncio.get_running_loop().create_future()
    there = StoredMessage(10_000, 0, "#a", "carol", "there", False)
    elsewhere.append(
        [there], committed.set_result, lambda ms, reason: committed.set_exception(OSError(reason))
    )
    await committed
    await elsewhere.close()

    bob = await connect("bob", port=server.port)
    _, page = await bob.join("#a")
    assert [m["text"] for m in page["messages"]] == ["here"]  # the cache, unaware

    server.hub.rooms.stale("#a")
    carol = await connect("carol", port=server.port)
    _, page = await carol.join("#a")
    assert [m["text"] for m in page["messages"]] == ["here", "there"]
    # Later messages extend the reread window as usual.
    await alice.send(type="say", room="#a", text="again")
    await alice.barrier()
    dave = await connect("dave", port=server.port)
    _, page = await dave.join("#a")
    assert [m["text"] for m in page["messages"]] == ["here", "there", "again"]


async def test_topic_changed_hook_is_what_joiners_see(server: Server, connect: Connect) -> None:
    """A topic relayed from another process through ``topic_changed`` is sent on join."""
    alice = await connect("alice")
    await alice.join("#a")
    server.hub.rooms.topic_changed("#a", "from elsewhere", "carol")
    bob = await connect("bob")
    joined, _ = await bob.join("#a")
    assert joined["topic"] == "from elsewhere"


class _Twice:
    """A feature that claims a frame another feature already handles."""

    def __init__(self, context: Context) -> None:
        self.handlers = Handlers().on(p.Ping, self.ping)

    async def ping(self, s: Session, f: p.Ping) -> None:
        return None

    def load(self, snapshot: Snapshot) -> None:
        return None

    def departed(self, session: Session, text: str | None) -> None:
        return None


def test_every_client_frame_has_exactly_one_handler() -> None:
    """The hub refuses to start with a frame handled twice or by nobody."""

    def hub(features: tuple[FeatureFactory, ...]) -> Hub:
        store = SQLiteHistory(":memory:")
        accounts, moderation = SQLiteAccounts(store), SQLiteModeration(store)
        return Hub(ServerConfig(), store, SharedBackplane(), features, accounts, moderation)

    with pytest.raises(ValueError, match="Ping is handled by two features"):
        hub((*FEATURES, _Twice))
    with pytest.raises(ValueError, match="no feature handles"):
        hub((RoomFeature, MessageFeature))
    with pytest.raises(ValueError, match="no feature handles"):
        hub((PresenceFeature, RoomFeature, MessageFeature))
    hub(FEATURES)


def test_a_table_refuses_a_second_handler_for_a_frame() -> None:
    """Within one feature, registering a frame type twice is a bug caught at once."""

    async def nothing(s: Session, f: p.Ping) -> None:
        return None

    with pytest.raises(ValueError, match="Ping has two handlers"):
        Handlers().on(p.Ping, nothing).on(p.Ping, nothing)
