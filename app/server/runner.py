"""The server's lifecycle: start, serve, shut down gracefully, as uvicorn's ``server.py`` does.

``Server`` binds the listening socket and wires the hub to its store, backplane and feature
modules (``FEATURES``, where a new feature is registered); tests and the benchmark use it
directly. ``start`` binds first and only then reads the store, so a server that
cannot listen never touches the database, and then begins accepting and starts the background
trim of old history (``retention.py``, when a limit is set); ``stop`` stops trimming and
accepting, tells every client ``bye {reason: "server_shutdown"}``, flushes and closes the store,
waits a bounded time for the goodbyes to drain and then aborts what is left. ``run`` is the
``parley serve`` entry point: it installs uvloop when available and turns SIGINT/SIGTERM into a
graceful stop (a second signal exits at once); a port it cannot listen on or a history it cannot
open becomes a ``UsageError``, one sentence for the CLI to print.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3

from app.server.backplane import Backplane, LocalBackplane
from app.server.config import ServerConfig
from app.server.feature import FeatureFactory
from app.server.hub import Hub
from app.server.messages import MessageFeature
from app.server.presence import PresenceFeature
from app.server.retention import Retention
from app.server.rooms import RoomFeature
from app.server.settings import UsageError, listen_error
from app.store import History, SQLiteHistory

log = logging.getLogger("parley.server")

# Every feature module of the server; a new one (accounts, moderation) is registered here.
FEATURES: tuple[FeatureFactory, ...] = (PresenceFeature, RoomFeature, MessageFeature)


class Server:
    """A Parley server on one listening socket."""

    def __init__(
        self,
        config: ServerConfig,
        store: History | None = None,
        backplane: Backplane | None = None,
    ) -> None:
        self.config = config
        self.store = store if store is not None else SQLiteHistory(config.db)
        self.hub = Hub(
            config,
            self.store,
            backplane if backplane is not None else LocalBackplane(),
            FEATURES,
        )
        self.retention = Retention(config, self.store, self.hub.rooms)
        self._listener: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind the listening socket, open the store, then start accepting connections."""
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            self.hub.new_session,
            self.config.host,
            self.config.port,
            backlog=4096,
            start_serving=False,
        )
        try:
            self.hub.load()
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        await listener.start_serving()
        self.port = self._listener.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep(), name="parley-sweeper")
        self.retention.start()
        log.info("listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        """Say goodbye to everyone, flush the store, and close."""
        if self._listener is None:
            return
        listener, self._listener = self._listener, None
        listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.retention.stop()
        self.hub.say_goodbye()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_timeout
        try:
            await asyncio.wait_for(self.store.close(), self.config.shutdown_timeout)
        except asyncio.TimeoutError:
            log.error("history did not close within %.1f s", self.config.shutdown_timeout)
        while self.hub.sessions and loop.time() < deadline:
            await asyncio.sleep(0.02)
        self.hub.sessions.abort_all()
        await asyncio.sleep(0)
        log.info("stopped")

    async def _sweep(self) -> None:
        config = self.config
        period = min(1.0, config.register_timeout / 4, config.ping_interval / 4)
        while True:
            await asyncio.sleep(period)
            self.hub.sweep()


async def serve(config: ServerConfig) -> None:
    """Run a server until SIGINT or SIGTERM, then stop it gracefully."""
    server = Server(config)
    try:
        await server.start()
    except OSError as exc:
        raise listen_error(config.host, config.port, exc) from None
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the history {config.db}: {exc}") from None
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal() -> None:
        if stopping.is_set():
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("shutting down")
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await stopping.wait()
    finally:
        await server.stop()


def run(config: ServerConfig) -> int:
    """The ``parley serve`` entry point; returns the exit status."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        log.info("using uvloop")
        uvloop.run(serve(config))
    return 0
