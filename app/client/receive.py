"""Applying the server's frames to the client-side state, and telling the frontend.

This module owns the meaning of every frame a registered client receives: messages (and the echo
that confirms a pending one by nonce), history pages (on join, older pages, and the catch-up after
a reconnect that fetches ``history after`` the last id seen, marking a gap when more was missed
than it fetched), presence, topics, member lists, renames, away replies and errors, which become
readable lines. It owns the bookkeeping of replies: each outgoing frame that expects one is
recorded as a ``Request`` under the ``ref`` the receiver gives it, so a reply or an error lands in
the conversation that caused it; which rooms are being rejoined (and after which id), which have
a page of older history on the way, and what a lost connection does to all of that. The engine
asks for these through methods and never writes them. Moderation's frames (roles, kicks, bans,
deletions) are applied by ``moderation_receive.py``, which it hands them to. Everything the
frontend hears goes through the engine's ``Notifier`` (``events.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from app.client.accounts import account_text, key_list_lines, offline_text, whois_text
from app.client.directs import DirectCatchup
from app.client.errors import describe_error
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
    HISTORY_LIMIT_MAX,
    AccountInfo,
    AwaySet,
    BanList,
    ClientFrame,
    Deleted,
    Error,
    GetHistory,
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
    ServerFrame,
    Topic,
    Who,
    WhoisInfo,
    fold,
)

log = logging.getLogger("parley.client")


# "catchup": a room's missed messages; "direct": a direct conversation's (``directs.py``).
_RoomRequestKind = Literal["join", "part", "who", "rooms", "older", "catchup", "topic"]
RequestKind = Literal[_RoomRequestKind, "say", "direct", "nick", "away", "account", "moderation"]


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

OLDER_PAGE: Final = 200  # the most the server gives in one page: fewer round trips when paging back


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
    ) -> None:
        self.state = state
        self.notify = notify
        self.send = send
        self._remember = remember
        self.catchup_pages = catchup_pages
        self._requests: dict[int, Request] = {}
        self._last_ref = 0
        # Rooms being rejoined after a reconnect -> the last message id we had seen there.
        self._resume_after: dict[str, int] = {}
        self._loading_older: set[str] = set()
        self.directs = DirectCatchup(self)
        self.moderation = ModerationNews(self)
        self.listings = Listings(self)

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
        self._resume_after.pop(conversation.key, None)
        self._loading_older.discard(conversation.key)
        self._remember()

    def rejoining(self, conversation: Conversation) -> None:
        """``conversation`` is being rejoined after a reconnect: what its history page holds
        after the last id seen there is news, and anything missed before it is fetched."""
        if conversation.last_id is not None:
            self._resume_after[conversation.key] = conversation.last_id

    def load_older(self, conversation: Conversation) -> None:
        """Ask for the page before the oldest line held; quiet if there is none or one is
        already on the way."""
        if (
            conversation.kind is not ConversationKind.ROOM
            or not conversation.joined
            or not conversation.has_older
            or conversation.key in self._loading_older
        ):
            return
        frame = GetHistory(room=conversation.name, before=conversation.oldest_id, limit=OLDER_PAGE)
        if self.send(frame, Request("older", conversation.key)):
            self._loading_older.add(conversation.key)

    def connection_lost(self) -> None:
        """No reply will come on a dead connection: forget what was asked, and fail what can
        never be confirmed."""
        # An interrupted catch-up resumes from where it stood, not from the newest line.
        for request in self._requests.values():
            conversation = self.state.get(request.conversation or "")
            if request.kind in ("catchup", "direct") and conversation is not None:
                conversation.last_id = request.cursor
        self._requests.clear()
        self._resume_after.clear()
        self._loading_older.clear()
        self.directs.connection_lost()
        for conversation in self.state:
            if conversation.kind is ConversationKind.DIRECT and not self.directs.stored:
                # A guest's direct messages are never stored: a pending one cannot be confirmed.
                # An account's are looked for in the catch-up after the reconnect.
                self.fail(conversation, conversation.pending.values())

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
            self._history(frame)
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

    # --- history ------------------------------------------------------------------------

    def _history(self, page: HistoryPage) -> None:
        request = self._request(page.ref)
        name = page.room if page.room is not None else page.with_
        conversation = self.state.get(name) if name is not None else None
        if conversation is None:
            return
        if request is not None and request.kind == "older":
            self._older(conversation, page)
        elif request is not None and request.kind == "catchup":
            self._catchup(conversation, page, request)
        elif request is not None and request.kind == "direct":
            self.directs.page(conversation, page, request)
        elif conversation.key in self._resume_after:
            self._rejoin_page(conversation, page)
        else:
            self._join_page(conversation, page)

    def _join_page(self, conversation: Conversation, page: HistoryPage) -> None:
        for message in page.messages:
            if conversation.last_id is not None and message.id <= conversation.last_id:
                continue
            line = message_line(message, self.state.nick)
            # Old history is context, not news: it does not count as unread.
            conversation.append(line, active=True)
            self.notify.emit(LineAdded(conversation.key, line))
        # After the history, as IRC clients show it: what was said before, then that we came in.
        # Older pages go in front of everything, so the notice stays below the history.
        self.append(conversation, local_line(LineKind.JOIN, f"You joined {conversation.name}"))
        conversation.has_older = page.more
        if conversation.last_id is None:
            # An empty room: after a reconnect, everything in it will be news.
            conversation.last_id = 0
        self.notify.changed()

    def _rejoin_page(self, conversation: Conversation, page: HistoryPage) -> None:
        last_id = self._resume_after[conversation.key]
        # A catch-up cut short by another drop resumes early: skip what is already shown.
        shown = conversation.message_ids()
        for message in page.messages:
            if message.id <= last_id or message.id in shown:
                continue
            pending = self.pending_match(conversation, message)
            if pending is not None:
                self.confirm(conversation, pending, message)
            else:
                self.append(conversation, message_line(message, self.state.nick))
        messages = page.messages
        if not messages or messages[0].id <= last_id + 1 or not page.more:
            self._finish_catchup(conversation, reset=False)
            return
        # The page starts after our last id and there is more before it: fetch the hole.
        request = Request("catchup", conversation.key, cursor=last_id, head=messages[0].id)
        self._fetch_after(conversation, request)

    def _fetch_after(self, conversation: Conversation, request: Request) -> None:
        request.pages += 1
        frame = GetHistory(room=conversation.name, after=request.cursor, limit=HISTORY_LIMIT_MAX)
        self.send(frame, request)

    def _catchup(self, conversation: Conversation, page: HistoryPage, request: Request) -> None:
        lines: list[Line] = []
        shown = conversation.message_ids()
        for message in page.messages:
            if not request.cursor < message.id < request.head or message.id in shown:
                continue
            pending = self.pending_match(conversation, message)
            if pending is not None:
                self.confirm(conversation, pending, message)
                continue
            line = message_line(message, self.state.nick)
            lines.append(line)
            if not line.own and self.state.active != conversation.key:
                conversation.unread += 1
                conversation.mention = conversation.mention or line.mention
        conversation.insert_before_id(lines, request.head)
        newest = max((m.id for m in page.messages), default=request.cursor)
        reached = newest >= request.head or not page.more or not page.messages
        if reached:
            self._finish_catchup(conversation, reset=True)
        elif request.pages >= self.catchup_pages:
            gap = local_line(
                LineKind.GAP, "More was missed while disconnected than was fetched here."
            )
            conversation.insert_before_id([gap], request.head)
            self._finish_catchup(conversation, reset=True)
        else:
            request.cursor = newest
            self._fetch_after(conversation, request)

    def _finish_catchup(self, conversation: Conversation, *, reset: bool) -> None:
        self._resume_after.pop(conversation.key, None)
        # What is still pending was never stored by the server: say so rather than pretend.
        self.fail(conversation, conversation.pending.values())
        if reset:
            self.notify.reset(conversation)
        self.notify.changed()

    def _older(self, conversation: Conversation, page: HistoryPage) -> None:
        self._loading_older.discard(conversation.key)
        oldest = conversation.oldest_id
        older = [
            message_line(message, self.state.nick)
            for message in page.messages
            if oldest is None or message.id < oldest
        ]
        fitted = conversation.prepend(older)
        conversation.has_older = page.more or fitted < len(older)
        self.notify.reset(conversation)
        self.notify.changed()

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
        was_active = self.state.active == conversation.key
        self.state.remove(conversation.key)
        self.room_gone(conversation)
        active = self.state.active_conversation
        if was_active and active is not None:
            self.notify.reset(active)
        self.notify.changed()

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
            reason = f" ({presence.text})" if presence.text else ""
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
            conversation.set_away(nick, event == "away")
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
        if request is not None:
            self._undo(request)
        self.show_error(self.moderation.refusal(error, request) or describe_error(error), where)

    def _undo(self, request: Request) -> None:
        """Put the state right after the server refused what ``request`` asked."""
        conversation = self.state.get(request.conversation) if request.conversation else None
        if conversation is None:
            return
        if request.kind == "say" and request.nonce in conversation.pending:
            self.fail(conversation, [conversation.pending[request.nonce]])
        elif request.kind == "older":
            self._loading_older.discard(conversation.key)
        elif request.kind == "catchup":
            self._finish_catchup(conversation, reset=True)
        elif request.kind == "direct":
            self.directs.finish(conversation)
        elif request.kind == "join" and conversation.key in self._resume_after:
            conversation.joined = False
            self._resume_after.pop(conversation.key, None)
            self.notify.changed()
