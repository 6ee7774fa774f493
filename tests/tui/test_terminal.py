"""End to end in a real pseudo-terminal: ``parley tui`` and ``parley demo`` at 80x24 under
``TERM=xterm-256color``, talking to a raw client over a real server, and how they end on SIGTERM,
SIGHUP and a closed terminal.

pexpect gives the app a real pty of 80 columns by 24 rows; its reads block, so they run in a
worker thread while the test's loop keeps serving the server and the raw client. The terminal's
modes after an exit are read on pexpect's side of the pty, which on Linux reports the modes the
app set on its side; each child gets its own TMPDIR, so the demo's temporary folder is the
test's to check.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import sys
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from app.server import Server
from tests.conftest import Connect, Dial, WireClient

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15
# Textual's switch to the alternate screen: from here on, output is the UI's.
ENTER_UI = "\x1b[?1049h"
LEAVE_UI = "\x1b[?1049l"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
# The demo's temporary database, as it prints it before the UI starts.
DEMO_DB = r"Temporary database: (\S+) "


async def frame_with(client: WireClient, kind: str, **fields: Any) -> dict[str, Any]:
    """The next frame of type ``kind`` with ``fields``, skipping any others."""
    while True:
        frame = await client.recv()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
            return frame


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """Start ``python -m parley ARGS`` in an 80x24 xterm-256color pty, with TMPDIR in the test's
    directory; killed at the end if alive."""
    children: list[pexpect.spawn] = []
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def start(*args: str) -> pexpect.spawn:
        env = dict(
            os.environ,
            TERM="xterm-256color",
            PYTHONPATH=str(ROOT),
            COLUMNS="80",
            TMPDIR=str(scratch),
        )
        env.pop("TEXTUAL_COLOR_SYSTEM", None)
        child = pexpect.spawn(
            sys.executable,
            ["-m", "parley", *args],
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


async def until_exit(child: pexpect.spawn) -> str:
    """Everything the child writes until it has exited (read in a thread, up to TIMEOUT)."""
    await asyncio.to_thread(child.expect, pexpect.EOF)
    output = child.before
    assert isinstance(output, str)
    await until_reaped(child)
    return output


async def until_reaped(child: pexpect.spawn) -> None:
    """Wait, up to TIMEOUT, until the child process has ended and its status is known."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while child.isalive():
        if loop.time() > deadline:
            pytest.fail(f"the child was still running {TIMEOUT} s after it should have ended")
        await asyncio.sleep(0.02)


def cooked(child: pexpect.spawn) -> bool:
    """Whether the child's terminal is back in cooked mode: lines, and typing echoed."""
    lflag = termios.tcgetattr(child.child_fd)[3]
    return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)


def left_the_ui(output: str) -> bool:
    """Whether ``output`` ends outside the UI: off the alternate screen, with the cursor shown."""
    return output.rfind(LEAVE_UI) > output.rfind(ENTER_UI) and output.rfind(
        SHOW_CURSOR
    ) > output.rfind(HIDE_CURSOR)


async def start_demo(spawn: Any) -> tuple[pexpect.spawn, int, Path]:
    """``parley demo --nick host`` connected in its UI: the child, its port, its temp folder."""
    child = spawn("demo", "--nick", "host")
    folder = Path((await expect(child, DEMO_DB)).group(1)).parent
    port = int((await expect(child, r"--port (\d+)")).group(1))
    await expect(child, re.escape(ENTER_UI))
    await expect(child, "connected")
    assert folder.is_dir() and folder.name.startswith("parley-demo-")
    assert not cooked(child)  # the UI runs in raw mode, so the checks below can fail
    return child, port, folder


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
    """`parley demo` prints the join command, its UI shows it too, and a guest chats on it."""
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


async def test_demo_over_tls_prints_a_join_command_that_verifies(spawn: Any) -> None:
    """`parley demo --tls` serves TLS with a throwaway CA; its join command's --ca verifies it."""
    child = spawn("demo", "--tls", "--nick", "host")
    match = await expect(child, r"parley tui --host 127\.0\.0\.1 --port (\d+) --tls --ca (\S+)")
    port, ca = int(match.group(1)), Path(match.group(2))
    await expect(child, "You joined")
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl.create_default_context(cafile=str(ca))
    )
    guest = WireClient(reader, writer)
    try:
        await guest.hello("guest")
        await guest.join("#general")
        await expect(child, "guest joined")
    finally:
        await guest.close()
    await quit_app(child)
    assert not ca.exists()  # the throwaway certificate went with the demo


async def test_sigterm_stops_the_demo_cleanly(spawn: Any, dial: Dial) -> None:
    """SIGTERM ends `parley demo`: guests get a goodbye, terminal restored, temp folder gone."""
    child, port, folder = await start_demo(spawn)
    guest = await dial(port, "guest")
    child.kill(signal.SIGTERM)
    output = asyncio.create_task(until_exit(child))
    bye = await frame_with(guest, "bye")
    assert bye["reason"] == "server_shutdown"
    text = await output
    assert left_the_ui(text)
    assert cooked(child)
    assert not folder.exists()
    assert "Parley demo stopped." in text
    child.close()
    assert child.exitstatus == 128 + signal.SIGTERM


async def test_sighup_stops_the_demo_cleanly(spawn: Any) -> None:
    """SIGHUP ends `parley demo` with the terminal restored and its temporary folder gone."""
    child, _, folder = await start_demo(spawn)
    child.kill(signal.SIGHUP)
    assert left_the_ui(await until_exit(child))
    assert cooked(child)
    assert not folder.exists()
    child.close()
    assert child.exitstatus == 128 + signal.SIGHUP


async def test_closed_terminal_stops_the_demo_cleanly(spawn: Any, dial: Dial) -> None:
    """A terminal closed under `parley demo` ends it: guests get a goodbye, temp folder gone."""
    child = spawn("demo", "--nick", "host")
    folder = Path((await expect(child, DEMO_DB)).group(1)).parent
    port = int((await expect(child, r"--port (\d+)")).group(1))
    guest = await dial(port, "guest")
    # Closed while the UI is still drawing its first screens: then a driver that the hangup's
    # SIGCONT started over would block the shutdown for good.
    await expect(child, re.escape(ENTER_UI))
    child.ptyproc.fileobj.close()  # pexpect's end of the pty: as a terminal window closing
    bye = await frame_with(guest, "bye")
    assert bye["reason"] == "server_shutdown"
    await until_reaped(child)
    assert not folder.exists()
    child.close()
    assert child.exitstatus == 128 + signal.SIGHUP


async def test_second_signal_exits_at_once(spawn: Any, dial: Dial) -> None:
    """A second SIGTERM exits the demo at once, still restoring the terminal, deleting the db."""
    child, port, folder = await start_demo(spawn)
    guest = await dial(port, "guest")
    child.kill(signal.SIGTERM)
    output = asyncio.create_task(until_exit(child))
    # The guest stays connected after the goodbye, so the server would wait for it (seconds).
    await frame_with(guest, "bye")
    child.kill(signal.SIGTERM)
    text = await output
    assert left_the_ui(text)
    assert "Parley demo stopped." not in text  # the ordinary ending did not run
    assert cooked(child)
    assert not folder.exists()
    child.close()
    assert child.exitstatus == 128 + signal.SIGTERM


async def test_sigterm_restores_the_terminal_after_tui(
    server: Server, connect: Connect, spawn: Any
) -> None:
    """SIGTERM ends `parley tui` as Ctrl+Q does (a quit to the server), terminal restored."""
    bob = await connect("bob")
    await bob.join("#general")
    child = spawn("tui", "--port", str(server.port), "--nick", "xena")
    await expect(child, re.escape(ENTER_UI))
    await frame_with(bob, "presence", event="join", nick="xena")
    await expect(child, "connected")
    assert not cooked(child)
    child.kill(signal.SIGTERM)
    output = asyncio.create_task(until_exit(child))
    await frame_with(bob, "presence", event="quit", nick="xena")
    assert left_the_ui(await output)
    assert cooked(child)
    child.close()
    assert child.exitstatus == 128 + signal.SIGTERM


async def xena_with_bob(
    server: Server, connect: Connect, spawn: Any
) -> tuple[WireClient, pexpect.spawn]:
    """`parley tui --nick xena` connected in #general, with bob there on a raw client."""
    bob = await connect("bob")
    await bob.join("#general")
    child = spawn("tui", "--port", str(server.port), "--nick", "xena")
    await frame_with(bob, "presence", event="join", nick="xena")
    await expect(child, "connected")
    return bob, child


async def test_log_follows_new_lines_after_the_terminal_is_resized(
    server: Server, connect: Connect, spawn: Any
) -> None:
    """In a real 80x24 pty, a line sent after the terminal shrinks and grows back is drawn."""
    bob, child = await xena_with_bob(server, connect, spawn)
    for number in range(30):
        await bob.send(type="say", room="#general", text=f"filler {number}")
    await expect(child, "filler 29")
    for rows, cols in ((20, 80), (30, 100), (24, 80)):
        child.setwinsize(rows, cols)
        await asyncio.sleep(0.3)  # pacing resizes as a person's drags arrive, not a wait
        await bob.send(type="say", room="#general", text=f"after {cols}x{rows}")
        await expect(child, f"after {cols}x{rows}")
    await quit_app(child)


async def test_pasting_lines_in_a_real_terminal(
    server: Server, connect: Connect, spawn: Any
) -> None:
    """In a real pty, a plain paste (lines and Enters in one write) sends each line once, and a
    bracketed paste of three lines asks once, then sends all three."""
    bob, child = await xena_with_bob(server, connect, spawn)
    child.send("Q1\rQ2\rQ3\rQ4\r")
    got = [(await frame_with(bob, "message", room="#general"))["text"] for _ in range(4)]
    assert got == ["Q1", "Q2", "Q3", "Q4"]
    child.send("\x1b[200~B1\rB2\rB3\x1b[201~")
    await expect(child, "Send 3 lines to #general")
    child.send("y")
    got = [(await frame_with(bob, "message", room="#general"))["text"] for _ in range(3)]
    assert got == ["B1", "B2", "B3"]
    await quit_app(child)
