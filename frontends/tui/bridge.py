"""The engine's side of the TUI: a ``Frontend`` that queues engine events for the app in slices.

This module owns the "messages up" half of the TUI. The engine runs on Textual's own asyncio loop
and hands ``TextualFrontend`` its events synchronously there; ``handle`` appends each to a queue,
in order, and returns at once, so the engine never waits on drawing and no widget is touched from
engine code. The first event of a batch posts one ``EngineEvents`` message to the app, not one
message per event: a burst of 10,000 lines would otherwise be 10,000 messages that Textual's pump
works through without giving the loop a turn, freezing keys and drawing for a quarter of a second.
The app takes the queued events in ``take`` chunks for a bounded time (``SLICE_SECONDS``) and calls
``taken`` (``work_through`` does both); if events remain, the next ``EngineEvents`` is posted only
after the loop has had a turn, so keys, drawing and the engine's own reads come between slices. The
events are the engine's frozen ones unchanged (``app.client.events.FrontendEvent``), so this bridge
has nothing to keep in step when a kind of event is added. Each message names the
``TextualFrontend`` that posted it, so the app can ignore the last words of an engine it has
already replaced (after a login retry).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from textual.message import Message
from textual.message_pump import MessagePump

from app.client.events import FrontendEvent

# How long the app works through engine events before the loop gets a turn: well under the
# 50 ms a keypress or a frame may wait, leaving room for the frame and an engine read beside it.
SLICE_SECONDS: Final = 0.005
# Events taken at a time within a slice: the clock is read between chunks. A chat line costs
# up to ~0.3 ms in the log, so a chunk overshoots the slice by a few milliseconds at most.
CHUNK: Final = 16


class EngineEvents(Message):
    """Events from an engine are waiting; ``origin`` is the frontend that holds them."""

    def __init__(self, origin: TextualFrontend) -> None:
        super().__init__()
        self.origin = origin


class TextualFrontend:
    """Implements ``frontends.base.Frontend`` by queueing events and waking ``target`` once."""

    def __init__(self, target: MessagePump) -> None:
        self._target = target
        self._pending: deque[FrontendEvent] = deque()
        # An ``EngineEvents`` is posted (or about to be) and not yet handled.
        self._woken = False

    @property
    def waiting(self) -> int:
        """Events queued and not yet taken by the app."""
        return len(self._pending)

    def handle(self, event: FrontendEvent) -> None:
        self._pending.append(event)
        if not self._woken:
            self._woken = True
            self._target.post_message(EngineEvents(self))

    def take(self, limit: int = CHUNK) -> list[FrontendEvent]:
        """Up to ``limit`` of the queued events, oldest first, removed from the queue."""
        pending = self._pending
        return [pending.popleft() for _ in range(min(limit, len(pending)))]

    def taken(self) -> None:
        """The app is done with this slice: wake it again, after a turn of the loop, if
        events are left."""
        if not self._pending:
            self._woken = False
            return
        # Posting at once would let Textual's pump go straight on to the next slice; from a
        # callback, every task that is ready (keys, the screen's refresh, the engine) runs first.
        asyncio.get_running_loop().call_soon(self._wake_again)

    def work_through(self, act: Callable[[list[FrontendEvent]], None]) -> None:
        """Hand ``act`` the queued events a chunk at a time for one slice, then ``taken``."""
        deadline = time.perf_counter() + SLICE_SECONDS
        try:
            while time.perf_counter() < deadline and (events := self.take()):
                act(events)
        finally:
            self.taken()

    def _wake_again(self) -> None:
        self._target.post_message(EngineEvents(self))


__all__ = ["CHUNK", "SLICE_SECONDS", "EngineEvents", "TextualFrontend"]
