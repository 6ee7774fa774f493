"""What the user may do to a room and its members, and the moderation commands carried out.

This module owns the client's side of moderation's requests (docs/protocol.md, "Moderation").
``Moderator`` carries out the parsed commands of ``commands.py`` (``/op`` to ``/kill``): each
room command acts on the active room, is refused locally when there is none or we are not in it,
and goes to the server as one frame whose ``Request`` makes its reply or refusal land in that
room; ``/delete`` with no id finds our own newest message there. The server decides who may do
what; the client only offers what it would allow, so that a menu never shows an action bound to
be refused: ``member_actions`` and ``may_delete`` are pure functions of a ``StateSnapshot``, so
the Tk and Textual frontends, on any thread, offer the same actions. What the server's moderation
frames do to the state is in ``moderation_receive.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, TypeGuard

from app.client.commands import (
    MODERATION_COMMANDS,
    BanMask,
    Command,
    DeleteMessage,
    KickMember,
    KillUser,
    LockTopic,
    ModerationCommand,
    MuteMember,
    SetRole,
    ShowBans,
    UnbanMask,
    UnmuteMember,
)
from app.client.receive import Request, Send
from app.client.state import (
    ChatState,
    Conversation,
    ConversationKind,
    ConversationView,
    Line,
    StateSnapshot,
)
from app.protocol import (
    Ban,
    ClientFrame,
    Delete,
    Deop,
    GiveOwner,
    Kick,
    Kill,
    ListBans,
    Mute,
    Op,
    TopicLock,
    Unban,
    Unmute,
    fold,
)

MemberAction = Literal["op", "deop", "kick", "ban", "mute"]

# What a frontend's menu says for each action, and the line it submits for ``nick``.
ACTION_LABELS: Final[dict[MemberAction, str]] = {
    "op": "Make op",
    "deop": "Take op",
    "kick": "Kick",
    "ban": "Ban",
    "mute": "Mute for 10 minutes",
}
_ACTION_COMMANDS: Final[dict[MemberAction, str]] = {
    "op": "/op {nick}",
    "deop": "/deop {nick}",
    "kick": "/kick {nick}",
    "ban": "/ban {nick}",
    "mute": "/mute {nick} 10m",
}


def is_moderation(command: Command) -> TypeGuard[ModerationCommand]:
    return isinstance(command, MODERATION_COMMANDS)


# --- what the user may do ---------------------------------------------------------------------


def _rank(state: StateSnapshot, view: ConversationView, nick: str) -> int:
    """2 for an owner or a server operator (us only: we cannot tell who else is one), 1 for
    an op, 0 for a member."""
    if fold(nick) == fold(state.nick) and state.oper:
        return 2
    return {"owner": 2, "op": 1}.get(view.role(nick), 0)


def member_actions(
    state: StateSnapshot, view: ConversationView, nick: str
) -> tuple[MemberAction, ...]:
    """What we may do to ``nick`` in the room ``view``, as the server would allow it: owners
    (and server operators) op and deop; ops and above kick, ban and mute anyone but an owner."""
    if view.kind is not ConversationKind.ROOM or not view.joined:
        return ()
    if fold(nick) == fold(state.nick) or view.member(nick) is None:
        return ()
    mine = _rank(state, view, state.nick)
    target = view.role(nick)
    actions: list[MemberAction] = []
    if mine == 2 and target == "member":
        actions.append("op")
    if mine == 2 and target == "op":
        actions.append("deop")
    if mine >= 1 and (target != "owner" or state.oper):
        actions += ["kick", "ban", "mute"]
    return tuple(actions)


def action_line(action: MemberAction, nick: str) -> str:
    """The command line a frontend submits for ``action`` on ``nick``."""
    return _ACTION_COMMANDS[action].format(nick=nick)


def may_delete(state: StateSnapshot, view: ConversationView, line: Line) -> bool:
    """Whether we may delete ``line`` of the room ``view``: our own message, or as an op."""
    if view.kind is not ConversationKind.ROOM or not view.joined:
        return False
    if line.id is None or line.deleted or not line.is_chat:
        return False
    return line.own or _rank(state, view, state.nick) >= 1


# --- carrying the commands out ----------------------------------------------------------------


class Moderator:
    """Sends the frame each moderation command means, for the active room."""

    def __init__(
        self,
        state: ChatState,
        send: Send,
        refuse: Callable[[str], None],
        online: Callable[[], bool],
    ) -> None:
        self._state = state
        self._send = send
        self._refuse = refuse
        self._online = online

    def execute(self, command: ModerationCommand) -> None:
        if isinstance(command, KillUser):
            if not self._state.oper:
                self._refuse("/kill is for server operators.")
            elif self._online():
                kill = Kill(nick=command.nick, reason=command.reason)
                self._send(kill, Request("moderation", self._state.active))
            return
        room = self._room()
        if room is None:
            return
        frame = self._frame(command, room)
        if frame is not None and self._online():
            self._send(frame, Request("moderation", room.key))

    def _room(self) -> Conversation | None:
        """The active room, or None (refused with why) when the active conversation is not a
        room we are in."""
        active = self._state.active_conversation
        if active is None or active.kind is not ConversationKind.ROOM:
            self._refuse("That works in a room: switch to the room first.")
            return None
        if not active.joined:
            self._refuse(f"You are not in {active.name}; /join it first.")
            return None
        return active

    def _frame(self, command: ModerationCommand, room: Conversation) -> ClientFrame | None:
        name = room.name
        if isinstance(command, SetRole):
            if command.role == "op":
                return Op(room=name, nick=command.nick)
            if command.role == "owner":
                return GiveOwner(room=name, nick=command.nick)
            return Deop(room=name, nick=command.nick)
        if isinstance(command, KickMember):
            return Kick(room=name, nick=command.nick, reason=command.reason)
        if isinstance(command, BanMask):
            return Ban(
                room=name, mask=command.mask, duration_s=command.duration_s, reason=command.reason
            )
        if isinstance(command, UnbanMask):
            return Unban(room=name, mask=command.mask)
        if isinstance(command, ShowBans):
            return ListBans(room=name)
        if isinstance(command, MuteMember):
            return Mute(room=name, nick=command.nick, duration_s=command.duration_s)
        if isinstance(command, UnmuteMember):
            return Unmute(room=name, nick=command.nick)
        if isinstance(command, LockTopic):
            return TopicLock(room=name, locked=command.locked)
        assert isinstance(command, DeleteMessage)
        message_id = command.id if command.id is not None else _last_own(room)
        if message_id is None:
            self._refuse(f"You have no message in {room.name} to delete.")
            return None
        return Delete(id=message_id)


def _last_own(room: Conversation) -> int | None:
    """The id of our newest message in ``room`` that is stored and not deleted yet."""
    for line in reversed(room.lines):
        if line.own and line.is_chat and line.id is not None and not line.deleted:
            return line.id
    return None
