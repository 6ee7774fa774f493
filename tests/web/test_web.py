"""End to end: ``parley web`` in a real headless browser (Debian's chromium, driven by
playwright), chatting with a raw protocol client through a real server.

The web server runs as the real command in a subprocess; the browser loads its page, whose
terminal draws on a canvas, so what the page was sent is read from its websocket frames (the
bytes its terminal draws) and what it looks like is kept as a screenshot. The page's one
outside request (a web font) is refused, so the test needs no network. Set
``PARLEY_WEB_SCREENSHOT=docs/web.png`` to refresh the README's picture from this run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.server import Server
from benchmarks.peers import free_port
from tests.conftest import Connect
from tests.tui.test_terminal import frame_with

pytest.importorskip("textual_serve")
playwright = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs Debian's chromium"),
]


@pytest.fixture
def web(server: Server, tmp_path: Path) -> Iterator[str]:
    """`parley web` for ``server`` on a free port; its URL. Stopped with SIGTERM at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"))
    command = [sys.executable, "-m", "parley", "web", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--server", f"127.0.0.1:{server.port}"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            assert "Parley in the browser: http://127.0.0.1:" in line, process.stderr.read()
            yield line.split(": ", 1)[1].strip()
            process.send_signal(signal.SIGTERM)
            assert process.wait(TIMEOUT) == 0, process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)


class Screen:
    """What the page's terminal has been sent over its websocket, as text."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def watch(self, socket: Any) -> None:
        socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        self.sent += payload if isinstance(payload, bytes) else payload.encode()

    async def until(self, text: str) -> None:
        """Wait until ``text`` has been sent to the page (fails after TIMEOUT)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while text.encode() not in self.sent:
            assert loop.time() < deadline, f"{text!r} never reached the page"
            await asyncio.sleep(0.05)


@pytest.fixture
async def page(web: str) -> AsyncIterator[Any]:
    """A 1000x600 chromium page (the web font refused: no network), closed at the end."""
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1000, "height": 600})
            tab = await context.new_page()
            await tab.route("**/fonts.googleapis.com/**", lambda route: route.abort())
            yield tab
        finally:
            await browser.close()


async def type_line(page: Any, text: str) -> None:
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def test_the_browser_signs_in_and_chats(
    web: str, page: Any, connect: Connect, tmp_path: Path
) -> None:
    """The page loads the login screen; a nick typed there signs in; a line typed there reaches a
    raw client, and one the raw client sends is drawn on the page; closing the tab ends it."""
    bob = await connect("bob")
    await bob.join("#general")
    screen = Screen()
    page.on("websocket", screen.watch)
    await page.goto(web, wait_until="domcontentloaded", timeout=TIMEOUT * 1000)
    await screen.until("Enter to connect")
    # Keyboard focus for the page, clicked in a corner: a click on a field of the login screen
    # (the password, say, in its middle) would move Textual's focus there.
    await page.click(".textual-terminal", position={"x": 2, "y": 2})
    await type_line(page, "webby")
    await frame_with(bob, "presence", event="join", nick="webby")
    await screen.until("connected")

    await bob.send(type="say", room="#general", text="hello from bob")
    await screen.until("hello from bob")
    await type_line(page, "hi bob, from a browser")
    received = await frame_with(bob, "message", text="hi bob, from a browser")
    assert received["from"] == "webby" and received["room"] == "#general"
    await screen.until("hi bob, from a browser")

    shot = await page.screenshot()
    assert shot.startswith(b"\x89PNG")
    (tmp_path / "web.png").write_bytes(shot)
    if target := os.environ.get("PARLEY_WEB_SCREENSHOT"):
        (ROOT / target).write_bytes(shot)

    await page.close()
    await frame_with(bob, "presence", event="quit", nick="webby")
