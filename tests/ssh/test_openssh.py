"""End to end: OpenSSH's own ``ssh`` in an 80x24 pty against the gateway, chatting with a raw
protocol client, resized, and quit; and against ``parley serve --ssh-port``, where the key is
the identity: the first session pins its nick, the second signs straight in.

``ssh`` runs under pexpect exactly as a person runs it (a key of its own, no known_hosts, a
terminal of ``TERM=xterm-256color``); pexpect's reads block, so they run in a worker thread
while the test's loop serves the gateway, the chat server and the raw client. The resize goes
the real way: pexpect sets the pty's size, the kernel sends ``ssh`` SIGWINCH, ``ssh`` sends
window-change, the gateway resizes the session's pty and the UI redraws at the new size.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pexpect
import pytest

from frontends.ssh.gateway import Gateway
from tests.conftest import Connect, Dial
from tests.ssh.conftest import TIMEOUT, eventually
from tests.tui.test_terminal import expect, frame_with, type_into

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh (openssh-client)"),
]

# Textual draws each line after moving the cursor there: row 30 exists only once resized.
ROW_30 = re.escape("\x1b[30;") + r"\d+H"


def ssh_command(port: int, key: Path) -> list[str]:
    return [
        "-p",
        str(port),
        "-i",
        str(key),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        "-F",
        "/dev/null",
        "visitor@127.0.0.1",
    ]


@pytest.fixture
def key_file(tmp_path: Path, client_key: Any) -> Path:
    """The visitor's private key as OpenSSH reads it (mode 0600)."""
    path = tmp_path / "id_ed25519"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(client_key.export_private_key())
    return path


async def test_openssh_signs_in_chats_resizes_and_quits(
    gateway: Gateway, connect: Connect, key_file: Path
) -> None:
    """`ssh -p PORT host` at 80x24 gets the login screen, signs in with a nick, exchanges lines
    with a raw client, redraws at 100x30 after a window change, and Ctrl+Q ends it cleanly."""
    bob = await connect("bob")
    await bob.join("#general")
    env = dict(os.environ, TERM="xterm-256color")
    child = pexpect.spawn(
        "ssh",
        ssh_command(gateway.port, key_file),
        env=env,
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    try:
        await expect(child, "Nick")
        await expect(child, "Enter to connect")
        await type_into(child, "xena")
        # The screen is read first: unread, it would fill the pty and stall the session.
        await expect(child, "connected")
        await frame_with(bob, "presence", event="join", nick="xena")

        await bob.send(type="say", room="#general", text="hello from bob")
        await expect(child, "hello from bob")
        await type_into(child, "hi bob, over ssh")
        received = await frame_with(bob, "message", text="hi bob, over ssh")
        assert received["from"] == "xena" and received["room"] == "#general"

        child.setwinsize(30, 100)
        await expect(child, ROW_30)

        child.sendcontrol("q")
        await frame_with(bob, "presence", event="quit", nick="xena")
        await asyncio.to_thread(child.expect, pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
    finally:
        if child.isalive():
            child.terminate(force=True)
    await eventually(lambda: not gateway.sessions, "the session was never counted out")


async def test_openssh_to_parley_serve_pins_a_nick_then_signs_straight_in(
    serve_with_ssh: tuple[int, int], dial: Dial, key_file: Path
) -> None:
    """`parley serve --ssh-port`: OpenSSH's first session picks a nick, pinned to its key (the
    trust between gateway and server set up by itself), and quits; the second session with the
    key is in as that nick with no login screen."""
    chat_port, ssh_port = serve_with_ssh
    bob = await dial(chat_port, "bob")
    await bob.join("#general")
    env = dict(os.environ, TERM="xterm-256color")
    for attempt in ("pin", "straight in"):
        child = pexpect.spawn(
            "ssh",
            ssh_command(ssh_port, key_file),
            env=env,
            dimensions=(24, 80),
            encoding="utf-8",
            timeout=TIMEOUT,
        )
        try:
            if attempt == "pin":
                # The whole login screen drawn, in whichever order its rows came.
                await expect(child, "Pin this nick")
                if "Enter to connect" not in str(child.before):
                    await expect(child, "Enter to connect")
                await type_into(child, "xena")
            # The screen is read first: unread, it would fill the pty and stall the session.
            await expect(child, "connected")
            await expect(child, "joined")  # "You joined #general": the chat screen is up
            await frame_with(bob, "presence", event="join", nick="xena")
            child.sendcontrol("q")
            ended = asyncio.ensure_future(asyncio.to_thread(child.expect, pexpect.EOF))
            await frame_with(bob, "presence", event="quit", nick="xena")
            await ended
            child.close()
            assert child.exitstatus == 0, child.before
        finally:
            if child.isalive():
                child.terminate(force=True)
    await bob.send(type="whois", nick="xena", ref="w")
    assert (await frame_with(bob, "whois", ref="w"))["account"] is True
