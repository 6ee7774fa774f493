"""``parley serve --workers N``: N node processes on one machine sharing the listening ports, and
the parent that supervises them; and ``run_serve``, which runs ``parley serve`` either way.

The parent binds first and never listens. For each port (plain, TLS) it binds a socket with
``SO_REUSEPORT`` on every address of ``--host``, which turns a port 0 into one free port chosen
once for every worker, and holds it for the life of the deployment: a worker restarted after a
crash binds the same port, and no one else's socket can take it meanwhile (the kernel refuses a
socket without ``SO_REUSEPORT``, or of another user). Those sockets never listen, so they take
no connections. Each worker is a whole ``parley serve`` process (``runner.run``) whose listeners
bind the same ports with ``SO_REUSEPORT``; the kernel spreads new connections among them.

A worker (``python -m app.server.workers``) reads its settings as one JSON line on its standard
input, so the Redis password is on no command line and in no environment; it names itself
``w<index>-<pid>`` (its ``welcome``'s ``node`` and the tag of its log lines) and writes ``ready``
on its standard output once it listens. It runs in a session of its own, so Ctrl+C at the
terminal reaches the parent alone, which passes the stop on. The parent keeps the worker's
standard input open: if the parent goes away, even by kill -9, the worker reads its end and stops
gracefully by itself.

A worker that dies is logged with its exit status and started again, after a backoff that doubles
from 0.5 s to 30 s while it keeps dying within 10 s of its start, so a crash loop does not spin.
One that dies before it was ever ready stops the start (exit status 2 for a usage error it
printed, else 1). SIGINT or SIGTERM: every worker gets SIGTERM and stops as ``parley serve`` does
(each client gets ``bye {reason: "server_shutdown"}``), and the parent exits 0 once all are gone;
a second signal kills them (SIGKILL) and exits 1. With TLS, SIGHUP is passed on to every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import replace
from typing import Final

import msgspec

from app.server.checks import UsageError, listen_error, redacted
from app.server.config import ServerConfig
from app.server.runner import Companion, Server, run

log = logging.getLogger("parley.workers")

# A worker that lived this long was no crash loop: its next death starts the backoff over.
STABLE_AFTER: Final = 10.0
FIRST_DELAY: Final = 0.5
LONGEST_DELAY: Final = 30.0
READY: Final = b"ready\n"


class Order(msgspec.Struct, frozen=True):
    """What the parent tells a worker on its standard input."""

    index: int
    log_level: str
    config: ServerConfig


def run_serve(config: ServerConfig, log_level: str, companion: Companion | None = None) -> int:
    """``parley serve`` with checked settings: one process (with its ``companion``, the SSH
    gateway of ``--ssh-port``), or a supervisor of its workers."""
    if config.workers > 1:
        return asyncio.run(Supervisor(config, log_level).run())
    return run(config, companion=companion)


def restart_delay(quick_deaths: int) -> float:
    """Seconds before starting again a worker that died ``quick_deaths`` times in a row soon
    after its start (0: it had been up a while)."""
    return min(LONGEST_DELAY, FIRST_DELAY * 2.0 ** max(0, quick_deaths - 1))


def exit_status(code: int) -> str:
    """A process's end in words: asyncio gives a signal as a negative code."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def hold_ports(config: ServerConfig) -> tuple[ServerConfig, list[socket.socket]]:
    """Bind (and never listen on) the ports the workers will share; ``config`` with a port 0
    replaced by the port chosen, and the sockets that hold them."""
    holds: list[socket.socket] = []
    try:
        port = _hold(config.host, config.port, holds) if config.plain else config.port
        tls_port = config.tls_port
        if config.tls_cert is not None:
            tls_port = _hold(config.host, config.tls_port, holds)
    except BaseException:
        for sock in holds:
            sock.close()
        raise
    return replace(config, port=port, tls_port=tls_port), holds


def _hold(host: str, port: int, holds: list[socket.socket]) -> int:
    """Bind ``port`` on every address of ``host`` with ``SO_REUSEPORT``, as the workers' listeners
    will (IPv6 alone on an IPv6 address, as asyncio does); the port, chosen if it was 0."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError):
        raise UsageError(f"--host {host} does not resolve to an address") from None
    for family, kind, proto, _name, address in dict.fromkeys(found):
        sock = socket.socket(family, kind, proto)
        holds.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((address[0], port, *address[2:]))
        except OSError as exc:
            raise listen_error(host, port, exc) from None
        port = port or sock.getsockname()[1]
    return port


class Worker:
    """One place among the workers: its number, its process now, and how it has been dying."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.ever_ready = False
        self.quick_deaths = 0


class Supervisor:
    """The parent of ``config.workers`` workers: starts them, restarts them, stops them."""

    def __init__(self, config: ServerConfig, log_level: str) -> None:
        self.config = config
        self.log_level = log_level
        self.workers = [Worker(index) for index in range(1, config.workers + 1)]
        self.stopping = asyncio.Event()
        self.failed: int | None = None  # the exit status when the start failed
        self._ready = 0

    async def run(self) -> int:
        """Supervise until a signal (or a failed start); the exit status."""
        self.config, holds = hold_ports(self.config)
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal)
            if self.config.tls_cert is not None:
                loop.add_signal_handler(signal.SIGHUP, self._signal_all, signal.SIGHUP)
            assert self.config.redis_url is not None  # settings.py: workers need --redis
            log.info(
                "starting %d workers, nodes of %s",
                len(self.workers),
                redacted(self.config.redis_url),
            )
            keepers = [asyncio.create_task(self._keep(worker)) for worker in self.workers]
            await self.stopping.wait()
            limit = 2 * self.config.shutdown_timeout + 5
            _, late = await asyncio.wait(keepers, timeout=limit)
            if late:
                log.error("%d workers did not stop within %.0f s: killing them", len(late), limit)
                self._signal_all(signal.SIGKILL)
                await asyncio.wait(late)
        finally:
            for sock in holds:
                sock.close()
        if self.failed is not None:
            return self.failed
        log.info("stopped")
        return 0

    def _say_listening(self) -> None:
        """The lines a single ``parley serve`` logs, once every worker listens."""
        config, count = self.config, len(self.workers)
        if config.plain:
            log.info("listening on %s:%d with %d workers", config.host, config.port, count)
        if config.tls_cert is not None:
            log.info(
                "listening for TLS on %s:%d with %d workers", config.host, config.tls_port, count
            )

    async def _keep(self, worker: Worker) -> None:
        """Run ``worker``, and start it again each time it dies, until the deployment stops."""
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = loop.time()
            process = await self._spawn(worker)
            if await self._until_ready(process) and not worker.ever_ready:
                worker.ever_ready = True
                self._ready += 1
                if self._ready == len(self.workers):
                    self._say_listening()
            code = await process.wait()
            worker.process = None
            if self.stopping.is_set():
                log.info("worker %d (pid %d) %s", worker.index, process.pid, exit_status(code))
                return
            if not worker.ever_ready:
                log.error("worker %d %s before it was ready", worker.index, exit_status(code))
                self.failed = 2 if code == 2 else 1
                self._stop()
                return
            lived = loop.time() - started
            worker.quick_deaths = worker.quick_deaths + 1 if lived < STABLE_AFTER else 0
            delay = restart_delay(worker.quick_deaths)
            log.warning(
                "worker %d (pid %d) %s after %.1f s; starting it again in %.1f s",
                *(worker.index, process.pid, exit_status(code), lived, delay),
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _spawn(self, worker: Worker) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "app.server.workers", str(worker.index)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        worker.process = process
        order = Order(worker.index, self.log_level, worker_config(self.config))
        assert process.stdin is not None
        process.stdin.write(msgspec.json.encode(order) + b"\n")
        await process.stdin.drain()
        if self.stopping.is_set():  # the stop came while it was starting
            process.send_signal(signal.SIGTERM)
        return process

    @staticmethod
    async def _until_ready(process: asyncio.subprocess.Process) -> bool:
        """Whether ``process`` said it is ready, rather than ending first."""
        assert process.stdout is not None
        return await process.stdout.readline() == READY

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("second signal: killing the workers and exiting now")
            self._signal_all(signal.SIGKILL)
            os._exit(1)
        log.info("shutting down %d workers", len(self.workers))
        self._stop()

    def _stop(self) -> None:
        self.stopping.set()
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: signal.Signals) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(sig)


def worker_config(config: ServerConfig) -> ServerConfig:
    """What each worker runs with: one process, a node of the deployment in ``--redis``, whose
    listeners share their ports."""
    return replace(config, workers=1, reuse_port=True)


# --- in the worker ---------------------------------------------------------------------------


def worker_main() -> int:
    """A worker: read the order, name the node, serve until told to stop or orphaned."""
    order = msgspec.json.decode(_read_order(), type=Order)
    node = f"w{order.index}-{os.getpid()}"
    logging.basicConfig(
        level=order.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s [{node}]: %(message)s",
        stream=sys.stderr,
    )
    threading.Thread(target=_stop_when_orphaned, name="parley-orphan", daemon=True).start()
    try:
        return run(replace(order.config, node=node), on_started=_tell_ready)
    except UsageError as exc:
        print(f"parley serve: error: worker {order.index}: {exc}", file=sys.stderr)
        return 2


def _tell_ready(server: Server) -> None:
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()


def _read_order() -> bytes:
    """The first line of standard input, read from the file descriptor itself: a daemon thread
    blocked in ``sys.stdin`` would hold its lock, which the interpreter's exit then waits for."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            break
        line += chunk
    return line


def _stop_when_orphaned() -> None:
    """Stop gracefully once the parent is gone: it never closes our standard input before."""
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(worker_main())
