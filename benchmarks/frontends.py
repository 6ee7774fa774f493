"""The frontends under load: how fast the TUI and the Tk window show history, and their memory.

This module owns the frontend half of issue 5 as a command, ``python -m benchmarks.frontends
[--quick]``. For each frontend it runs the history run and the memory run of
``benchmarks/frontend_runs.py``, each in a fresh worker process so that no run inherits another's
memory or caches, and each against its own server process (``benchmarks/chatroom.py``). The Tk
runs need an X display: without ``DISPLAY`` it starts Xvfb as ``tests/tk/conftest.py`` does. It
prints the tables of ``docs/performance-frontends.md`` and writes every number as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.frontend_runs import QUICK, Settings, measure
from frontends.tk.display import virtual_display

__all__ = ["QUICK", "Settings", "benchmark", "markdown", "measure_in_worker"]

log = logging.getLogger("parley.bench.frontends")


def _worker(frontend: str, run: str, settings: Settings, results: Connection) -> None:
    try:
        results.send(("ok", measure(frontend, run, settings)))
    except BaseException:
        results.send(("failed", traceback.format_exc()))
    finally:
        results.close()


def measure_in_worker(frontend: str, run: str, settings: Settings) -> dict[str, Any]:
    """One measurement in a fresh process, so its memory is its own."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    worker = context.Process(target=_worker, args=(frontend, run, settings, theirs))
    worker.start()
    theirs.close()
    try:
        if not ours.poll(settings.timeout * 4):
            raise TimeoutError(f"the {frontend} {run} run did not finish")
        status, value = ours.recv()
    finally:
        ours.close()
        worker.join(30)
        if worker.is_alive():
            worker.kill()
            worker.join()
    if status != "ok":
        raise RuntimeError(f"the {frontend} {run} run failed:\n{value}")
    assert isinstance(value, dict)
    return value


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    from importlib.metadata import version

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "textual": version("textual"),
        "load_average": os.getloadavg(),
    }


def benchmark(settings: Settings) -> dict[str, Any]:
    """Every measurement of ``settings``, one worker process each."""
    results: dict[str, Any] = {"machine": machine(), "settings": asdict(settings), "runs": []}
    started = time.perf_counter()
    display = virtual_display() if "tk" in settings.frontends else contextlib.nullcontext("")
    with display:
        for frontend in settings.frontends:
            for run in settings.runs:
                log.info("measuring %s: %s", frontend, run)
                results["runs"].append(measure_in_worker(frontend, run, settings))
    results["seconds"] = time.perf_counter() - started
    results["load_average_after"] = os.getloadavg()
    return results


def _mib(value: int) -> str:
    return f"{value / (1 << 20):.1f}"


def _freeze(run: dict[str, Any], prefix: str) -> str:
    """A run's worst freeze: wall and own CPU time, and how many were over the goal."""
    wall, busy = run[f"{prefix}_lag_s"] * 1000, run.get(f"{prefix}_busy_s", 0.0) * 1000
    return f"{wall:.0f} / {busy:.0f} ms ({run.get(f'{prefix}_over_goal', 0)})"


def markdown(results: dict[str, Any]) -> str:
    """The two tables of ``docs/performance-frontends.md``."""
    history = [r for r in results["runs"] if r["run"] == "history"]
    memory = [r for r in results["runs"] if r["run"] == "memory"]
    out = []
    if history:
        out += [
            "| frontend | start → first screen | page back (pages) | per page median / max |"
            " live burst | worst freeze in burst: wall / own CPU (over 50 ms) |",
            "|---|---|---|---|---|---|",
        ]
        for r in history:
            rate = r["burst"] / r["burst_s"]
            out.append(
                f"| {r['frontend']} | {r['first_screen_s'] * 1000:.0f} ms "
                f"| {r['page_back_s']:.2f} s for {r['held_after_paging']:,} ({r['pages']}) "
                f"| {r['page_median_s'] * 1000:.0f} / {r['page_max_s'] * 1000:.0f} ms "
                f"| {r['burst']:,} in {r['burst_s']:.2f} s ({rate:,.0f}/s) "
                f"| {_freeze(r, 'burst_worst')} |"
            )
    if memory:
        out += [
            "",
            "| frontend | received | RSS MiB (since join) | Python blocks (since join) |"
            " traced heap MiB | engine lines | view rows / lines |"
            " worst freeze: wall / own CPU (over 50 ms) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in memory:
            joined = r["joined"]
            for reading in r["readings"]:
                traced = _mib(reading["traced"]) if "traced" in reading else "-"
                view = reading.get("view_rows", reading.get("view_lines"))
                engine = reading.get("engine_lines", reading.get("mirror_lines"))
                blocks = reading["blocks"] - joined["blocks"]
                out.append(
                    f"| {r['frontend']} | {reading['received']:,} "
                    f"| {_mib(reading['rss'])} (+{_mib(reading['rss'] - joined['rss'])}) "
                    f"| {reading['blocks']:,} ({blocks:+,}) | {traced} | {engine:,} | {view:,} "
                    f"| {_freeze(r, 'worst')} |"
                )
    out += ["", "| frontend | run | seconds | CPU seconds other processes took meanwhile |"]
    out.append("|---|---|---|---|")
    for r in results["runs"]:
        out.append(
            f"| {r['frontend']} | {r['run']} | {r['wall_s']:.1f} | {r['others_cpu_s']:.1f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.frontends",
        description="Time the TUI and the Tk window showing history, and their memory under load.",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, a few seconds")
    parser.add_argument("--frontends", default="tui,tk", help="which: tui, tk or tui,tk")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the Python heap (much slower)"
    )
    parser.add_argument("--history", type=int, help="messages of history to page back through")
    parser.add_argument("--burst", type=int, help="messages arriving live at once")
    parser.add_argument("--runs", default="history,memory", help="which: history, memory or both")
    parser.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "parley-frontends.json"),
        help="write the results as JSON here",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not sys.platform.startswith("linux"):
        log.error("this benchmark reads /proc and runs on Linux only")
        return 2
    settings = QUICK if args.quick else Settings()
    settings = replace(settings, frontends=tuple(args.frontends.split(",")))
    if args.tracemalloc:
        settings = replace(settings, tracemalloc=True)
    if args.history is not None:
        settings = replace(settings, history=args.history)
    if args.burst is not None:
        settings = replace(settings, burst=args.burst)
    settings = replace(settings, runs=tuple(args.runs.split(",")))
    results = benchmark(settings)
    results["command"] = " ".join(["python -m benchmarks.frontends", *(argv or sys.argv[1:])])
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(markdown(results))
    print(f"\n{results['seconds']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
