"""Opt-in latency sampling for the benchmark: where each millisecond of a room message goes.

``parley bench --breakdown K`` starts ``parley serve`` with ``PARLEY_BENCH_TIMINGS`` naming a
file and ``PARLEY_BENCH_SAMPLE`` set to K; ``from_environ`` then gives the ``Fanout`` a
``Timings`` that stamps one room message in K with ``CLOCK_MONOTONIC`` (one clock for every
process of a Linux machine, the one the load generator stamps its sends with) at four points:
its arrival (its ``say`` handled, in the same call as the read that carried it), its commit (the
store's transaction committed, on the writer thread; a store that does not say is taken at the
next point), the loop's callback for that commit, the start of the fan-out that carries it, and
the return of that fan-out's last write to a member. Each sampled message is one line of
integers appended to the file (``arrival commit callback start done members``), written by a
timer every ``FLUSH_SECONDS``, so the bench reads what happened during a step once the step is
over. Without the variables nothing is created: ``Fanout.timings`` is ``None``, and a message
costs one ``is None`` test more. Nothing here is part of the protocol or of ``parley serve``'s
documented settings; it exists for ``benchmarks/`` (see ``docs/performance.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import IO, Final

log = logging.getLogger("parley.server")

TIMINGS_ENV: Final = "PARLEY_BENCH_TIMINGS"
SAMPLE_ENV: Final = "PARLEY_BENCH_SAMPLE"
FLUSH_SECONDS: Final = 0.1
DEFAULT_EVERY: Final = 16


class Timings:
    """Stamps one message in ``every`` and appends its times to ``path``."""

    def __init__(self, path: str, every: int = DEFAULT_EVERY) -> None:
        self.every = max(1, every)
        self._count = 0
        self._lines: list[str] = []
        self._file: IO[str] = open(path, "a", encoding="ascii")  # noqa: SIM115 (see close)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def sample(self) -> int:
        """The arrival time (ns) of a message to be followed, or 0 for one that is not."""
        self._count += 1
        if self._count < self.every:
            return 0
        self._count = 0
        return time.monotonic_ns()

    def record(
        self, arrival: int, commit: int, callback: int, start: int, done: int, members: int
    ) -> None:
        """One sampled message's times; ``commit`` is 0 when the store did not say."""
        commit = commit if arrival <= commit <= callback else callback
        self._lines.append(f"{arrival} {commit} {callback} {start} {done} {members}\n")

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write what was recorded every ``FLUSH_SECONDS`` on ``loop``."""
        self._loop = loop
        self._timer = loop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            try:
                self._file.write("".join(lines))
                self._file.flush()
            except OSError as exc:
                log.warning("cannot write the benchmark's timings: %s", exc)
        if self._loop is not None and not self._file.closed:
            self._timer = self._loop.call_later(FLUSH_SECONDS, self._flush)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(OSError):
            self._file.write("".join(self._lines))
            self._lines = []
            self._file.close()


def from_environ(environ: Mapping[str, str]) -> Timings | None:
    """A ``Timings`` when the benchmark asked for one (``PARLEY_BENCH_TIMINGS``), else None."""
    path = environ.get(TIMINGS_ENV)
    if not path:
        return None
    try:
        every = int(environ.get(SAMPLE_ENV) or DEFAULT_EVERY)
    except ValueError:
        every = DEFAULT_EVERY
    log.warning("sampling 1 room message in %d for the benchmark's timings in %s", every, path)
    return Timings(path, every)
