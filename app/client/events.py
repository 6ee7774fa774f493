"""What the engine tells a frontend: one frozen event class per kind of news, and the door out.

This module owns the engine-to-frontend half of the contract, written once. Each kind of news is
a frozen dataclass (the state changed, a line was added to or updated in a conversation, a
conversation's scrollback must be redrawn, someone's presence changed, a topic changed, the
connection changed, an error to show, the search changed), ``FrontendEvent`` is their union,
and a ``Frontend`` is anything with ``handle(event)``. Wrappers that carry events elsewhere (a
queue for the Tk thread, a Textual message) pass the event along whole, so they cannot drift from
this list; a frontend that acts on events matches on the union and ends with ``unhandled``, so
mypy names every frontend that does not yet handle a new kind. ``Notifier`` is the engine's one
door to its frontend: it passes events on, coalesces state snapshots to one per loop iteration,
builds the redraws from a conversation, and keeps a misbehaving frontend from breaking the
engine. Threads and the requests going the other way are in ``frontends/base.py``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeAlias

from app.client.search_view import SearchView
from app.client.state import (
    ChatState,
    ConnectionStatus,
    Conversation,
    Line,
    PresenceChange,
    StateSnapshot,
)

__all__ = [
    "ConnectionChanged",
    "ErrorReported",
    "Frontend",
    "FrontendEvent",
    "LineAdded",
    "LineUpdated",
    "Notifier",
    "PresenceChanged",
    "ScrollbackReset",
    "SearchChanged",
    "StateChanged",
    "TopicChanged",
    "unhandled",
]

log = logging.getLogger("parley.client")

# ``conversation`` in every event is a conversation key: the case-folded room (``"#general"``)
# or nick (``"alice"``), as in ``ConversationView.key``. Every value is frozen, so an event may
# cross threads.


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Conversations, unread counts, members, topics, nick, the active conversation or the
    connection changed. Sent at most once per loop iteration with the whole new state."""

    state: StateSnapshot


@dataclass(frozen=True, slots=True)
class LineAdded:
    """A line was appended at the end of the conversation's scrollback."""

    conversation: str
    line: Line


@dataclass(frozen=True, slots=True)
class LineUpdated:
    """The line with the same ``seq`` changed: a pending message was confirmed or failed."""

    conversation: str
    line: Line


@dataclass(frozen=True, slots=True)
class ScrollbackReset:
    """Redraw the conversation from ``lines`` (oldest first).

    Sent after anything other than an append or an update: ``/clear``, older history loaded in
    front, missed messages inserted after a reconnect, a direct conversation re-keyed because its
    peer changed nick, and when the conversation becomes the active one, so a frontend that shows
    only the active conversation keeps no store. ``active`` says whether ``conversation`` is the
    active one as of this event: such a frontend draws ``lines`` when it is and ignores the reset
    when it is not. It need not wait for the ``StateChanged`` that names a new active
    conversation: snapshots are coalesced to one per loop iteration, so that one comes after.
    """

    conversation: str
    lines: tuple[Line, ...]
    active: bool
    # The seq of the last line shown when the user left this conversation: lines after it are
    # new to them, and a frontend draws an unread marker there. None: no marker.
    marker: int | None = None


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """Someone joined, parted, quit, changed nick, went away or came back."""

    change: PresenceChange


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """A room's topic was set (by ``by``); it also arrives as a ``TOPIC`` line."""

    conversation: str
    topic: str
    by: str


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """connecting, connected, reconnecting (``status.retry_at`` for a countdown), closed."""

    status: ConnectionStatus


@dataclass(frozen=True, slots=True)
class ErrorReported:
    """A readable error. When ``conversation`` is set it also arrives there as an ``ERROR``
    line; when None (for example ``nick_taken`` before any room is joined) it is only here, so
    a login screen can show it."""

    text: str
    conversation: str | None


@dataclass(frozen=True, slots=True)
class SearchChanged:
    """The search (``/search``, ``Engine.search``) changed: hits came, a request went out or
    failed, or a hit is shown in context. ``search`` is the whole of it, to draw as it is."""

    search: SearchView


FrontendEvent: TypeAlias = (
    StateChanged
    | LineAdded
    | LineUpdated
    | ScrollbackReset
    | PresenceChanged
    | TopicChanged
    | ConnectionChanged
    | ErrorReported
    | SearchChanged
)


def unhandled(event: NoReturn) -> NoReturn:
    """End a ``match`` over ``FrontendEvent`` with this: mypy then refuses the match while a
    kind of event has no case (``typing.assert_never`` is 3.11+; we support 3.10)."""
    raise AssertionError(f"no case for {event!r}")


class Frontend(Protocol):
    """What the engine tells news to. ``handle`` is called on the engine loop's thread only,
    synchronously, so it must return quickly and must not block."""

    def handle(self, event: FrontendEvent) -> None:
        """Act on ``event``, or pass it on to the thread or message queue that will."""


class Notifier:
    """Sends the frontend its events; state snapshots are coalesced to one per loop iteration."""

    def __init__(self, frontend: Frontend, state: ChatState) -> None:
        self._frontend = frontend
        self._state = state
        self._scheduled = False

    def emit(self, event: FrontendEvent) -> None:
        """Hand ``event`` to the frontend now."""
        try:
            self._frontend.handle(event)
        except Exception:
            # A UI bug must not take the connection down with it; it is still logged loudly.
            log.exception("frontend failed on %s", type(event).__name__)

    def changed(self) -> None:
        """The state changed: a ``StateChanged`` follows once this loop iteration is done."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        self.emit(StateChanged(self._state.snapshot()))

    def reset(self, conversation: Conversation) -> None:
        """Have the frontend redraw ``conversation`` from the lines it holds now."""
        active = self._state.active == conversation.key
        lines = tuple(conversation.lines)
        marker = conversation.marker
        if marker is not None and (not lines or lines[-1].seq == marker):
            marker = None  # nothing new after it
        self.emit(ScrollbackReset(conversation.key, lines, active, marker))
