"""A real, private Redis for the tests: ``redis-server`` on a free loopback port in a temporary
folder, durable as Parley asks (AOF on, ``appendfsync always``, no RDB snapshots), in the
foreground so that the test owns the process.

``RedisServer`` starts it and waits until it answers ``PING``; ``stop`` shuts it down as an
operator would (SIGTERM), ``kill`` as a crash would (SIGKILL), and ``start`` again brings it
back on the same port and the same AOF, which is how the fault tests take Redis away from a
running store and give it back. Where ``redis-server`` is not installed the test that asked is
skipped with the reason (CI installs the Debian package ``redis-server``).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.peers import free_port

READY_TIMEOUT = 10.0


class RedisServer:
    """A ``redis-server`` process of this test run, with its data in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (again, on the same port and data) and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
                *("--daemonize", "no", "--logfile", str(self.folder / "redis.log")),
            ],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        """Whether the server answers PING with PONG (not refused, not still loading)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Shut the server down (SIGTERM: it finishes writing its AOF) and wait for it."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server as a crash would (SIGKILL)."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    """A started private Redis with its data in ``folder``, stopped at the end."""
    server = RedisServer(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
