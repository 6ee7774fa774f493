"""What the user's commands do: each parsed command carried out, or refused locally.

This module owns ``Actions``, the engine's hands. ``execute`` takes a ``Command`` from
``commands.py`` and does what it means: a line of text goes to the active conversation through
the outbox (``outbox.py``; so it is kept, not refused, while disconnected, with a notice once per
disconnection), and a direct message to someone away brings one notice saying so, as IRC servers
do; ``/join``, ``/part``, ``/nick``, ``/topic``, ``/who``, ``/rooms``, ``/away`` and the account
commands become frames with the ``Request`` their reply will answer; ``/msg`` and ``/close`` of a
direct conversation, ``/win``, ``/help``, ``/clear`` and ``/cancel`` need no server. What cannot
work is refused here with a line saying why (no server call for a command that needs the server
while disconnected, a ``/topic`` in a direct conversation); the moderation commands go to
``moderation.py`` and ``/edit`` to ``edits.py``. It runs on the engine's loop and touches the
state the engine owns.
"""

from __future__ import annotations

from collections.abc import Callable

from app.client.accounts import account_frame
from app.client.commands import (
    CancelQueued,
    ChangeNick,
    ChangePassword,
    ChangeTopic,
    ClearScrollback,
    Command,
    EditMessage,
    GoToWindow,
    JoinRoom,
    JumpToResult,
    LeaveRoom,
    ListMembers,
    ListRooms,
    ManageKeys,
    OpenDirect,
    QuitChat,
    Register,
    SayText,
    SearchHistory,
    SendAction,
    SendDirect,
    SetAway,
    SetBack,
    ShowHelp,
    Unregister,
    WhoIs,
    help_lines,
)
from app.client.edits import Editor
from app.client.moderation import Moderator, is_moderation
from app.client.nicks import NickKeeper
from app.client.receive import Receiver, Request, local_line
from app.client.state import ChatState, Conversation, ConversationKind, LineKind
from app.protocol import Away, Join, Nick, Part, SetTopic, Who, fold
from app.protocol import ListRooms as ListRoomsFrame


class Actions:
    """Carries out commands for one engine; everything it shows goes through the receiver."""

    def __init__(
        self,
        state: ChatState,
        receiver: Receiver,
        nicks: NickKeeper,
        *,
        connected: Callable[[], bool],
        switch_to: Callable[[str], None],
        quit: Callable[[str | None], None],
        password_refusal: Callable[[], str | None],
    ) -> None:
        self.state = state
        self._receiver = receiver
        self._outbox = receiver.outbox
        self._send = receiver.send
        self._nicks = nicks
        self._connected = connected
        self._switch_to = switch_to
        self._quit = quit
        self._password_refusal = password_refusal
        self._moderator = Moderator(state, receiver.send, self.refuse, self.online)
        self.editor = Editor(state, receiver.send, self.refuse, self.notice, self.online)
        self._told_queued = False  # said since the connection was lost that lines wait
        self._told_away: set[str] = set()  # direct conversations told their peer is away

    def connected_again(self) -> None:
        """A new connection: the next line typed while disconnected is explained again."""
        self._told_queued = False

    def refuse(self, text: str) -> None:
        """A local error line in the active conversation; nothing goes to the server."""
        self._receiver.show_error(text)

    def notice(self, text: str, conversation: Conversation | None = None) -> None:
        target = conversation or self.state.active_conversation
        if target is not None:
            self._receiver.append(target, local_line(LineKind.NOTICE, text))

    def online(self) -> bool:
        if self._connected():
            return True
        retry = self.state.connection.retry_in()
        when = f"; retrying in {retry:.0f} s" if retry is not None else ""
        self.refuse(f"Not connected to the server{when}. Nothing was sent.")
        return False

    def execute(self, command: Command) -> None:
        active = self.state.active_conversation
        if isinstance(command, (SayText, SendAction)):
            if active is None:
                self.refuse("There is no conversation to talk in; /join a room first.")
            else:
                self.say(active, command.text, action=isinstance(command, SendAction))
        elif isinstance(command, JoinRoom):
            self._join(command.room)
        elif isinstance(command, LeaveRoom):
            self._leave(command.room)
        elif isinstance(command, OpenDirect):
            self._open_direct(command.nick)
        elif isinstance(command, SendDirect):
            self.say(self._open_direct(command.nick), command.text, action=False)
        elif isinstance(command, ChangeNick):
            if self.online():
                self._nicks.asked(command.nick)
                self._send(Nick(nick=command.nick), Request("nick", self.state.active))
        elif isinstance(command, ChangeTopic):
            self._topic(active, command.topic)
        elif isinstance(command, ListMembers):
            self._who(active, command.room)
        elif isinstance(command, ListRooms):
            if self.online():
                self._send(ListRoomsFrame(), Request("rooms", self.state.active))
        elif isinstance(command, (SetAway, SetBack)):
            text = command.text if isinstance(command, SetAway) else None
            if self.online():
                self._send(Away(text=text), Request("away", self.state.active))
        elif isinstance(command, (Register, ChangePassword, Unregister, WhoIs, ManageKeys)):
            refusal = None
            if isinstance(command, (Register, ChangePassword, Unregister)):
                refusal = self._password_refusal()
            if refusal is not None:
                self.refuse(refusal)
            elif self.online():
                self._send(account_frame(command), Request("account", self.state.active))
        elif is_moderation(command):
            self._moderator.execute(command)
        elif isinstance(command, EditMessage):
            self.editor.edit_last(command.text)
        elif isinstance(command, SearchHistory):
            self.search(command.query, command.room)
        elif isinstance(command, JumpToResult):
            self.jump_to_result(command.number)
        elif isinstance(command, QuitChat):
            self._quit(command.text)
        elif isinstance(command, ShowHelp):
            for line in help_lines(command.command):
                self.notice(line)
        elif isinstance(command, ClearScrollback) and active is not None:
            active.clear()
            self._receiver.notify.reset(active)
        elif isinstance(command, CancelQueued):
            taken = self._outbox.cancel(self.state.active)
            if taken:
                self.notice(f"Took back {taken} line{'s' if taken != 1 else ''} not sent yet.")
            else:
                self.notice("Nothing here is waiting to be sent.")
        elif isinstance(command, GoToWindow):
            keys = list(self.state.conversations)
            if command.number > len(keys):
                self.refuse(f"There is no conversation {command.number}; there are {len(keys)}.")
            else:
                self._switch_to(keys[command.number - 1])

    def say(self, conversation: Conversation, text: str, *, action: bool) -> None:
        if conversation.kind is ConversationKind.ROOM and not conversation.joined:
            self.refuse(f"You are not in {conversation.name}; /join it first.")
            return
        if conversation.kind is ConversationKind.DIRECT:
            self._tell_if_away(conversation)
        if not self._connected() and not self._told_queued:
            # Once per disconnection: the line is not lost, it waits in the outbox.
            self._told_queued = True
            self.notice("Not connected: what you type waits and is sent when we are back.")
        self._outbox.say(conversation, text, action=action)

    def _tell_if_away(self, direct: Conversation) -> None:
        """Say once, as IRC servers do, that the person we write to is away."""
        away = self.state.away_text(direct.name)
        if away is None:
            self._told_away.discard(direct.key)
        elif direct.key not in self._told_away:
            self._told_away.add(direct.key)
            why = f": {away}" if away else ""
            self.notice(f"{direct.name} is away{why}. They will see it when they are back.", direct)

    def _join(self, room: str) -> None:
        existing = self.state.get(room)
        if existing is not None and existing.joined:
            self._switch_to(existing.key)
        elif self.online():
            self._send(Join(room=room), Request("join", fold(room), show=True))

    def _leave(self, room: str | None) -> None:
        target = self.state.get(room) if room else self.state.active_conversation
        if target is None:
            self.refuse(f"You are not in {room}." if room else "There is nothing to leave.")
        elif target.kind is ConversationKind.DIRECT or not target.joined:
            self._receiver.close(target)  # only here: no server needed
        elif self.online():
            self._send(Part(room=target.name), Request("part", self.state.active))

    def _open_direct(self, nick: str) -> Conversation:
        """Create (if new) and switch to the direct conversation with ``nick``; no server needed."""
        direct = self.state.ensure(nick, ConversationKind.DIRECT)
        direct.joined = True
        self._switch_to(direct.key)
        return direct

    def _topic(self, active: Conversation | None, topic: str | None) -> None:
        if active is None or active.kind is not ConversationKind.ROOM:
            self.refuse("/topic works in a room.")
        elif topic is None:
            shown = (
                f"Topic of {active.name}: {active.topic}"
                if active.topic
                else (f"{active.name} has no topic; /topic text sets one.")
            )
            self.notice(shown, active)
        elif self.online():
            frame = SetTopic(room=active.name, topic=topic)
            self._send(frame, Request("topic", active.key))

    def _who(self, active: Conversation | None, room: str | None) -> None:
        if room is None:
            if active is None or active.kind is not ConversationKind.ROOM:
                self.refuse("/who needs a room: /who #room")
                return
            room = active.name
        if self.online():
            self._send(Who(room=room), Request("who", self.state.active, show=True))

    # --- search (``search.py``) ---------------------------------------------------------------

    def search(self, query: str | None, room: str | None) -> None:
        """Search for ``query`` in ``room`` (None: all our rooms); ``query`` None asks for the
        next page of the last search."""
        searches = self._receiver.searches
        if query is None:
            if searches.view is None:
                self.refuse("usage: /search [#room] text")
            elif not searches.view.more:
                self.notice("There are no more results for that search.")
            elif self.online():
                searches.more()
            return
        if room is not None:
            found = self.state.get(room)
            if found is None or not found.joined:
                self.refuse(f"You are not in {room}; only your rooms can be searched.")
                return
        if self.online():
            searches.start(query, room)

    def jump_to_result(self, number: int) -> None:
        """Show search result ``number`` in context, in its room."""
        searches = self._receiver.searches
        if not self.online():
            return
        refusal = searches.jump(number)
        if refusal is not None:
            self.refuse(refusal)
        elif searches.view is not None and searches.view.context is not None:
            self._switch_to(searches.view.context.room)
