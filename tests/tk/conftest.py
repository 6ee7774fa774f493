"""Fixtures for the Tk window: a virtual X display, a real ``Tk`` root, and ``parley tk`` on it.

If ``DISPLAY`` is unset, the ``display`` fixture starts ``Xvfb`` for the session on a display
number Xvfb picks itself (``-displayfd``, so parallel runs never collide) and stops it at the end;
without Xvfb the tests fail rather than skip, as the issue demands. ``open_app`` opens a
``TkApp`` against the real server of ``tests/conftest.py``, with the config file in ``tmp_path``.
Tk lives on this thread, the same one as the test's event loop and the server, so every wait is
``pump_until``: it alternates ``root.update()`` (the Tk side) with ``asyncio.sleep`` (the server
side) until a condition holds, and fails the test at its deadline. An exception raised in any Tk
callback fails the test too, instead of being printed and forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import tkinter as tk
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from app.client.config import CONFIG_DIR_ENV, ConfigStore
from app.client.link import Timings
from app.client.state import DEFAULT_SCROLLBACK, ConnectionState
from app.server import Server
from frontends.tk.app import TkApp, apply_style
from frontends.tk.display import NoDisplay, virtual_display
from frontends.tk.window import ChatWindow
from tests.conftest import WireClient

TIMEOUT = 10.0

FAST = Timings(
    backoff_initial=0.05,
    backoff_max=0.3,
    ping_after=5.0,
    dead_after=15.0,
    connect_timeout=2.0,
    quit_timeout=1.0,
)


async def pump_until(
    root: tk.Misc, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT
) -> None:
    """Run Tk and the test's loop in turn until ``condition()`` holds; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}")
        root.update()
        await asyncio.sleep(0.005)


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An X display: the one in ``DISPLAY``, or an Xvfb started for this test session."""
    try:
        with virtual_display() as name:
            yield name
    except NoDisplay as exc:
        pytest.fail(f"the Tk tests need an X display: {exc}")


@pytest.fixture
def root(display: str) -> Iterator[tk.Tk]:
    """A fresh Tk root window on the display; Tk callback exceptions fail the test."""
    window = tk.Tk(className="ParleyTest")
    window.geometry("1000x640+0+0")
    apply_style(window)
    errors: list[BaseException] = []

    def record(exc: type[BaseException], value: BaseException, tb: Any) -> None:
        errors.append(value)

    window.report_callback_exception = record  # type: ignore[method-assign]
    yield window
    # The app has usually destroyed it already, as it should when it closes.
    with contextlib.suppress(tk.TclError):
        window.destroy()
    # Collect the dead window's widgets here, on the Tk thread, not in some later engine thread.
    gc.collect()
    assert not errors, f"exceptions in Tk callbacks: {errors!r}"


class OpenApp(Protocol):
    def __call__(
        self,
        nick: str | None = "alice",
        *,
        ask: bool = False,
        port: int | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
    ) -> TkApp: ...


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client config directory, inside the test's tmp_path."""
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    return folder


@pytest.fixture
async def open_app(server: Server, root: tk.Tk, config_dir: Path) -> AsyncIterator[OpenApp]:
    """Open ``parley tk`` on the test server; every app is closed and its threads joined."""
    apps: list[TkApp] = []

    def open_(
        nick: str | None = "alice",
        *,
        ask: bool = False,
        port: int | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
    ) -> TkApp:
        app = TkApp(
            root,
            host="127.0.0.1",
            port=port or server.port,
            nick=nick,
            store=ConfigStore.default(),
            timings=FAST,
            scrollback=scrollback,
        )
        app.start(ask=ask)
        apps.append(app)
        return app

    yield open_
    for app in apps:
        app.close()
        await pump_until(root, lambda app=app: app.finished, "the app to close")  # type: ignore[misc]


def pump_without_server(root: tk.Misc, condition: Callable[[], bool], what: str) -> None:
    """Run only Tk, starving the server on the test's loop, until ``condition()`` holds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {TIMEOUT} s waiting for: {what}")
        root.update()
        time.sleep(0.005)


async def frame_of(client: WireClient, kind: str, **fields: Any) -> dict[str, Any]:
    """The next frame of type ``kind`` with ``fields`` that ``client`` receives; others skipped."""
    while True:
        frame = await client.recv()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
            return frame


async def press(root: tk.Tk, widget: tk.Misc, sequence: str) -> None:
    """Give ``widget`` the keyboard and press ``sequence`` there, as a user would."""
    widget.focus_force()
    root.update()
    widget.event_generate(sequence)
    root.update()


def type_line(window: ChatWindow, text: str) -> None:
    """Type ``text`` into the input line and press Enter, as a user would."""
    window.entry.focus_force()
    window.entry.set_value(text)
    window.entry.event_generate("<Return>")


def rows(window: ChatWindow) -> list[str]:
    """The message view's lines as shown."""
    return window.view.visible_text().splitlines()


def row_tags(window: ChatWindow, needle: str) -> set[str]:
    """Every tag on the last line that contains ``needle``."""
    lines = rows(window)
    for number in range(len(lines), 0, -1):
        if needle in lines[number - 1]:
            text = window.view.text
            tags: set[str] = set()
            for column in range(len(lines[number - 1])):
                tags.update(text.tag_names(f"{number}.{column}"))
            return tags
    pytest.fail(f"no line with {needle!r} in the view")


def chat(app: TkApp) -> ChatWindow:
    """The app's chat window, which must be showing."""
    assert app.window is not None, "the chat window is not showing"
    return app.window


async def connected(app: TkApp, room: str = "#general") -> ChatWindow:
    """Wait until the app's window is connected and shows ``room``."""
    await pump_until(
        app.root,
        lambda: (
            app.window is not None
            and app.window.status is not None
            and app.window.status.state is ConnectionState.CONNECTED
            and app.window.view.key == room
            and "You joined" in app.window.view.visible_text()
        ),
        f"the window to connect and show {room}",
    )
    return chat(app)
