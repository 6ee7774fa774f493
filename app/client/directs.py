"""The reconnect catch-up of stored direct messages, for a client signed in to an account.

This module owns what the engine does about direct messages when its connection comes back.
Between two accounts the server stores every direct message, so a message that reached a dead
connection (the server thought we were online) or one kept for us while we were offline (the
server delivers those right after ``welcome``) is not lost: ``DirectCatchup.resume`` asks
``history {with: nick, after: last id}`` for each direct conversation the engine holds, and
``page`` puts what it fetched in place by id, pages on while ``more`` (up to the engine's
``catchup_pages``, then a gap line says more was missed), and confirms our own pending lines
that turn out to be stored. Each id is shown once, however the copies arrive: ``seen`` tells
the receiver to drop a live copy of a message a page already showed, and a page skips what is
shown. Conversations with guests come back empty (their messages are live-only); a guest's own
session fetches nothing. Conversations the engine does not hold yet cannot be asked for: the
protocol has no list of them, and the server's delivery at sign-in covers the offline case.
The receiver (``receive.py``) owns the requests and routes the pages and errors here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.client.state import Conversation, ConversationKind, Line, LineKind
from app.protocol import HISTORY_LIMIT_MAX, GetHistory, HistoryPage, Message

if TYPE_CHECKING:
    from app.client.receive import Receiver, Request


class DirectCatchup:
    """Which direct conversations are being caught up, and how each page lands."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        # The account we are signed in to on the current connection; None for a guest.
        self.account: str | None = None
        self._catching: set[str] = set()

    def signed_in(self, account: str | None) -> None:
        """A new connection's ``welcome``: signed in to ``account`` (None: as a guest)."""
        self.account = account

    def connection_lost(self) -> None:
        self._catching.clear()

    @property
    def stored(self) -> bool:
        """Whether our direct messages are stored (we are an account), so that a pending one
        may be found in the history after a drop rather than failed at once."""
        return self.account is not None

    def resume(self, watermark: int | None) -> None:
        """After a reconnect: fetch each direct conversation's stored messages after its last
        id (or, for one that has none yet, after ``watermark``, the newest id seen anywhere)."""
        # receive.py imports this module: its names are looked up once both are loaded.
        from app.client.receive import Request

        receiver = self._receiver
        for conversation in receiver.state:
            if conversation.kind is not ConversationKind.DIRECT:
                continue
            if self.account is None:
                # Nothing is stored for a guest: what was on the wire can never be confirmed.
                receiver.outbox.caught_up(conversation, certain=False)
                continue
            cursor = conversation.last_id if conversation.last_id is not None else watermark
            request = Request("direct", conversation.key, cursor=cursor or 0)
            self._catching.add(conversation.key)
            self._fetch(conversation, request)

    def _fetch(self, conversation: Conversation, request: Request) -> None:
        request.pages += 1
        frame = GetHistory(with_=conversation.name, after=request.cursor, limit=HISTORY_LIMIT_MAX)
        if not self._receiver.send(frame, request):
            self._catching.discard(conversation.key)

    def seen(self, conversation: Conversation, message: Message) -> bool:
        """Whether a live direct ``message`` is already shown (a catch-up page had it)."""
        last = conversation.last_id
        return last is not None and message.id <= last and message.id in conversation.message_ids()

    def page(self, conversation: Conversation, page: HistoryPage, request: Request) -> None:
        """A page of the catch-up: the messages not shown yet go in place by id."""
        from app.client.receive import local_line, message_line

        receiver = self._receiver
        shown = conversation.message_ids()
        lines: list[Line] = []
        for message in page.messages:
            if message.id <= request.cursor or message.id in shown:
                continue
            pending = receiver.pending_match(conversation, message)
            if pending is not None:
                receiver.confirm(conversation, pending, message)
                continue
            line = message_line(message, receiver.state.nick)
            lines.append(line)
            if not line.own and receiver.state.active != conversation.key:
                conversation.unread += 1
                conversation.mention = True
        if lines:
            # Anything shown already after the cursor came live since the reconnect: newer.
            conversation.insert_before_id(lines, lines[0].id)
        newest = max((m.id for m in page.messages), default=request.cursor)
        if page.more and page.messages and request.pages < receiver.catchup_pages:
            request.cursor = newest
            self._fetch(conversation, request)
            return
        if page.more and page.messages:
            text = "More was missed while disconnected than was fetched here."
            gap = local_line(LineKind.GAP, text)
            conversation.insert_before_id([gap], newest + 1)
        self.finish(conversation, certain=not (page.more and page.messages))

    def catching(self, conversation: str) -> bool:
        """Whether the direct conversation ``conversation`` is being caught up."""
        return conversation in self._catching

    def finish(self, conversation: Conversation, *, certain: bool = True) -> None:
        """The catch-up of ``conversation`` is over (done, or refused): what was on the wire
        and is not in the history goes again if the history is ``certain`` to be whole, and the
        frontend redraws the conversation."""
        receiver = self._receiver
        self._catching.discard(conversation.key)
        receiver.outbox.caught_up(conversation, certain=certain)
        receiver.notify.reset(conversation)
        receiver.notify.changed()
