"""The load-generator processes of one server under test, commanded in lockstep from the driver.

``Generators`` starts ``settings.processes`` processes of ``benchmarks.loadgen`` and gives each a
contiguous share of the N clients; ``command`` sends one command (one JSON object per line on
stdin) to all of them and collects their answers (one line each on stdout), failing with the
generator's own words if one fails or says nothing in time. The clients of a share are spread
over the run's rooms (``Settings.rooms``: client i is in room i % rooms), so that every process
carries members of every room and a slow process cannot starve one room alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.driver import Settings

ROOM = "#bench"
# Where the clients connect from: a loopback address of their own, so that a big run does not
# take the ephemeral ports of 127.0.0.1, where tests bind their servers (``loadgen``).
CLIENT_ADDRESS = "127.0.0.2"


def source_root() -> str:
    """Where ``app`` and ``benchmarks`` are: the servers and generators run from there."""
    return str(Path(__file__).resolve().parent.parent)


class Generators:
    """Load-generator processes sharing N clients, commanded in lockstep."""

    def __init__(
        self,
        mode: str,
        port: int,
        clients: int,
        settings: Settings,
        concurrency: int = 200,
        room: str = ROOM,
    ) -> None:
        count = max(1, min(settings.processes, clients))
        self.procs: list[subprocess.Popen[str]] = []
        env = dict(os.environ, PYTHONPATH=source_root())
        first = 0
        for i in range(count):
            share = clients // count + (1 if i < clients % count else 0)
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.loadgen"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            self.procs.append(proc)
            setup = {
                "cmd": "setup",
                "mode": mode,
                "host": "127.0.0.1",
                "source": CLIENT_ADDRESS,
                "port": port,
                "first": first,
                "count": share,
                "room": room,
                "rooms": settings.rooms,
                "probe_every": settings.probe_every,
                "text_bytes": settings.text_bytes,
                "concurrency": concurrency,
            }
            self._send(proc, setup)
            first += share
        self._collect("setup", 30.0)

    def command(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """Send ``cmd`` to every process and return their answers."""
        for proc in self.procs:
            self._send(proc, cmd)
        return self._collect(cmd["cmd"], timeout)

    @staticmethod
    def _send(proc: subprocess.Popen[str], cmd: dict[str, Any]) -> None:
        stdin = proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(cmd) + "\n")
        stdin.flush()

    def _collect(self, what: str, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        answers = []
        for proc in self.procs:
            event = _read_event(proc.stdout, deadline)
            if event.get("event") == "failed" or "event" not in event:
                raise RuntimeError(f"load generator failed during {what}: {event}")
            answers.append(event)
        return answers

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError, ValueError):
                self._send(proc, {"cmd": "close"})
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


def _read_event(stream: IO[str] | None, deadline: float) -> dict[str, Any]:
    assert stream is not None
    remaining = deadline - time.monotonic()
    ready, _, _ = select.select([stream], [], [], max(0.0, remaining))
    if not ready:
        raise TimeoutError("a load generator did not answer in time")
    line = stream.readline()
    if not line:
        return {"error": "the load generator exited"}
    event: dict[str, Any] = json.loads(line)
    return event
