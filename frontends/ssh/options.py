"""The flags of ``parley ssh``, their ``PARLEY_SSH_<FLAG>`` variables, and their checks.

This module owns ``GatewayConfig`` (what the gateway listens on, which chat server its visitors
reach, its host key and its limits) and how it is read from the command line and the environment:
the command line wins, then ``PARLEY_SSH_<FLAG>`` (``--idle-timeout`` is
``PARLEY_SSH_IDLE_TIMEOUT``), then the default; and the config of the gateway that ``parley serve
--ssh-port`` runs inside the server (``inside_config``). Every bad value is a ``UsageError`` (one
sentence, exit status 2), found before anything is opened, as for every other subcommand. It
imports neither asyncssh nor Textual, so the command's help and its errors need no extra.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from app.protocol import DEFAULT_PORT
from app.server.checks import UsageError, check_listen, read_secret
from app.server.config import ServerConfig
from frontends.flags import FlagReader, add_chat_server, add_login_screen_timeout

ENV_PREFIX: Final = "PARLEY_SSH_"
DEFAULT_SSH_PORT: Final = 2022
HOST_KEY_NAME: Final = "ssh_host_ed25519_key"


@dataclass(frozen=True)
class GatewayConfig:
    """What ``parley ssh`` runs with."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_SSH_PORT
    server_host: str = "127.0.0.1"
    server_port: int = DEFAULT_PORT
    # The chat server in TLS (--tls), verified against this CA file (--ca) or the system's.
    server_tls: bool = False
    server_ca: str | None = None
    # None: ssh_host_ed25519_key in the user data dir, created on first start.
    host_key: str | None = None
    max_sessions: int = 100
    sessions_per_key: int = 3
    sessions_per_address: int = 10
    # Seconds without a key pressed before a session ends.
    idle_timeout: float = 1800.0
    # Seconds a session gets to sign in (leave the login screen for the chat), keys typed or
    # not; 0: no limit. A key with a nick pinned to it never sees the login screen.
    login_screen_timeout: float = 120.0
    # Seconds an SSH connection gets to authenticate (asyncssh's own login_timeout): before
    # any session, so before the login screen.
    login_timeout: float = 30.0
    # The secret shared with the chat server (--gateway-secret-file), with which visitors' keys
    # are proven to it; without it keys are no identity and every visitor is a guest.
    gateway_secret: bytes = b""


def default_host_key() -> Path:
    """The gateway's host key in the user data dir (beside the server's history)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("parley", appauthor=False)) / HOST_KEY_NAME


def add_ssh_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``parley ssh`` and its flags to ``sub``."""
    ssh = sub.add_parser(
        "ssh",
        help="serve the terminal UI to any SSH client (needs the ssh extra)",
        description="Serve Parley's terminal UI over SSH: `ssh -p PORT host` opens it. Any "
        "public key is accepted; with --gateway-secret-file the key is the visitor's identity (a "
        "nick pinned to it signs straight in), else every visitor is a guest. Every flag can "
        "also be set as PARLEY_SSH_<FLAG> (--idle-timeout is PARLEY_SSH_IDLE_TIMEOUT); the "
        "command line wins.",
    )
    defaults = GatewayConfig()
    ssh.add_argument("--host", help=f"address to listen on; default: {defaults.host}")
    ssh.add_argument("--port", help=f"SSH port, 0 picks a free one; default: {defaults.port}")
    add_chat_server(ssh)
    ssh.add_argument(
        "--host-key",
        metavar="PATH",
        help="the gateway's ed25519 host key, created if missing; default: "
        f"{HOST_KEY_NAME} in the user data dir",
    )
    ssh.add_argument(
        "--max-sessions",
        metavar="N",
        help=f"sessions open at once, in all; default: {defaults.max_sessions}",
    )
    ssh.add_argument(
        "--sessions-per-key",
        metavar="N",
        help=f"sessions open at once with one key; default: {defaults.sessions_per_key}",
    )
    ssh.add_argument(
        "--sessions-per-address",
        metavar="N",
        help=f"sessions open at once from one address; default: {defaults.sessions_per_address}",
    )
    ssh.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        help="a session with no key pressed for this long is closed; default: "
        f"{defaults.idle_timeout:g}",
    )
    add_login_screen_timeout(ssh, defaults.login_screen_timeout)
    ssh.add_argument(
        "--gateway-secret-file",
        metavar="PATH",
        help="a file holding the secret the chat server was given with `parley serve "
        "--gateway-secret-file`: with it a visitor's SSH key is who they are (pinned nicks "
        "sign in by key); default: none, every visitor is a guest",
    )
    ssh.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr",
    )


def config_from(args: argparse.Namespace, env: Mapping[str, str]) -> GatewayConfig:
    """The gateway's config from the parsed flags and the environment, every value checked."""
    read = FlagReader(args, env, ENV_PREFIX)
    found: dict[str, Any] = {}
    if (host := read.given("host")) is not None:
        found["host"] = host[0]
    if (port := read.listen_port()) is not None:
        found["port"] = port
    found.update(read.chat_server())
    found.update(_limits(read))
    if (host_key := read.given("host_key")) is not None:
        found["host_key"] = _check_host_key(*host_key)
    if (secret_file := read.given("gateway_secret_file")) is not None:
        found["gateway_secret"] = read_secret(*secret_file)
    config = GatewayConfig(**found)
    check_listen(config.host, config.port, "--host")
    return config


def _limits(read: FlagReader) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key in ("max_sessions", "sessions_per_key", "sessions_per_address"):
        if (count := read.count(key)) is not None:
            found[key] = count
    if (seconds := read.seconds("idle_timeout")) is not None:
        found["idle_timeout"] = seconds
    if (seconds := read.seconds("login_screen_timeout", zero_is_none=True)) is not None:
        found["login_screen_timeout"] = seconds
    return found


def inside_config(server: ServerConfig, env: Mapping[str, str]) -> GatewayConfig:
    """The config of the gateway ``parley serve --ssh-port`` runs: on the server's host and
    ``ssh_port``, to the server's plain port (filled in once it listens), with the server's
    secret and host key, and the limits of ``PARLEY_SSH_*`` (which ``parley ssh`` reads too)."""
    assert server.ssh_port is not None
    host_key = None
    if server.ssh_host_key is not None:
        host_key = _check_host_key(server.ssh_host_key, "--ssh-host-key")
    read = FlagReader(argparse.Namespace(), env, ENV_PREFIX)
    return GatewayConfig(
        host=server.host,
        port=server.ssh_port,
        # A server on every address is reached on loopback; one on an address, there.
        server_host={"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
            server.host, server.host
        ),
        server_port=server.port,
        host_key=host_key,
        gateway_secret=server.gateway_secret,
        **_limits(read),
    )


def _check_host_key(path: str, origin: str) -> str:
    """A host key file that exists and is readable, or can be created."""
    target = Path(os.path.expanduser(path))
    if target.is_dir():
        raise UsageError(f"{origin} {path} is a folder, not a key file")
    if target.exists():
        if not os.access(target, os.R_OK):
            raise UsageError(f"{origin} {path} is not readable")
    elif not target.parent.is_dir():
        raise UsageError(f"{origin} {path}: the folder {target.parent} does not exist")
    return str(target)
