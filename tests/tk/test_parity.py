"""The Tk window's share of a daily driver: day separators, a text size that is remembered, and
desktop notifications (or the bell) for mentions and direct messages one is not looking at."""

from __future__ import annotations

import os
import tkinter as tk
from datetime import datetime
from pathlib import Path

import pytest

from app.client.config import ConfigStore
from app.client.state import Line, LineKind, next_seq
from frontends.tk.dialogs import fill
from frontends.tk.render import UNREAD_MARK, insert_args
from tests.conftest import Connect
from tests.tk.conftest import OpenApp, connected, pump_until

NOON = int(datetime(2025, 3, 4, 12, 34).timestamp() * 1000)
DAY = 24 * 3600 * 1000


def message(text: str, ts: int) -> Line:
    return Line(next_seq(), LineKind.MESSAGE, text, ts, sender="bob")


def test_the_first_line_of_each_day_carries_the_date() -> None:
    """Lines of two days: the first of each begins with its date and is set apart; the others
    do not, and a batch drawn after a line of the same day does not repeat it."""
    lines = [message("a", NOON), message("b", NOON + 60_000), message("c", NOON + DAY)]
    args = insert_args(lines)
    texts = "".join(arg for arg in args if isinstance(arg, str)).splitlines()
    assert texts[0].startswith("Tuesday 04 March 2025  12:34 <bob> a")
    assert texts[1].startswith("12:34 <bob> b") or texts[1].startswith("12:35 <bob> b")
    assert texts[2].startswith("Wednesday 05 March 2025  ")
    assert ("day-start", "day") in args
    later = insert_args([message("d", NOON + DAY + 1)], previous=lines[2])
    assert not any(isinstance(arg, tuple) and "day" in arg for arg in later)


async def test_text_size_changes_and_is_remembered(open_app: OpenApp, root: tk.Tk) -> None:
    """Ctrl++ twice makes the messages larger; the size is saved and the next window uses it;
    Ctrl+0 goes back to the normal size."""
    app = open_app("alice")
    window = await connected(app)
    normal = window.view.text_size
    window.text_size_by(1)
    window.text_size_by(1)
    assert window.view.text_size == normal + 2
    assert str(normal + 2) in str(window.view.text.cget("font"))
    assert ConfigStore.default().load().text_size == normal + 2
    window.reset_size()
    assert window.view.text_size == normal
    window.text_size_by(3)
    window.on_connect()  # Parley > Connect…: a new window once signed in again
    assert app.login is not None
    fill(app.login.nick_entry, "alicia")
    app.login.submit()
    again = await connected(app)
    assert again is not window and again.view.text_size == normal + 3


@pytest.fixture
def notify_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real ``notify-send`` first on the PATH that writes its arguments to a file."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "notifications.txt"
    script = folder / "notify-send"
    # One write per call (the line, then its newline, could interleave with another call's).
    script.write_text(f'#!/bin/sh\nline=$(printf "%s|" "$@")\necho "$line" >> {log}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


async def test_a_mention_elsewhere_notifies_the_desktop(
    open_app: OpenApp, connect: Connect, root: tk.Tk, notify_log: Path
) -> None:
    """A mention in a room alice is not looking at, and a direct message, go to notify-send
    with the sender and the text; a line without her nick does not."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    window.submit("/join #side")
    await pump_until(root, lambda: window.view.key == "#side", "in #side")
    await bob.send(type="say", room="#general", text="no mention here")
    await bob.send(type="say", room="#general", text="alice: lunch?")
    await bob.send(type="say", to="alice", text="psst")
    await pump_until(root, lambda: window.notifier.sent == 2, "two notifications")
    await pump_until(
        root,
        lambda: notify_log.exists() and len(notify_log.read_text().splitlines()) == 2,
        "notify-send ran twice",
    )
    # Each notify-send runs in its own process: the two may write in either order.
    assert sorted(notify_log.read_text().splitlines()) == [
        "--app-name=Parley|--|bob (direct)|psst|",
        "--app-name=Parley|--|bob in #general|alice: lunch?|",
    ]


async def test_without_a_notification_service_the_bell_rings(
    open_app: OpenApp, connect: Connect, root: tk.Tk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no notify-send on the PATH, a direct message rings the bell instead, and turning
    notifications off in the View menu silences it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    bob = await connect("bob")
    window = await connected(open_app("alice"))
    assert window.notifier.command is None
    await bob.send(type="say", to="alice", text="ding")
    await pump_until(root, lambda: window.notifier.sent == 1, "the bell")
    window.menus["View"].invoke("Notify on mentions and direct messages")
    await bob.send(type="say", to="alice", text="dong")
    await pump_until(
        root, lambda: any(m.text == "dong" for m in window.scrollbacks.lines("bob")), "dong"
    )
    assert window.notifier.sent == 1


async def test_an_unread_marker_where_alice_left_a_conversation(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """Back in #general after #side, the first line said while she was away begins with the
    unread marker; the lines she had seen do not."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice"))
    await bob.send(type="say", room="#general", text="seen before")
    await pump_until(root, lambda: "seen before" in window.view.visible_text(), "seen")
    window.submit("/join #side")
    await pump_until(root, lambda: window.view.key == "#side", "in #side")
    await bob.send(type="say", room="#general", text="said while away")
    await pump_until(
        root,
        lambda: any(m.text == "said while away" for m in window.scrollbacks.lines("#general")),
        "the line in #general",
    )
    window.go_to(0)
    await pump_until(root, lambda: "said while away" in window.view.visible_text(), "back")
    rows = window.view.visible_text().splitlines()
    marked = [row for row in rows if UNREAD_MARK in row]
    assert len(marked) == 1 and marked[0].endswith("<bob> said while away")
