"""What the server's moderation frames do to the client-side state, in words a person reads.

This module owns the receiving half of moderation (docs/protocol.md, "Moderation"): ``mode``
changes a member's role (and says who made whom an op), a ``presence`` of event ``kick`` takes
the member out of the list (``bob was kicked by alice: spam``), ``kicked`` tells us we were
removed: the room stays in the list, no longer joined, with the reason as its last line, until
we join it again or close it. ``moderation`` says that a ban, mute or topic lock was done (the
lock is kept on the room), ``ban_list`` answers ``/bans``, and ``deleted`` replaces a message's
text by who deleted it, as a history page does for a message stored as deleted
(``deleted_line``). It also words the refusals that name a room (``muted``, ``banned``) and a
goodbye that removed us from the server (``killed``, ``banned``). The receiver (``receive.py``)
routes these frames here; every line goes through it to the frontend.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from app.client.commands import describe_duration
from app.client.events import LineUpdated
from app.client.state import Conversation, Line, LineKind, next_seq, now_ms, role_of
from app.protocol import (
    BanList,
    Bye,
    Deleted,
    Error,
    Kicked,
    Message,
    Mode,
    Moderated,
    Presence,
    fold,
)

if TYPE_CHECKING:
    from app.client.receive import Receiver, Request

ModerationFrame = Mode | Kicked | Moderated | BanList | Deleted
# Goodbyes after which reconnecting would only be refused or undo an operator's decision.
REMOVED_REASONS: Final = frozenset({"killed", "banned"})
_ROLE_NAMES: Final = {"owner": "the owner", "op": "an op", "member": "a member"}


def _sentence(text: str) -> str:
    """``text`` with a leading "you" capitalised; a leading nick keeps its case."""
    return f"Y{text[1:]}" if text.startswith("you ") else text


def _reason(reason: str | None) -> str:
    return f": {reason}" if reason else ""


def _until(expires_ms: int | None) -> str:
    if expires_ms is None:
        return ""
    return f" for {describe_duration(expires_ms / 1000 - time.time())}"


def deleted_line(line: Line, by: str | None) -> Line:
    """``line`` as a deleted message: its text gone, saying who deleted it when known."""
    text = f"(message deleted by {by})" if by else "(message deleted)"
    return replace(line, text=text, deleted=True, mention=False)


def goodbye_text(bye: Bye) -> str:
    """What a ``killed`` or ``banned`` goodbye tells the person who was removed."""
    message = bye.message.strip()
    if bye.reason == "killed":
        said = message if fold(message).startswith("killed") else f"killed{_reason(message)}"
        said = said.rstrip(".")
        return f"{said[:1].upper()}{said[1:]}."
    return f"You are banned from this server{_reason(message)}."


class ModerationNews:
    """Applies the moderation frames to the receiver's state, with a line for each."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def _who(self, nick: str) -> str:
        return "you" if fold(nick) == fold(self._receiver.state.nick) else nick

    def _room(self, name: str | None) -> Conversation | None:
        conversation = self._receiver.state.get(name) if name else None
        return conversation if conversation is not None and conversation.joined else None

    def _say(self, conversation: Conversation, text: str, sender: str | None = None) -> None:
        line = Line(next_seq(), LineKind.MODERATION, _sentence(text), now_ms(), sender=sender)
        self._receiver.append(conversation, line)

    def handle(self, frame: ModerationFrame) -> None:
        request = self._receiver.answered(frame.ref)
        if isinstance(frame, Mode):
            self._mode(frame)
        elif isinstance(frame, Kicked):
            self._kicked(frame)
        elif isinstance(frame, Moderated):
            self._moderated(frame, request)
        elif isinstance(frame, BanList):
            self._ban_list(frame, request)
        else:
            self._deleted(frame)
        self._receiver.notify.changed()

    def _mode(self, mode: Mode) -> None:
        conversation = self._room(mode.room)
        if conversation is None:
            return
        role = role_of(mode.role)
        conversation.set_role(mode.nick, role)
        nick, by = self._who(mode.nick), self._who(mode.by)
        if fold(mode.nick) == fold(mode.by):
            verb = "are" if nick == "you" else "is"
            text = f"{nick} {verb} now {_ROLE_NAMES[role]}"
        elif role == "member":
            text = f"{by} took op from {nick}"
        else:
            text = f"{by} made {nick} {_ROLE_NAMES[role]}"
        self._say(conversation, text, mode.by)

    def kick(self, conversation: Conversation, presence: Presence) -> None:
        """Someone else was kicked from ``conversation``: out of the member list, and said."""
        conversation.remove_member(presence.nick)
        by = presence.by or "?"
        if fold(by) == fold(self._receiver.state.nick):
            text = f"you kicked {presence.nick}{_reason(presence.reason)}"
        else:
            text = f"{presence.nick} was kicked by {by}{_reason(presence.reason)}"
        self._say(conversation, text, by)

    def _kicked(self, kicked: Kicked) -> None:
        conversation = self._room(kicked.room)
        if conversation is None:
            return
        conversation.joined = False
        conversation.members.clear()
        conversation.locked = False
        self._receiver.room_gone(conversation)
        text = f"you were kicked from {conversation.name} by {kicked.by}{_reason(kicked.reason)}"
        self._say(conversation, text, kicked.by)
        back = f"/join {conversation.name} to go back in, /part to close it."
        self._receiver.show(LineKind.NOTICE, back, conversation.key)
        active = self._receiver.state.active_conversation
        if active is not None and active is not conversation:
            self._say(active, text, kicked.by)

    def _moderated(self, done: Moderated, request: Request | None) -> None:
        by, target = self._who(done.by), done.target
        reason, until = _reason(done.reason), _until(done.expires_ms)
        texts = {
            "ban": f"{by} banned {target}{until}{reason}",
            "unban": f"{by} lifted the ban on {target}",
            "mute": f"{by} muted {self._who(target)}{until}",
            "unmute": f"{by} unmuted {self._who(target)}",
            "lock": f"{by} locked the topic: only ops may set it",
            "unlock": f"{by} unlocked the topic",
            "kill": f"{by} disconnected {target} from the server{reason}",
            "gban": f"{by} banned {target} from the server{until}{reason}",
            "gunban": f"{by} lifted the server's ban on {target}",
        }
        text = texts.get(done.action, f"{by}: {done.action} {target}{until}{reason}")
        conversation = self._room(done.room)
        if conversation is not None and done.action in ("lock", "unlock"):
            conversation.locked = done.action == "lock"
        if conversation is None:
            where = request.conversation if request is not None else None
            conversation = self._receiver.state.get(where) if where else None
            conversation = conversation or self._receiver.state.active_conversation
        if conversation is not None:
            self._say(conversation, text, done.by)

    def _ban_list(self, bans: BanList, request: Request | None) -> None:
        where = request.conversation if request is not None else bans.room
        place = f"in {bans.room}" if bans.room else "on the server"
        if not bans.bans:
            self._receiver.show(LineKind.NOTICE, f"No bans {place}.", where)
            return
        self._receiver.show(LineKind.NOTICE, f"Bans {place} ({len(bans.bans)}):", where)
        for ban in sorted(bans.bans, key=lambda b: b.mask):
            until = ""
            if ban.expires_ms is not None:
                until = f", {describe_duration(ban.expires_ms / 1000 - time.time())} left"
            text = f"  {ban.mask} by {ban.by}{until}{_reason(ban.reason)}"
            self._receiver.show(LineKind.NOTICE, text, where)

    def _deleted(self, deleted: Deleted) -> None:
        conversation = self._room(deleted.room)
        line = conversation.find_id(deleted.id) if conversation is not None else None
        if conversation is None or line is None or line.deleted:
            return
        updated = deleted_line(line, self._who(deleted.by))
        conversation.replace(updated)
        self._receiver.notify.emit(LineUpdated(conversation.key, updated))

    # --- refusals -----------------------------------------------------------------------------

    def refusal(self, error: Error, request: Request | None) -> str | None:
        """Our sentence for a refusal that names the room it is about; None for the others."""
        if error.code not in ("muted", "banned") or request is None or not request.conversation:
            return None
        found = self._receiver.state.get(request.conversation)
        room = found.name if found is not None else request.conversation
        if error.code == "banned":
            return f"You are banned from {room}."
        if error.retry_after_ms:
            left = describe_duration(error.retry_after_ms / 1000)
            return f"You are muted in {room} (for {left} more)."
        return f"You are muted in {room}."


def message_text(message: Message) -> tuple[str, bool]:
    """A stored message's text, and whether it was deleted (then it says so instead)."""
    return ("(message deleted)", True) if message.deleted else (message.text, False)
