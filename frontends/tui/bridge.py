"""The engine's side of the TUI: a ``Frontend`` that posts every engine event as a Textual message.

This module owns the "messages up" half of the TUI. The engine runs on Textual's own asyncio
loop and hands ``TextualFrontend`` its events synchronously there; each becomes one
``EngineMessage`` posted to the app, in order, and ``handle`` returns at once, so the engine never
waits on drawing and no widget is touched from engine code. The message carries the engine's
frozen event unchanged (one of ``app.client.events.FrontendEvent``), so this bridge has nothing
to keep in step when a kind of event is added; the app's ``on_engine_message`` matches on it and
hands values down to its widgets as attributes. Each message names the ``TextualFrontend`` that
posted it, so the app can ignore the last words of an engine it has already replaced (after a
login retry).
"""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump

from app.client.events import FrontendEvent


class EngineMessage(Message):
    """One event from an engine; ``origin`` is the frontend it was posted through."""

    def __init__(self, origin: TextualFrontend, event: FrontendEvent) -> None:
        super().__init__()
        self.origin = origin
        self.event = event


class TextualFrontend:
    """Implements ``frontends.base.Frontend`` by posting one message per event to ``target``."""

    def __init__(self, target: MessagePump) -> None:
        self._target = target

    def handle(self, event: FrontendEvent) -> None:
        self._target.post_message(EngineMessage(self, event))
