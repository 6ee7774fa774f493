"""The contract between the client engine and any frontend (Textual, Tk, a test recorder).

This module owns the two directions of that contract. ``Frontend`` is what the engine tells a
frontend: the state changed, a line was added to or updated in a conversation, a conversation's
scrollback must be redrawn, someone's presence changed, a topic changed, the connection changed
(with the reconnect countdown) and an error to show. ``EngineControl`` is what a frontend asks of
the engine: submit a typed line, switch conversation, load older history, quit. Completion needs
no request: ``app.client.commands.complete(snapshot, text, cursor)`` is a pure function of the
latest ``StateSnapshot`` and may be called on any thread.

Threads. The engine runs on one asyncio event loop. It calls every ``Frontend`` method on that
loop's thread, synchronously, so a method must return quickly and must not block. A frontend
that shares the loop (Textual) may act directly; one that owns another thread (Tk) wraps itself
in ``QueueFrontend``, whose calls go into a ``queue.Queue`` that the Tk thread drains with
``root.after`` and replays with ``deliver``. Every value passed (``Line``, ``StateSnapshot``,
``ConnectionStatus``, ``PresenceChange``) is frozen, so it may cross threads. The ``Engine``'s
request methods must be called on the engine's loop; another thread uses ``ThreadSafeControl``,
which forwards each call with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import queue
from typing import NamedTuple, Protocol

from app.client.state import ConnectionStatus, Line, PresenceChange, StateSnapshot

__all__ = [
    "EngineControl",
    "Frontend",
    "FrontendCall",
    "NullFrontend",
    "QueueFrontend",
    "ThreadSafeControl",
    "deliver",
]


class Frontend(Protocol):
    """What the engine tells a frontend. Called on the engine loop's thread only.

    ``conversation`` is always a conversation key: the case-folded room (``"#general"``) or nick
    (``"alice"``), as in ``ConversationView.key``.
    """

    def state_changed(self, state: StateSnapshot) -> None:
        """Conversations, unread counts, members, topics, nick, the active conversation or the
        connection changed. Sent at most once per loop iteration with the whole new state."""

    def line_added(self, conversation: str, line: Line) -> None:
        """A line was appended at the end of the conversation's scrollback."""

    def line_updated(self, conversation: str, line: Line) -> None:
        """The line with the same ``seq`` changed: a pending message was confirmed or failed."""

    def scrollback_reset(self, conversation: str, lines: tuple[Line, ...], active: bool) -> None:
        """Redraw the conversation from ``lines`` (oldest first).

        Sent after anything other than an append or an update: ``/clear``, older history loaded
        in front, missed messages inserted after a reconnect, a direct conversation re-keyed
        because its peer changed nick, and when the conversation becomes the active one, so a
        frontend that shows only the active conversation keeps no store.
        ``active`` says whether ``conversation`` is the active one as of this call: such a
        frontend draws ``lines`` when it is and ignores the reset when it is not. It need not
        wait for the ``state_changed`` that names a new active conversation: snapshots are
        coalesced to one per loop iteration, so that one comes after the reset.
        """

    def presence(self, change: PresenceChange) -> None:
        """Someone joined, parted, quit, changed nick, went away or came back."""

    def topic_changed(self, conversation: str, topic: str, by: str) -> None:
        """A room's topic was set (by ``by``); also arrives as a ``TOPIC`` line."""

    def connection_changed(self, status: ConnectionStatus) -> None:
        """connecting, connected, reconnecting (``status.retry_at`` for a countdown), closed."""

    def error(self, text: str, conversation: str | None) -> None:
        """A readable error. When ``conversation`` is set it also arrives there as an ``ERROR``
        line; when None (for example ``nick_taken`` before any room is joined) it is only
        here, so a login screen can show it."""


class NullFrontend:
    """A frontend that ignores everything; subclass it to implement only what you need."""

    def state_changed(self, state: StateSnapshot) -> None:
        return None

    def line_added(self, conversation: str, line: Line) -> None:
        return None

    def line_updated(self, conversation: str, line: Line) -> None:
        return None

    def scrollback_reset(self, conversation: str, lines: tuple[Line, ...], active: bool) -> None:
        return None

    def presence(self, change: PresenceChange) -> None:
        return None

    def topic_changed(self, conversation: str, topic: str, by: str) -> None:
        return None

    def connection_changed(self, status: ConnectionStatus) -> None:
        return None

    def error(self, text: str, conversation: str | None) -> None:
        return None


class EngineControl(Protocol):
    """What a frontend asks of the engine. Call these on the engine's loop thread only."""

    def submit(self, text: str) -> None:
        """A line the user typed: a ``/command`` or text for the active conversation.

        A bad command becomes a local ``ERROR`` line and nothing is sent.
        """

    def switch_to(self, conversation: str) -> None:
        """Make ``conversation`` (a key or a name) active and mark it read."""

    def load_older(self, conversation: str | None = None) -> None:
        """Fetch a page of history older than the oldest line (default: the active one)."""

    def quit(self, text: str | None = None) -> None:
        """Say goodbye to the server and close for good; the state becomes ``closed``."""


class ThreadSafeControl:
    """``EngineControl`` for a thread that is not the engine's: each call is queued on its loop."""

    def __init__(self, engine: EngineControl, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop

    def submit(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._engine.submit, text)

    def switch_to(self, conversation: str) -> None:
        self._loop.call_soon_threadsafe(self._engine.switch_to, conversation)

    def load_older(self, conversation: str | None = None) -> None:
        self._loop.call_soon_threadsafe(self._engine.load_older, conversation)

    def quit(self, text: str | None = None) -> None:
        self._loop.call_soon_threadsafe(self._engine.quit, text)


class FrontendCall(NamedTuple):
    """One ``Frontend`` call captured for another thread: the method's name and its arguments."""

    method: str
    args: tuple[object, ...]


class QueueFrontend:
    """A ``Frontend`` that only records each call into a queue, for a frontend on another thread.

    The owning thread takes ``FrontendCall`` items off ``calls`` (for Tk, in a ``root.after``
    poll as IDLE does) and hands each to ``deliver`` with its real frontend.
    """

    def __init__(self, calls: queue.Queue[FrontendCall] | None = None) -> None:
        self.calls: queue.Queue[FrontendCall] = queue.Queue() if calls is None else calls

    def state_changed(self, state: StateSnapshot) -> None:
        self.calls.put(FrontendCall("state_changed", (state,)))

    def line_added(self, conversation: str, line: Line) -> None:
        self.calls.put(FrontendCall("line_added", (conversation, line)))

    def line_updated(self, conversation: str, line: Line) -> None:
        self.calls.put(FrontendCall("line_updated", (conversation, line)))

    def scrollback_reset(self, conversation: str, lines: tuple[Line, ...], active: bool) -> None:
        self.calls.put(FrontendCall("scrollback_reset", (conversation, lines, active)))

    def presence(self, change: PresenceChange) -> None:
        self.calls.put(FrontendCall("presence", (change,)))

    def topic_changed(self, conversation: str, topic: str, by: str) -> None:
        self.calls.put(FrontendCall("topic_changed", (conversation, topic, by)))

    def connection_changed(self, status: ConnectionStatus) -> None:
        self.calls.put(FrontendCall("connection_changed", (status,)))

    def error(self, text: str, conversation: str | None) -> None:
        self.calls.put(FrontendCall("error", (text, conversation)))


_METHODS = frozenset(
    {
        "state_changed",
        "line_added",
        "line_updated",
        "scrollback_reset",
        "presence",
        "topic_changed",
        "connection_changed",
        "error",
    }
)


def deliver(call: FrontendCall, frontend: Frontend) -> None:
    """Replay one captured call on ``frontend``, on the thread that owns it."""
    if call.method not in _METHODS:
        raise ValueError(f"not a Frontend method: {call.method!r}")
    getattr(frontend, call.method)(*call.args)
