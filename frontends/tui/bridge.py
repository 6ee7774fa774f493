"""The engine's side of the TUI: a ``Frontend`` that turns every call into a Textual message.

This module owns the "messages up" half of the TUI. The engine runs on Textual's own asyncio
loop and calls ``TextualFrontend`` synchronously there; each call becomes one Textual ``Message``
posted to the app, in order, and returns at once, so the engine never waits on drawing and no
widget is touched from engine code. The app handles the messages (``on_state_changed``,
``on_line_added`` and so on) and hands values down to its widgets as attributes. The message
classes carry the engine's frozen values unchanged, and each names the ``TextualFrontend`` that
posted it, so the app can ignore the last words of an engine it has already replaced (after a
login retry).
"""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump

from app.client.state import ConnectionStatus, Line, PresenceChange, StateSnapshot


class EngineMessage(Message):
    """A message from an engine; ``origin`` is the frontend it was posted through."""

    def __init__(self, origin: TextualFrontend) -> None:
        super().__init__()
        self.origin = origin


class StateChanged(EngineMessage):
    """The engine's whole state (everything but scrollback) after a change."""

    def __init__(self, origin: TextualFrontend, state: StateSnapshot) -> None:
        super().__init__(origin)
        self.state = state


class LineAdded(EngineMessage):
    """A line was appended to a conversation."""

    def __init__(self, origin: TextualFrontend, conversation: str, line: Line) -> None:
        super().__init__(origin)
        self.conversation = conversation
        self.line = line


class LineUpdated(EngineMessage):
    """A line already shown changed: a pending message was confirmed or failed."""

    def __init__(self, origin: TextualFrontend, conversation: str, line: Line) -> None:
        super().__init__(origin)
        self.conversation = conversation
        self.line = line


class ScrollbackReset(EngineMessage):
    """A conversation's scrollback must be redrawn from these lines (oldest first); ``active``
    says whether it is the active conversation, the one the log shows."""

    def __init__(
        self, origin: TextualFrontend, conversation: str, lines: tuple[Line, ...], active: bool
    ) -> None:
        super().__init__(origin)
        self.conversation = conversation
        self.lines = lines
        self.active = active


class PresenceChanged(EngineMessage):
    """Someone joined, left, quit, changed nick, went away or came back."""

    def __init__(self, origin: TextualFrontend, change: PresenceChange) -> None:
        super().__init__(origin)
        self.change = change


class TopicChanged(EngineMessage):
    """A room's topic was set."""

    def __init__(self, origin: TextualFrontend, conversation: str, topic: str, by: str) -> None:
        super().__init__(origin)
        self.conversation = conversation
        self.topic = topic
        self.by = by


class ConnectionChanged(EngineMessage):
    """The link to the server changed state (with the reconnect countdown while retrying)."""

    def __init__(self, origin: TextualFrontend, status: ConnectionStatus) -> None:
        super().__init__(origin)
        self.status = status


class ErrorReported(EngineMessage):
    """A readable error; with no conversation it belongs on the login screen or in a toast."""

    def __init__(self, origin: TextualFrontend, text: str, conversation: str | None) -> None:
        super().__init__(origin)
        self.text = text
        self.conversation = conversation


class TextualFrontend:
    """Implements ``frontends.base.Frontend`` by posting one message per call to ``target``."""

    def __init__(self, target: MessagePump) -> None:
        self._target = target

    def state_changed(self, state: StateSnapshot) -> None:
        self._target.post_message(StateChanged(self, state))

    def line_added(self, conversation: str, line: Line) -> None:
        self._target.post_message(LineAdded(self, conversation, line))

    def line_updated(self, conversation: str, line: Line) -> None:
        self._target.post_message(LineUpdated(self, conversation, line))

    def scrollback_reset(self, conversation: str, lines: tuple[Line, ...], active: bool) -> None:
        self._target.post_message(ScrollbackReset(self, conversation, lines, active))

    def presence(self, change: PresenceChange) -> None:
        self._target.post_message(PresenceChanged(self, change))

    def topic_changed(self, conversation: str, topic: str, by: str) -> None:
        self._target.post_message(TopicChanged(self, conversation, topic, by))

    def connection_changed(self, status: ConnectionStatus) -> None:
        self._target.post_message(ConnectionChanged(self, status))

    def error(self, text: str, conversation: str | None) -> None:
        self._target.post_message(ErrorReported(self, text, conversation))
