"""The message log in the middle of the screen: a virtualised, capped view of one conversation.

This module owns how scrollback lines look in the terminal and how thousands of them scroll.
``ChatLog`` is a line-API ``ScrollView``: it keeps the ``Line`` values of the active conversation
(at most ``max_rows``, oldest dropped first), knows each row's height at the current width, and
renders only the rows on screen, caching the strips of recently shown lines. So a log of 10,000
messages costs the same per frame as one of ten, and memory stays bounded. Each line is ``HH:MM nick
│ text`` with the text wrapped under itself; nicks keep a stable colour, our own lines are marked,
pending lines are dimmed until the server confirms them, ``/me`` reads ``* nick waves``, events
(joins, parts, nick changes) are dim, moderation (kicks, bans, roles) stands out, a deleted message
keeps its place with its text replaced in dim italics, an edited one ends in a dim "(edited)", and a
separator row marks each new day. The
log never talks to the engine: reaching the top posts ``ChatLog.ReachedTop`` for the app to act on.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import count
from typing import ClassVar, Final

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from app.client.edits import EDITED_MARK
from app.client.state import Line, LineKind
from app.protocol import fold

DEFAULT_MAX_ROWS: Final = 10_000
NICK_WIDTH: Final = 9
# Colours every terminal has, so nicks stay distinct in 16 colours as well as in 256.
NICK_COLORS: Final = (
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_cyan",
)
_EVENT_MARKS: Final = {
    LineKind.JOIN: "-->",
    LineKind.PART: "<--",
    LineKind.QUIT: "<--",
    LineKind.NICK: "--",
    LineKind.TOPIC: "--",
    LineKind.NOTICE: "--",
    LineKind.ERROR: "!!",
    LineKind.MODERATION: "**",
}
# Control characters from the network must never reach the terminal as escape sequences.
_CONTROL_PICTURES: Final = {code: 0x2400 + code for code in range(32) if code != 10}
_CONTROL_PICTURES[0x7F] = 0x2421
# C1 controls (U+0080-U+009F, e.g. U+009B, a one-character CSI) have no pictures: a replacement
# character keeps them from reaching terminals that act on them.
_CONTROL_PICTURES.update({code: 0xFFFD for code in range(0x80, 0xA0)})
# Emoji sequences whose width terminals disagree on: rich counts 👍🏽 (thumbs up and a skin tone)
# as one 2-cell picture, while tmux and many terminals count each code point (4 cells), and the
# row then pushes the member list's border aside. Without the skin tone modifiers, the joiner of
# ZWJ sequences and the emoji variation selector, every terminal counts the same cells as rich.
_UNEVEN_WIDTH: Final[dict[int, int | None]] = {code: None for code in range(0x1F3FB, 0x1F400)}
_UNEVEN_WIDTH.update({0x200D: None, 0xFE0F: None})
_NOT_SENT: Final = "  (not sent)"
_EDITED: Final = f"  {EDITED_MARK}"
_CACHED_LINES: Final = 400
# "HH:MM " + the nick column + " │ ": where the text of every line starts.
PREFIX_WIDTH: Final = 6 + NICK_WIDTH + 3


def nick_color(nick: str) -> str:
    """The colour of ``nick``: the same in every run and for every case of the nick."""
    return NICK_COLORS[zlib.crc32(fold(nick).encode()) % len(NICK_COLORS)]


def printable(text: str) -> str:
    """``text`` with control characters shown as symbols instead of being sent to the tty."""
    return text.translate(_CONTROL_PICTURES).translate(_UNEVEN_WIDTH)


def _body_text(line: Line) -> str:
    """The text part of a line as plain text, to measure it without styling it."""
    text = printable(line.text)
    if line.kind is LineKind.ACTION:
        text = f"* {line.sender or '?'} {text}"
    if line.edited:
        text += _EDITED
    if line.failed:
        text += _NOT_SENT
    return text


# A notice laid out in columns (/help: "  /usage   summary"): its wrapped rows continue under the
# second column rather than under the first.
_COLUMNS: Final = re.compile(r" *\S+(?: \S+)* {2,}(?=\S)")


# The fewest cells the second column may keep before it moves below the first, indented.
_SUMMARY_MIN: Final = 20
_NARROW_INDENT: Final = 6


def hanging_indent(text: str) -> int:
    """Where the second column of a two-column notice starts; 0 if it has none."""
    match = _COLUMNS.match(text)
    return match.end() if match else 0


def day_label(day: date) -> str:
    return day.strftime("%A %d %B %Y")


@dataclass(eq=False, slots=True)
class _Row:
    """One entry of the log: a scrollback line, or a day separator when ``line`` is None."""

    key: int
    line: Line | None
    day: date
    marker: bool = False  # the unread marker rather than a day separator
    height: int = 1
    # The width ``height`` was measured at; 0 when it must be measured again.
    measured_at: int = 0
    strips: list[Strip] | None = field(default=None, repr=False)


_separator_keys = count(-1, -1)


def _local_day(line: Line) -> date:
    return datetime.fromtimestamp(line.ts / 1000).date()


class ChatLog(ScrollView, can_focus=False):
    """The scrollback of the active conversation, drawn row by row."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chatlog--time",
        "chatlog--rule",
        "chatlog--own",
        "chatlog--pending",
        "chatlog--failed",
        "chatlog--mention",
        "chatlog--event",
        "chatlog--notice",
        "chatlog--error",
        "chatlog--moderation",
        "chatlog--deleted",
        "chatlog--day",
        "chatlog--marker",
        "chatlog--edited",
    }

    class ReachedTop(Message):
        """The user scrolled to the oldest line shown; older history may be wanted."""

    class Scrolled(Message):
        """The view left the newest line (``at_bottom`` False) or came back to it."""

        def __init__(self, at_bottom: bool, new_below: int = 0) -> None:
            super().__init__()
            self.at_bottom = at_bottom
            self.new_below = new_below  # messages that arrived out of sight below

    def __init__(
        self,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_rows = max_rows
        self._rows: list[_Row] = []
        self._tops: list[int] = []
        self._total = 0
        self._width = 0
        self._cached: OrderedDict[int, _Row] = OrderedDict()
        # Whether the view follows new lines: it left the bottom because the user scrolled,
        # not because a resize moved the bottom (a shorter view has a larger max_scroll_y).
        self._following = True
        # Messages added while scrolled back, for the status line's "n new below".
        self._new_below = 0
        self._styles: dict[str, Style] = {}

    # --- what the app calls ---------------------------------------------------------------

    @property
    def lines(self) -> tuple[Line, ...]:
        """The scrollback lines shown, oldest first."""
        return tuple(row.line for row in self._rows if row.line is not None)

    @property
    def row_count(self) -> int:
        """Rows held, day separators included: bounded by ``max_rows`` plus one chunk."""
        return len(self._rows)

    @property
    def rendered_rows(self) -> int:
        """Rows whose strips are cached for drawing: bounded however long the log is."""
        return len(self._cached)

    def visible_text(self) -> list[str]:
        """The rows on screen now, as plain text without trailing blanks, top to bottom."""
        height = self.scrollable_content_region.height
        return [self.render_line(y).text.rstrip() for y in range(height)]

    @property
    def at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y

    @property
    def following(self) -> bool:
        """Whether new lines scroll into view: the user has not scrolled back."""
        return self._following or self.at_bottom

    def plain_rows(self) -> list[str]:
        """Every entry as unwrapped plain text, as it reads on screen; for tests and copying."""
        rows = []
        for row in self._rows:
            prefix, body = self._parts(row, wrap_width=None)
            rows.append(prefix.plain + body.plain)
        return rows

    def show(self, lines: Iterable[Line], marker: int | None = None) -> None:
        """Replace the whole log, keeping the first visible line in place where it remains;
        the unread marker goes after the line whose seq is ``marker``."""
        anchor = None if self._following else self._anchor()
        follow = self.following or not self._rows
        # A redraw mostly shows the same lines (older history put in front): keeping their rows
        # keeps their measured heights, so a page costs its own lines, not the whole log's.
        shown = {row.line.seq: row for row in self._rows if row.line is not None}
        self._rows = []
        for line in lines:
            self._append_row(line, shown.get(line.seq))
            if line.seq == marker:
                day = self._rows[-1].day
                self._rows.append(_Row(next(_separator_keys), None, day, marker=True))
        kept = {id(row) for row in self._rows}
        for key, row in list(self._cached.items()):
            if id(row) not in kept:
                del self._cached[key]
                row.strips = None
        self._trim()
        self._reflow(measure=True)
        if follow or anchor is None or not self._scroll_to_anchor(anchor):
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def add(self, line: Line) -> None:
        """Append a line, following it if the view was at the bottom."""
        self.add_lines((line,))

    def add_lines(self, lines: Sequence[Line]) -> None:
        """Append lines in order, following them if the view was at the bottom: one scroll and
        one refresh for all of them, however many arrived at once."""
        if not lines:
            return
        follow = self.following
        chat = sum(1 for line in lines if line.is_chat)
        if not follow and chat:
            self._new_below += chat
            self.post_message(self.Scrolled(False, self._new_below))
        start = len(self._rows)
        for line in lines:
            self._append_row(line)
        for row in self._rows[start:]:
            row.height = self._measure(row)
            self._tops.append(self._total)
            self._total += row.height
        if self._trim():
            self._reflow()
        self._resize_virtual()
        if follow:
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def update(self, line: Line) -> bool:
        """Redraw the line with the same ``seq``; False if it is not shown any more."""
        for index in range(len(self._rows) - 1, -1, -1):
            row = self._rows[index]
            if row.line is not None and row.line.seq == line.seq:
                follow = self.following
                row.line = line
                row.strips = None
                row.measured_at = 0
                height = self._measure(row)
                if height != row.height:
                    row.height = height
                    self._reflow(start=index)
                    if follow:
                        self.scroll_end(animate=False, x_axis=False)
                self.refresh()
                return True
        return False

    def reveal(self, message_id: int) -> bool:
        """Scroll the message ``message_id`` into view, a few rows below the top, and stop
        following (a search's hit shown in its room); False if the log does not hold it."""
        for index, row in enumerate(self._rows):
            if row.line is not None and row.line.id == message_id:
                self._following = False
                y = max(0, self._tops[index] - 3)
                self.call_after_refresh(self.scroll_to, y=y, animate=False, force=True)
                return True
        return False

    def page_up(self) -> None:
        """Scroll a page back; at the top already, ask for older history."""
        if self.scroll_y <= 0:
            self.post_message(self.ReachedTop())
        else:
            self.scroll_page_up(animate=False)

    def page_down(self) -> None:
        self.scroll_page_down(animate=False)

    # --- Textual hooks --------------------------------------------------------------------

    def on_resize(self) -> None:
        # By now the view has its new size: whether it is at the bottom says nothing about
        # whether it was, so the follow flag decides.
        follow = self._following
        width = self.scrollable_content_region.width
        if width != self._width:
            anchor = None if follow else self._anchor()
            self._width = width
            self._drop_strips()
            self._reflow(measure=True)
            if follow or anchor is None or not self._scroll_to_anchor(anchor):
                self.scroll_end(animate=False, x_axis=False)
        elif follow:
            self.scroll_end(animate=False, x_axis=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._drop_strips()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value:
            self.post_message(self.ReachedTop())
        at_bottom = self.at_bottom
        if at_bottom != self._following:
            self._following = at_bottom
            if at_bottom:
                self._new_below = 0
            self.post_message(self.Scrolled(at_bottom, self._new_below))

    def render_line(self, y: int) -> Strip:
        absolute = round(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if absolute >= self._total or not self._rows:
            return Strip.blank(width, self.rich_style)
        index = bisect_right(self._tops, absolute) - 1
        strips = self._strips(self._rows[index])
        offset = absolute - self._tops[index]
        if offset >= len(strips):
            return Strip.blank(width, self.rich_style)
        return strips[offset]

    # --- rows and heights -----------------------------------------------------------------

    def _append_row(self, line: Line, shown: _Row | None = None) -> None:
        day = _local_day(line)
        last = self._rows[-1].day if self._rows else None
        if day != last:
            self._rows.append(_Row(next(_separator_keys), None, day))
        if shown is not None and shown.line is line:
            self._rows.append(shown)
        else:
            self._rows.append(_Row(line.seq, line, day))

    def _trim(self) -> bool:
        """Drop the oldest rows once over the cap, a tenth at a time so appends stay cheap."""
        if len(self._rows) <= self.max_rows:
            return False
        drop = len(self._rows) - self.max_rows + self.max_rows // 10
        removed_height = sum(row.height for row in self._rows[:drop])
        for row in self._rows[:drop]:
            self._cached.pop(row.key, None)
        del self._rows[:drop]
        if not self.following:
            # Keep the lines being read where they are on screen.
            self.scroll_to(y=max(0, self.scroll_y - removed_height), animate=False, force=True)
        return True

    def _reflow(self, start: int = 0, *, measure: bool = False) -> None:
        """Recompute the row offsets from ``start`` on, and first the heights if ``measure``."""
        del self._tops[start:]
        total = self._tops[-1] + self._rows[start - 1].height if start else 0
        for row in self._rows[start:]:
            if measure:
                row.height = self._measure(row)
            self._tops.append(total)
            total += row.height
        self._total = total
        self._resize_virtual()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._width, self._total)

    def _measure(self, row: _Row) -> int:
        if self._width <= 0:
            return 1
        if row.line is None:
            return 1
        if row.measured_at == self._width:
            return row.height
        row.measured_at = self._width
        if row.strips is not None:
            return len(row.strips)
        body = _body_text(row.line)
        if "\n" not in body and cell_len(body) <= self._width - PREFIX_WIDTH:
            return 1
        # Wrapping without drawing: most lines of a burst scroll past and are never drawn.
        return len(self._wrap(row)[1])

    def _anchor(self) -> tuple[int, int] | None:
        """The first visible scrollback line's seq and how far into it the view starts."""
        if not self._rows or self.at_bottom:
            return None
        top = round(self.scroll_y)
        first = max(bisect_right(self._tops, top) - 1, 0)
        for index in range(first, len(self._rows)):
            line = self._rows[index].line
            if line is not None:
                return line.seq, max(0, top - self._tops[index])
        return None

    def _scroll_to_anchor(self, anchor: tuple[int, int]) -> bool:
        seq, offset = anchor
        for index, row in enumerate(self._rows):
            if row.line is not None and row.line.seq == seq:
                y = self._tops[index] + offset
                self.call_after_refresh(self.scroll_to, y=y, animate=False, force=True)
                return True
        return False

    # --- rendering ------------------------------------------------------------------------

    def _drop_strips(self) -> None:
        for row in self._cached.values():
            row.strips = None
        self._cached.clear()

    def _strips(self, row: _Row) -> list[Strip]:
        if row.strips is not None:
            self._cached.move_to_end(row.key)
            return row.strips
        row.strips = self._render_row(row)
        self._cached[row.key] = row
        while len(self._cached) > _CACHED_LINES:
            _, evicted = self._cached.popitem(last=False)
            evicted.strips = None
        return row.strips

    def _wrap(self, row: _Row) -> tuple[Text, list[Text]]:
        """A row's prefix and its body wrapped in the width the prefix leaves: one per row."""
        width = max(self._width, 1)
        prefix, body = self._parts(row, wrap_width=width)
        if row.line is None:
            return prefix, [body]
        if not body.plain:
            return prefix, [Text()]
        room = max(width - prefix.cell_len, 8)
        hang = hanging_indent(body.plain) if row.line.kind is LineKind.NOTICE else 0
        if hang and body.cell_len > room:
            if hang <= room - _SUMMARY_MIN:
                parts = list(body[hang:].wrap(self.app.console, room - hang))
                first = body[:hang] + parts[0]
                return prefix, [first, *(Text(" " * hang) + part for part in parts[1:])]
            # Too narrow for two columns: the first on its row, the second indented below it.
            head = body[:hang]
            head.rstrip()
            parts = list(body[hang:].wrap(self.app.console, max(room - _NARROW_INDENT, 8)))
            return prefix, [head, *(Text(" " * _NARROW_INDENT) + part for part in parts)]
        return prefix, list(body.wrap(self.app.console, room))

    def _render_row(self, row: _Row) -> list[Strip]:
        console: Console = self.app.console
        width = max(self._width, 1)
        base = self.rich_style
        prefix, wrapped = self._wrap(row)
        if row.line is None:
            return [self._strip(wrapped[0], console, width, base)]
        indent = prefix.cell_len
        strips = []
        for number, part in enumerate(wrapped):
            lead = prefix
            if number > 0:
                lead = Text(" " * (indent - 2)) + Text("│ ", style=self._style("chatlog--rule"))
            strips.append(self._strip(lead + part, console, width, base))
        return strips

    @staticmethod
    def _strip(text: Text, console: Console, width: int, base: Style) -> Strip:
        text.no_wrap = True
        text.end = ""
        strip = Strip(list(text.render(console)), text.cell_len)
        return strip.adjust_cell_length(width).apply_style(base)

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name)
        return style

    def _parts(self, row: _Row, *, wrap_width: int | None) -> tuple[Text, Text]:
        """The fixed prefix (time, nick column, rule) and the body text of one row."""
        line = row.line
        if line is None and row.marker:
            label = " new since you left "
            if wrap_width is not None:
                label = label.center(wrap_width, "─")
            return Text(), Text(label, style=self._style("chatlog--marker"))
        if line is None:
            label = f" {day_label(row.day)} "
            if wrap_width is not None:
                label = label.center(wrap_width, "─")
            return Text(), Text(label, style=self._style("chatlog--day"))
        stamp = datetime.fromtimestamp(line.ts / 1000).strftime("%H:%M")
        prefix = Text()
        prefix.append(stamp, style=self._style("chatlog--time"))
        prefix.append(" ")
        body = Text(printable(line.text))
        rule = "│"
        rule_style = self._style("chatlog--rule")
        if line.kind is LineKind.MESSAGE:
            sender = line.sender or "?"
            shown = sender if len(sender) <= NICK_WIDTH else sender[: NICK_WIDTH - 1] + "…"
            nick_style = Style(color=nick_color(sender), bold=line.own)
            prefix.append(shown.rjust(NICK_WIDTH), style=nick_style)
            if line.own:
                rule, rule_style = "┃", self._style("chatlog--own")
            if line.mention and not line.own:
                body.stylize(self._style("chatlog--mention"))
            if line.deleted:
                body.stylize(self._style("chatlog--deleted"))
        elif line.kind is LineKind.ACTION:
            sender = line.sender or "?"
            prefix.append(" " * NICK_WIDTH)
            body = Text.assemble("* ", (sender, Style(color=nick_color(sender), bold=True)), " ")
            body.append(printable(line.text))
            body.stylize(Style(italic=True))
            if line.mention and not line.own:
                body.stylize(self._style("chatlog--mention"))
        elif line.kind is LineKind.GAP:
            prefix.append("".rjust(NICK_WIDTH))
            body.stylize(self._style("chatlog--event"))
            rule = "┆"
        else:
            mark = _EVENT_MARKS.get(line.kind, "--")
            kind_style = {
                LineKind.ERROR: "chatlog--error",
                LineKind.NOTICE: "chatlog--notice",
                LineKind.MODERATION: "chatlog--moderation",
            }.get(line.kind, "chatlog--event")
            prefix.append(mark.rjust(NICK_WIDTH), style=self._style(kind_style))
            body.stylize(self._style(kind_style))
        if line.edited:
            body.append(_EDITED, style=self._style("chatlog--edited"))
        if line.failed:
            rule, rule_style = "✗", self._style("chatlog--failed")
            body.stylize(self._style("chatlog--failed"))
            body.append(_NOT_SENT, style=self._style("chatlog--failed"))
        prefix.append(f" {rule} ", style=rule_style)
        if line.pending:
            prefix.stylize(self._style("chatlog--pending"))
            body.stylize(self._style("chatlog--pending"))
        return prefix, body
