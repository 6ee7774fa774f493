"""The Frontend contract: one union of events, carried whole across threads, as Tk drives it;
and the startup heap a frontend process freezes."""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import subprocess
import sys
import threading
from typing import get_args

import pytest

from app.client import events
from app.client.engine import Engine
from app.client.events import FrontendEvent
from app.client.state import ConnectionState, LineKind
from app.server import Server
from frontends.base import Frontend, QueueFrontend, ThreadSafeControl
from tests.client.conftest import (
    FAST,
    QUIET_STATE,
    MakeClient,
    Recorder,
    eventually,
    one_event_of_each_kind,
)


def test_every_event_class_is_in_the_union() -> None:
    """An event class defined in app.client.events but left out of FrontendEvent fails here."""
    defined = {
        value
        for value in vars(events).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == events.__name__
    }
    assert defined == set(get_args(FrontendEvent))


@pytest.mark.parametrize("kind", get_args(FrontendEvent), ids=lambda kind: kind.__name__)
def test_every_event_is_frozen(kind: type[FrontendEvent]) -> None:
    """Events cross from the engine's thread to the Tk thread, so none can be changed."""
    params = getattr(kind, "__dataclass_params__", None)
    assert params is not None and params.frozen


def test_the_sample_events_cover_every_kind() -> None:
    """The frontends' tests feed one event of each kind; a new kind without a sample fails."""
    kinds = [type(event) for event in one_event_of_each_kind(QUIET_STATE)]
    assert sorted(kinds, key=str) == sorted(get_args(FrontendEvent), key=str)


def test_queue_frontend_passes_every_event_through_unchanged() -> None:
    """What the engine hands the queue is what the other thread takes off it, in order."""
    sent = one_event_of_each_kind(QUIET_STATE)
    frontend = QueueFrontend()
    for event in sent:
        frontend.handle(event)
    taken = [frontend.events.get_nowait() for _ in sent]
    assert all(a is b for a, b in zip(taken, sent, strict=True))
    assert frontend.events.empty()


def test_recorder_and_queue_frontend_implement_the_protocol() -> None:
    """The test recorder and the queue frontend are both Frontends, and the recorder takes
    every kind of event."""
    frontends: list[Frontend] = [Recorder(), QueueFrontend()]
    for frontend in frontends:
        for event in one_event_of_each_kind(QUIET_STATE):
            frontend.handle(event)
    recorder = frontends[0]
    assert isinstance(recorder, Recorder) and len(recorder.events) == len(get_args(FrontendEvent))


async def test_engine_on_another_thread_through_queue_and_control(
    server: Server, make_client: MakeClient
) -> None:
    """An engine on its own loop thread is driven via ThreadSafeControl and seen via a queue."""
    bob = await make_client("bob", server.port)
    queued: queue.Queue[FrontendEvent] = queue.Queue()
    engine = Engine(QueueFrontend(queued), nick="alice", port=server.port, timings=FAST)
    engine_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=engine_loop.run_until_complete, args=(engine.run(),))
    thread.start()
    control = ThreadSafeControl(engine, engine_loop)
    seen = Recorder()
    callers: set[int] = set()

    def drain() -> bool:
        """What a Tk ``after`` poll does: hand every waiting event over on this thread."""
        while True:
            try:
                event = queued.get_nowait()
            except queue.Empty:
                return True
            callers.add(threading.get_ident())
            seen.handle(event)

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


def test_freezing_the_startup_heap_leaves_later_garbage_collectable() -> None:
    """After ``freeze_startup_heap`` the objects alive at startup are frozen, not later ones."""
    code = (
        "import gc\n"
        "import frontends.tui.app\n"
        "from frontends.base import freeze_startup_heap\n"
        "freeze_startup_heap()\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
        "cycle = []\n"
        "cycle.append(cycle)\n"
        "del cycle\n"
        "assert gc.collect() >= 1\n"
    )
    # In a process of its own: freezing the test run's heap would keep its garbage for good.
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
