"""Draw a benchmark run: deliveries/s, p99 latency and server CPU per delivery against load.

matplotlib is not one of Parley's dependencies; it comes with the ``bench`` extra
(``pip install 'parley-chat[bench]'``) and is imported only here, only when a plot is asked for.
``python -m benchmarks.plot results.json plot.png`` redraws a saved run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.driver import P99_BOUND_MS
from benchmarks.report import TARGET_CLIENTS, TARGET_RATE

_STYLE = {"parley": "-", "baseline": "--"}
_MARK = {"parley": "o", "baseline": "s"}


def plot(results: dict[str, Any], path: str) -> None:
    """Write a two-panel PNG of ``results`` to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, p99_ax, cpu_ax) = plt.subplots(1, 3, figsize=(18, 5.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    counts = list(results["settings"]["clients"])
    top = 0.0
    for run in results["runs"]:
        steps = run["steps"]
        if not steps:
            continue
        colour = colours[counts.index(run["clients"]) % len(colours)]
        label = f"{run['server']}, N={run['clients']:,}"
        offered = [s["offered_per_s"] / 1e3 for s in steps]
        delivered = [s["delivered_per_s"] / 1e3 for s in steps]
        p99 = [s["p99_ms"] or float("nan") for s in steps]
        cpu = [s["server_us_per_delivery"] for s in steps]
        top = max(top, *offered)
        style = {"color": colour, "linestyle": _STYLE[run["server"]]}
        rate_ax.plot(offered, delivered, marker=_MARK[run["server"]], label=label, **style)
        p99_ax.plot(offered, p99, marker=_MARK[run["server"]], label=label, **style)
        cpu_ax.plot(offered, cpu, marker=_MARK[run["server"]], label=label, **style)
        for s, x, y, z in zip(steps, offered, delivered, p99, strict=True):
            if s["lost"]:
                rate_ax.annotate("lost", (x, y), textcoords="offset points", xytext=(4, -10))
                p99_ax.annotate("lost", (x, z), textcoords="offset points", xytext=(4, 4))
    rate_ax.plot([0, top], [0, top], color="grey", linewidth=0.8, label="delivered = offered")
    rate_ax.axhline(
        TARGET_RATE / 1e3,
        color="red",
        linewidth=0.8,
        linestyle=":",
        label=f"target at N={TARGET_CLIENTS:,}",
    )
    rate_ax.set_xlabel("offered load (thousand deliveries/s)")
    rate_ax.set_ylabel("delivered (thousand deliveries/s)")
    rate_ax.set_title("Throughput")
    rate_ax.grid(True, alpha=0.3)
    rate_ax.legend(fontsize=8)
    p99_ax.axhline(P99_BOUND_MS, color="red", linewidth=0.8, linestyle=":", label="50 ms bound")
    p99_ax.set_yscale("log")
    p99_ax.set_xlabel("offered load (thousand deliveries/s)")
    p99_ax.set_ylabel("p99 delivery latency (ms, log scale)")
    p99_ax.set_title("p99 latency")
    p99_ax.grid(True, which="both", alpha=0.3)
    p99_ax.legend(fontsize=8)
    cpu_ax.axhline(1.0, color="red", linewidth=0.8, linestyle=":", label="1 µs target")
    cpu_ax.set_yscale("log")
    cpu_ax.set_xlabel("offered load (thousand deliveries/s)")
    cpu_ax.set_ylabel("server CPU per delivery (µs, log scale)")
    cpu_ax.set_title("Server CPU per delivery")
    cpu_ax.grid(True, which="both", alpha=0.3)
    cpu_ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(
        f"Parley vs the seed-style relay, one room: {m['cpu']}, {m['cores']} cores, "
        f"loopback, load generator on the same machine",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m benchmarks.plot RESULTS.json OUT.png", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        plot(json.load(f), args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
