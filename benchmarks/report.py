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

from benchmarks import breakdown
from benchmarks.driver import kept_up, pick

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


def rate_of(run: dict[str, Any] | None, which: str = "best") -> float | None:
    """Deliveries/s of the run's ``best`` step (within the bounds) or ``peak`` (kept up)."""
    step = pick(run["steps"], which) if run is not None else None
    if step is None:
        return None
    rate: float = step["delivered_per_s"]
    return rate


def reached_limit(run: dict[str, Any], which: str = "best") -> bool:
    """Whether the sweep went past that step (if not, its rate is only a lower bound)."""
    step = pick(run["steps"], which)
    if step is None:
        return True
    return any(s["offered_per_s"] > step["offered_per_s"] for s in run["steps"])


def find_run(results: dict[str, Any], server: str, clients: int) -> dict[str, Any] | None:
    for run in results["runs"]:
        if run["server"] == server and run["clients"] == clients:
            found: dict[str, Any] = run
            return found
    return None


def ratio(results: dict[str, Any], clients: int, which: str = "best") -> float | None:
    """Parley's rate over the baseline's, at ``clients``, from the same run."""
    parley = rate_of(find_run(results, "parley", clients), which)
    baseline = rate_of(find_run(results, "baseline", clients), which)
    if parley is None or not baseline:
        return None
    return parley / baseline


def ratio_text(results: dict[str, Any], clients: int, which: str = "best") -> str:
    """The ratio, marked as a lower bound when only the baseline's sweep reached its limit."""
    r = ratio(results, clients, which)
    parley = find_run(results, "parley", clients)
    baseline = find_run(results, "baseline", clients)
    if r is None or parley is None or baseline is None:
        return "-"
    if not reached_limit(baseline, which):
        return "- (baseline not saturated)"
    return f"{'' if reached_limit(parley, which) else '≥ '}{r:.1f}x"


def machine_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_before"])
    lines = [
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gib']} GiB of memory",
        f"- Linux {m['kernel']}, Python {m['python']}, {m['event_loop']}",
        f"- load average before the run: {load}; run started {m['date']}",
        f"- whole run: {results.get('elapsed_s', 0):.0f} s",
    ]
    if "loopback_write_us" in m:
        lines.append(
            f"- one 100-byte write to a loopback socket whose reader is asleep in another process:"
            f" {m['loopback_write_us']:.1f} µs of the writer's CPU (`benchmarks/loopback.py`)"
        )
    return lines


def summary_table(results: dict[str, Any]) -> list[str]:
    """One row per N and server: the best rates, what they cost, and the ratios."""
    lines = [
        "| N | server | deliveries/s with p99 ≤ 50 ms, none lost | p99 ms | server µs/delivery "
        "| deliveries/s kept up (none lost, ≥ 95% delivered, any p99) | p99 ms "
        "| server µs/delivery | server RSS MiB | Parley / baseline (bounded) "
        "| Parley / baseline (kept up) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in results["settings"]["clients"]:
        for server in ("parley", "baseline"):
            run = find_run(results, server, n)
            if run is None:
                continue
            cells = [f"{n:,}", server]
            for which in ("best", "peak"):
                step = pick(run["steps"], which)
                bound = "" if reached_limit(run, which) else "≥ "
                if step is None:
                    cells += ["-", "-", "-"]
                    continue
                cells += [
                    f"{bound}{_num(step['delivered_per_s'])}",
                    _num(step["p99_ms"], 1),
                    _num(step["server_us_per_delivery"], 2),
                ]
            peak = pick(run["steps"], "peak")
            cells.append(_mib(peak["server_rss"] if peak else None))
            for which in ("best", "peak"):
                cells.append(ratio_text(results, n, which) if server == "parley" else "")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def steps_table(run: dict[str, Any]) -> list[str]:
    """Every step of one sweep."""
    lines = [
        "| offered/s | delivered/s | p50 ms | p99 ms | max ms | lost | server µs/deliv "
        "| server cores | gen. cores | other cores | gen. lag max ms | server RSS MiB | ok |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in run["steps"]:
        lines.append(
            f"| {_num(s['offered_per_s'])} | {_num(s['delivered_per_s'])} "
            f"| {_num(s['p50_ms'], 1)} | {_num(s['p99_ms'], 1)} | {_num(s['max_ms'], 1)} "
            f"| {s['lost']:,} | {_num(s['server_us_per_delivery'], 2)} "
            f"| {_num(s['server_cores'], 2)} | {_num(s['generator_cores'], 2)} "
            f"| {_num(s.get('other_cores'), 2)} "
            f"| {_num(s['lag_max_ms'], 1)} | {_mib(s['server_rss'])} "
            f"| {'yes' if s['ok'] else 'no'} |"
        )
    return lines


def _at_target_rate(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The step whose offered rate is closest to the target rate."""
    if not run or not run["steps"]:
        return None
    step: dict[str, Any] = min(run["steps"], key=lambda s: abs(s["offered_per_s"] - TARGET_RATE))
    return step


def targets_table(results: dict[str, Any]) -> list[str]:
    """Each target of the issue, the measured value, and whether it was met."""
    run = find_run(results, "parley", TARGET_CLIENTS)
    baseline = find_run(results, "baseline", TARGET_CLIENTS)
    rate = rate_of(run)
    near = _at_target_rate(run)
    idle = results.get("idle")
    per_conn = idle["bytes_per_connection"] if idle else None
    idle_n = f"{idle['clients']:,}" if idle else "10,000"
    n = f"N = {TARGET_CLIENTS:,}"

    def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
        if value is None:
            return "not measured"
        met = value >= target if higher_is_better else value <= target
        return "met" if met else f"missed ({value / target:.2f}x the target)"

    if run is None:
        rate_verdict = "not measured"
    elif rate is None:
        rate_verdict = "missed: no step had p99 ≤ 50 ms"
        if near is not None and near["p99_ms"] is not None:
            rate_verdict += (
                f"; at {near['offered_per_s']:,.0f}/s offered: {near['delivered_per_s']:,.0f}/s"
                f" delivered, {near['lost']:,} lost, p99 {near['p99_ms']:.0f} ms"
            )
    else:
        rate_verdict = verdict(rate, TARGET_RATE, True)

    def ratio_verdict(which: str) -> str:
        r = ratio(results, TARGET_CLIENTS, which)
        if run is None or baseline is None:
            return "not measured"
        if rate_of(run, which) is None:
            theirs = rate_of(baseline, which)
            shown = "none" if theirs is None else f"{theirs:,.0f}/s"
            return f"missed: no Parley step qualifies (the baseline's: {shown})"
        if r is None:
            return "not measured: no baseline step qualifies"
        if r < TARGET_RATIO and not reached_limit(run, which):
            return "not shown: Parley did not reach its limit, so this is only a lower bound"
        return verdict(r, TARGET_RATIO, True)

    cpu_step = (
        near if near is not None and kept_up(near) else pick(run["steps"], "peak") if run else None
    )
    us = cpu_step["server_us_per_delivery"] if cpu_step else None
    at = f" (at {cpu_step['delivered_per_s']:,.0f}/s)" if cpu_step else ""
    return [
        "| target | measured | verdict |",
        "|---|---:|---|",
        f"| ≥ {TARGET_RATE:,.0f} deliveries/s at {n}, p99 ≤ 50 ms, none lost | {_num(rate)} "
        f"| {rate_verdict} |",
        f"| ≥ {TARGET_RATIO:.0f}x the baseline at {n}, both within the bounds "
        f"| {ratio_text(results, TARGET_CLIENTS)} | {ratio_verdict('best')} |",
        f"| (the same, comparing the most each kept up with, any p99) "
        f"| {ratio_text(results, TARGET_CLIENTS, 'peak')} | {ratio_verdict('peak')} |",
        f"| ≤ {TARGET_US_PER_DELIVERY} µs server CPU per delivery at {n}{at} | {_num(us, 2)} "
        f"| {verdict(us, TARGET_US_PER_DELIVERY, False)} |",
        f"| ≤ 4 KiB per idle connection at {idle_n} | {_num(per_conn)} B "
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
        found = breakdown.table([run])
        out += [*found, ""] if found else []
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m benchmarks.report RESULTS.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        results = json.load(f)
    if "repeats" in results:  # --peers, --redis, --before: paired runs
        from benchmarks import paired

        print(paired.markdown(results))
    elif "phases" in results:  # --overload
        from benchmarks import overload

        print(overload.markdown(results))
    else:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
