"""Flags shared by the gateways (``parley ssh``, ``parley web``) and how each value is read.

This module owns the reading of a gateway's settings: a value comes from its flag, else from
``PARLEY_<GATEWAY>_<FLAG>`` (``--idle-timeout`` of ``parley ssh`` is
``PARLEY_SSH_IDLE_TIMEOUT``), else the default; and the checks every gateway makes the same way:
a listening port (0 picks a free one), the chat server as ``HOST:PORT``, a count of at least 1,
a positive number of seconds (or 0 for none, where a limit may be off); and how a limit's
seconds are said to the visitor it ends (``duration``); and the ``parley tui`` each visitor runs
(``visitor_tui``), with the login-screen limit both gateways set. A bad value is a
``UsageError`` that names the flag or variable it came from, so the command prints one sentence
and exits 2 before opening anything. It imports no gateway library, so ``--help`` and bad values
need no extra installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.protocol import DEFAULT_PORT, DEFAULT_TLS_PORT
from app.server.checks import UsageError, check_ca_file, parse_number, parse_port, parse_switch


@dataclass(frozen=True)
class FlagReader:
    """Reads one gateway's values from its parsed flags and the environment."""

    args: argparse.Namespace
    env: Mapping[str, str]
    prefix: str  # PARLEY_SSH_, PARLEY_WEB_

    def given(self, key: str) -> tuple[str, str] | None:
        """The text given for ``key`` and where it came from (its flag or variable), if any."""
        value = getattr(self.args, key, None)
        if value is not None:
            return str(value), "--" + key.replace("_", "-")
        name = self.prefix + key.upper()
        if self.env.get(name):
            return self.env[name], name
        return None

    def listen_port(self, key: str = "port") -> int | None:
        if (given := self.given(key)) is None:
            return None
        port: int = parse_number(given[0], int, given[1])
        if not 0 <= port <= 65535:
            raise UsageError(f"{given[1]} must be from 0 to 65535, not {port}")
        return port

    def switch(self, key: str) -> tuple[bool, str] | None:
        """A flag that is on or off (``PARLEY_SSH_TLS=1``), and where it came from, if given."""
        if getattr(self.args, key, None):
            return True, "--" + key.replace("_", "-")
        name = self.prefix + key.upper()
        if not self.env.get(name, "").strip():
            return None
        return parse_switch(self.env[name], name), name

    def chat_server(self) -> dict[str, Any]:
        """The chat server visitors reach (``--server``) and how (``--tls``, ``--ca``), as the
        gateway config's ``server_*`` fields given; a server without a port is on the TLS port
        when in TLS."""
        found: dict[str, Any] = {}
        ca = self.given("ca")
        if ca is not None:
            found["server_ca"] = check_ca_file(*ca)
        tls = ca is not None or ((switch := self.switch("tls")) is not None and switch[0])
        if tls:
            found["server_tls"] = True
        default_port = DEFAULT_TLS_PORT if tls else DEFAULT_PORT
        if (given := self.given("server")) is not None:
            found["server_host"], found["server_port"] = parse_server(*given, default_port)
        elif tls:
            found["server_port"] = DEFAULT_TLS_PORT
        return found

    def count(self, key: str) -> int | None:
        if (given := self.given(key)) is None:
            return None
        value: int = parse_number(given[0], int, given[1])
        if value < 1:
            raise UsageError(f"{given[1]} must be from 1 up, not {value}")
        return value

    def seconds(self, key: str, *, zero_is_none: bool = False) -> float | None:
        """A number of seconds, more than 0; with ``zero_is_none``, 0 too (no limit)."""
        if (given := self.given(key)) is None:
            return None
        value: float = parse_number(given[0], float, given[1])
        if zero_is_none and value < 0:
            raise UsageError(f"{given[1]} must be 0 (none) or more seconds, not {given[0]}")
        if not zero_is_none and value <= 0:
            raise UsageError(f"{given[1]} must be more than 0 seconds, not {given[0]}")
        return value


def add_chat_server(parser: argparse.ArgumentParser) -> None:
    """``--server``, ``--tls`` and ``--ca``: the chat server a gateway's visitors reach."""
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help=f"the chat server visitors reach; default: 127.0.0.1:{DEFAULT_PORT} "
        f"({DEFAULT_TLS_PORT} with --tls)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="reach the chat server in TLS, verifying it against the system's CAs (needed "
        "for a server that is not on this machine, or visitors' passwords would cross the "
        "network in the clear)",
    )
    parser.add_argument(
        "--ca",
        metavar="PEM",
        help="verify the chat server against the CA certificates in this PEM file only (a "
        "private CA); implies --tls",
    )


def parse_server(text: str, origin: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[v6]:PORT``, or ``HOST`` for ``default_port``)."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon:
        host, port_text = text.strip(), str(default_port)
    host = host.strip("[]")
    if not host:
        raise UsageError(f"{origin} must be HOST:PORT, not {text!r}")
    return host, parse_port(port_text, origin)


def duration(seconds: float) -> str:
    """``seconds`` as a visitor reads it: "30 minutes", "1 minute", "2.5 seconds"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def add_login_screen_timeout(parser: argparse.ArgumentParser, default: float) -> None:
    """The ``--login-screen-timeout`` flag, the same for every gateway."""
    parser.add_argument(
        "--login-screen-timeout",
        metavar="SECONDS",
        help="a session still on the login screen after this long (typing or not) is told so "
        f"and closed; 0: no limit; default: {default:g}",
    )


def visitor_tui(
    server_host: str,
    server_port: int,
    login_screen_timeout: float = 0.0,
    *,
    tls: bool = False,
    ca: str | None = None,
) -> list[str]:
    """``parley tui`` on the gateway's chat server (in TLS, verified against ``ca`` if given),
    which the visitor cannot change, closed if the visitor has not signed in within
    ``login_screen_timeout`` seconds (0: never)."""
    argv = [sys.executable, "-m", "parley", "tui"]
    argv += ["--host", server_host, "--port", str(server_port), "--fixed-server"]
    if ca is not None:
        argv += ["--ca", ca]
    elif tls:
        argv.append("--tls")
    if login_screen_timeout > 0:
        argv += ["--login-screen-timeout", repr(login_screen_timeout)]
    return argv
