"""Editing our own room messages: which line an edit takes, what it sends, and what ``edited`` does.

This module owns the client's side of the protocol's ``edit`` (docs/protocol.md, "Editing
messages"). ``last_editable`` is the line "edit my last message" means: our newest message in a
conversation that the server has stored (it has an id) and that is not deleted; it is a pure
function of a conversation's lines, so the Textual and Tk frontends, each on its own thread, find
the same line in the lines they hold (↑ on an empty input). ``Editor`` carries out ``/edit text``
(our last message in the active room gets ``text``), ``/edit`` alone (shows that message and how
to change it) and the engine's ``edit(id, text)``, what a frontend's edit mode sends: it refuses
locally what the server would (a direct conversation, a room we are not in, an empty or too long
text, while disconnected) and sends one ``edit`` whose ``Request`` makes a refusal land in that
room. ``revise`` applies ``edited``, ours or anyone's: the line keeps its place and takes the new
text, marked edited, which frontends show as "(edited)". Whether we may edit (the author, within
the server's window) is the server's to say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from app.client import receive  # a module: it imports this one too
from app.client.commands import MAX_TEXT
from app.client.events import LineUpdated
from app.client.state import ChatState, Conversation, ConversationKind, Line, mentions
from app.protocol import Edit, Edited

if TYPE_CHECKING:
    from app.client.receive import Receiver, Send

EDITED_MARK: Final = "(edited)"


def last_editable(lines: Sequence[Line]) -> Line | None:
    """Our newest message in ``lines`` that the server stored and that is not deleted."""
    for line in reversed(lines):
        if line.own and line.is_chat and line.id is not None and not line.deleted:
            return line
    return None


def edited_line(line: Line, text: str, me: str) -> Line:
    """``line`` with its new ``text``, marked edited; a mention of us is read anew."""
    return replace(line, text=text, edited=True, mention=not line.own and mentions(text, me))


def revise(receiver: Receiver, frame: Edited) -> None:
    """Someone (we too) edited a message of a room we are in: its line takes the new text."""
    receiver.answered(frame.ref)
    conversation = receiver.state.get(frame.room)
    if conversation is None or not conversation.joined:
        return
    line = conversation.find_id(frame.id)
    if line is None or line.deleted or (line.edited and line.text == frame.text):
        return
    updated = edited_line(line, frame.text, receiver.state.nick)
    conversation.replace(updated)
    receiver.notify.emit(LineUpdated(conversation.key, updated))


class Editor:
    """Carries out ``/edit`` and the engine's ``edit``; everything it says goes through
    ``refuse`` and ``notice``."""

    def __init__(
        self,
        state: ChatState,
        send: Send,
        refuse: Callable[[str], None],
        notice: Callable[[str], None],
        online: Callable[[], bool],
    ) -> None:
        self._state = state
        self._send = send
        self._refuse = refuse
        self._notice = notice
        self._online = online

    def edit_last(self, text: str | None) -> None:
        """``/edit text``: our last message in the active room says ``text`` instead; ``/edit``
        alone shows that message and how to change it."""
        room = self._room()
        if room is None:
            return
        line = last_editable(room.lines)
        if line is None or line.id is None:
            self._refuse(f"You have no message in {room.name} to edit.")
            return
        if text is None:
            self._notice(f"Your last message in {room.name}: {line.text}")
            self._notice("/edit and the new text changes it (or Up on an empty input line).")
            return
        self.edit(line.id, text)

    def edit(self, message_id: int, text: str) -> None:
        """Send the edit of our message ``message_id`` in the active room to ``text``."""
        room = self._room()
        if room is None:
            return
        if not text.strip():
            self._refuse("An edit needs some text; /delete removes a message.")
            return
        if len(text) > MAX_TEXT:
            self._refuse(f"that is {len(text)} characters; the limit is {MAX_TEXT}")
            return
        line = room.find_id(message_id)
        if line is not None and line.text == text:
            return  # nothing changed: nothing to tell anyone
        if self._online():
            frame = Edit(id=message_id, text=text, room=room.name)
            self._send(frame, receive.Request("edit", room.key))

    def _room(self) -> Conversation | None:
        """The active room we are in, or None (refused with why)."""
        active = self._state.active_conversation
        if active is None or active.kind is not ConversationKind.ROOM:
            self._refuse("Only room messages can be edited: switch to the room first.")
            return None
        if not active.joined:
            self._refuse(f"You are not in {active.name}; /join it first.")
            return None
        return active
