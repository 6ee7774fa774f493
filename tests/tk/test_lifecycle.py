"""A burst drawn in batches, a flood drawn across ticks with keys served between them, bounded
scrollback, and closing the window without leftovers."""

from __future__ import annotations

import _tkinter
import json
import logging
import threading
import time
import tkinter as tk
from collections.abc import Callable

import pytest

from app.client.events import LineAdded
from app.client.receive import local_line
from app.client.state import DEFAULT_SCROLLBACK, LineKind
from tests.conftest import Connect
from tests.tk.conftest import (
    TIMEOUT,
    OpenApp,
    connected,
    frame_of,
    pump_until,
    rows,
    type_line,
)

BURST = 1000
FLOOD = 10_000  # within what one tick took before ticks were bounded in time


def _says(room: str, texts: list[str]) -> bytes:
    frames = [{"type": "say", "room": room, "text": text} for text in texts]
    return b"".join(json.dumps(frame).encode() + b"\n" for frame in frames)


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("parley-engine")]


async def test_a_burst_of_a_thousand_messages_is_drawn_in_batches(
    open_app: OpenApp, connect: Connect, root: tk.Tk
) -> None:
    """All 1,000 messages of a burst are shown, with far fewer Text inserts than messages."""
    bob = await connect("bob")
    await bob.join("#general")
    app = open_app("alice")
    window = await connected(app)
    batches, drawn = window.view.batches, window.view.lines_drawn

    await bob.send_raw(_says("#general", [f"burst {n:04}" for n in range(BURST)]))
    await pump_until(
        root, lambda: f"burst {BURST - 1:04}" in window.view.visible_text(), "the whole burst"
    )
    shown = [row.split("> ", 1)[1] for row in rows(window) if "<bob> burst" in row]
    assert shown == [f"burst {n:04}" for n in range(BURST)]
    inserts = window.view.batches - batches
    assert window.view.lines_drawn - drawn >= BURST
    assert 1 <= inserts <= BURST // 10, f"{inserts} inserts for {BURST} messages"
    assert window.view.at_bottom()


def _one_event_at_a_time(root: tk.Misc, condition: Callable[[], bool], what: str) -> None:
    """Serve Tk events one by one, as mainloop does, until ``condition()`` holds."""
    deadline = time.monotonic() + TIMEOUT * 3
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if not root.tk.dooneevent(_tkinter.DONT_WAIT):
            time.sleep(0.001)


async def test_a_key_is_served_between_the_ticks_that_draw_a_flood(
    open_app: OpenApp, root: tk.Tk
) -> None:
    """A key pressed once a queued flood starts to show is handled before the flood is all
    drawn, and the view ends with the flood's newest lines, each once and in order."""
    app = open_app("alice")
    window = await connected(app)
    assert app.session is not None
    drawn = window.view.lines_drawn
    lines = [local_line(LineKind.NOTICE, f"flood {n:05}") for n in range(FLOOD)]
    for line in lines:  # as the engine queues a flood faster than Tk draws it
        app.session.events.put(LineAdded("#general", line))
    _one_event_at_a_time(root, lambda: window.view.lines_drawn > drawn, "the flood to show")
    window.entry.focus_force()
    window.entry.event_generate("<KeyPress>", keysym="x", when="tail")
    _one_event_at_a_time(root, lambda: window.entry.value == "x", "the key")

    def all_shown() -> bool:
        return lines[-1].text in rows(window)[-1]

    assert not all_shown(), "the key waited for the whole flood"
    _one_event_at_a_time(root, all_shown, "the whole flood")
    shown = rows(window)[-DEFAULT_SCROLLBACK:]
    texts = [line.text for line in lines[-DEFAULT_SCROLLBACK:]]
    assert len(shown) == len(texts)
    assert all(row.endswith(f" {text}") for row, text in zip(shown, texts, strict=True))
    assert window.view.at_bottom()


async def test_scrollback_is_bounded(open_app: OpenApp, connect: Connect, root: tk.Tk) -> None:
    """With a scrollback of 100 lines the view keeps exactly the newest 100."""
    bob = await connect("bob")
    await bob.join("#general")
    window = await connected(open_app("alice", scrollback=100))

    await bob.send_raw(_says("#general", [f"line {n:03}" for n in range(250)]))
    await pump_until(root, lambda: "line 249" in window.view.visible_text(), "the last line")
    shown = rows(window)
    assert len(shown) == 100
    assert shown[0].endswith("<bob> line 150")
    assert len(window.scrollbacks.lines("#general")) == 100


@pytest.mark.parametrize("how", ["close button", "/quit", "Ctrl+Q"])
async def test_closing_says_goodbye_and_leaves_no_thread(
    how: str,
    open_app: OpenApp,
    connect: Connect,
    root: tk.Tk,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Closing sends quit (bob sees alice quit), joins the engine thread, logs no error."""
    bob = await connect("bob")
    await bob.join("#general")
    app = open_app("alice")
    window = await connected(app)
    await frame_of(bob, "presence", event="join", nick="alice")
    assert app.session is not None
    thread = app.session.thread
    assert thread.is_alive()

    if how == "close button":
        root.tk.call(root.protocol("WM_DELETE_WINDOW"))
    elif how == "/quit":
        type_line(window, "/quit see you")
    else:
        window.entry.event_generate("<Control-q>")
    await pump_until(root, lambda: app.finished, "the window to close")

    # The server says "quit" (or the goodbye text) only for a quit frame, "closed" for a socket
    # that merely went away.
    said = await frame_of(bob, "presence", event="quit", nick="alice")
    assert said.get("text") == ("see you" if how == "/quit" else None)
    assert not thread.is_alive()
    assert _engine_threads() == []
    assert not root.children  # the root is destroyed, widgets and all
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in capfd.readouterr().err
