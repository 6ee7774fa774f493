"""Passwords on the ``parley tui`` and ``parley tk`` command lines: from ``PARLEY_PASSWORD`` only.

The help says where a password comes from and why not from a flag; ``--password`` is refused in
one sentence; the variable and ``--allow-plain-password`` reach the frontend's ``run`` (checked
through ``main`` with the frontend's entry point replaced); and, end to end in a pty, ``parley tui``
with ``PARLEY_PASSWORD`` signs in to a registered nick on a real server.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

import frontends.tk
import frontends.tui.run
import parley.cli as cli
from app.server import Server
from parley.cli import main
from tests.conftest import Connect
from tests.test_cli import REPO, one_sentence, parley


@pytest.mark.parametrize("command", ["tui", "tk"])
def test_help_says_where_a_password_comes_from(tmp_path: Path, command: str) -> None:
    """The help names PARLEY_PASSWORD and --allow-plain-password, says why no flag takes a
    password, and lists no --password."""
    result = parley(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "PARLEY_PASSWORD" in text
    assert "--allow-plain-password" in text
    assert "never from a flag on the command line" in text and "ps" in text
    assert "--password" not in text.replace("--allow-plain-password", "")


@pytest.mark.parametrize("command", ["tui", "tk"])
def test_a_password_flag_is_refused_in_one_sentence(tmp_path: Path, command: str) -> None:
    """--password is refused before anything opens, saying why and what to use instead."""
    line = one_sentence(parley(tmp_path, command, "--password", "hunter22"), command, "ps")
    assert "PARLEY_PASSWORD" in line
    assert "hunter22" not in line


def _captured(monkeypatch: pytest.MonkeyPatch, command: str) -> dict[str, Any]:
    """Replace ``command``'s frontend entry point with one that records its arguments."""
    seen: dict[str, Any] = {}

    def record(**kwargs: Any) -> int:
        seen.update(kwargs)
        return 0

    if command == "tui":
        monkeypatch.setattr(frontends.tui.run, "run_tui", record)
    else:
        monkeypatch.setattr(frontends.tk, "run", record)
        monkeypatch.setattr(cli, "_check_display", lambda: None)
    return seen


@pytest.mark.parametrize("command", ["tui", "tk"])
def test_parley_password_and_the_plain_switch_reach_the_frontend(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """PARLEY_PASSWORD becomes the frontend's password and --allow-plain-password its switch;
    without them there is no password and the switch is off."""
    seen = _captured(monkeypatch, command)
    monkeypatch.setenv("PARLEY_PASSWORD", "correct horse")
    assert main([command, "--nick", "alice", "--allow-plain-password"]) == 0
    assert (seen["password"], seen["allow_plain_password"]) == ("correct horse", True)

    seen.clear()
    monkeypatch.delenv("PARLEY_PASSWORD")
    assert main([command, "--nick", "alice"]) == 0
    assert (seen["password"], seen["allow_plain_password"]) == (None, False)


async def test_parley_tui_signs_in_with_parley_password(
    tmp_path: Path, server: Server, connect: Connect
) -> None:
    """In a real pty, parley tui --nick alice with PARLEY_PASSWORD signs in to the account alice:
    its peers see alice join #general, and client.json holds no password."""
    owner = await connect("alice")
    await owner.send(type="register", password="correct horse")
    await owner.expect("account", nick="alice")
    await owner.close()
    bob = await connect("bob")
    await bob.join("#general")
    env = dict(
        os.environ,
        TERM="xterm-256color",
        PYTHONPATH=str(REPO),
        PARLEY_CONFIG_DIR=str(tmp_path / "config"),
        PARLEY_PASSWORD="correct horse",
    )
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "parley",
            "tui",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--nick",
            "alice",
        ],
        cwd=str(tmp_path),
        env=env,
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=15,
    )
    try:
        while True:
            frame = await bob.recv(timeout=20)
            if frame["type"] == "presence" and frame["event"] == "join":
                assert frame["nick"] == "alice"
                break
        remembered = tmp_path / "config" / "client.json"
        for _ in range(1000):
            if remembered.exists() and "#general" in remembered.read_text():
                break
            await asyncio.sleep(0.01)
        config = remembered.read_text()
        assert "alice" in config
        assert "correct horse" not in config and "password" not in config
    finally:
        child.terminate(force=True)
        await asyncio.to_thread(child.wait)
