"""Fixtures for the terminal UI: a ``ParleyApp`` on a real server, driven by Textual's Pilot.

Servers and raw ``WireClient`` peers come from ``tests/conftest.py`` (loopback port 0, a real
SQLite file in ``tmp_path``). The app's engine runs on the test's own loop, exactly as it runs on
Textual's loop in production, with short reconnect timings. The client config directory is moved
into ``tmp_path`` so no test reads or writes the user's own. Every wait polls a condition with a
timeout; nothing sleeps in place of an assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.client.config import CONFIG_DIR_ENV, ConfigStore
from app.client.link import Timings
from app.client.state import ConnectionState
from app.server import Server
from frontends.tui.app import ParleyApp
from frontends.tui.login import LoginScreen

TIMEOUT = 10.0

FAST = Timings(
    backoff_initial=0.05,
    backoff_max=0.3,
    backoff_jitter=0.0,
    ping_after=5.0,
    dead_after=15.0,
    connect_timeout=2.0,
    quit_timeout=1.0,
)

MakeApp = Callable[..., ParleyApp]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep the client config of every app and subprocess inside the test's directory."""
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    yield folder


@pytest.fixture
def make_app(server: Server, config_dir: Path) -> MakeApp:
    """Build a ``ParleyApp`` for ``server`` (nick ``alice`` unless told), with fast timings."""

    def make(nick: str | None = "alice", **overrides: Any) -> ParleyApp:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": server.port,
            "store": ConfigStore(config_dir / "client.json"),
            "timings": FAST,
        }
        settings.update(overrides)
        return ParleyApp(nick=nick, **settings)

    return make


async def eventually(
    pilot: Pilot[None], predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT
) -> None:
    """Let the app run until ``predicate()`` holds; fail with ``what`` if it does not in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}")
        await pilot.pause(0.01)


async def login_screen(pilot: Pilot[None]) -> LoginScreen:
    """Wait until the app shows its login screen, composed: a screen just pushed has no widgets
    yet, and reading its error line then fails (as it did now and then on a busy machine)."""
    app = pilot.app
    assert isinstance(app, ParleyApp)

    def shown() -> bool:
        login = app.login
        return login is not None and bool(login.query("#login-error"))

    await eventually(pilot, shown, "the login screen")
    assert app.login is not None
    return app.login


async def until_in_room(pilot: Pilot[None], room: str = "#general") -> None:
    """Wait until the app is connected and shows ``room``."""
    app = pilot.app
    assert isinstance(app, ParleyApp)

    def ready() -> bool:
        state = app.snapshot
        return (
            state is not None
            and state.connection.state is ConnectionState.CONNECTED
            and state.active == room
            and any(f"You joined {room}" in row for row in app.chat_log.plain_rows())
        )

    await eventually(pilot, ready, f"connected and showing {room}")


async def type_line(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` key by key into the focused input and press Enter."""
    await pilot.press(*text)
    await pilot.press("enter")


async def submit(pilot: Pilot[None], text: str) -> None:
    """Put ``text`` in the input line and press Enter (faster than typing it key by key)."""
    app = pilot.app
    assert isinstance(app, ParleyApp)
    app.chat_input.value = text
    await pilot.press("enter")


def rows_with(app: ParleyApp, needle: str) -> list[str]:
    """The log rows (as plain text) that contain ``needle``."""
    return [row for row in app.chat_log.plain_rows() if needle in row]
