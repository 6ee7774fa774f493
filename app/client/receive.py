"""Applying the server's frames to the client-side state, and telling the frontend.

This module owns the meaning of every frame a registered client receives: messages (and the echo
that confirms a pending one by nonce), presence (quit reasons in words), topics, member lists,
renames, away replies and errors, which become readable lines; a message to a nick nobody has
closes the direct conversation it had opened. It owns the bookkeeping of replies: each outgoing
frame that expects one is recorded as a ``Request`` under the ``ref`` the receiver gives it, so a
reply or an error lands in the conversation that caused it, and what a lost connection does to
all of that. The history pages of rooms (on join, older pages, the catch-up after a reconnect)
are ``room_history.py``'s, those of direct conversations ``directs.py``'s; our own lines wait in
the ``outbox.py`` it holds, which learns here of echoes and of ``rate_limited`` refusals (the
line waits its turn rather than failing). Moderation's frames (roles, kicks, bans, deletions)
are applied by ``moderation_receive.py``, edits of messages by ``edits.py``. The engine asks for
all of this through methods and never writes it. Everything the frontend hears goes through the
engine's ``Notifier`` (``events.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from app.client import edits, room_history  # modules: they import this one too
from app.client import search as searching  # a module too, for the same reason
from app.client.accounts import account_text, key_list_lines, offline_text, whois_text
from app.client.directs import DirectCatchup
from app.client.errors import describe_error, quit_reason
from app.client.events import (
    ErrorReported,
    LineAdded,
    LineUpdated,
    Notifier,
    PresenceChanged,
    TopicChanged,
)
from app.client.listings import Listings
from app.client.moderation_receive import ModerationNews, message_text
from app.client.outbox import Outbox
from app.client.state import (
    ChatState,
    Conversation,
    ConversationKind,
    Line,
    LineKind,
    PresenceChange,
    confirmed,
    failed,
    mentions,
    next_seq,
    now_ms,
)
from app.protocol import (
    AccountInfo,
    AwaySet,
    BanList,
    ClientFrame,
    Deleted,
    Edited,
    Error,
    HistoryPage,
    Joined,
    KeyList,
    Kicked,
    Member,
    Members,
    Message,
    Mode,
    Moderated,
    Parted,
    Presence,
    Renamed,
    RoomInfo,
    RoomList,
    SearchResults,
    ServerFrame,
    Topic,
    Who,
    WhoisInfo,
    fold,
)

log = logging.getLogger("parley.client")


# "catchup": a room's missed messages; "direct": a direct conversation's (``directs.py``).
_RoomRequestKind = Literal["join", "part", "who", "rooms", "older", "catchup", "topic"]
RequestKind = Literal[
    _RoomRequestKind,
    "say",
    "direct",
    "nick",
    "away",
    "account",
    "moderation",
    "edit",
    "search",
    "context",
]


@dataclass
class Request:
    """What we asked the server, remembered under the frame's ``ref`` until it is answered."""

    kind: RequestKind
    conversation: str | None
    nonce: str | None = None
    show: bool = True  # join: switch to the room; who: print the member list
    cursor: int = 0  # catchup: fetch after this id ...
    head: int = 0  # ... up to the first message the rejoin's history page showed
    pages: int = 0  # catchup, who, rooms: the pages asked for after the first
    # who and rooms: what the pages so far listed (the server sends listings in pages).
    members: list[Member] = field(default_factory=list)
    rooms: list[RoomInfo] = field(default_factory=list)


Send = Callable[[ClientFrame, "Request | None"], bool]


def local_line(kind: LineKind, text: str, sender: str | None = None) -> Line:
    return Line(seq=next_seq(), kind=kind, text=text, ts=now_ms(), sender=sender)


def message_line(message: Message, me: str) -> Line:
    own = fold(message.sender) == fold(me)
    text, deleted = message_text(message)
    return Line(
        seq=next_seq(),
        kind=LineKind.ACTION if message.action else LineKind.MESSAGE,
        text=text,
        ts=message.ts,
        sender=message.sender,
        id=message.id,
        nonce=message.nonce if own else None,
        own=own,
        mention=not own and not deleted and mentions(text, me),
        deleted=deleted,
        edited=message.edited and not deleted,
    )


class Receiver:
    """Turns each server frame into state changes and frontend events, and keeps the requests
    waiting for a reply."""

    def __init__(
        self,
        state: ChatState,
        notify: Notifier,
        send: Send,
        remember: Callable[[], None],
        catchup_pages: int,
        connected: Callable[[], bool],
    ) -> None:
        self.state = state
        self.notify = notify
        self.send = send
        self._remember = remember
        self.catchup_pages = catchup_pages
        self._requests: dict[int, Request] = {}
        self._last_ref = 0
        self.rooms = room_history.RoomHistory(self)
        self.directs = DirectCatchup(self)
        self.moderation = ModerationNews(self)
        self.listings = Listings(self)
        self.outbox = Outbox(state, self, connected)
        self.searches = searching.Searches(self)

    # --- what the engine asks -----------------------------------------------------------

    def expect(self, request: Request) -> int:
        """Remember ``request`` until it is answered; the ``ref`` its frame must carry."""
        self._last_ref += 1
        self._requests[self._last_ref] = request
        return self._last_ref

    @property
    def outstanding(self) -> int:
        """Requests sent to the server and not yet answered."""
        return len(self._requests)

    def answered(self, ref: object) -> Request | None:
        """The request a reply with ``ref`` answers, no longer waiting; None if there is none."""
        return self._request(ref)

    def room_gone(self, conversation: Conversation) -> None:
        """We are no longer in the room ``conversation``: nothing more is fetched for it."""
        self.rooms.forget(conversation)
        self._remember()

    def show_everywhere(self, text: str) -> None:
        """A notice in every conversation we are in (a lost connection concerns them all)."""
        for conversation in self.state:
            if conversation.joined:
                self.append(conversation, local_line(LineKind.NOTICE, text))

    def connection_lost(self) -> None:
        """No reply will come on a dead connection: forget what was asked, and fail what can
        never be confirmed."""
        # An interrupted catch-up resumes from where it stood, not from the newest line.
        for request in self._requests.values():
            conversation = self.state.get(request.conversation or "")
            if request.kind in ("catchup", "direct") and conversation is not None:
                conversation.last_id = request.cursor
        self._requests.clear()
        self.rooms.connection_lost()
        self.directs.connection_lost()
        self.outbox.connection_lost()
        self.searches.connection_lost()
        for conversation in self.state:
            if conversation.kind is ConversationKind.DIRECT and not self.directs.stored:
                # A guest's direct messages are never stored: one on the wire cannot be
                # confirmed. An account's are looked for in the catch-up after the reconnect.
                self.outbox.caught_up(conversation, certain=False)

    def catching_up(self, conversation: str) -> bool:
        """Whether ``conversation``'s catch-up after a reconnect is still under way."""
        return self.rooms.catching(conversation) or self.directs.catching(conversation)

    # --- helpers ------------------------------------------------------------------------

    def _request(self, ref: object, *, keep: bool = False) -> Request | None:
        if not isinstance(ref, int) or isinstance(ref, bool):
            return None
        return self._requests.get(ref) if keep else self._requests.pop(ref, None)

    def fail(self, conversation: Conversation, lines: Iterable[Line]) -> None:
        """Mark our pending ``lines`` in ``conversation`` failed, and show it."""
        for line in list(lines):  # a copy: replacing a pending line takes it out of ``pending``
            updated = failed(line)
            conversation.replace(updated)
            self.notify.emit(LineUpdated(conversation.key, updated))
            self.outbox.failed(line.nonce)

    def append(self, conversation: Conversation, line: Line) -> None:
        conversation.append(line, active=self.state.active == conversation.key)
        self.notify.emit(LineAdded(conversation.key, line))
        if line.is_chat:
            self.notify.changed()

    def show(self, kind: LineKind, text: str, conversation: str | None = None) -> None:
        """A local line in ``conversation`` (default: the active one), if there is one."""
        target = self.state.get(conversation) if conversation else self.state.active_conversation
        if target is not None:
            self.append(target, local_line(kind, text))

    def show_error(self, text: str, conversation: str | None = None) -> None:
        target = self.state.get(conversation) if conversation else self.state.active_conversation
        if target is not None:
            self.append(target, local_line(LineKind.ERROR, text))
        self.notify.emit(ErrorReported(text, target.key if target is not None else None))

    def _rooms(self) -> list[Conversation]:
        return [c for c in self.state if c.kind is ConversationKind.ROOM and c.joined]

    # --- dispatch -----------------------------------------------------------------------

    def handle(self, frame: ServerFrame) -> None:
        if isinstance(frame, Message):
            self._message(frame)
        elif isinstance(frame, HistoryPage):
            request = self._request(frame.ref)
            if request is not None and request.kind == "context":
                self.searches.context_page(frame, request, frame.ref)
            else:
                self.rooms.page(frame, request)
        elif isinstance(frame, Presence):
            self._presence(frame)
        elif isinstance(frame, Joined):
            self._joined(frame)
        elif isinstance(frame, Parted):
            self._parted(frame)
        elif isinstance(frame, Topic):
            self._topic(frame)
        elif isinstance(frame, Members):
            self.listings.members(frame)
        elif isinstance(frame, RoomList):
            self.listings.rooms(frame)
        elif isinstance(frame, Renamed):
            self._renamed(frame)
        elif isinstance(frame, AwaySet):
            self._away_set(frame)
        elif isinstance(frame, (AccountInfo, WhoisInfo)):
            request = self._request(frame.ref)
            text = account_text(frame) if isinstance(frame, AccountInfo) else whois_text(frame)
            self.show(LineKind.NOTICE, text, request.conversation if request else None)
        elif isinstance(frame, KeyList):
            request = self._request(frame.ref)
            for text in key_list_lines(frame):
                self.show(LineKind.NOTICE, text, request.conversation if request else None)
        elif isinstance(frame, Error):
            self._error(frame)
        elif isinstance(frame, (Mode, Kicked, Moderated, BanList, Deleted)):
            self.moderation.handle(frame)
            if isinstance(frame, Deleted):
                self.searches.deleted(frame.room, frame.id)
        elif isinstance(frame, SearchResults):
            self.searches.results(frame, self._request(frame.ref))
        elif isinstance(frame, Edited):
            edits.revise(self, frame)
        else:
            log.debug("ignoring %s", type(frame).__name__)

    def _message(self, message: Message) -> None:
        me = self.state.nick
        own = fold(message.sender) == fold(me)
        if message.room is not None:
            conversation = self.state.get(message.room)
            if conversation is None or not conversation.joined:
                log.debug("message for %s, which we are not in", message.room)
                return
        else:
            peer = message.to if own and message.to else message.sender
            conversation = self.state.ensure(peer, ConversationKind.DIRECT)
            conversation.joined = True
            self.notify.changed()
            if self.directs.seen(conversation, message):
                return  # a catch-up page showed it already
        if own:
            self._request(message.ref)
            pending = conversation.pending.get(message.nonce) if message.nonce else None
            if pending is not None:
                self.confirm(conversation, pending, message)
                if message.offline and message.to:
                    self.show(LineKind.NOTICE, offline_text(message.to), conversation.key)
                return
        self.append(conversation, message_line(message, me))

    def confirm(self, conversation: Conversation, pending: Line, message: Message) -> None:
        line = confirmed(pending, message_id=message.id, ts=message.ts)
        conversation.replace(line)
        self.notify.emit(LineUpdated(conversation.key, line))
        self.outbox.confirmed(pending.nonce)

    def pending_match(self, conversation: Conversation, message: Message) -> Line | None:
        """Our pending line that a history message turns out to be (its echo was lost)."""
        if fold(message.sender) != fold(self.state.nick):
            return None
        if message.nonce and message.nonce in conversation.pending:
            return conversation.pending[message.nonce]
        for line in conversation.pending.values():
            if line.text == message.text and (line.kind is LineKind.ACTION) == message.action:
                return line
        return None

    # --- rooms, members, presence -------------------------------------------------------

    def _joined(self, joined: Joined) -> None:
        request = self._request(joined.ref, keep=True)
        conversation = self.state.ensure(joined.room, ConversationKind.ROOM)
        conversation.name = joined.room
        conversation.joined = True
        conversation.topic = joined.topic
        conversation.set_members(joined.members, joined.roles)
        conversation.locked = joined.locked
        # ``joined`` lists nicks only; ``who`` adds who is away.
        self.send(Who(room=joined.room), Request("who", conversation.key, show=False))
        if (request is not None and request.show) or self.state.active is None:
            self.state.activate(conversation.key)
            self.notify.reset(conversation)
        self._remember()
        self.notify.changed()

    def _parted(self, parted: Parted) -> None:
        self._request(parted.ref)
        conversation = self.state.get(parted.room)
        if conversation is None:
            return
        self.room_gone(conversation)
        self.close(conversation)

    def _presence(self, presence: Presence) -> None:
        conversation = self.state.get(presence.room)
        if conversation is None or not conversation.joined:
            return
        nick, event = presence.nick, presence.event
        if event == "join":
            conversation.add_member(nick)
            self.append(conversation, local_line(LineKind.JOIN, f"{nick} joined", nick))
        elif event in ("part", "quit"):
            conversation.remove_member(nick)
            text = quit_reason(presence.text or "") if event == "quit" else presence.text
            reason = f" ({text})" if text else ""
            kind, verb = (LineKind.PART, "left") if event == "part" else (LineKind.QUIT, "quit")
            self.append(conversation, local_line(kind, f"{nick} {verb}{reason}", nick))
        elif event == "nick" and presence.old is not None:
            conversation.rename_member(presence.old, nick)
            text = f"{presence.old} is now known as {nick}"
            self.append(conversation, local_line(LineKind.NICK, text, nick))
            direct = self.state.get(presence.old)
            if (
                direct is not None
                and direct.kind is ConversationKind.DIRECT
                and self.state.rename(presence.old, nick) is not None
            ):
                # A frontend keeps scrollback by key: hand it the old lines under the new one.
                self.notify.reset(direct)
                self.append(direct, local_line(LineKind.NICK, text, nick))
        elif event in ("away", "back"):
            conversation.set_away(nick, event == "away", presence.text or "")
        elif event == "kick":
            self._request(presence.ref)
            self.moderation.kick(conversation, presence)
        change = PresenceChange(conversation.key, nick, event, presence.old, presence.text)
        self.notify.emit(PresenceChanged(change))
        self.notify.changed()

    def _topic(self, topic: Topic) -> None:
        self._request(topic.ref)
        conversation = self.state.get(topic.room)
        if conversation is None:
            return
        conversation.topic = topic.topic
        text = (
            f"{topic.by} set the topic: {topic.topic}"
            if topic.topic
            else (f"{topic.by} cleared the topic")
        )
        self.append(conversation, local_line(LineKind.TOPIC, text, topic.by))
        self.notify.emit(TopicChanged(conversation.key, topic.topic, topic.by))
        self.notify.changed()

    # --- our own nick and away ----------------------------------------------------------

    def _renamed(self, renamed: Renamed) -> None:
        self._request(renamed.ref)
        self.state.nick = renamed.nick
        for conversation in self._rooms():
            conversation.rename_member(renamed.old, renamed.nick)
            text = f"You are now known as {renamed.nick}"
            self.append(conversation, local_line(LineKind.NICK, text, renamed.nick))
        self._remember()
        self.notify.changed()

    def _away_set(self, away: AwaySet) -> None:
        request = self._request(away.ref)
        self.state.away = away.text
        for conversation in self._rooms():
            conversation.set_away(self.state.nick, away.text is not None)
        text = "You are back." if away.text is None else f"You are marked away: {away.text}"
        self.show(LineKind.NOTICE, text, request.conversation if request else None)
        self.notify.changed()

    # --- errors -------------------------------------------------------------------------

    def _error(self, error: Error) -> None:
        request = self._request(error.ref)
        where = request.conversation if request is not None else None
        if (
            request is not None
            and request.kind == "say"
            and error.code == "rate_limited"
            and self.outbox.refused(request.nonce, error.retry_after_ms)
        ):
            return  # not an error to the person: the line waits its turn in the outbox
        if request is not None and request.kind == "nick" and not request.show:
            return  # asking for our own nick back: refused until the old connection is gone
        if request is not None and error.code == "no_such_nick" and self._drop_empty(request):
            where = None  # the conversation is gone: the error goes where we are now
        if request is not None:
            self._undo(request)
        text = self.moderation.refusal(error, request) or describe_error(error)
        if request is not None and request.kind in ("search", "context"):
            self.searches.refused(request, text)
        self.show_error(text, where)

    def _drop_empty(self, request: Request) -> bool:
        """A direct conversation opened only to say something to a nick nobody has: close it
        rather than leave it empty. False if it holds anything else."""
        conversation = self.state.get(request.conversation) if request.conversation else None
        if (
            request.kind != "say"
            or conversation is None
            or conversation.kind is not ConversationKind.DIRECT
            or any(line.id is not None for line in conversation.lines)
        ):
            return False
        self.outbox.failed(request.nonce)
        self.close(conversation)
        return True

    def close(self, conversation: Conversation) -> None:
        """Drop ``conversation`` from the list; the one shown instead is redrawn. Lines still
        waiting to be sent there are taken back, and that is said where we are now."""
        taken = self.outbox.forget(conversation.key)
        was_active = self.state.active == conversation.key
        self.state.remove(conversation.key)
        active = self.state.active_conversation
        if taken and active is not None:
            lines = "1 line" if taken == 1 else f"{taken} lines"
            text = f"{lines} to {conversation.name} not sent yet went with it when it closed."
            self.append(active, local_line(LineKind.NOTICE, text))
        if was_active and active is not None:
            self.notify.reset(active)
        self.notify.changed()

    def _undo(self, request: Request) -> None:
        """Put the state right after the server refused what ``request`` asked."""
        conversation = self.state.get(request.conversation) if request.conversation else None
        if conversation is None:
            return
        if request.kind == "say" and request.nonce in conversation.pending:
            self.fail(conversation, [conversation.pending[request.nonce]])
        elif request.kind in ("older", "catchup", "join"):
            self.rooms.refused(conversation, request)
        elif request.kind == "direct":
            self.directs.finish(conversation, certain=False)
