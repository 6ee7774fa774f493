"""Paired runs: every server measured at each offered rate in turn, repeated, reported as ratios.

Two sweeps one after the other on a shared machine compare two different machines: whatever else
runs there changes between them (the issue that asked for this saw 0.60x and 1.43x for the same
pair 40 minutes apart). So ``paired`` starts every server under test at once (Parley, the
seed-style relay, the IRC peers of ``benchmarks.peers``), each with its own load-generator
processes and all its clients connected and in the room, and then at each offered rate runs the
step on each server in turn, seconds apart; a server drops out of the sweep at its limit (loss, or
under 90% delivered) and the others go on. Which server goes first rotates from one repetition to
the next. ``repeated`` does the whole paired sweep ``repeat`` times and reports, for Parley
against each other server, the ratio of the best rates sustained within the bounds (nothing lost,
p99 ≤ 50 ms) in each repetition, their median and spread, and the other load on the machine at
each step, so that a reader can see what the numbers were measured beside. With ``redis``, Parley's
nodes on Redis (the kinds of ``benchmarks.nodes``) are servers of the pair like any other, and
``costs`` tells, at each server's best step, its CPU per delivery, per node, and Redis' own.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.server.checks import redacted
from benchmarks import breakdown, driver, nodes, procstat
from benchmarks.generators import Generators

log = logging.getLogger("parley.bench")


def paired(
    kinds: Sequence[str],
    clients: int,
    rates: Sequence[float],
    settings: driver.Settings,
    workdir: Path,
    first: int = 0,
    redis: str | None = None,
) -> list[dict[str, Any]]:
    """One paired sweep of ``kinds`` with ``clients`` in one room; a run per server, as
    ``driver.sweep`` records it. ``first`` rotates which server steps first at each rate;
    ``redis`` is the URL of the Redis for the kinds of ``benchmarks.nodes``."""
    if clients < 2:
        raise ValueError("a fan-out needs at least two clients")
    order = list(kinds[first % len(kinds) :]) + list(kinds[: first % len(kinds)])
    runs = {kind: driver.new_run(kind, clients, settings) for kind in kinds}
    targets: dict[str, driver.Target] = {}
    generators: dict[str, Generators] = {}
    try:
        for kind in order:
            targets[kind] = driver.start_target(kind, workdir, redis, settings.breakdown)
            generators[kind] = driver.connect(targets[kind], runs[kind], settings)
        active = list(order)
        for rate in rates:
            for kind in list(active):
                run = runs[kind]
                step = driver.run_step(
                    targets[kind],
                    generators[kind],
                    clients,
                    driver.sender_ids(run),
                    rate,
                    settings,
                )
                run["steps"].append(step)
                driver.log_step(kind, clients, step)
                if driver.past_the_limit(targets[kind], step):
                    active.remove(kind)
            if not active:
                break
    finally:
        for group in generators.values():
            group.close()
        for target in targets.values():
            target.stop()
            driver.remove_db(target)
    for run in runs.values():
        driver.finish(run)
    return [runs[kind] for kind in kinds]


def repeated(
    kinds: Sequence[str],
    clients: int,
    rates: Sequence[float],
    settings: driver.Settings,
    repeat: int,
    skipped: dict[str, str] | None = None,
    redis: str | None = None,
) -> dict[str, Any]:
    """``repeat`` paired sweeps and, for Parley against each other server, the ratios."""
    procstat.raise_fd_limit(clients * 2 * len(kinds) + 1024)
    results: dict[str, Any] = {
        "machine": procstat.machine(),
        "settings": {**settings.__dict__, "rates": list(rates), "clients": clients},
        "servers": list(kinds),
        "skipped": dict(skipped or {}),
        "repeats": [],
    }
    if redis is not None:
        probe = nodes.RedisProbe(redis)
        results["redis"] = {
            "url": redacted(redis),
            "version": probe.version,
            "on_this_machine": probe.local,
        }
        probe.close()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for number in range(repeat):
            log.info("paired run %d of %d: %s", number + 1, repeat, ", ".join(kinds))
            runs = paired(kinds, clients, rates, settings, Path(tmp), number, redis)
            results["repeats"].append(runs)
    results["ratios"] = ratios(results)
    results["elapsed_s"] = time.perf_counter() - began
    return results


def best_rate(run: dict[str, Any]) -> float | None:
    best = run.get("best")
    return None if best is None else float(best["delivered_per_s"])


def ratios(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parley's best rate over each other server's, per repetition, with median and spread.
    A repetition where the other server sustained no step within the bounds gives no ratio."""
    out: dict[str, dict[str, Any]] = {}
    for kind in results["servers"]:
        if kind == "parley":
            continue
        each: list[float | None] = []
        for runs in results["repeats"]:
            by = {run["server"]: run for run in runs}
            ours, theirs = best_rate(by["parley"]), best_rate(by[kind])
            each.append(ours / theirs if ours is not None and theirs else None)
        known = [r for r in each if r is not None]
        out[kind] = {
            "each": each,
            "median": statistics.median(known) if known else None,
            "low": min(known) if known else None,
            "high": max(known) if known else None,
        }
    return out


def costs(runs: Sequence[dict[str, Any]]) -> list[str]:
    """What each server's best step cost: its CPU per delivery (every node together), the cores
    each node used, and Redis' own CPU (per message stored and published, and in cores)."""
    lines = ["| server | nodes | best deliveries/s | server us/delivery | cores per node |"]
    lines[0] += " Redis cores | Redis us/message |"
    lines.append("|---" * 7 + "|")
    for run in runs:
        step = run.get("best")
        if step is None:
            # No step within the bounds: how many nodes it ran on is still known.
            steps = run.get("steps") or [{}]
            lines.append(f"| {run['server']} | {steps[0].get('nodes', 1)} | none | | | | |")
            continue
        redis_cores, redis_us = step.get("redis_cores"), step.get("redis_us_per_message")
        lines.append(
            f"| {run['server']} | {step.get('nodes', 1)} | {_rate(step['delivered_per_s'])} "
            f"| {step['server_us_per_delivery']:.2f} "
            f"| {step.get('server_cores_per_node', step['server_cores']):.2f} "
            f"| {'-' if redis_cores is None else f'{redis_cores:.2f}'} "
            f"| {'-' if redis_us is None else f'{redis_us:.0f}'} |"
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def markdown(results: dict[str, Any]) -> str:
    """The paired results as Markdown: a table per repetition, then the ratios."""
    kinds: list[str] = results["servers"]
    rooms = results["settings"].get("rooms", 1)
    where = "one room" if rooms == 1 else f"{rooms} rooms"
    lines = [f"# Paired runs: N = {results['settings']['clients']} in {where}", ""]
    m = results["machine"]
    lines += [f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['event_loop']}", ""]
    if "redis" in results:
        r = results["redis"]
        where = "on this machine" if r["on_this_machine"] else "elsewhere"
        lines += [f"Redis {r['version']} at {r['url']}, {where}.", ""]
    for kind, why in results["skipped"].items():
        lines.append(f"- {kind} skipped: {why}")
    for number, runs in enumerate(results["repeats"], 1):
        by = {run["server"]: run for run in runs}
        lines += ["", f"## Run {number}", ""]
        head = "| offered/s | " + " | ".join(f"{k} p50 / p99 ms" for k in kinds)
        lines += [head + " | other load (cores) |", "|---" * (len(kinds) + 2) + "|"]
        for i, rate in enumerate(results["settings"]["rates"]):
            cells, other = [], []
            for kind in kinds:
                steps = by[kind]["steps"]
                if i >= len(steps):
                    cells.append("(stopped)")
                    continue
                step = steps[i]
                mark = "" if step["ok"] else (" lost" if step["lost"] else " (over)")
                cells.append(f"{_ms(step['p50_ms'])} / {_ms(step['p99_ms'])}{mark}")
                other.append(step["other_cores"])
            if not other:
                break
            load = f"{min(other):.2f}-{max(other):.2f}"
            lines.append(f"| {_rate(rate)} | " + " | ".join(cells) + f" | {load} |")
        best = ", ".join(f"{k} {_rate(best_rate(by[k]))}" for k in kinds)
        lines += ["", f"Best sustained (nothing lost, p99 ≤ 50 ms): {best}."]
        lines += ["", *costs(runs)]
        found = breakdown.table(runs)
        lines += ["", *found] if found else []
    lines += ["", "## Parley against each", ""]
    lines += ["| server | each run | median | spread |", "|---|---|---|---|"]
    for kind, r in results["ratios"].items():
        each = ", ".join("-" if x is None else f"{x:.2f}x" for x in r["each"])
        median = "-" if r["median"] is None else f"{r['median']:.2f}x"
        spread = "-" if r["low"] is None else f"{r['low']:.2f}x-{r['high']:.2f}x"
        lines.append(f"| {kind} | {each} | {median} | {spread} |")
    lines += ["", f"Measured in {results['elapsed_s']:.0f} s."]
    return "\n".join(lines)
