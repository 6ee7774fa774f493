"""The small panels around the message log: conversations, members, topic and status line.

This module owns the widgets that draw the engine's ``StateSnapshot`` and ``ConnectionStatus`` and
nothing else. Each takes its data as reactive attributes set by the app ("attributes down") and
redraws itself when they change; none of them can be focused, so the keyboard always stays in the
input line. ``ConversationList`` numbers the rooms and direct conversations for Alt+1…9 and shows
unread counts and mentions; ``MemberList`` marks the room's owner (``~``) and ops (``@``), in the
engine's order (by role, then nick), and dims members who are away; ``TopicBar`` names the active
conversation and its topic, and says when the topic is locked; ``StatusLine`` shows the server, our
nick, the connection state with the reconnect countdown, and whether the log is scrolled back; while
an invite is set (the demo's join command for a second person) it stands where the server's address
would.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from app.client.state import (
    ConnectionState,
    ConnectionStatus,
    ConversationKind,
    ConversationView,
    MemberView,
)
from app.protocol import fold
from frontends.tui.chatlog import nick_color, printable

_STATE_MARKS: dict[ConnectionState, str] = {
    ConnectionState.CONNECTING: "◌ connecting",
    ConnectionState.CONNECTED: "● connected",
    ConnectionState.RECONNECTING: "○ reconnecting",
    ConnectionState.CLOSED: "✗ closed",
}


class ConversationList(Widget, can_focus=False):
    """Rooms and direct conversations in sidebar order, numbered for Alt+1…9."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "conversations--title",
        "conversations--active",
        "conversations--unread",
        "conversations--mention",
        "conversations--parted",
    }

    conversations: reactive[tuple[ConversationView, ...]] = reactive(())
    active: reactive[str | None] = reactive(None)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Conversations\n", style=self.get_component_rich_style("conversations--title"))
        width = max(self.content_region.width, 8)
        for number, view in enumerate(self.conversations, start=1):
            text.append_text(self._row(number, view, width))
            text.append("\n")
        if not self.conversations:
            text.append("(none yet)", style=self.get_component_rich_style("conversations--parted"))
        return text

    def _row(self, number: int, view: ConversationView, width: int) -> Text:
        label = f"{number if number < 10 else ' '} "
        name = view.name if view.kind is ConversationKind.ROOM else f"@{view.name}"
        count = ""
        if view.unread:
            count = f"{'!' if view.mention else ''}{min(view.unread, 999)}"
        room = width - len(label) - len(count) - 1
        if len(name) > room:
            name = name[: max(room - 1, 1)] + "…"
        row = Text(f"{label}{name.ljust(room)} {count}")
        if view.key == self.active:
            row.stylize(self.get_component_rich_style("conversations--active"))
        elif view.mention:
            row.stylize(self.get_component_rich_style("conversations--mention"))
        elif view.unread:
            row.stylize(self.get_component_rich_style("conversations--unread"))
        elif not view.joined:
            row.stylize(self.get_component_rich_style("conversations--parted"))
        return row


class MemberList(Widget, can_focus=False):
    """Who is in the active conversation, owner and ops first and marked; members who are away
    are dimmed.

    A click on a member posts ``MemberList.Chosen`` for the app to open a direct conversation.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "members--title",
        "members--away",
        "members--self",
        "members--role",
    }

    view: reactive[ConversationView | None] = reactive(None)
    nick: reactive[str] = reactive("")

    class Chosen(Message):
        """The user clicked on ``nick`` in the member list."""

        def __init__(self, nick: str) -> None:
            super().__init__()
            self.nick = nick

    def _shown(self) -> tuple[MemberView, ...]:
        """The members that fit, one per row under the title (the last row may say how many
        more there are)."""
        view = self.view
        if view is None or view.kind is ConversationKind.DIRECT:
            return ()
        members = view.members
        space = max(self.content_region.height - 1, 1)
        return members if len(members) <= space else members[: space - 1]

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        shown = self._shown()
        if offset is not None and 1 <= offset.y <= len(shown):
            self.post_message(self.Chosen(shown[offset.y - 1].nick))

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        title = self.get_component_rich_style("members--title")
        view = self.view
        if view is None:
            return text
        if view.kind is ConversationKind.DIRECT:
            text.append("Direct with\n", style=title)
            text.append(view.name, style=Style(color=nick_color(view.name)))
            return text
        members = view.members
        text.append(f"{len(members)} member{'s' if len(members) != 1 else ''}\n", style=title)
        shown = self._shown()
        for member in shown:
            style = Style(color=nick_color(member.nick))
            if fold(member.nick) == fold(self.nick):
                style += self.get_component_rich_style("members--self")
            if member.away:
                style = self.get_component_rich_style("members--away")
            if member.prefix:
                text.append(member.prefix, style=self.get_component_rich_style("members--role"))
            text.append(member.nick + (" (away)" if member.away else ""), style=style)
            text.append("\n")
        if len(shown) < len(members):
            text.append(f"+{len(members) - len(shown)} more", style=title)
        return text


class TopicBar(Widget, can_focus=False):
    """The active conversation's name and topic, on one line at the top."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"topic--name"}

    view: reactive[ConversationView | None] = reactive(None)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        view = self.view
        if view is None:
            text.append("Parley")
            return text
        name = view.name if view.kind is ConversationKind.ROOM else f"@{view.name}"
        text.append(f" {name} ", style=self.get_component_rich_style("topic--name"))
        if view.kind is ConversationKind.DIRECT:
            text.append(" direct conversation")
        elif view.topic:
            text.append(" " + printable(view.topic))
        if view.kind is ConversationKind.ROOM and view.locked:
            text.append("  (topic locked)", style=Style(dim=True))
        return text


class StatusLine(Widget, can_focus=False):
    """Server, nick, connection state (with the reconnect countdown) and the scroll state.

    ``invite``, when set, is a command for someone else to join; it replaces the server's
    address, which it names anyway, so that at 80 columns the whole command fits on the line.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status--nick",
        "status--connected",
        "status--connecting",
        "status--reconnecting",
        "status--closed",
        "status--dim",
        "status--invite",
    }

    status: reactive[ConnectionStatus | None] = reactive(None, layout=True)
    nick: reactive[str] = reactive("")
    away: reactive[str | None] = reactive(None)
    scrolled: reactive[bool] = reactive(False)
    bell: reactive[bool] = reactive(True)
    invite: reactive[str] = reactive("")
    queued: reactive[int] = reactive(0, layout=True)  # our lines not yet confirmed
    new_below: reactive[int] = reactive(0, layout=True)  # lines that came while scrolled back

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ticker: Timer | None = None

    def watch_status(self, status: ConnectionStatus | None) -> None:
        # The countdown needs a redraw each second only while a retry is scheduled.
        counting = status is not None and status.retry_at is not None
        if counting and self._ticker is None:
            self._ticker = self.set_interval(0.5, lambda: self.refresh(layout=True))
        elif not counting and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def render(self) -> Text:
        status = self.status
        # Connected, one row is plenty; a reason for being disconnected is read whole.
        wrap = status is not None and status.state is not ConnectionState.CONNECTED
        text = Text(no_wrap=not wrap, overflow="fold" if wrap else "ellipsis")
        dim = self.get_component_rich_style("status--dim")
        if self.nick:
            text.append(f" {self.nick} ", style=self.get_component_rich_style("status--nick"))
        if self.away is not None:
            text.append(" (away)", style=dim)
        if self.invite:
            text.append(" join: ", style=dim)
            text.append(self.invite, style=self.get_component_rich_style("status--invite"))
        if status is None:
            return text
        if not self.invite:
            text.append(" " + status.server, style=dim)
        text.append(" │ ", style=dim)
        state = status.state
        label = _STATE_MARKS[state]
        retry = status.retry_in(time.monotonic())
        if state is ConnectionState.RECONNECTING:
            if retry is not None:
                label += f" in {retry:.0f}s"
            if status.attempt > 1:
                label += f" (attempt {status.attempt})"
        text.append(label, style=self.get_component_rich_style(f"status--{state.value}"))
        if self.queued:
            text.append(" │ ", style=dim)
            text.append(f"{self.queued} to send (/cancel)")
        if self.scrolled:
            text.append(" │ ", style=dim)
            below = f"{self.new_below} new below, " if self.new_below else "scrolled back, "
            text.append(f"{below}Esc: latest")
        if not self.bell:
            text.append(" │ ", style=dim)
            text.append("bell off", style=dim)
        # Last, as the longest: what wraps to a second row is the reason, not the rest.
        if status.detail and state is not ConnectionState.CONNECTED:
            text.append(f" - {printable(status.detail)}", style=dim)
        return text
