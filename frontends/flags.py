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

from app.protocol import DEFAULT_PORT
from app.server.checks import UsageError, parse_number, parse_port


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

    def server(self, key: str = "server") -> tuple[str, int] | None:
        if (given := self.given(key)) is None:
            return None
        return parse_server(*given)

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


def parse_server(text: str, origin: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[v6]:PORT``, or ``HOST`` for the default port)."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon:
        host, port_text = text.strip(), str(DEFAULT_PORT)
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


def visitor_tui(server_host: str, server_port: int, login_screen_timeout: float = 0.0) -> list[str]:
    """``parley tui`` on the gateway's chat server, which the visitor cannot change, closed if
    the visitor has not signed in within ``login_screen_timeout`` seconds (0: never)."""
    argv = [sys.executable, "-m", "parley", "tui"]
    argv += ["--host", server_host, "--port", str(server_port), "--fixed-server"]
    if login_screen_timeout > 0:
        argv += ["--login-screen-timeout", repr(login_screen_timeout)]
    return argv
