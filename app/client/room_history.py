"""The history pages of rooms: on join, older pages, and the catch-up after a reconnect.

This module owns ``RoomHistory``: what each ``history`` page for a room means and the
bookkeeping of pages in flight. The page that follows a join shows what was said before, then
that we came in; an older page (asked for when the user scrolls to the top) goes in front; after
a reconnect the rejoin's page resumes after the last id seen there, and when more was missed
than it holds the hole is fetched with ``history after`` (up to ``catchup_pages`` pages, then a
gap line says so). Our own pending lines found in those pages are confirmed there; when a room's
catch-up is over, the log says "Reconnected; 4 missed messages fetched." and the outbox learns
whether what was on the wire at the drop must go again (``outbox.py``). It works for the
``Receiver`` (``receive.py``), through which it sends and tells the frontend; direct
conversations have their own catch-up (``directs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from app.client import receive
from app.client.events import LineAdded
from app.client.state import Conversation, ConversationKind, Line, LineKind
from app.protocol import HISTORY_LIMIT_MAX, GetHistory, HistoryPage

if TYPE_CHECKING:
    from app.client.receive import Receiver, Request

# The most the server gives in one page: fewer round trips when paging back.
OLDER_PAGE: Final = 200


class RoomHistory:
    """Which rooms are being caught up or paged back, and how each page lands."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        # Rooms being rejoined after a reconnect -> the last message id we had seen there.
        self._resume_after: dict[str, int] = {}
        self._loading_older: set[str] = set()
        # Rooms being caught up after a reconnect -> how many missed messages were fetched.
        self._missed: dict[str, int] = {}

    def catching(self, conversation: str) -> bool:
        """Whether the room ``conversation`` is being caught up after a reconnect."""
        return conversation in self._resume_after

    def forget(self, conversation: Conversation) -> None:
        """We are no longer in ``conversation``: nothing more is fetched for it."""
        self._resume_after.pop(conversation.key, None)
        self._loading_older.discard(conversation.key)

    def connection_lost(self) -> None:
        self._resume_after.clear()
        self._missed.clear()
        self._loading_older.clear()

    def refused(self, conversation: Conversation, request: Request) -> None:
        """The server refused a page (or the rejoin) that ``request`` asked for."""
        if request.kind == "older":
            self._loading_older.discard(conversation.key)
        elif request.kind == "catchup":
            self._finish_catchup(conversation, reset=True, certain=False)
        elif request.kind == "join" and conversation.key in self._resume_after:
            conversation.joined = False
            self._resume_after.pop(conversation.key, None)
            # Nothing waiting for this room can go now: the outbox says so and moves on.
            self._receiver.outbox.caught_up(conversation, certain=False)
            self._receiver.notify.changed()

    def rejoining(self, conversation: Conversation) -> None:
        """``conversation`` is being rejoined after a reconnect: what its history page holds
        after the last id seen there is news, and anything missed before it is fetched."""
        if conversation.last_id is not None:
            self._resume_after[conversation.key] = conversation.last_id
            self._missed[conversation.key] = 0

    def reconnected(self, conversation: Conversation) -> None:
        """Say in ``conversation`` that we are back, and how much of what was missed came."""
        missed = self._missed.pop(conversation.key, 0)
        fetched = {0: "nothing was missed", 1: "1 missed message fetched"}.get(
            missed, f"{missed} missed messages fetched"
        )
        self._receiver.append(
            conversation, receive.local_line(LineKind.NOTICE, f"Reconnected; {fetched}.")
        )

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
        if self._receiver.send(frame, receive.Request("older", conversation.key)):
            self._loading_older.add(conversation.key)

    def page(self, page: HistoryPage, request: Request | None) -> None:
        """A ``history`` page, answering ``request`` (None: the one that follows a join)."""
        name = page.room if page.room is not None else page.with_
        conversation = self._receiver.state.get(name) if name is not None else None
        if conversation is None:
            return
        if request is not None and request.kind == "older":
            self._older(conversation, page)
        elif request is not None and request.kind == "catchup":
            self._catchup(conversation, page, request)
        elif request is not None and request.kind == "direct":
            self._receiver.directs.page(conversation, page, request)
        elif conversation.key in self._resume_after:
            self._rejoin_page(conversation, page)
        else:
            self._join_page(conversation, page)

    def _join_page(self, conversation: Conversation, page: HistoryPage) -> None:
        for message in page.messages:
            if conversation.last_id is not None and message.id <= conversation.last_id:
                continue
            line = receive.message_line(message, self._receiver.state.nick)
            # Old history is context, not news: it does not count as unread.
            conversation.append(line, active=True)
            self._receiver.notify.emit(LineAdded(conversation.key, line))
        # After the history, as IRC clients show it: what was said before, then that we came in.
        # Older pages go in front of everything, so the notice stays below the history.
        self._receiver.append(
            conversation, receive.local_line(LineKind.JOIN, f"You joined {conversation.name}")
        )
        conversation.has_older = page.more
        if conversation.last_id is None:
            # An empty room: after a reconnect, everything in it will be news.
            conversation.last_id = 0
        self._receiver.notify.changed()

    def _rejoin_page(self, conversation: Conversation, page: HistoryPage) -> None:
        last_id = self._resume_after[conversation.key]
        # A catch-up cut short by another drop resumes early: skip what is already shown.
        shown = conversation.message_ids()
        for message in page.messages:
            if message.id <= last_id or message.id in shown:
                continue
            pending = self._receiver.pending_match(conversation, message)
            if pending is not None:
                self._receiver.confirm(conversation, pending, message)
            else:
                self._receiver.append(
                    conversation, receive.message_line(message, self._receiver.state.nick)
                )
                self._missed[conversation.key] = self._missed.get(conversation.key, 0) + 1
        messages = page.messages
        if not messages or messages[0].id <= last_id + 1 or not page.more:
            self._finish_catchup(conversation, reset=False, certain=True)
            return
        # The page starts after our last id and there is more before it: fetch the hole.
        request = receive.Request("catchup", conversation.key, cursor=last_id, head=messages[0].id)
        self._fetch_after(conversation, request)

    def _fetch_after(self, conversation: Conversation, request: Request) -> None:
        request.pages += 1
        frame = GetHistory(room=conversation.name, after=request.cursor, limit=HISTORY_LIMIT_MAX)
        self._receiver.send(frame, request)

    def _catchup(self, conversation: Conversation, page: HistoryPage, request: Request) -> None:
        lines: list[Line] = []
        shown = conversation.message_ids()
        for message in page.messages:
            if not request.cursor < message.id < request.head or message.id in shown:
                continue
            pending = self._receiver.pending_match(conversation, message)
            if pending is not None:
                self._receiver.confirm(conversation, pending, message)
                continue
            line = receive.message_line(message, self._receiver.state.nick)
            lines.append(line)
            if not line.own and self._receiver.state.active != conversation.key:
                conversation.unread += 1
                conversation.mention = conversation.mention or line.mention
        conversation.insert_before_id(lines, request.head)
        self._missed[conversation.key] = self._missed.get(conversation.key, 0) + len(lines)
        newest = max((m.id for m in page.messages), default=request.cursor)
        reached = newest >= request.head or not page.more or not page.messages
        if reached:
            self._finish_catchup(conversation, reset=True, certain=True)
        elif request.pages >= self._receiver.catchup_pages:
            gap = receive.local_line(
                LineKind.GAP, "More was missed while disconnected than was fetched here."
            )
            conversation.insert_before_id([gap], request.head)
            self._finish_catchup(conversation, reset=True, certain=False)
        else:
            request.cursor = newest
            self._fetch_after(conversation, request)

    def _finish_catchup(self, conversation: Conversation, *, reset: bool, certain: bool) -> None:
        self._resume_after.pop(conversation.key, None)
        if conversation.key in self._missed:
            self.reconnected(conversation)
        # What was on the wire and is not in the history was never stored: it goes again when
        # the history is whole, and is marked not sent when it may have a gap.
        self._receiver.outbox.caught_up(conversation, certain=certain)
        if reset:
            self._receiver.notify.reset(conversation)
        self._receiver.notify.changed()

    def _older(self, conversation: Conversation, page: HistoryPage) -> None:
        self._loading_older.discard(conversation.key)
        oldest = conversation.oldest_id
        older = [
            receive.message_line(message, self._receiver.state.nick)
            for message in page.messages
            if oldest is None or message.id < oldest
        ]
        fitted = conversation.prepend(older)
        conversation.has_older = page.more or fitted < len(older)
        self._receiver.notify.reset(conversation)
        self._receiver.notify.changed()
