"""The latency breakdown of a step: where each millisecond of a message goes inside Parley.

With ``parley bench --breakdown K`` the Parley servers under test run with the opt-in sampler of
``app/server/timings.py`` (``environment`` gives the variables): one room message in K gets
four ``CLOCK_MONOTONIC`` stamps in the server, written as a line to a file in the run's folder.
After each step ``read`` takes the lines of the messages that arrived during that step and turns
them into the p50 and p99 of each part of the path:

- **commit**: arrival (the ``say`` handled) to the commit of the transaction that holds it, on
  the SQLite writer thread (durable from then on);
- **hand-back**: from that commit to the event loop running its callback;
- **wait**: from the callback to the start of the fan-out that carries it (the pacing pause
  between fan-outs, and any fan-out already in progress);
- **write**: from the start of that fan-out to the return of its last write to a member of the
  room (the batch written to every member, one write each);
- **server**: arrival to last write, the sum.

The client-side latency of the same step (send to receipt, ``p50_ms``/``p99_ms``) adds the
load generator's write and read and the kernel's loopback path to ``server``. ``table`` gives the
Markdown columns for the reports.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.server.timings import SAMPLE_ENV, TIMINGS_ENV

PARTS = ("commit", "handback", "wait", "write", "server")
HEADINGS = {
    "commit": "arrival→commit",
    "handback": "commit→loop",
    "wait": "loop→fan-out",
    "write": "fan-out→last write",
    "server": "arrival→last write",
}


def environment(path: Path, every: int) -> dict[str, str]:
    """The variables that make ``parley serve`` sample one message in ``every`` to ``path``."""
    return {TIMINGS_ENV: str(path), SAMPLE_ENV: str(every)}


def _quiet(path: Path, timeout: float = 2.0) -> None:
    """Wait until the server has written what it recorded (its timer writes every 0.1 s)."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now == size:
            return
        size = now
        time.sleep(0.25)


def _quantile(values: Sequence[int], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (ns), in ms."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6


def read(path: Path, since_ns: int, until_ns: int) -> dict[str, Any]:
    """The breakdown of the messages that arrived from ``since_ns`` to ``until_ns``: for each
    part, ``[p50, p99]`` in ms, and the number of samples."""
    _quiet(path)
    parts: dict[str, list[int]] = {part: [] for part in PARTS}
    members: list[int] = []
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        text = ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6:
            continue  # a line the server was still writing
        arrival, commit, callback, start, done, count = (int(f) for f in fields)
        if not since_ns <= arrival <= until_ns:
            continue
        parts["commit"].append(commit - arrival)
        parts["handback"].append(callback - commit)
        parts["wait"].append(start - callback)
        parts["write"].append(done - start)
        parts["server"].append(done - arrival)
        members.append(count)
    result: dict[str, Any] = {"samples": len(members)}
    if members:
        result["members"] = max(members)
        for part, values in parts.items():
            result[part] = [_quantile(values, 0.5), _quantile(values, 0.99)]
    return result


def timings_file(workdir: Path, kind: str) -> Path:
    """A fresh file for server ``kind``'s samples in ``workdir``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in kind)
    path = workdir / f"timings-{safe}-{time.monotonic_ns()}.log"
    path.touch()
    os.chmod(path, 0o600)
    return path


def head() -> list[str]:
    """The header of a breakdown table (p50 / p99 ms of each part)."""
    cells = " | ".join(f"{HEADINGS[p]} p50 / p99 ms" for p in PARTS)
    return [
        f"| server | offered/s | client p50 / p99 ms | {cells} | samples |",
        "|---" * (len(PARTS) + 4) + "|",
    ]


def row(server: str, step: dict[str, Any]) -> str | None:
    """One step's breakdown as a table row, or None when the step has none."""
    found = step.get("breakdown")
    if not found or not found.get("samples"):
        return None
    cells = " | ".join(f"{found[p][0]:.1f} / {found[p][1]:.1f}" for p in PARTS)
    client = f"{_ms(step.get('p50_ms'))} / {_ms(step.get('p99_ms'))}"
    rate = step["offered_per_s"]
    offered = f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}k"
    return f"| {server} | {offered} | {client} | {cells} | {found['samples']} |"


def table(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The breakdown of every step of ``runs`` that has one, or nothing."""
    rows = [r for run in runs for step in run["steps"] if (r := row(run["server"], step))]
    if not rows:
        return []
    return ["Where Parley's time goes (server-side samples, ms):", "", *head(), *rows]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
