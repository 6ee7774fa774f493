"""The benchmark's results as Markdown: the machine, a summary against the targets, every step.

Everything here reads the plain dictionary that ``benchmarks.driver.benchmark`` returns (and that
``parley bench --out`` saves as JSON), so a saved run can be reported again without re-running
it: ``python -m benchmarks.report results.json``. Parley is compared with the baseline as ratios
of numbers from the same run, because absolute numbers move from run to run on a shared machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

# The targets, for N = 1,000 in one room on this 2-core machine.
TARGET_CLIENTS = 1000
TARGET_RATE = 700_000.0
TARGET_RATIO = 5.0
TARGET_US_PER_DELIVERY = 1.0
TARGET_IDLE_BYTES = 4096.0


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f}"


def best_rate(run: dict[str, Any] | None) -> float | None:
    """Deliveries per second of the run's best step within the bounds, or None."""
    if run is None or run.get("best") is None:
        return None
    rate: float = run["best"]["delivered_per_s"]
    return rate


def find_run(results: dict[str, Any], server: str, clients: int) -> dict[str, Any] | None:
    for run in results["runs"]:
        if run["server"] == server and run["clients"] == clients:
            found: dict[str, Any] = run
            return found
    return None


def ratio(results: dict[str, Any], clients: int) -> float | None:
    """Parley's best sustained rate over the baseline's, at ``clients``, from one run."""
    parley = best_rate(find_run(results, "parley", clients))
    baseline = best_rate(find_run(results, "baseline", clients))
    if parley is None or not baseline:
        return None
    return parley / baseline


def machine_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_before"])
    return [
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gib']} GiB of memory",
        f"- Linux {m['kernel']}, Python {m['python']}, {m['event_loop']}",
        f"- load average before the run: {load}; run started {m['date']}",
        f"- whole run: {results.get('elapsed_s', 0):.0f} s",
    ]


def summary_table(results: dict[str, Any]) -> list[str]:
    """One row per N: each server's best sustained rate, its cost, and the ratio."""
    lines = [
        "| N | server | best deliveries/s (p99 ≤ 50 ms, none lost) | p99 there (ms) "
        "| server CPU µs/delivery there | server RSS (MiB) | Parley / baseline |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in results["settings"]["clients"]:
        for server in ("parley", "baseline"):
            run = find_run(results, server, n)
            if run is None:
                continue
            best = run.get("best")
            r = ratio(results, n) if server == "parley" else None
            lines.append(
                f"| {n:,} | {server} | {_num(best_rate(run))} "
                f"| {_num(best and best['p99_ms'], 1)} "
                f"| {_num(best and best['server_us_per_delivery'], 2)} "
                f"| {_mib(best and best['server_rss'])} "
                f"| {'-' if r is None else f'{r:.1f}x'} |"
            )
    return lines


def steps_table(run: dict[str, Any]) -> list[str]:
    """Every step of one sweep."""
    lines = [
        "| offered/s | delivered/s | p50 ms | p99 ms | max ms | lost | server µs/deliv "
        "| server cores | gen. cores | gen. lag max ms | server RSS MiB | ok |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in run["steps"]:
        lines.append(
            f"| {_num(s['offered_per_s'])} | {_num(s['delivered_per_s'])} "
            f"| {_num(s['p50_ms'], 1)} | {_num(s['p99_ms'], 1)} | {_num(s['max_ms'], 1)} "
            f"| {s['lost']:,} | {_num(s['server_us_per_delivery'], 2)} "
            f"| {_num(s['server_cores'], 2)} | {_num(s['generator_cores'], 2)} "
            f"| {_num(s['lag_max_ms'], 1)} | {_mib(s['server_rss'])} "
            f"| {'yes' if s['ok'] else 'no'} |"
        )
    return lines


def targets_table(results: dict[str, Any]) -> list[str]:
    """Each target of the issue, the measured value, and whether it was met."""
    run = find_run(results, "parley", TARGET_CLIENTS)
    best = run.get("best") if run else None
    rate = best_rate(run)
    r = ratio(results, TARGET_CLIENTS)
    us = best["server_us_per_delivery"] if best else None
    idle = results.get("idle")
    per_conn = idle["bytes_per_connection"] if idle else None

    def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
        if value is None:
            return "not measured"
        met = value >= target if higher_is_better else value <= target
        return "met" if met else f"missed ({value / target:.2f}x the target)"

    n = f"N = {TARGET_CLIENTS:,}"
    return [
        "| target | measured | verdict |",
        "|---|---:|---|",
        f"| ≥ {TARGET_RATE:,.0f} deliveries/s at {n}, p99 ≤ 50 ms, none lost | {_num(rate)} "
        f"| {verdict(rate, TARGET_RATE, True)} |",
        f"| ≥ {TARGET_RATIO:.0f}x the baseline at {n} | {'-' if r is None else f'{r:.1f}x'} "
        f"| {verdict(r, TARGET_RATIO, True)} |",
        f"| ≤ {TARGET_US_PER_DELIVERY} µs server CPU per delivery at {n} | {_num(us, 2)} "
        f"| {verdict(us, TARGET_US_PER_DELIVERY, False)} |",
        f"| ≤ 4 KiB per idle connection at 10,000 | {_num(per_conn)} B "
        f"| {verdict(per_conn, TARGET_IDLE_BYTES, False)} |",
    ]


def idle_lines(results: dict[str, Any]) -> list[str]:
    idle = results.get("idle")
    if not idle:
        return ["(not measured in this run)"]
    return [
        f"- {idle['clients']:,} clients connected and registered in "
        f"{idle['connect_register_s']:.2f} s "
        f"({idle['clients'] / idle['connect_register_s']:,.0f} per second)",
        f"- server RSS {_mib(idle['rss_before'])} MiB before, {_mib(idle['rss_after'])} MiB after: "
        f"{idle['bytes_per_connection']:,.0f} bytes per idle connection",
    ]


def markdown(results: dict[str, Any]) -> str:
    """The whole report."""
    s = results["settings"]
    out = ["## Machine", "", *machine_lines(results), ""]
    out += [
        "## Settings",
        "",
        f"- {s['senders']} senders, {s['duration']} s per step, {s['text_bytes']}-byte texts, "
        f"{s['processes']} load-generator processes, latency from every "
        f"{s['probe_every']}th client (maximum from all)",
        "",
        "## Targets",
        "",
        *targets_table(results),
        "",
        "## Best sustained rate per N",
        "",
        *summary_table(results),
        "",
        "## Idle connections",
        "",
        *idle_lines(results),
        "",
    ]
    for run in results["runs"]:
        out += [
            f"## {run['server']}, N = {run['clients']:,} ({run['senders']} senders; "
            f"set-up {run.get('setup_s', 0):.1f} s)",
            "",
            *steps_table(run),
            "",
        ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m benchmarks.report RESULTS.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        print(markdown(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
