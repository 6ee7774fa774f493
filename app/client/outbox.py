"""The outbox: every line a person types goes out through it, in order, exactly once.

This module owns what happens to our own messages between the keyboard and the server's echo.
``Outbox`` queues each line (shown at once as a pending line, with a nonce), sends one at a time,
and sends the next when the server's echo confirms the last by nonce. A line typed while
disconnected waits for the connection. A server that announces its ``limits`` in ``welcome`` is
paced from the first line: ``Bucket`` reckons its flood control (a burst, then about one line a
second or two) on our side, charged by the engine for every frame it sends, and a line waits until
the bucket would take it, keeping a few frames in reserve for commands. A line the server refuses
with ``rate_limited`` anyway (or from a server that announces nothing) is put back at the head of
the queue, and the outbox paces what follows at the rate it learns from ``retry_after_ms``, so a
paste of fifty lines arrives whole and in order instead of "not sent". A line that was on the wire
when the connection dropped is *uncertain*: after the reconnect nothing of that conversation goes
out until the receiver's catch-up has looked for it in the history (room messages are stored before
anyone sees them, so a line not in the history was never delivered) and then it is either confirmed
there or sent again — never twice. Where no history can tell (a guest's direct messages, or a
catch-up cut short by a gap) an uncertain line is marked not sent rather than risk a duplicate.
``cancel`` takes back what has not gone out yet. The receiver reports echoes, refusals and finished
catch-ups through ``confirmed``, ``refused``, ``failed`` and ``caught_up``; the engine hands it
lines with ``say`` and tells it of the connection. Quitting drops what is still here, so both
frontends ask first, in the words of ``quit_question``, when the user quits (``quits`` tells a typed
``/quit``) with lines waiting.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from app.client.commands import CommandError, QuitChat, parse
from app.client.state import (
    ChatState,
    Conversation,
    ConversationKind,
    Line,
    LineKind,
    next_seq,
    now_ms,
)
from app.protocol import Limits, Say

if TYPE_CHECKING:
    from app.client.receive import Receiver

log = logging.getLogger("parley.client")

# The learned pause between lines is kept within these bounds (seconds): a server's bogus
# retry_after_ms must neither flood it nor stall the queue for minutes.
MIN_INTERVAL: Final = 0.05
MAX_INTERVAL: Final = 10.0
# A little slower than the server's refill: a line sent a hair early is refused and costs a
# round trip.
PACE_MARGIN: Final = 1.1
# Frames of the server's burst our lines leave for everything else (a /join, a history page, a
# keepalive ping), so that a paste going out never gets a command refused.
RESERVE: Final = 2


def quit_question(waiting: int) -> str | None:
    """What to ask before quitting with ``waiting`` lines not handed to the server yet (a line
    on the wire is read before the ``quit`` that follows it); None: quit at once."""
    if waiting <= 0:
        return None
    lines = "1 line" if waiting == 1 else f"{waiting} lines"
    return f"{lines} not sent yet. Quit anyway?"


QUIT_DETAIL: Final = (
    "They go out when the server lets them, as long as Parley runs; quitting now drops them."
)


def quits(text: str) -> bool:
    """Whether the typed line ``text`` is ``/quit``."""
    try:
        return isinstance(parse(text), QuitChat)
    except CommandError:
        return False


class Bucket:
    """The server's flood control for one connection, as ``welcome``'s ``limits`` describe it:
    ``burst`` frames at once, refilled at ``rate`` a second, full when the connection starts, one
    frame taken for every frame sent. No margin on the rate: the server counts a frame when it
    arrives, later than we do, and the reserve absorbs frames that arrive bunched."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.reserve = min(RESERVE, burst - 1)
        self._counted = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self._counted) * self.rate)
        self._counted = now

    def spend(self, now: float) -> None:
        """One frame went to the server."""
        self._refill(now)
        self.tokens -= 1.0

    def empty(self, now: float) -> None:
        """The server refused a frame: whatever we reckoned, its bucket is empty now."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def wait(self, now: float) -> float:
        """Seconds until one of our lines may go and leave the reserve (0: now)."""
        self._refill(now)
        missing = 1.0 + self.reserve - self.tokens
        return max(0.0, missing / self.rate)


class Stage(str, enum.Enum):
    QUEUED = "queued"  # not sent yet
    SENT = "sent"  # on the wire, waiting for the echo
    UNCERTAIN = "uncertain"  # was on the wire when the connection dropped


@dataclass
class Entry:
    """One line on its way: where it goes, what it says, and how far it got."""

    conversation: str  # the conversation's key
    line: Line
    stage: Stage = Stage.QUEUED

    @property
    def nonce(self) -> str:
        assert self.line.nonce is not None
        return self.line.nonce


class Outbox:
    """Our own lines waiting to be sent or confirmed, oldest first, across conversations."""

    def __init__(
        self,
        state: ChatState,
        receiver: Receiver,
        connected: Callable[[], bool],
    ) -> None:
        self._state = state
        self._receiver = receiver
        self._connected = connected
        self._entries: list[Entry] = []
        # The pause between lines learned from rate_limited (0: none learned yet), whether we
        # are pacing by it now, and when the next line may go (time.monotonic()).
        self.interval = 0.0
        self._pacing = False
        self.refusals = 0  # rate_limited answers so far, for tests and measurements
        self._next_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # The flood control the server announced for this connection (None: it did not).
        self._bucket: Bucket | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def waiting(self, conversation: str | None = None) -> int:
        """Lines not yet confirmed (in ``conversation``, or anywhere)."""
        return sum(1 for e in self._entries if conversation in (None, e.conversation))

    # --- from the engine ----------------------------------------------------------------

    def say(self, conversation: Conversation, text: str, *, action: bool) -> Line:
        """Queue ``text`` for ``conversation``: a pending line now, the message when it may go."""
        line = Line(
            seq=next_seq(),
            kind=LineKind.ACTION if action else LineKind.MESSAGE,
            text=text,
            ts=now_ms(),
            sender=self._state.nick,
            nonce=secrets.token_hex(8),
            own=True,
            pending=True,
        )
        self._receiver.append(conversation, line)
        self._entries.append(Entry(conversation.key, line))
        self._changed()
        self.pump()
        return line

    def signed_in(self, limits: Limits | None) -> None:
        """A new connection was welcomed, with the server's ``limits`` if it announced them:
        its flood control starts full, less the ``hello`` it has already taken."""
        self._bucket = None
        if limits is None or limits.msg_rate <= 0 or limits.msg_burst < 1:
            return
        self._bucket = Bucket(limits.msg_rate, limits.msg_burst, time.monotonic())
        self._bucket.spend(time.monotonic())
        self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, 1 / self._bucket.rate))

    def spent(self) -> None:
        """The engine sent a frame (of ours or not): the server's bucket has one fewer."""
        if self._bucket is not None:
            self._bucket.spend(time.monotonic())

    def connection_lost(self) -> None:
        """What was on the wire may or may not have arrived: the catch-up will tell."""
        for entry in self._entries:
            if entry.stage is Stage.SENT:
                entry.stage = Stage.UNCERTAIN
        self._stop_timer()
        self._changed()

    def cancel(self, conversation: str | None) -> int:
        """Take back the lines of ``conversation`` (None: all) not sent yet; how many."""
        taken = [
            e
            for e in self._entries
            if e.stage is Stage.QUEUED and conversation in (None, e.conversation)
        ]
        for entry in taken:
            self._entries.remove(entry)
            self._fail_line(entry)
        if taken:
            self._changed()
        return len(taken)

    def forget(self, conversation: str) -> int:
        """``conversation`` is closed: nothing more goes there, and an echo for what is on the
        wire would find no conversation to confirm in. How many lines had not gone out yet."""
        dropped = [e for e in self._entries if e.conversation == conversation]
        if not dropped:
            return 0
        self._entries = [e for e in self._entries if e.conversation != conversation]
        self._changed()
        self.pump()
        return sum(1 for e in dropped if e.stage is Stage.QUEUED)

    # --- from the receiver --------------------------------------------------------------

    def confirmed(self, nonce: str | None) -> None:
        """The server's echo (or the history) showed the line with ``nonce``."""
        if self._drop(nonce) is not None:
            self.pump()

    def failed(self, nonce: str | None) -> None:
        """The line with ``nonce`` is marked not sent; it leaves the queue."""
        if self._drop(nonce) is not None:
            self.pump()

    def refused(self, nonce: str | None, retry_after_ms: int | None) -> bool:
        """The server refused the line with ``nonce`` as too fast: it goes again, at the pace the
        server asks for. False if the line is none of ours."""
        entry = self._find(nonce)
        if entry is None:
            return False
        entry.stage = Stage.QUEUED
        # The refused line goes first again: order is what the person typed.
        self._entries.remove(entry)
        self._entries.insert(self._first_queued(), entry)
        wait = (retry_after_ms or 1000) / 1000
        self.refusals += 1
        self._changed()
        if self._bucket is not None:
            self._bucket.empty(time.monotonic())
        # ``retry_after_ms`` is when the next token comes, which may be a fraction of the
        # refill period: refused while pacing, the pace was too fast by about that much, so it
        # slows by it, and one refusal is not followed by another every few lines.
        learned = self.interval + wait if self._pacing else wait * PACE_MARGIN
        self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, learned))
        self._pacing = True
        self._next_at = time.monotonic() + min(MAX_INTERVAL, max(MIN_INTERVAL, wait))
        log.debug("rate limited: next line in %.2f s, then one every %.2f s", wait, self.interval)
        self.pump()
        return True

    def caught_up(self, conversation: Conversation, *, certain: bool) -> None:
        """The catch-up of ``conversation`` after a reconnect is over. What was uncertain and not
        found goes again if the history is ``certain`` to hold everything, else is not sent."""
        for entry in list(self._entries):
            if entry.conversation != conversation.key or entry.stage is not Stage.UNCERTAIN:
                continue
            if certain:
                entry.stage = Stage.QUEUED
            else:
                self._entries.remove(entry)
                self._fail_line(entry)
        self._changed()
        self.pump()

    # --- sending ------------------------------------------------------------------------

    def pump(self) -> None:
        """Send the next line if one may go now; otherwise wait for what allows it."""
        self._stop_timer()
        if not self._connected() or any(e.stage is Stage.SENT for e in self._entries):
            return
        for entry in self._entries:
            if entry.stage is Stage.UNCERTAIN:
                continue
            if self._receiver.catching_up(entry.conversation):
                continue
            if any(
                e.stage is Stage.UNCERTAIN and e.conversation == entry.conversation
                for e in self._entries
            ):
                continue  # keep a conversation's order until its uncertain line is settled
            now = time.monotonic()
            wait = self._next_at - now
            if self._bucket is not None:
                wait = max(wait, self._bucket.wait(now))
            if wait > 0:
                self._timer = asyncio.get_running_loop().call_later(wait, self.pump)
                return
            self._send(entry)
            return
        if not self._entries:
            self._pacing = False  # drained: the server's bucket refills while we are quiet

    def _send(self, entry: Entry) -> None:
        from app.client.receive import Request

        conversation = self._state.get(entry.conversation)
        if conversation is None or (
            conversation.kind is ConversationKind.ROOM and not conversation.joined
        ):
            self._entries.remove(entry)
            if conversation is not None:
                self._receiver.fail(conversation, [entry.line])
            self._changed()
            self.pump()
            return
        line = entry.line
        action = line.kind is LineKind.ACTION
        if conversation.kind is ConversationKind.ROOM:
            frame = Say(room=conversation.name, text=line.text, nonce=entry.nonce, action=action)
        else:
            frame = Say(to=conversation.name, text=line.text, nonce=entry.nonce, action=action)
        if self._receiver.send(frame, Request("say", conversation.key, nonce=entry.nonce)):
            entry.stage = Stage.SENT
            self._changed()
            if self._pacing:
                self._next_at = time.monotonic() + self.interval

    # --- helpers ------------------------------------------------------------------------

    def _find(self, nonce: str | None) -> Entry | None:
        for entry in self._entries:
            if nonce is not None and entry.line.nonce == nonce:
                return entry
        return None

    def _drop(self, nonce: str | None) -> Entry | None:
        entry = self._find(nonce)
        if entry is not None:
            self._entries.remove(entry)
            self._changed()
        return entry

    def _first_queued(self) -> int:
        for index, entry in enumerate(self._entries):
            if entry.stage is Stage.QUEUED:
                return index
        return len(self._entries)

    def _fail_line(self, entry: Entry) -> None:
        conversation = self._state.get(entry.conversation)
        if conversation is not None:
            self._receiver.fail(conversation, [conversation.pending.get(entry.nonce, entry.line)])

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _changed(self) -> None:
        self._state.outbox = len(self._entries)
        # A line on the wire is read by the server before a quit that follows it.
        self._state.unsent = sum(1 for e in self._entries if e.stage is not Stage.SENT)
        self._receiver.notify.changed()
