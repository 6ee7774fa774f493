"""Handlers that wait: one connection's frames keep their order, other connections go on.

The store here is the real SQLite history of the test whose reads (``history`` pages) wait at a
gate the test opens, as a remote store, a lock in Redis or a password hash in a thread pool would
make a handler wait. While connection A's read waits, A's later frames must not take effect, and
connection B must be served as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from app.server import Server, ServerConfig
from app.store import Page, SQLiteHistory
from tests.conftest import Dial, WireClient, hang_up
from tests.server.wire import in_room


class GatedHistory(SQLiteHistory):
    """Real SQLite whose page reads wait (asynchronously) until ``gate`` is set."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.waiting = 0  # reads now held at the gate
        self._held: set[asyncio.Task[None]] = set()

    def page(
        self,
        room: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[Page], None],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        async def later() -> None:
            self.waiting += 1
            await self.gate.wait()
            self.waiting -= 1
            super(GatedHistory, self).page(room, before, after, limit, done, failed)

        task = asyncio.get_running_loop().create_task(later())
        self._held.add(task)
        task.add_done_callback(self._held.discard)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a state of the server), failing after 10 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not condition():
        assert loop.time() < deadline, "the server never got there"
        await asyncio.sleep(0.01)


async def gated_server(tmp_path: Path) -> tuple[Server, GatedHistory]:
    store = GatedHistory(str(tmp_path / "parley.db"))
    server = Server(ServerConfig(port=0, db=str(tmp_path / "parley.db"), msg_rate=0), store=store)
    await server.start()
    return server, store


async def test_frames_after_a_waiting_one_wait_and_others_do_not(
    tmp_path: Path, dial: Dial
) -> None:
    """A's say and ping wait behind its slow history read; B's frames go through meanwhile."""
    server, store = await gated_server(tmp_path)
    try:

        async def connect(nick: str) -> WireClient:
            return await dial(server.port, nick)

        alice, bob = await in_room(connect, "#a", "alice", "bob")
        await alice.send_raw(
            b'{"type":"history","room":"#a","ref":"h"}\n'
            b'{"type":"say","room":"#a","text":"after the read","nonce":"n"}\n'
            b'{"type":"ping","id":"p"}\n'
        )
        await until(lambda: store.waiting == 1)

        await bob.send(type="say", room="#a", text="meanwhile")
        seen_by_bob = await bob.barrier()
        assert [f["text"] for f in seen_by_bob if f["type"] == "message"] == ["meanwhile"]
        # Alice heard bob, and nothing of what she asked for after the read.
        assert (await alice.expect("message", text="meanwhile"))["from"] == "bob"

        store.gate.set()
        page = await alice.expect("history", ref="h")
        assert [m["text"] for m in page["messages"]] == ["meanwhile"]
        await alice.expect("message", text="after the read", nonce="n")
        await alice.expect("pong", id="p")
        await bob.expect("message", text="after the read")
        await hang_up(alice, bob)
    finally:
        store.gate.set()
        await server.stop()


async def test_a_waiting_read_keeps_order_across_several_reads(tmp_path: Path, dial: Dial) -> None:
    """Frames sent in one write after several slow reads are answered strictly in order."""
    server, store = await gated_server(tmp_path)
    try:
        alice = await dial(server.port, "alice")
        await alice.join("#a")
        await alice.send_raw(
            b'{"type":"history","room":"#a","ref":1}\n'
            b'{"type":"say","room":"#a","text":"x"}\n'
            b'{"type":"history","room":"#a","ref":2}\n'
            b'{"type":"topic","room":"#a","topic":"t","ref":3}\n'
        )
        await until(lambda: store.waiting == 1)
        store.gate.set()
        first = await alice.expect("history", ref=1)
        assert first["messages"] == []
        await alice.expect("message", text="x")
        second = await alice.expect("history", ref=2)
        assert [m["text"] for m in second["messages"]] == ["x"]
        await alice.expect("topic", topic="t", ref=3)
        await hang_up(alice)
    finally:
        store.gate.set()
        await server.stop()


async def test_a_client_leaving_while_its_read_waits_is_forgotten(
    tmp_path: Path, dial: Dial
) -> None:
    """A client that hangs up while its read waits is forgotten once the read is done."""
    server, store = await gated_server(tmp_path)
    try:
        alice = await dial(server.port, "alice")
        await alice.join("#a")
        await alice.send(type="history", room="#a")
        await until(lambda: store.waiting == 1)
        await alice.close()
        # Its connection is not read while the read waits, so the hang-up is seen after it.
        store.gate.set()
        await until(lambda: "alice" not in server.hub.nicks)
        again = await dial(server.port, "alice")
        await again.join("#a")
        assert await again.barrier() == []
        await hang_up(again)
    finally:
        store.gate.set()
        await server.stop()
