"""The server's lifecycle: start, serve, shut down gracefully, as uvicorn's ``server.py`` does.

``Server`` binds its listening sockets (the plain port, the TLS port, or both) and wires the hub
to its store, backplane and feature modules (``FEATURES``, where a new feature is registered);
tests and the benchmark use it directly. ``start`` binds first and only then reads the store, so
a server that cannot listen never touches the database, and then begins accepting and starts the
background trim of old history (``retention.py``, when a limit is set); ``stop`` stops trimming and
accepting, tells every client ``bye {reason: "server_shutdown"}``, flushes and closes the store,
waits a bounded time for the goodbyes to drain and then aborts what is left. ``run`` is the
``parley serve`` entry point: it installs uvloop when available and turns SIGINT/SIGTERM into a
graceful stop (a second signal exits at once) and, with TLS, SIGHUP into a reload of the
certificate and key (``tls.py``); a port it cannot listen on or a history it cannot open becomes
a ``UsageError``, one sentence for the CLI to print. Each of ``--workers`` runs ``run`` too
(``workers.py``), its listeners sharing their ports with its siblings' (``reuse_port``). A
``Companion`` (the SSH gateway of ``parley serve --ssh-port``, which the CLI builds: nothing here
imports it) starts once the server listens and stops before it says goodbye. With
``ServerConfig.redis_url`` the server is a node of a deployment sharing rooms through that Redis
(``docs/scale-out.md``): its history, accounts and moderation are the Redis stores on one
connection, and its fan-out, backplane and roster are the node's (``node.py``), started after the
store and closed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from app.server import timings
from app.server.accounts import AccountFeature
from app.server.backplane import Backplane, LocalBackplane
from app.server.checks import UsageError, listen_error
from app.server.config import ServerConfig
from app.server.directory import Rooms
from app.server.edits import EditFeature
from app.server.fanout import Fanout
from app.server.feature import FeatureFactory
from app.server.hub import Hub
from app.server.messages import MessageFeature
from app.server.moderation import ModerationFeature
from app.server.presence import PresenceFeature
from app.server.retention import Retention
from app.server.rooms import RoomFeature
from app.server.search import SearchFeature
from app.server.tls import Certificate, PlainDoor, TLSDoor, close_doors
from app.store import (
    Accounts,
    History,
    Moderation,
    SQLiteAccounts,
    SQLiteHistory,
    SQLiteModeration,
)

if TYPE_CHECKING:
    from app.server.node import NodeFanout

log = logging.getLogger("parley.server")

# Every feature module of the server; a new one is registered here.
FEATURES: tuple[FeatureFactory, ...] = (
    PresenceFeature,
    RoomFeature,
    MessageFeature,
    AccountFeature,
    ModerationFeature,
    EditFeature,
    SearchFeature,
)


class Companion(Protocol):
    """Something run beside the server, on its loop, that reaches it on its plain port."""

    async def start(self, server_port: int) -> None: ...

    async def stop(self) -> None: ...


class ListenFailed(OSError):
    """A port could not be bound: which one, and the ``OSError`` saying why."""

    def __init__(self, port: int, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.port = port
        self.error = error


class Server:
    """A Parley server on its plain port, its TLS port, or both."""

    def __init__(
        self,
        config: ServerConfig,
        store: History | None = None,
        backplane: Backplane | None = None,
        accounts: Accounts | None = None,
        moderation: Moderation | None = None,
    ) -> None:
        self.config = config
        self.node: NodeFanout | None = None
        make_fanout: Callable[[History, Backplane, Rooms], Fanout] = Fanout
        if store is None and config.redis_url is not None:
            store, backplane, make_fanout, shared = self._node(config.redis_url)
            accounts, moderation = shared if accounts is None else (accounts, moderation)
        self.store = store if store is not None else SQLiteHistory(config.db)
        if accounts is None or moderation is None:
            if not isinstance(self.store, SQLiteHistory):
                raise TypeError("a store other than SQLiteHistory needs accounts= and moderation=")
            accounts = accounts if accounts is not None else SQLiteAccounts(self.store)
            moderation = moderation if moderation is not None else SQLiteModeration(self.store)
        self.hub = Hub(
            config,
            self.store,
            backplane if backplane is not None else LocalBackplane(),
            FEATURES,
            accounts,
            moderation,
            make_fanout,
        )
        if self.node is not None:
            self.node.sessions = self.hub.sessions
        self.retention = Retention(config, self.store, self.hub.rooms)
        self._listeners: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        # Read before anything listens: a pair that does not load is refused at start.
        self.certificate = (
            Certificate(config.tls_cert, config.tls_key)
            if config.tls_cert is not None and config.tls_key is not None
            else None
        )
        self.port = 0  # the plain port once listening (0 with plain=False)
        self.tls_port = 0  # the TLS port once listening (0 without a certificate)

    def _node(
        self, url: str
    ) -> tuple[
        History,
        Backplane,
        Callable[[History, Backplane, Rooms], Fanout],
        tuple[Accounts, Moderation],
    ]:
        """A node of the deployment in the Redis at ``url``: its store, backplane, fan-out,
        accounts and moderation, all on that Redis (one connection, one queue)."""
        # Here, not at the top: redis is an optional extra, needed by nodes only.
        from app.server.node import NodeBackplane, NodeFanout
        from app.store.redis_accounts import RedisAccounts
        from app.store.redis_moderation import RedisModeration
        from app.store.redis_node import RedisNodeStore

        store = RedisNodeStore(url)
        node_id = uuid.uuid4().hex[:12]

        def make(history: History, backplane: Backplane, rooms: Rooms) -> Fanout:
            self.node = NodeFanout(store, backplane, rooms, node_id, self.config.node_lease)
            return self.node

        shared = (RedisAccounts(store), RedisModeration(store))
        return store, NodeBackplane(store), make, shared

    async def start(self) -> None:
        """Bind the listening sockets, open the store, then start accepting connections."""
        config = self.config
        if config.plain:
            self._listeners.append(await self._bind(self._plain_door, config.port))
        if self.certificate is not None:
            self._listeners.append(await self._bind(self._tls_door, config.tls_port))
        try:
            self.hub.load()
            if self.node is not None:
                await self.node.open()
        except BaseException:
            self._close_listeners()
            raise
        for listener in self._listeners:
            await listener.start_serving()
        ports = iter(listener.sockets[0].getsockname()[1] for listener in self._listeners)
        if config.plain:
            self.port = next(ports)
            log.info("listening on %s:%d", config.host, self.port)
        if self.certificate is not None:
            self.tls_port = next(ports)
            log.info("listening for TLS on %s:%d", config.host, self.tls_port)
        self._sweeper = asyncio.create_task(self._sweep(), name="parley-sweeper")
        self.retention.start()

    async def _bind(self, factory: Callable[[], asyncio.Protocol], port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        try:
            return await loop.create_server(
                factory,
                self.config.host,
                port,
                backlog=4096,
                start_serving=False,
                # A worker's siblings listen on the same port; the kernel spreads connections.
                reuse_port=self.config.reuse_port or None,
            )
        except OSError as exc:
            self._close_listeners()
            raise ListenFailed(port, exc) from exc

    def _close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners = []

    def _plain_door(self) -> PlainDoor:
        session = self.hub.new_session()
        return PlainDoor(session, lambda reason, text: session.drop(reason, text, error=True))

    def _tls_door(self) -> TLSDoor:
        assert self.certificate is not None
        return TLSDoor(
            self.certificate,
            self.hub.new_session,
            self.config.register_timeout,
            self._handshakes,
        )

    def reload_tls(self) -> bool:
        """SIGHUP: load the certificate and key again for new connections (False: kept the old)."""
        if self.certificate is None:
            log.info("SIGHUP: no TLS certificate to reload")
            return False
        return self.certificate.reload()

    async def stop(self) -> None:
        """Say goodbye to everyone, flush the store, and close."""
        if not self._listeners:
            return
        self._close_listeners()
        await close_doors(self._handshakes)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.retention.stop()
        self.hub.say_goodbye()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_timeout
        try:
            if self.node is not None:
                await self.node.close()
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


async def serve(
    config: ServerConfig,
    on_started: Callable[[Server], None] | None = None,
    companion: Companion | None = None,
) -> None:
    """Run a server (and its companion) until SIGINT or SIGTERM, then stop it gracefully;
    ``on_started`` is told once it listens (a worker tells its supervisor)."""
    server = Server(config)
    # The benchmark's latency breakdown, only when it asks (``timings.py``).
    server.hub.fanout.timings = timings.from_environ(os.environ)
    try:
        await server.start()
    except ListenFailed as failed:
        raise listen_error(config.host, failed.port, failed.error) from None
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the history {config.db}: {exc}") from None
    if companion is not None:
        try:
            await companion.start(server.port)
        except OSError as exc:
            await server.stop()
            raise listen_error(config.host, config.ssh_port or 0, exc, "--host") from None
    if on_started is not None:
        on_started(server)
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
    if server.certificate is not None:
        # As nginx does: a renewed certificate (say, from an ACME client) without a restart.
        loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
    try:
        await stopping.wait()
    finally:
        if companion is not None:
            await companion.stop()
        await server.stop()
        if server.hub.fanout.timings is not None:
            server.hub.fanout.timings.close()


def run(
    config: ServerConfig,
    on_started: Callable[[Server], None] | None = None,
    companion: Companion | None = None,
) -> int:
    """The ``parley serve`` entry point (and each worker's); returns the exit status."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config, on_started, companion))
    else:
        log.info("using uvloop")
        uvloop.run(serve(config, on_started, companion))
    return 0
