"""End to end in a real pseudo-terminal: ``parley tui`` and ``parley demo`` at 80x24 under
``TERM=xterm-256color``, talking to a raw client over a real server.

pexpect gives the app a real pty of 80 columns by 24 rows; its reads block, so they run in a
worker thread while the test's loop keeps serving the server and the raw client.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from app.server import Server
from tests.conftest import Connect, WireClient

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15
# Textual's switch to the alternate screen: from here on, output is the UI's.
ENTER_UI = "\x1b[?1049h"


async def frame_with(client: WireClient, kind: str, **fields: Any) -> dict[str, Any]:
    """The next frame of type ``kind`` with ``fields``, skipping any others."""
    while True:
        frame = await client.recv()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
            return frame


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Start ``python -m app ARGS`` in an 80x24 xterm-256color pty; killed at the end if alive."""
    children: list[pexpect.spawn] = []

    def start(*args: str) -> pexpect.spawn:
        env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT), COLUMNS="80")
        env.pop("TEXTUAL_COLOR_SYSTEM", None)
        child = pexpect.spawn(
            sys.executable,
            ["-m", "app", *args],
            cwd=str(ROOT),
            env=env,
            dimensions=(24, 80),
            encoding="utf-8",
            timeout=TIMEOUT,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


async def expect(child: pexpect.spawn, pattern: str) -> re.Match[str]:
    """Wait in a thread until ``pattern`` (a regex) shows up in the child's output."""
    await asyncio.to_thread(child.expect, pattern)
    match = child.match
    assert isinstance(match, re.Match)
    return match


async def type_into(child: pexpect.spawn, text: str) -> None:
    """Type ``text`` and press Enter, as two writes the way a person's keys arrive."""
    child.send(text)
    await asyncio.sleep(0.05)  # pacing keystrokes, not waiting for a result
    child.send("\r")


async def quit_app(child: pexpect.spawn) -> None:
    child.sendcontrol("q")
    await asyncio.to_thread(child.expect, pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


async def test_tui_in_a_real_terminal(server: Server, connect: Connect, spawn: Any) -> None:
    """`parley tui` in an 80x24 pty shows another client's message, sends one back, and Alt+1
    switches conversation."""
    bob = await connect("bob")
    await bob.join("#general")
    child = spawn("tui", "--port", str(server.port), "--nick", "xena")
    await frame_with(bob, "presence", event="join", nick="xena")
    await expect(child, "connected")
    await bob.send(type="say", room="#general", text="hello from bob")
    await expect(child, "hello from bob")

    await type_into(child, "hi bob, from a terminal")
    received = await frame_with(bob, "message", text="hi bob, from a terminal")
    assert received["from"] == "xena" and received["room"] == "#general"

    # Alt+1 as terminals send it (ESC then "1") switches back to the first conversation.
    await type_into(child, "/join #side")
    await expect(child, "You joined #side")
    await bob.send(type="say", room="#general", text="only seen in general")
    await frame_with(bob, "message", text="only seen in general")
    child.send("\x1b1")
    await expect(child, "only seen in general")
    await quit_app(child)


async def test_demo_prints_the_join_command_and_serves_it(connect: Connect, spawn: Any) -> None:
    """`parley demo` prints the command to join, and the UI draws it again once it has taken
    the screen; a client on that port chats with the TUI."""
    child = spawn("demo", "--nick", "host")
    match = await expect(child, r"parley tui --host 127\.0\.0\.1 --port (\d+)")
    port = int(match.group(1))
    await expect(child, re.escape(ENTER_UI))
    await expect(child, re.escape(match.group(0)))
    await expect(child, "connected")
    guest = await connect("guest", port=port)
    await guest.join("#general")
    await expect(child, "guest joined")
    await guest.send(type="say", room="#general", text="knock knock")
    await expect(child, "knock knock")
    await type_into(child, "come in")
    received = await frame_with(guest, "message", text="come in")
    assert received["from"] == "host"
    await quit_app(child)
