"""The contract between the client engine and any frontend (Textual, Tk, a test recorder).

This module owns the thread rules of that contract and the pieces that carry it across threads.
What the engine tells a frontend is written once, in ``app.client.events``: a ``Frontend`` is
anything with ``handle(event)``, where the event is one of the frozen classes of the
``FrontendEvent`` union (state changed, line added, line updated, scrollback reset, presence,
topic, connection, error, search). ``EngineControl`` is what a frontend asks of the engine: submit
a typed line, switch conversation, load older history, search and show a result, quit, and edit
one of our messages. Completion needs no request:
``app.client.completion.complete(snapshot, text, cursor)`` is a pure function of the latest
``StateSnapshot`` and may be called on any thread.

Threads. The engine runs on one asyncio event loop and calls ``handle`` on that loop's thread,
synchronously, so it must return quickly and must not block. A frontend that shares the loop
(Textual) may act directly; one that owns another thread (Tk) gives the engine a
``QueueFrontend``, which only puts each event into a ``queue.Queue`` that the Tk thread drains
with ``root.after``. Events carry frozen values only, so they may cross threads unchanged. The
``Engine``'s request methods must be called on the engine's loop; another thread uses
``ThreadSafeControl``, which forwards each call with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import gc
import queue
from typing import Protocol

from app.client.events import Frontend, FrontendEvent

__all__ = [
    "EngineControl",
    "Frontend",
    "FrontendEvent",
    "QueueFrontend",
    "ThreadSafeControl",
    "freeze_startup_heap",
]


class EngineControl(Protocol):
    """What a frontend asks of the engine. Call these on the engine's loop thread only."""

    def submit(self, text: str) -> None:
        """A line the user typed: a ``/command`` or text for the active conversation.

        A bad command becomes a local ``ERROR`` line and nothing is sent.
        """

    def paste(self, lines: list[str]) -> int:
        """Pasted ``lines`` for the active conversation: one message each, sent as text."""

    def edit(self, message_id: int, text: str) -> None:
        """Change our message ``message_id`` in the active room to ``text`` (an edit mode's
        Enter); ``app.client.edits.last_editable`` finds the line in the lines a frontend holds."""

    def switch_to(self, conversation: str) -> None:
        """Make ``conversation`` (a key or a name) active and mark it read."""

    def load_older(self, conversation: str | None = None) -> None:
        """Fetch a page of history older than the oldest line (default: the active one)."""

    def quit(self, text: str | None = None) -> None:
        """Say goodbye to the server and close for good; the state becomes ``closed``."""

    def search(self, query: str, room: str | None = None) -> None:
        """Search the history of ``room`` (None: every room we are in) for ``query``."""

    def search_more(self) -> None:
        """Fetch the next page of results of the current search."""

    def jump_to_result(self, number: int) -> None:
        """Show search result ``number`` (1 is the newest) among its neighbours."""


class ThreadSafeControl:
    """``EngineControl`` for a thread that is not the engine's: each call is queued on its loop."""

    def __init__(self, engine: EngineControl, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop

    def submit(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._engine.submit, text)

    def paste(self, lines: list[str]) -> int:
        """Queued on the engine's loop; returns how many lines were handed over."""
        self._loop.call_soon_threadsafe(self._engine.paste, list(lines))
        return len(lines)

    def edit(self, message_id: int, text: str) -> None:
        self._loop.call_soon_threadsafe(self._engine.edit, message_id, text)

    def switch_to(self, conversation: str) -> None:
        self._loop.call_soon_threadsafe(self._engine.switch_to, conversation)

    def load_older(self, conversation: str | None = None) -> None:
        self._loop.call_soon_threadsafe(self._engine.load_older, conversation)

    def quit(self, text: str | None = None) -> None:
        self._loop.call_soon_threadsafe(self._engine.quit, text)

    def search(self, query: str, room: str | None = None) -> None:
        self._loop.call_soon_threadsafe(self._engine.search, query, room)

    def search_more(self) -> None:
        self._loop.call_soon_threadsafe(self._engine.search_more)

    def jump_to_result(self, number: int) -> None:
        self._loop.call_soon_threadsafe(self._engine.jump_to_result, number)


class QueueFrontend:
    """A ``Frontend`` for a frontend on another thread: each event goes into ``events`` as it is.

    The owning thread takes the events off the queue (for Tk, in a ``root.after`` poll as IDLE
    does) and acts on them there.
    """

    def __init__(self, events: queue.Queue[FrontendEvent] | None = None) -> None:
        self.events: queue.Queue[FrontendEvent] = queue.Queue() if events is None else events

    def handle(self, event: FrontendEvent) -> None:
        self.events.put(event)


def freeze_startup_heap() -> None:
    """Collect once, then keep every object alive now out of the collector's later passes.

    A frontend's process holds its imports (Textual or Tk, Rich, the engine) for as long as it
    runs: some 24,000 (Tk) to 41,000 (TUI) objects. Python's full collections walk every tracked
    object, and during a burst one comes every few thousand lines, tens of milliseconds each
    with the imports in it, while no key is read and nothing is drawn. ``gc.freeze`` moves the
    objects alive at startup where the collector never looks; what the session creates
    afterwards is collected as before. Called once by ``parley tui`` and ``parley tk`` before
    the app starts.
    """
    gc.collect()
    gc.freeze()
