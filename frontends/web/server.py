"""The web server of ``parley web``: textual-serve, with Parley's command, limit and log.

This module owns ``ParleyWeb``, textual-serve's ``Server`` running ``parley tui --host H --port
P --fixed-server`` for each browser tab (the visitor picks a nick on the login screen but not
the server, and is closed after ``--login-screen-timeout`` without signing in), refusing a new
tab with 503 once ``max_sessions`` are open, and logging through Parley's logging rather than
textual-serve's own. textual-serve speaks plain HTTP and websockets, starts a process per tab
and stops it when the tab closes; TLS, per-address limits and authentication belong to the
reverse proxy in front of it.
"""

from __future__ import annotations

import logging
import shlex

from aiohttp import web
from textual_serve.server import Server

from frontends.flags import visitor_tui
from frontends.web.options import WebConfig

logger = logging.getLogger("parley.web")


def tui_command(config: WebConfig) -> str:
    """The shell command textual-serve runs per tab (``exec``: no shell stays behind)."""
    argv = visitor_tui(
        config.server_host,
        config.server_port,
        config.login_screen_timeout,
        tls=config.server_tls,
        ca=config.server_ca,
    )
    return "exec " + shlex.join(argv)


class ParleyWeb(Server):
    """textual-serve for Parley: its command, a session limit, Parley's log."""

    def __init__(self, config: WebConfig) -> None:
        super().__init__(
            tui_command(config),
            host=config.host,
            port=config.port,
            title="Parley",
            public_url=config.url,
        )
        self.config = config
        self.sessions = 0

    def initialize_logging(self) -> None:
        # parley's own logging is set up already; textual-serve's would add a second handler.
        return

    async def on_startup(self, app: web.Application) -> None:
        config = self.config
        print(f"Parley in the browser: {config.url}", flush=True)
        logger.info(
            "listening on %s:%d for the chat server %s:%d",
            config.host,
            config.port,
            config.server_host,
            config.server_port,
        )

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.sessions >= self.config.max_sessions:
            logger.info("refused a browser session from %s: full", request.remote)
            raise web.HTTPServiceUnavailable(text="Parley is full; try again later.")
        self.sessions += 1
        logger.info("browser session from %s (%d open)", request.remote, self.sessions)
        try:
            response: web.WebSocketResponse = await super().handle_websocket(request)
            return response
        finally:
            self.sessions -= 1


def run_web(config: WebConfig) -> int:
    """``parley web``: serve until SIGINT or SIGTERM."""
    # aiohttp logs every request at INFO: too much for a public service.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    ParleyWeb(config).serve()
    return 0
