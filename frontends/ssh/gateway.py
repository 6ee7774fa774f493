"""The SSH gateway: asyncssh's server, who gets in, how many at once, and its lifecycle.

This module owns ``Gateway``: the host key (ed25519, created on first start with mode 0600, its
SHA256 fingerprint printed so visitors can check it), the listener, and the counts behind the
limits (sessions in all, per key, per address). Authentication is by public key only, and any key
is accepted: the key's fingerprint is passed to each session's process, with (given the secret the
chat server shares) a token that proves it to the server, which pins nicks to keys. Password,
keyboard-interactive, host-based and GSS authentication are off; agent and X11 forwarding, TCP/IP
and Unix-socket forwarding in both directions are refused. ``run_gateway`` is ``parley ssh``: it
serves until SIGINT or SIGTERM, then hangs up every session (each ``parley tui`` quits the chat)
and exits. ``GatewayInside`` is the same gateway run by ``parley serve --ssh-port`` beside the
server, on the server's loop, connected to its plain port, with the secret the server made up for
it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import asyncssh

from app.server.config import ServerConfig
from frontends.ssh.options import GatewayConfig, default_host_key, inside_config
from frontends.ssh.session import ChatSession, Visitor
from frontends.ssh.terminal import TuiProcess

logger = logging.getLogger("parley.ssh")

KEEPALIVE_INTERVAL: Final = 30.0


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """The gateway's host key at ``path``; a new ed25519 key is written there if none is."""
    if path.exists():
        return asyncssh.read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="parley ssh gateway")
    # Created readable by its owner only, and never over a key that appeared meanwhile.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.export_private_key())
    logger.info("created the host key %s", path)
    return key


class _Connection(asyncssh.SSHServer):
    """One SSH connection: public-key authentication with any key, then session channels."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._address = "?"
        self._username = ""
        self._fingerprint = ""
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._gateway.connected(conn)
        peer = conn.get_extra_info("peername")
        self._address = str(peer[0]) if peer else "?"

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._gateway.disconnected(self._conn)

    def begin_auth(self, username: str) -> bool:
        self._username = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Any key gets in; the chat server decides whose it is. The client then proves it holds
        # this key; the fingerprint is of the last key offered, which is the one it signs with.
        self._fingerprint = key.get_fingerprint("sha256")
        return True

    def session_requested(self) -> ChatSession:
        return ChatSession(self._gateway, Visitor(self._fingerprint, self._address, self._username))


class Gateway:
    """``parley ssh``: serves sessions until stopped."""

    def __init__(self, config: GatewayConfig, host_key: asyncssh.SSHKey) -> None:
        self.config = config
        self.host_key = host_key
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._sessions = 0
        self._per_key: collections.Counter[str] = collections.Counter()
        self._per_address: collections.Counter[str] = collections.Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._processes: set[TuiProcess] = set()
        self._connections: set[asyncssh.SSHServerConnection] = set()

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, if the config says 0)."""
        return self._acceptor.get_port() if self._acceptor is not None else self.config.port

    @property
    def sessions(self) -> int:
        return self._sessions

    async def start(self) -> None:
        self._acceptor = await asyncssh.listen(
            self.config.host,
            self.config.port,
            server_factory=lambda: _Connection(self),
            server_host_keys=[self.host_key],
            public_key_auth=True,
            password_auth=False,
            kbdint_auth=False,
            gss_host=None,
            allow_pty=True,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            encoding=None,
            login_timeout=self.config.login_timeout,
            keepalive_interval=KEEPALIVE_INTERVAL,
        )

    async def stop(self) -> None:
        """Stop listening, hang up every session, wait for their processes to end (each says
        goodbye to the chat server), then close every connection."""
        if self._acceptor is not None:
            self._acceptor.close()
        for process in list(self._processes):
            self.track(process.stop())
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self._connections):
            conn.close()
        if self._acceptor is not None:
            # Since Python 3.12.1 this also waits for every connection to be closed.
            await self._acceptor.wait_closed()

    def track(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` (a session's ending) to completion, also while the gateway stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connected(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.add(conn)

    def disconnected(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.discard(conn)

    def started(self, process: TuiProcess) -> None:
        """A session's process is running: hung up by ``stop`` unless it has ended."""
        self._processes.add(process)

    def ended(self, process: TuiProcess) -> None:
        self._processes.discard(process)

    def admit(self, visitor: Visitor) -> str | None:
        """Count ``visitor``'s new session in, or the sentence that says why not."""
        config = self.config
        if self._sessions >= config.max_sessions:
            return f"the gateway is full ({config.max_sessions} sessions); try again later."
        if self._per_key[visitor.fingerprint] >= config.sessions_per_key:
            return (
                f"this key already has {config.sessions_per_key} sessions open here; "
                "close one first."
            )
        if self._per_address[visitor.address] >= config.sessions_per_address:
            return (
                f"your address already has {config.sessions_per_address} sessions open here; "
                "close one first."
            )
        self._sessions += 1
        self._per_key[visitor.fingerprint] += 1
        self._per_address[visitor.address] += 1
        return None

    def release(self, visitor: Visitor) -> None:
        """Count ``visitor``'s ended session out."""
        self._sessions -= 1
        self._per_key[visitor.fingerprint] -= 1
        self._per_address[visitor.address] -= 1
        # Counters keep zeros; a gateway that runs for months would collect every key seen.
        for counter, name in (
            (self._per_key, visitor.fingerprint),
            (self._per_address, visitor.address),
        ):
            if counter[name] <= 0:
                del counter[name]


def announce(gateway: Gateway) -> None:
    """Print the host key's fingerprint (for visitors to check) and log where it listens."""
    config = gateway.config
    print(f"Host key fingerprint: {gateway.fingerprint}", flush=True)
    logger.info(
        "listening on %s:%d for the chat server %s:%d%s",
        config.host,
        gateway.port,
        config.server_host,
        config.server_port,
        "" if config.gateway_secret else " (no gateway secret: keys are no identity)",
    )


class GatewayInside:
    """``parley serve --ssh-port``: the gateway as a companion of the server (``runner``)."""

    def __init__(self, config: ServerConfig, env: Mapping[str, str]) -> None:
        self._config = inside_config(config, env)
        self._host_key = host_key_at(self._config)
        self.gateway: Gateway | None = None

    async def start(self, server_port: int) -> None:
        self.gateway = Gateway(replace(self._config, server_port=server_port), self._host_key)
        await self.gateway.start()
        announce(self.gateway)

    async def stop(self) -> None:
        if self.gateway is not None:
            logger.info("stopping: hanging up %d SSH sessions", self.gateway.sessions)
            await self.gateway.stop()


async def serve_gateway(gateway: Gateway) -> None:
    """Run ``gateway`` until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await gateway.start()
    announce(gateway)
    try:
        await stop.wait()
    finally:
        logger.info("stopping: hanging up %d sessions", gateway.sessions)
        await gateway.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(signum)


def host_key_at(config: GatewayConfig) -> asyncssh.SSHKey:
    """The host key ``config`` names (or the default one), created if missing; a key that
    cannot be used is a ``UsageError``. Quietens asyncssh's logging on the way."""
    path = Path(config.host_key) if config.host_key else default_host_key()
    try:
        host_key = load_host_key(path)
    except (OSError, asyncssh.KeyImportError) as exc:
        from app.server.settings import UsageError

        raise UsageError(f"cannot use the host key {path}: {exc}") from None
    # asyncssh logs every connection and channel at INFO: too much for a public service.
    logging.getLogger("asyncssh").setLevel(max(logging.WARNING, logging.getLogger().level))
    return host_key


def run_gateway(config: GatewayConfig) -> int:
    """``parley ssh``: load or create the host key, then serve; the exit status."""
    asyncio.run(serve_gateway(Gateway(config, host_key_at(config))))
    return 0
