"""The Frontend contract across threads: an engine on its own loop, driven as Tk will drive it."""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest

from app.client.engine import Engine
from app.client.state import ConnectionState, LineKind
from app.server import Server
from frontends.base import (
    Frontend,
    FrontendCall,
    NullFrontend,
    QueueFrontend,
    ThreadSafeControl,
    deliver,
)
from tests.client.conftest import FAST, MakeClient, Recorder, eventually


def test_deliver_refuses_anything_but_frontend_methods() -> None:
    """Only the Frontend's own methods can be replayed from a queue."""
    with pytest.raises(ValueError, match="not a Frontend method"):
        deliver(FrontendCall("__init__", ()), NullFrontend())


def test_recorder_and_queue_frontend_implement_the_protocol() -> None:
    """The test recorder, the queue frontend and the null frontend are all Frontends."""
    frontends: list[Frontend] = [Recorder(), QueueFrontend(), NullFrontend()]
    assert len(frontends) == 3


async def test_engine_on_another_thread_through_queue_and_control(
    server: Server, make_client: MakeClient
) -> None:
    """An engine on its own loop thread is driven via ThreadSafeControl and seen via a queue."""
    bob = await make_client("bob", server.port)
    calls: queue.Queue[FrontendCall] = queue.Queue()
    engine = Engine(QueueFrontend(calls), nick="alice", port=server.port, timings=FAST)
    engine_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=engine_loop.run_until_complete, args=(engine.run(),))
    thread.start()
    control = ThreadSafeControl(engine, engine_loop)
    seen = Recorder()
    callers: set[int] = set()

    def drain() -> bool:
        """What a Tk ``after`` poll does: replay every waiting call on this thread."""
        while True:
            try:
                call = calls.get_nowait()
            except queue.Empty:
                return True
            callers.add(threading.get_ident())
            deliver(call, seen)

    try:
        await eventually(
            lambda: drain() and seen.has("#general"),
            "alice joined #general, as seen through the queue",
        )
        control.submit("hello from another thread")
        await eventually(
            lambda: bob.rec.chat("#general") == ["hello from another thread"], "bob sees it"
        )
        await eventually(
            lambda: (
                drain()
                and [line.pending for line in seen.lines("#general", LineKind.MESSAGE)] == [False]
            ),
            "alice's line confirmed through the queue",
        )
        bob.engine.submit("hi alice")
        await eventually(
            lambda: drain() and seen.chat("#general")[-1:] == ["hi alice"], "bob's reply"
        )
        control.switch_to("#general")
        control.load_older()
        control.quit("bye")
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()
        drain()
        assert seen.state is ConnectionState.CLOSED
        assert callers == {threading.get_ident()}
    finally:
        if thread.is_alive():
            engine_loop.call_soon_threadsafe(engine.quit)
            await asyncio.to_thread(thread.join, 10)
        engine_loop.close()
