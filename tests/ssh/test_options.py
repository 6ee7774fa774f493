"""``parley ssh`` on the command line: bad values are one sentence and exit 2; where each limit
is read from; the host key.

Bad flags run the real command (``python -m parley ssh ...``) as tests/test_cli.py does. The
start-up test runs a real gateway in a subprocess and checks that its host key is created in
the user data dir, readable by its owner only, with the fingerprint printed, and reused.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.server.config import ServerConfig
from frontends.ssh.options import GatewayConfig, add_ssh_parser, config_from, inside_config
from tests.test_cli import REPO as ROOT
from tests.test_cli import environment, one_sentence, parley

asyncssh = pytest.importorskip("asyncssh")

TIMEOUT = 30.0
FINGERPRINT = re.compile(r"Host key fingerprint: (SHA256:\S+)")


@pytest.mark.parametrize(
    ("args", "env", "named", "words"),
    [
        (("--port", "70000"), {}, "--port", "from 0 to 65535"),
        (("--port", "ssh"), {}, "--port", "whole number"),
        ((), {"PARLEY_SSH_PORT": "-2"}, "PARLEY_SSH_PORT", "from 0 to 65535"),
        (("--server", "chat.example.org:0"), {}, "--server", "from 1 to 65535"),
        (("--server", ":7000"), {}, "--server", "HOST:PORT"),
        (("--sessions-per-key", "0"), {}, "--sessions-per-key", "from 1 up"),
        ((), {"PARLEY_SSH_MAX_SESSIONS": "many"}, "PARLEY_SSH_MAX_SESSIONS", "whole number"),
        (("--idle-timeout", "0"), {}, "--idle-timeout", "more than 0"),
        (("--idle-timeout", "nan"), {}, "--idle-timeout", "finite"),
        (("--login-screen-timeout", "-1"), {}, "--login-screen-timeout", "0 (none) or more"),
        (
            (),
            {"PARLEY_SSH_LOGIN_SCREEN_TIMEOUT": "soon"},
            "PARLEY_SSH_LOGIN_SCREEN_TIMEOUT",
            "number",
        ),
        (("--host-key", "/nonexistent/key"), {}, "--host-key", "does not exist"),
        (("--host", "192.0.2.1"), {}, "--host", "192.0.2.1"),
    ],
)
def test_ssh_refuses_a_bad_value(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str, words: str
) -> None:
    """A bad flag or PARLEY_SSH_* value is one sentence naming it, exit 2, and no key made."""
    result = parley(tmp_path, "ssh", *args, env=env)
    one_sentence(result, "ssh", named, words)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("args", "env", "seconds"),
    [
        ((), {}, 120.0),
        ((), {"PARLEY_SSH_LOGIN_SCREEN_TIMEOUT": "45"}, 45.0),
        (("--login-screen-timeout", "2.5"), {"PARLEY_SSH_LOGIN_SCREEN_TIMEOUT": "45"}, 2.5),
        (("--login-screen-timeout", "0"), {}, 0.0),
    ],
)
def test_the_login_screen_timeout_is_read_from_flag_then_variable(
    args: tuple[str, ...], env: dict[str, str], seconds: float
) -> None:
    """--login-screen-timeout wins over PARLEY_SSH_LOGIN_SCREEN_TIMEOUT, 120 s by default, 0 is
    allowed (no limit), and the login screen's limit is not the idle one."""
    parser = argparse.ArgumentParser()
    add_ssh_parser(parser.add_subparsers())
    config = config_from(parser.parse_args(["ssh", *args]), env)
    assert config.login_screen_timeout == seconds
    assert config.idle_timeout == GatewayConfig().idle_timeout


def test_the_gateway_inside_serve_reads_the_login_screen_timeout_variable() -> None:
    """The gateway of ``parley serve --ssh-port`` takes PARLEY_SSH_LOGIN_SCREEN_TIMEOUT too."""
    server = ServerConfig(port=0, ssh_port=0)
    assert inside_config(server, {}).login_screen_timeout == 120.0
    env = {"PARLEY_SSH_LOGIN_SCREEN_TIMEOUT": "0"}
    assert inside_config(server, env).login_screen_timeout == 0.0


def test_the_host_key_is_made_once_and_its_fingerprint_printed(tmp_path: Path) -> None:
    """The first start creates an ed25519 host key (mode 0600) in the user data dir and prints
    its fingerprint; the second start reuses it; SIGTERM stops the gateway with status 0."""
    prints = [start_and_stop(tmp_path) for _ in range(2)]
    key = tmp_path / "data" / "parley" / "ssh_host_ed25519_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    fingerprint = asyncssh.read_private_key(key).get_fingerprint("sha256")
    assert prints == [fingerprint, fingerprint]


def start_and_stop(cwd: Path) -> str:
    """Start `parley ssh` on a free port, read the fingerprint it prints, stop it."""
    with subprocess.Popen(
        [sys.executable, "-m", "parley", "ssh", "--port", "0"],
        cwd=cwd,
        env=environment(cwd, {}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            found = FINGERPRINT.search(line)
            assert found, line + process.stderr.read()
            os.kill(process.pid, signal.SIGTERM)
            assert process.wait(TIMEOUT) == 0
            return found.group(1)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)


def test_serve_with_ssh_port_without_asyncssh_says_what_to_install(tmp_path: Path) -> None:
    """`parley serve --ssh-port` where asyncssh cannot be imported is one sentence naming the
    extra to install, exit 2, before anything listens."""
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text("import sys\nsys.modules['asyncssh'] = None\n")
    env = {"PYTHONPATH": f"{hidden}{os.pathsep}{ROOT}"}
    result = parley(
        tmp_path, "serve", "--port", "0", "--ssh-port", "0", "--db", ":memory:", env=env
    )
    line = one_sentence(result, "serve", "--ssh-port")
    assert "pip install 'parley-chat[ssh]'" in line


def test_serve_refuses_a_short_gateway_secret(tmp_path: Path) -> None:
    """A --gateway-secret-file under 16 bytes is one sentence, exit 2."""
    secret = tmp_path / "secret"
    secret.write_text("too short\n")
    result = parley(tmp_path, "serve", "--gateway-secret-file", str(secret), "--db", ":memory:")
    one_sentence(result, "serve", "--gateway-secret-file", "at least 16")
