"""How a scrollback ``Line`` looks in the Tk message view: text runs, tags, colours and fonts.

This module owns the look of the chat, and nothing here touches the network or the engine.
``line_runs`` turns one frozen ``Line`` into ``(text, tags)`` runs that ``tk.Text.insert`` takes in
a single call, so a batch of a thousand lines is still one insert; ``configure_tags`` gives each tag
its colour and font on a ``Text``. A nick's colour is chosen by a stable hash of its case-folded
name, so ``alice`` looks the same in every room, in every run and in both frontends' spirit (the
Textual UI uses its own palette). Moderation lines (kicks, bans, roles) stand out in brown; a
deleted message keeps its place, its text replaced, in grey italics; an edited one ends in a small
grey "(edited)". Timestamps are local ``HH:MM``; messages carry the server's clock, local notices
ours. The first line of each day starts with the day's date, set apart by space above it: a day
separator that keeps one ``Text`` line per scrollback line, which the view's updates rely on; the
first line that came after the user left a conversation begins with "new" in the same way (the
unread marker). ``configure_tags`` takes the text size, which the window lets the user change.
"""

from __future__ import annotations

import time
import tkinter as tk
import zlib
from collections.abc import Iterable
from typing import Final

from app.client.edits import EDITED_MARK
from app.client.state import Line, LineKind
from app.protocol import fold

# Readable on a white background and distinct from the red of errors and the blue of own lines.
NICK_COLOURS: Final = (
    "#b8860b",
    "#2e8b57",
    "#8b008b",
    "#d2691e",
    "#008b8b",
    "#6a5acd",
    "#a0522d",
    "#c71585",
    "#556b2f",
    "#9932cc",
    "#b03060",
    "#228b22",
    "#cd5c00",
    "#4b0082",
    "#00796b",
    "#5d4037",
)
OWN_COLOUR: Final = "#1f5fbf"
DIM_COLOUR: Final = "#8a8a8a"
ERROR_COLOUR: Final = "#c62828"
MENTION_BACKGROUND: Final = "#fff3b0"
BACKGROUND: Final = "#ffffff"
UNREAD_COLOUR: Final = "#d84315"
UNREAD_MARK: Final = "── new since you left ──  "

Run = tuple[str, tuple[str, ...]]

_EVENT_KINDS: Final = frozenset(
    {LineKind.JOIN, LineKind.PART, LineKind.QUIT, LineKind.NICK, LineKind.TOPIC}
)


def nick_tag(nick: str) -> str:
    """The colour tag of ``nick``: the same for every spelling of its case and in every run."""
    return f"nick{zlib.crc32(fold(nick).encode()) % len(NICK_COLOURS)}"


def clock(ts_ms: int) -> str:
    """Local ``HH:MM`` of a millisecond Unix timestamp."""
    return time.strftime("%H:%M", time.localtime(ts_ms / 1000))


def _one_line(text: str) -> str:
    # One Text line per scrollback Line keeps "line N of the widget" equal to "line N of the
    # conversation", which is how updates and trimming find their place without searching.
    return text.replace("\r", " ").replace("\n", " ")


def day_of(line: Line) -> str:
    """The local day of ``line``, as the separator names it."""
    return time.strftime("%A %d %B %Y", time.localtime(line.ts / 1000))


def line_runs(line: Line, *, new_day: bool = False, unread: bool = False) -> list[Run]:
    """The runs of one line, ending in its newline; ``new_day``: it is the first of its day;
    ``unread``: the first line after the unread marker."""
    whole: tuple[str, ...] = ()
    if line.pending:
        whole = ("pending",)
    elif line.failed:
        whole = ("failed",)
    if line.mention and not line.own:
        whole += ("mention",)
    runs: list[Run] = [(f"{day_of(line)}  ", ("day",))] if new_day else []
    if unread:
        runs.append((UNREAD_MARK, ("unread",)))
    runs.append((f"{clock(line.ts)} ", ("ts", *whole)))
    text = _one_line(line.text)
    sender = line.sender or ""
    who = ("own-nick",) if line.own else (nick_tag(sender),)
    if line.kind is LineKind.MESSAGE:
        runs.append((f"<{sender}> ", ("nick", *who, *whole)))
        runs.append((text, ("body", "deleted", *whole) if line.deleted else ("body", *whole)))
    elif line.kind is LineKind.ACTION:
        runs.append(("* ", ("action", *whole)))
        runs.append((sender, ("action", "nick", *who, *whole)))
        runs.append((f" {text}", ("action", *whole)))
    elif line.kind in _EVENT_KINDS:
        runs.append((f"-- {text}", ("event", *whole)))
    elif line.kind is LineKind.ERROR:
        runs.append((f"!! {text}", ("error", *whole)))
    elif line.kind is LineKind.MODERATION:
        runs.append((f"** {text}", ("moderation", *whole)))
    elif line.kind is LineKind.GAP:
        runs.append((f"~~ {text} ~~", ("gap", *whole)))
    else:
        runs.append((text, ("notice", *whole)))
    if line.edited:
        runs.append((f"  {EDITED_MARK}", ("edited", *whole)))
    if line.failed:
        runs.append(("  (not sent)", ("failed",)))
    runs.append(("\n", whole))
    if new_day or unread:
        # The whole Text line gets the space above that sets it apart.
        runs = [(text, ("day-start", *tags)) for text, tags in runs]
    return runs


def insert_args(
    lines: Iterable[Line], previous: Line | None = None, marker: int | None = None
) -> list[str | tuple[str, ...]]:
    """The flattened ``chars, tags, chars, tags, ...`` arguments of one ``Text.insert`` call;
    ``previous`` is the line shown just before them (None: they start the view), ``marker`` the
    seq of the line the unread marker follows."""
    args: list[str | tuple[str, ...]] = []
    day = day_of(previous) if previous is not None else None
    after = previous.seq if previous is not None else None
    for line in lines:
        today = day_of(line)
        unread = marker is not None and after == marker
        for text, tags in line_runs(line, new_day=today != day, unread=unread):
            args.append(text)
            args.append(tags)
        day, after = today, line.seq
    return args


def font(widget: tk.Misc, size: int, *styles: str, like: str = "TkDefaultFont") -> str:
    """A font description: the family of the named font ``like``, at ``size`` points.

    A Tcl description such as ``{DejaVu Sans} 11 bold`` rather than a ``tkinter.font.Font``:
    a ``Font`` deletes itself from Tk in
    ``__del__``, and the garbage collector may run that on the engine's thread, where a Tcl
    call waits for the Tk thread; a plain tuple has nothing to finalise.
    """
    family = str(widget.tk.call("font", "actual", like, "-family"))
    return " ".join([f"{{{family}}}", str(size), *styles])


DEFAULT_TEXT_SIZE: Final = 11
TEXT_SIZES: Final = range(8, 25)  # what the window's larger/smaller text allows


def configure_tags(text: tk.Text, size: int = DEFAULT_TEXT_SIZE) -> None:
    """Give every tag ``line_runs`` uses its look at text ``size`` points; later tags in this
    list win where they clash."""
    # Proportional text reads better than the Text widget's default fixed font; only the
    # timestamps stay fixed-width so the messages line up.
    text.configure(font=font(text, size))
    bold = font(text, size, "bold")
    italic = font(text, size, "italic")
    small = font(text, max(6, size - 2), like="TkFixedFont")
    text.tag_configure("ts", foreground=DIM_COLOUR, font=small)
    text.tag_configure("day", foreground=DIM_COLOUR, font=bold)
    text.tag_configure("day-start", spacing1=size)
    text.tag_configure("unread", foreground=UNREAD_COLOUR, font=bold)
    text.tag_configure("nick", font=bold)
    for index, colour in enumerate(NICK_COLOURS):
        text.tag_configure(f"nick{index}", foreground=colour)
    text.tag_configure("own-nick", foreground=OWN_COLOUR)
    text.tag_configure("action", font=italic)
    text.tag_configure("event", foreground=DIM_COLOUR)
    text.tag_configure("notice", foreground="#455a64")
    text.tag_configure("gap", foreground=DIM_COLOUR, justify="center")
    text.tag_configure("error", foreground=ERROR_COLOUR)
    text.tag_configure("moderation", foreground="#8d4b00")
    text.tag_configure("deleted", foreground=DIM_COLOUR, font=italic)
    text.tag_configure("mention", background=MENTION_BACKGROUND)
    text.tag_configure("pending", foreground="#b0b0b0")
    text.tag_configure("failed", foreground=ERROR_COLOUR, overstrike=False)
    text.tag_configure("edited", foreground=DIM_COLOUR, font=small)
    text.tag_raise("pending")
    text.tag_raise("failed")
