"""The flags of ``parley web``, their ``PARLEY_WEB_<FLAG>`` variables, and their checks.

This module owns ``WebConfig``: the address the web server listens on, the chat server its
visitors reach, how long a tab may stay on the login screen, the public URL the pages are served
under (``https://…`` behind a TLS-terminating reverse proxy, which makes the browser's websocket
``wss://``), and how many browser sessions may run at once. Values are read as every gateway
reads them (``frontends.flags``); a bad one is one sentence and exit status 2 before anything
opens.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from app.protocol import DEFAULT_PORT
from app.server.checks import UsageError, check_listen, parse_port
from frontends.flags import FlagReader, add_chat_server, add_login_screen_timeout

ENV_PREFIX: Final = "PARLEY_WEB_"
DEFAULT_WEB_PORT: Final = 8080


@dataclass(frozen=True)
class WebConfig:
    """What ``parley web`` runs with."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_WEB_PORT
    server_host: str = "127.0.0.1"
    server_port: int = DEFAULT_PORT
    # The chat server in TLS (--tls), verified against this CA file (--ca) or the system's.
    server_tls: bool = False
    server_ca: str | None = None
    # None: http://HOST:PORT, as the server listens.
    public_url: str | None = None
    max_sessions: int = 50
    # Seconds a tab gets to sign in (leave the login screen for the chat); 0: no limit. A tab
    # left on the login screen would otherwise hold one of max_sessions until it is closed.
    login_screen_timeout: float = 120.0

    @property
    def url(self) -> str:
        """Where browsers find the UI."""
        if self.public_url is not None:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def add_web_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``parley web`` and its flags to ``sub``."""
    web = sub.add_parser(
        "web",
        help="serve the terminal UI to web browsers (needs the web extra)",
        description="Serve Parley's terminal UI in web browsers through textual-serve; each "
        "browser tab runs its own `parley tui`. Plain HTTP: on a real network put it behind a "
        "reverse proxy that terminates TLS, and give --public-url https://…. Every flag can "
        "also be set as PARLEY_WEB_<FLAG>; the command line wins.",
    )
    defaults = WebConfig()
    web.add_argument("--host", help=f"address to listen on; default: {defaults.host}")
    web.add_argument("--port", help=f"HTTP port; default: {defaults.port}")
    add_chat_server(web)
    web.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL browsers use, as the reverse proxy serves it (https://chat.example.org); "
        "default: http://HOST:PORT",
    )
    web.add_argument(
        "--max-sessions",
        metavar="N",
        help=f"browser sessions open at once; default: {defaults.max_sessions}",
    )
    add_login_screen_timeout(web, defaults.login_screen_timeout)
    web.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr",
    )


def config_from(args: argparse.Namespace, env: Mapping[str, str]) -> WebConfig:
    """The web server's config from the parsed flags and the environment, every value checked."""
    read = FlagReader(args, env, ENV_PREFIX)
    found: dict[str, Any] = {}
    if (host := read.given("host")) is not None:
        found["host"] = host[0]
    if (port := read.given("port")) is not None:
        # A real port: the pages name it in the websocket's URL, so 0 (any) cannot work.
        found["port"] = parse_port(*port)
    found.update(read.chat_server())
    if (count := read.count("max_sessions")) is not None:
        found["max_sessions"] = count
    if (seconds := read.seconds("login_screen_timeout", zero_is_none=True)) is not None:
        found["login_screen_timeout"] = seconds
    if (public_url := read.given("public_url")) is not None:
        found["public_url"] = _check_url(*public_url)
    config = WebConfig(**found)
    check_listen(config.host, config.port, "--host")
    return config


def _check_url(text: str, origin: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{origin} must be an http:// or https:// URL, not {text!r}")
    return text
