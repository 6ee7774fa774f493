"""The benchmark cannot rot: a tiny run of the whole pipeline, Parley and the baseline.

This is not a performance test (timing goals live in ``parley bench``); it proves that the
server and the seed-style relay start as subprocesses, that the load-generator processes connect,
send a paced schedule and count every delivery, and that the numbers reported are consistent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import driver, loadgen, nodes, paired, peers, procstat, report
from parley.cli import build_parser
from tests.redis_server import redis_server

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the benchmark reads /proc"
)

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 8
SENDERS = 3


def test_smoke_run_counts_every_delivery(tmp_path: Path) -> None:
    """Every message reaches every client, for Parley and for the baseline, and is timed."""
    settings = driver.Settings(senders=SENDERS, duration=0.3, drain=5.0, processes=2)
    results = driver.benchmark([CLIENTS], [2000.0], settings, idle_clients=40)
    assert [(r["server"], r["clients"]) for r in results["runs"]] == [
        ("parley", CLIENTS),
        ("baseline", CLIENTS),
    ]
    for run in results["runs"]:
        (step,) = run["steps"]
        assert step["messages"] % SENDERS == 0 and step["messages"] > 0
        assert step["deliveries"] == step["messages"] * (CLIENTS - 1)
        assert step["lost"] == 0 and step["short_clients"] == 0, step
        assert step["lost_connections"] == 0
        assert step["latency_samples"] > 0
        assert 0 < step["p50_ms"] <= step["p99_ms"] < 5000
        assert 0 < step["max_ms"] < 5000
        assert step["server_rss"] > 1 << 20
        # Nothing can be delivered faster than it was offered (timing goals live in the bench).
        assert 0 < step["delivered_per_s"] <= 1.05 * step["offered_per_s"]
        assert step["ok"] == (step["p99_ms"] <= 50)
        assert run["best"] is (step if step["ok"] else None)
        assert run["peak"] is (step if driver.kept_up(step) else None)
    idle = results["idle"]
    assert idle["clients"] == 40 and idle["connect_register_s"] > 0
    assert idle["rss_after"] > 1 << 20
    text = report.markdown(results)
    assert "| 8 | parley |" in text and "| 8 | baseline |" in text


def test_a_paired_run_drives_parley_and_the_irc_peers_step_by_step(tmp_path: Path) -> None:
    """``parley bench --peers``: Parley and each IRC server installed here (``irc`` mode of the
    load generator: NICK, USER, JOIN, PRIVMSG) get every message at each step, in one paired
    run, and the report gives Parley's ratio against each."""
    installed = [name for name in peers.PEERS if peers.missing(name) is None]
    if not installed:
        pytest.skip("neither inspircd nor ngircd is installed (apt-get install inspircd ngircd)")
    settings = driver.Settings(senders=SENDERS, duration=0.3, drain=5.0, processes=2)
    kinds = ["parley", *installed]
    results = paired.repeated(kinds, CLIENTS, [1000.0, 2000.0], settings, repeat=2)
    assert len(results["repeats"]) == 2
    for runs in results["repeats"]:
        assert [run["server"] for run in runs] == kinds
        for run in runs:
            # A tiny step may fall under 90% of its rate on a busy machine and end the sweep.
            assert 1 <= len(run["steps"]) <= 2, run["server"]
            assert run["steps"][0]["offered_per_s"] == 1000.0
            for step in run["steps"]:
                assert step["lost"] == 0 and step["lost_connections"] == 0, (run["server"], step)
                assert step["deliveries"] == step["messages"] * (CLIENTS - 1)
                assert step["latency_samples"] > 0
                assert 0 < step["delivered_per_s"] <= 1.05 * step["offered_per_s"]
    assert set(results["ratios"]) == set(installed)
    text = paired.markdown(results)
    assert "## Run 2" in text and all(f"| {name} |" in text for name in installed)


def test_a_redis_run_pairs_sqlite_one_node_and_workers(tmp_path: Path) -> None:
    """``parley bench --redis --workers 2``: Parley on SQLite, one node and two workers on a
    private Redis get every message, each deployment in its own database, and the steps on
    Redis carry Redis' own CPU and the cores of each node."""
    kinds = ["parley", nodes.REDIS_KIND, nodes.workers_kind(2)]
    settings = driver.Settings(senders=SENDERS, duration=0.3, drain=5.0, processes=1)
    with redis_server(tmp_path / "redis") as server:
        results = paired.repeated(kinds, CLIENTS, [1000.0], settings, 1, redis=server.url)
        probe = nodes.RedisProbe(nodes.with_database(server.url, 1))
        try:
            workers_keys = {key.decode() for key in probe.client.keys("parley:{#*")}
        finally:
            probe.close()
    (runs,) = results["repeats"]
    by = {run["server"]: run for run in runs}
    assert list(by) == kinds
    for kind, run in by.items():
        (step,) = run["steps"]
        assert step["lost"] == 0 and step["lost_connections"] == 0, (kind, step)
        assert step["deliveries"] == step["messages"] * (CLIENTS - 1)
        # /proc counts CPU in 10 ms ticks: a 0.3 s step of a quiet node may read 0.
        assert step["server_cpu_s"] >= 0
        assert step["nodes"] == {"parley": 1, "parley-redis": 1, "parley-redis-w2": 2}[kind]
        assert step["server_cores_per_node"] == pytest.approx(step["server_cores"] / step["nodes"])
        if kind == "parley":
            assert step["redis_cpu_s"] is None
        else:
            assert step["redis_cpu_s"] >= 0 and step["redis_us_per_message"] is not None
    # The workers' database holds their room alone: the one node's went to database 0.
    assert workers_keys and all("#bench-parley-redis-w2" in key for key in workers_keys)
    assert results["redis"]["on_this_machine"] is True
    text = paired.markdown(results)
    assert "| parley-redis-w2 | 2 |" in text and "on this machine" in text


def test_a_redis_url_names_the_database_after_its_own() -> None:
    """Each configuration's database is counted from the URL's, in its path or its query."""
    assert nodes.with_database("redis://:pw@h:6379/3", 1) == "redis://:pw@h:6379/4"
    assert nodes.with_database("redis://h:6379", 1) == "redis://h:6379/1"
    assert nodes.with_database("unix:///run/redis.sock?db=2", 1) == "unix:///run/redis.sock?db=3"
    assert nodes.nodes_of("parley-redis-w4") == 4 and nodes.nodes_of("parley") is None


def test_a_process_tree_counts_the_children(tmp_path: Path) -> None:
    """A server's CPU is read over its process and its children, as a supervisor's workers."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in procstat.tree(os.getpid())
        assert procstat.tree_cpu_seconds(os.getpid()) >= procstat.cpu_seconds(os.getpid())
        assert procstat.tree_rss_bytes(os.getpid()) > procstat.rss_bytes(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_an_unknown_or_missing_peer_is_said_in_one_sentence() -> None:
    """A peer the benchmark does not know, or one not installed, is named with the reason."""
    assert "knows inspircd, ngircd" in (peers.missing("unrealircd") or "")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--peers", "unrealircd"])


def test_percentile_reads_the_histogram() -> None:
    """Quantiles come from the bucket where the rank falls, as its upper edge in ms."""
    width_ms = (1 << loadgen.BUCKET_SHIFT) / 1e6
    hist = {0: 98, 10: 1, 100: 1}
    assert driver.percentile_ms(hist, 0.5) == pytest.approx(width_ms)
    assert driver.percentile_ms(hist, 0.99) == pytest.approx(11 * width_ms)
    assert driver.percentile_ms(hist, 1.0) == pytest.approx(101 * width_ms)
    assert driver.percentile_ms({}, 0.99) is None


def test_bench_command_reads_rates_with_units() -> None:
    """``parley bench --rates 100k,1.5M`` means 100,000 and 1,500,000 deliveries/s."""
    args = build_parser().parse_args(["bench", "--rates", "100k,1.5M", "--clients", "10,1k"])
    assert args.rates == [100_000.0, 1_500_000.0]
    assert args.clients == [10, 1000]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--clients", "1"])


def test_bench_command_runs_from_a_source_checkout(tmp_path: Path) -> None:
    """``python -m parley bench`` in the checkout measures, writes its results and reports."""
    out = tmp_path / "results.json"
    tiny = ["--no-baseline", "--clients", "2", "--senders", "1", "--rates", "1k"]
    tiny += ["--duration", "0.2", "--idle", "0", "--processes", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "parley", "bench", *tiny, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "| 2 | parley |" in result.stdout
    (run,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    (step,) = run["steps"]
    assert step["messages"] > 0 and step["lost"] == 0


def test_the_abuse_probes_run_and_see_bounded_listings(tmp_path: Path) -> None:
    """A tiny run of each memory probe of ``benchmarks.abuse`` reports numbers, and the listing
    probe's longest reply line stays within the server's reply bound."""
    from app.server.limits import MAX_REPLY
    from benchmarks import abuse

    rows = [
        abuse.probe_rooms(tmp_path, 20, abuse.NO_ROOM_LIMITS, "off"),
        abuse.probe_topics(tmp_path, 30),
        abuse.probe_listing(tmp_path, 40),
    ]
    for row in rows:
        assert row["start MiB"] > 1 and row["after MiB"] > 1, row
    longest = int(rows[2]["probe"].split("longest line ")[1].split(" B")[0].replace(",", ""))
    assert 4000 < longest <= MAX_REPLY
    assert "| probe |" in abuse.table(rows)
