"""``parley bench``: the benchmark's command line, registered by ``parley/cli.py``.

Building the parser imports nothing heavy, so ``parley`` starts as fast with the benchmark
registered as without it; the driver, the report and (only with ``--plot``) matplotlib are
imported when the command runs. The defaults are the full run documented in
``docs/performance.md`` (a few minutes); ``--quick`` is a short one for trying things out.
The benchmark is not installed with Parley, so the command runs in a source checkout, as
``python -m parley bench``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("parley.bench")

FULL_CLIENTS = (100, 1000)
FULL_RATES = (25e3, 50e3, 100e3, 200e3, 300e3, 400e3, 500e3, 600e3, 700e3, 850e3, 1e6, 1.3e6, 1.6e6)
QUICK_CLIENTS = (200,)
QUICK_RATES = (20e3, 50e3, 100e3)


def _numbers(text: str) -> list[float]:
    """``"100k,1.5M,2000"`` as numbers; k and M are thousands and millions."""
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = 1.0
        if part.endswith("k"):
            scale, part = 1e3, part[:-1]
        elif part.endswith("m"):
            scale, part = 1e6, part[:-1]
        try:
            values.append(float(part) * scale)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {part!r}") from None
    return values


def _counts(text: str) -> list[int]:
    counts = [int(v) for v in _numbers(text)]
    if any(n < 2 for n in counts):
        raise argparse.ArgumentTypeError("every N must be at least 2")
    return counts


def _rates(text: str) -> list[float]:
    rates = _numbers(text)
    if any(not 0 < r < math.inf for r in rates):
        raise argparse.ArgumentTypeError(f"every rate must be above 0, not {text!r}")
    return rates


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


def _seconds(high: float, *, zero: bool) -> Callable[[str], float]:
    """An argparse type: seconds up to ``high``, and 0 only if ``zero``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        low_ok = value >= 0 if zero else value > 0
        if not low_ok or not value <= high:
            least = "from 0 to" if zero else "more than 0 and at most"
            raise argparse.ArgumentTypeError(f"must be {least} {high:g} seconds, not {text}")
        return value

    return parse


def _output_file(text: str) -> str:
    """An argparse type: a file that can be written, checked before minutes of measuring."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text}: the folder {folder} does not exist")
    if os.path.isdir(text) or not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be written")
    return text


def _peers(text: str) -> list[str]:
    from benchmarks.peers import PEERS

    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown peer {', '.join(unknown) or text!r}; the peers are {', '.join(PEERS)}"
        )
    return names


def _plot_file(text: str) -> str:
    if importlib.util.find_spec("matplotlib") is None:
        raise argparse.ArgumentTypeError("needs matplotlib: pip install 'parley-chat[bench]'")
    return _output_file(text)


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` to ``parley``'s subcommands."""
    bench = sub.add_parser(
        "bench",
        help="measure fan-out throughput, latency and memory against a seed-style baseline",
        description=(
            "Start a Parley server and the seed-style relay as subprocesses, drive N clients in "
            "one room from load-generator processes, sweep the offered rate (deliveries/s to "
            "other members), and report the best rate sustained with nothing lost and p99 <= 50 "
            "ms. Linux only. Takes a few minutes; --quick takes well under one."
        ),
    )
    bench.add_argument("--quick", action="store_true", help="a short run with small numbers")
    bench.add_argument("--clients", type=_counts, help="N per sweep, e.g. 100,1000")
    bench.add_argument(
        "--senders", type=_whole(1, 100_000), default=100, help="K clients that send"
    )
    bench.add_argument("--rates", type=_rates, help="offered deliveries/s, e.g. 100k,500k,1M")
    bench.add_argument(
        "--duration", type=_seconds(3600, zero=False), help="seconds of sending per step"
    )
    bench.add_argument(
        "--drain", type=_seconds(600, zero=True), default=5.0, help="seconds to wait for stragglers"
    )
    bench.add_argument(
        "--idle",
        type=_whole(0, 1_000_000),
        help="idle clients for the memory test (0 to skip; default 10000)",
    )
    bench.add_argument(
        "--processes", type=_whole(1, 256), default=2, help="load-generator processes"
    )
    bench.add_argument(
        "--text-bytes",
        type=_whole(1, 8192),
        default=64,
        help="length of each message text (at most 8192, to fit the server's line limit)",
    )
    bench.add_argument(
        "--probe-every", type=_whole(1, 1_000_000), default=8, help="every k-th client times all"
    )
    bench.add_argument(
        "--rooms",
        type=_whole(1, 100_000),
        default=1,
        help=(
            "spread the N clients over this many rooms of equal size, --senders of them spread "
            "evenly too (a multiple of --rooms); the seed-style relay has no rooms and is left out"
        ),
    )
    bench.add_argument(
        "--breakdown",
        type=_whole(0, 1_000_000),
        default=0,
        metavar="K",
        help=(
            "sample 1 Parley message in K inside the server and report where its time goes "
            "(arrival, commit, fan-out start, last write); 0, the default, leaves it off"
        ),
    )
    bench.add_argument(
        "--before",
        metavar="REV",
        help=(
            "run Parley at git revision REV of this checkout beside the working one, paired at "
            "each step (before and after a change); one N per run"
        ),
    )
    bench.add_argument(
        "--overload",
        action="store_true",
        help=(
            "offer 1.5x the one rate of --rates for --duration seconds (10) to Parley, with an "
            "idle client pinging and a few clients that stop reading, then the rate again and "
            "half of it: responsiveness, memory, who is dropped and the recovery"
        ),
    )
    bench.add_argument(
        "--sendq-timeout",
        type=_seconds(3600, zero=False),
        help="with --overload: the server's --sendq-timeout (its default is 30 s)",
    )
    bench.add_argument("--no-baseline", action="store_true", help="measure Parley only")
    bench.add_argument(
        "--peers",
        type=_peers,
        help=(
            "IRC servers to measure beside Parley, paired at each step, e.g. inspircd,ngircd "
            "(Debian packages; one not installed is skipped with the reason); one N per run"
        ),
    )
    bench.add_argument(
        "--redis",
        metavar="URL",
        help=(
            "measure Parley on SQLite, one node on the Redis at URL and --workers nodes, paired "
            "at each step; they use the URL's database and the next, EMPTIED (FLUSHDB) before "
            "each start; one N per run"
        ),
    )
    bench.add_argument(
        "--workers",
        type=_whole(1, 64),
        help="with --redis: the worker nodes of the third configuration (2; 1 leaves it out)",
    )
    bench.add_argument(
        "--repeat",
        type=_whole(1, 100),
        default=1,
        help=(
            "with --peers or --redis: repeat the whole paired sweep, report the median ratio "
            "and spread"
        ),
    )
    bench.add_argument("--out", type=_output_file, help="write the results as JSON to this file")
    bench.add_argument(
        "--plot", type=_plot_file, help="draw the results to this PNG (needs matplotlib)"
    )
    bench.set_defaults(command=run_bench)


def _equivalent_command(
    args: argparse.Namespace,
    clients: list[int],
    rates: list[float],
    duration: float,
    idle: int,
) -> str:
    """The command line that repeats this run with every default spelled out."""
    words = ["python", "-m", "parley", "bench", "--clients", ",".join(str(n) for n in clients)]
    words += ["--rates", ",".join(f"{r:g}" for r in rates), "--duration", f"{duration:g}"]
    words += ["--senders", str(args.senders), "--idle", str(idle)]
    if args.no_baseline:
        words.append("--no-baseline")
    return " ".join(words)


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark as ``args`` say and print the report."""
    from benchmarks import driver, loopback, report

    if not sys.platform.startswith("linux"):
        log.error("the benchmark reads /proc and runs on Linux only")
        return 2
    if args.workers is not None and args.redis is None:
        log.error("--workers needs --redis: workers are nodes sharing rooms through Redis")
        return 2
    clients = args.clients or list(QUICK_CLIENTS if args.quick else FULL_CLIENTS)
    why = _rooms_problem(args, clients)
    if why is not None:
        log.error("%s", why)
        return 2
    rates = args.rates or list(QUICK_RATES if args.quick else FULL_RATES)
    duration = args.duration or (2.0 if args.quick else 5.0)
    idle = args.idle if args.idle is not None else (2000 if args.quick else 10_000)
    settings = driver.Settings(
        senders=args.senders,
        duration=duration,
        drain=args.drain,
        processes=args.processes,
        probe_every=args.probe_every,
        text_bytes=args.text_bytes,
        rooms=args.rooms,
        breakdown=args.breakdown,
    )
    if args.overload:
        from benchmarks import overload

        return overload.run(args, clients, rates, settings)
    floor = loopback.write_cost()
    log.info("one write to a loopback socket costs %.1f us of CPU here", floor)
    if args.peers is not None or args.redis is not None or args.before is not None:
        return _run_paired(args, clients, rates, settings)
    baseline = not args.no_baseline and args.rooms == 1
    results = driver.benchmark(clients, rates, settings, idle_clients=idle, baseline=baseline)
    results["machine"]["loopback_write_us"] = floor
    results["command"] = _equivalent_command(args, clients, rates, duration, idle)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        log.info("results written to %s", args.out)
    if args.plot:
        from benchmarks.plot import plot

        plot(results, args.plot)
        log.info("plot written to %s", args.plot)
    print(report.markdown(results))
    return 0


def _rooms_problem(args: argparse.Namespace, clients: list[int]) -> str | None:
    """Why ``--rooms`` cannot split these clients and senders evenly (None when it can)."""
    rooms = args.rooms
    if rooms == 1:
        return None
    if any(n % rooms or n // rooms < 2 for n in clients):
        return f"--rooms {rooms} needs every N to be a multiple of it, with 2 or more per room"
    if args.senders % rooms:
        return f"--senders must be a multiple of --rooms ({rooms}): the same number in each room"
    if any(args.senders > n for n in clients):
        return "--senders must not be more than N"
    return None


def _run_paired(
    args: argparse.Namespace, clients: list[int], rates: list[float], settings: Any
) -> int:
    """``--peers``, ``--redis``: paired sweeps of Parley, the baseline (not beside nodes unless
    asked with ``--peers``), the peers that can run here and Parley's nodes on Redis."""
    from benchmarks import nodes, paired, peers

    if len(clients) != 1:
        log.error("--peers and --redis measure one N at a time; give one, e.g. --clients 1000")
        return 2
    asked = args.peers or []
    skipped = {name: why for name in asked if (why := peers.missing(name)) is not None}
    for name, why in skipped.items():
        log.warning("skipping %s: %s", name, why)
    baseline = not args.no_baseline and args.peers is not None and args.rooms == 1
    kinds = ["parley", *(["baseline"] if baseline else [])]
    if args.before is not None:
        from benchmarks import revision

        why = revision.check(args.before)
        if why is not None:
            log.error("--before: %s", why)
            return 2
        kinds.append(revision.kind_of(args.before))
    kinds += [name for name in asked if name not in skipped]
    if args.redis is not None:
        why = nodes.unreachable(args.redis)
        if why is not None:
            log.error("--redis: %s", why)
            return 2
        kinds.append(nodes.REDIS_KIND)
        workers = 2 if args.workers is None else args.workers
        if workers > 1:
            kinds.append(nodes.workers_kind(workers))
    results = paired.repeated(
        kinds, clients[0], rates, settings, args.repeat, skipped, redis=args.redis
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        log.info("results written to %s", args.out)
    print(paired.markdown(results))
    return 0
