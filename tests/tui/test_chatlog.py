"""The message log: how lines read, bounded memory over long scrollback, and loading older
history from a real server when the user scrolls to the top."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.app import App, ComposeResult

import frontends.tui
from app.client.state import Line, LineKind, next_seq
from frontends.tui.chatlog import NICK_COLORS, ChatLog, nick_color, printable
from tests.conftest import Connect
from tests.tui.conftest import MakeApp, eventually, until_in_room

STYLES = Path(frontends.tui.__file__).parent / "parley.tcss"
NOON = int(datetime(2025, 3, 4, 12, 34).timestamp() * 1000)


class LogHost(App[None]):
    """Just the log, styled as in the real app."""

    CSS_PATH = STYLES

    def __init__(self, max_rows: int = 10_000) -> None:
        super().__init__()
        self.max_rows = max_rows

    def compose(self) -> ComposeResult:
        yield ChatLog(max_rows=self.max_rows)


def line(text: str, kind: LineKind = LineKind.MESSAGE, **fields: object) -> Line:
    values: dict[str, object] = {"ts": NOON, "sender": "bob"}
    values.update(fields)
    return Line(next_seq(), kind, text, **values)  # type: ignore[arg-type]


async def test_rows_read_like_a_chat_client() -> None:
    """Messages, actions, events, errors and day changes each get their own readable form."""
    async with LogHost().run_test() as pilot:
        log = pilot.app.query_one(ChatLog)
        next_day = NOON + 24 * 3600 * 1000
        log.show(
            [
                line("hello there"),
                line("waves", LineKind.ACTION),
                line("carol joined", LineKind.JOIN, sender="carol"),
                line("bob left", LineKind.PART),
                line("You are sending too fast", LineKind.ERROR, sender=None),
                line("a new day", ts=next_day),
                line("evil\x1b[2Jtext", ts=next_day),
            ]
        )
        rows = log.plain_rows()
        assert rows[0].strip() == "Tuesday 04 March 2025"
        assert rows[1] == "12:34       bob │ hello there"
        assert rows[2].endswith("│ * bob waves")
        assert rows[3] == "12:34       --> │ carol joined"
        assert rows[4] == "12:34       <-- │ bob left"
        assert rows[5] == "12:34        !! │ You are sending too fast"
        assert rows[6].strip() == "Wednesday 05 March 2025"
        assert "\x1b" not in rows[8] and "␛[2Jtext" in rows[8]


async def test_pending_line_is_dimmed_until_confirmed() -> None:
    """Our own pending line is drawn dim; the confirmed one (same seq) in the normal colour."""
    async with LogHost().run_test() as pilot:
        log = pilot.app.query_one(ChatLog)
        pending = line("on its way", own=True, pending=True, sender="alice", nonce="n1")
        log.show([pending])
        await pilot.pause()

        def dim_segments() -> bool:
            strip = log.render_line(1)  # row 0 is the day separator
            return any(seg.style is not None and seg.style.dim for seg in strip if seg.text.strip())

        assert dim_segments()
        confirmed = Line(pending.seq, pending.kind, pending.text, NOON, "alice", id=7, own=True)
        assert log.update(confirmed)
        await pilot.pause()
        assert not dim_segments()
        body = next(seg for seg in log.render_line(1) if seg.text == "on its way")
        assert body.style is not None and body.style.color == log.rich_style.color
        assert log.plain_rows()[1] == "12:34     alice ┃ on its way"


async def test_mentions_stand_out() -> None:
    """A line that names us is drawn bold in the mention colour; an ordinary line is not."""
    async with LogHost().run_test() as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line("alice: look here", mention=True), line("nothing to see")])
        await pilot.pause()

        def body_style(y: int, text: str) -> Style:
            segment = next(seg for seg in log.render_line(y) if seg.text == text)
            assert segment.style is not None
            return segment.style

        mention = body_style(1, "alice: look here")
        plain = body_style(2, "nothing to see")
        assert mention.bold and not plain.bold
        assert mention.color != plain.color


async def test_long_lines_wrap_under_the_text_column() -> None:
    """A message longer than the log is as wide wraps with its continuation under the text."""
    async with LogHost().run_test(size=(60, 20)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line("word " * 30)])
        await pilot.pause()
        shown = log.visible_text()
        continuation = shown[2]
        assert continuation.startswith(" " * 16 + "│ word")
        assert shown[1].index("│") == continuation.index("│")


async def test_ten_thousand_lines_keep_memory_bounded() -> None:
    """Past ``max_rows`` the oldest rows go, and only rows on screen are ever rendered."""
    async with LogHost(max_rows=2000).run_test(size=(80, 24)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line(f"message {n}") for n in range(5000)])
        for n in range(5000, 10_000):
            log.add(line(f"message {n}"))
        await pilot.pause()
        assert log.row_count <= 2000
        assert log.lines[-1].text == "message 9999"
        assert "message 9999" in " ".join(log.visible_text())
        for _ in range(40):
            log.page_up()
        await pilot.pause()
        top = " ".join(log.visible_text())
        assert "message 9999" not in top and "message" in top
        assert log.rendered_rows <= 400


def test_nick_colours_are_stable_and_case_blind() -> None:
    """A nick always gets the same colour from the palette, whatever its case."""
    assert nick_color("Bob") == nick_color("bob") in NICK_COLORS
    assert len({nick_color(f"user{n}") for n in range(50)}) > 6


async def test_reaching_the_top_loads_older_history(make_app: MakeApp, connect: Connect) -> None:
    """PgUp at the top asks the server for older pages, keeping the line read in place."""
    bob = await connect("bob")
    await bob.join("#general")
    for n in range(1, 301):
        await bob.send(type="say", room="#general", text=f"old message {n}")
    await bob.barrier()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        log = app.chat_log

        def messages() -> list[str]:
            return [line.text for line in log.lines if line.kind is LineKind.MESSAGE]

        await eventually(pilot, lambda: len(messages()) == 50, "the join's page of history")
        assert messages()[0] == "old message 251"
        # The log follows its last line after the next refresh: let it, before paging back.
        await pilot.pause()
        for _ in range(10):
            await pilot.press("pageup")
            if log.scroll_y <= 0 or len(messages()) > 50:
                break
        await eventually(pilot, lambda: len(messages()) == 250, "one older page of 200")
        await eventually(
            pilot,
            lambda: (
                log.scroll_y > 0
                and any(row.endswith("│ old message 251") for row in log.visible_text()[:2])
            ),
            "the lines that were at the top stay there",
        )
        for _ in range(30):
            if len(messages()) == 300:
                break
            await pilot.press("pageup")
            await pilot.pause(0.05)
        assert messages()[:2] == ["old message 1", "old message 2"]


def test_printable_defuses_c0_and_c1_controls_but_keeps_text() -> None:
    """C0, DEL and C1 controls (U+009B opens an escape sequence on some terminals) are replaced."""
    shown = printable("a\x1b[2Jb\x7fc\x9b31md\u00e9\u4e2d")
    assert shown == "a\u241b[2Jb\u2421c\ufffd31md\u00e9\u4e2d"
    assert all(not (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) for ch in shown)


async def test_log_keeps_following_the_bottom_through_resizes() -> None:
    """After the terminal shrinks, grows and shrinks again, a new line is still in sight."""
    async with LogHost().run_test(size=(80, 24)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line(f"line {n}") for n in range(60)])
        await pilot.pause()
        for size in ((80, 20), (100, 30), (80, 24), (50, 15), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            log.add(line(f"after {size[0]}x{size[1]}"))
            await pilot.pause()
            assert any(f"after {size[0]}x{size[1]}" in row for row in log.visible_text()), size
            assert log.at_bottom, size


async def test_unread_marker_where_you_left_a_conversation(
    make_app: MakeApp, connect: Connect
) -> None:
    """Back in #general after a while in #side, a marker row sits between what alice had seen
    and what came while she was away."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        await bob.send(type="say", room="#general", text="seen before")
        await eventually(
            pilot, lambda: any("seen before" in r for r in app.chat_log.plain_rows()), "seen"
        )
        assert app.engine is not None
        app.engine.submit("/join #side")
        await eventually(
            pilot, lambda: app.snapshot is not None and app.snapshot.active == "#side", "in #side"
        )
        await bob.send(type="say", room="#general", text="said while away")
        await eventually(
            pilot,
            lambda: (
                app.snapshot is not None
                and app.snapshot.conversation("#general") is not None
                and app.snapshot.conversation("#general").unread == 1
            ),  # type: ignore[union-attr]
            "unread in #general",
        )
        app.engine.submit("/win 1")
        await eventually(
            pilot, lambda: any("said while away" in r for r in app.chat_log.plain_rows()), "back"
        )
        rows = app.chat_log.plain_rows()
        marker = [n for n, row in enumerate(rows) if "new since you left" in row]
        seen = [n for n, row in enumerate(rows) if "seen before" in row]
        away = [n for n, row in enumerate(rows) if "said while away" in row]
        assert len(marker) == 1 and seen[0] < marker[0] < away[0]


async def test_new_lines_below_are_counted_while_scrolled_back(
    make_app: MakeApp, connect: Connect
) -> None:
    """Scrolled back, the status line counts the messages arriving below; Esc brings the view
    to them and the count goes."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_in_room(pilot)
        bob = await connect("bob")
        await bob.join("#general")
        for n in range(40):
            await bob.send(type="say", room="#general", text=f"filler {n}")
        await eventually(
            pilot, lambda: any("filler 39" in r for r in app.chat_log.plain_rows()), "filled"
        )
        # The log follows the last line after the next refresh: let it, before scrolling back.
        await pilot.pause()
        await pilot.press("pageup")
        await eventually(pilot, lambda: app.status_line.scrolled, "scrolled back")
        await bob.send(type="say", room="#general", text="below 1")
        await bob.send(type="say", room="#general", text="below 2")
        await eventually(pilot, lambda: app.status_line.new_below == 2, "two new below")
        assert "2 new below" in app.status_line.render().plain
        await pilot.press("escape")
        await eventually(pilot, lambda: not app.status_line.scrolled, "at the bottom again")
        assert app.status_line.new_below == 0
        assert any("below 2" in row for row in app.chat_log.visible_text())


def codepoint_cells(text: str) -> int:
    """Cells as a terminal that counts each code point (wcwidth, tmux) draws ``text``."""
    cells = 0
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me", "Cf") or char == "\ufe0f":
            continue
        cells += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return cells


@pytest.mark.parametrize("text", ["👍🏽 nice", "family 👨‍👩‍👧 here", "love ❤️", "flag 🇫🇷", "café"])
def test_emoji_take_the_same_cells_everywhere(text: str) -> None:
    """What the log draws is as wide for rich as for a terminal counting code points, so a
    thumbs-up with a skin tone cannot push the member list's border aside."""
    shown = printable(text)
    assert cell_len(shown) == codepoint_cells(shown)


HELP_LINE = "  /ban nick|mask [time] [reason]  ban from this room: " + " ".join(["word"] * 12)


async def test_help_lines_wrap_under_their_summary_column() -> None:
    """At 80 columns a /help line too long for one row continues under its summary, not under
    the command."""
    text = HELP_LINE
    async with LogHost().run_test(size=(80, 24)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line(text, LineKind.NOTICE, sender=None)])
        await pilot.pause()
        rows = [row for row in log.visible_text() if row]
        first, second = rows[1], rows[2]  # after the day separator
        column = first.index("ban from")
        assert second[:column].replace("│", " ").strip() == ""
        assert second[column] != " "


async def test_help_lines_too_narrow_for_two_columns_indent_the_summary() -> None:
    """Where the log is too narrow for the summary column (the app at 80 columns, beside the
    conversation list), the command has its row and the summary is indented below it."""
    async with LogHost().run_test(size=(62, 24)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.show([line(HELP_LINE, LineKind.NOTICE, sender=None)])
        await pilot.pause()
        rows = [row for row in log.visible_text() if row][1:]  # after the day separator
        assert rows[0].endswith("/ban nick|mask [time] [reason]")
        body = [row.split("│ ", 1)[1] for row in rows[1:]]
        assert body[0].startswith(" " * 6 + "ban from this room")
        assert all(part.startswith(" " * 6) and part.strip() for part in body)
        assert " ".join(part.strip() for part in body).count("word") == 12
