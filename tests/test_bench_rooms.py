"""The benchmark's modes of issue 14 cannot rot: many rooms, the latency breakdown, overload.

Tiny runs (a dozen clients, fractions of a second per step) of ``parley bench --rooms``,
``--breakdown`` and ``--overload`` against real servers started as subprocesses. Not performance
tests (timing goals live in ``parley bench``): they prove that each mode drives its servers,
counts what it should and reports it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import breakdown, driver, overload, paired, peers, report
from parley.cli import build_parser

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the benchmark reads /proc"
)


def test_many_rooms_give_each_member_its_own_rooms_messages_alone() -> None:
    """With --rooms 3, every client of Parley and of each IRC peer installed here gets every
    message of its room and none of the others' (received equals expected, exactly)."""
    installed = [name for name in peers.PEERS if peers.missing(name) is None]
    kinds = ["parley", *installed]
    settings = driver.Settings(senders=6, duration=0.3, drain=5.0, processes=2, rooms=3)
    results = paired.repeated(kinds, 12, [1500.0], settings, repeat=1)
    (runs,) = results["repeats"]
    assert [run["server"] for run in runs] == kinds
    for run in runs:
        assert run["rooms"] == 3
        (step,) = run["steps"]
        assert step["lost"] == 0 and step["lost_connections"] == 0, (run["server"], step)
        assert step["received"] == step["expected"], (run["server"], step)
        # Rooms of 4: each message reaches the 3 other members of its room.
        assert step["deliveries"] == step["messages"] * 3
        assert step["latency_samples"] > 0
    assert "N = 12 in 3 rooms" in paired.markdown(results)


def test_senders_are_spread_evenly_over_the_rooms() -> None:
    """Sender r is in room r % rooms (client i is in room i % rooms), spread through it."""
    run = {"clients": 40, "senders": 8, "rooms": 4}
    ids = driver.sender_ids(run)
    assert len(set(ids)) == 8
    assert [i % 4 for i in ids] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert driver.sender_ids({"clients": 100, "senders": 4}) == [0, 25, 50, 75]


def test_the_breakdown_times_every_sampled_message_inside_parley(tmp_path: Path) -> None:
    """With --breakdown 1 the server stamps every message, and each step reports the p50 and
    p99 of each part of its path; without it, the server writes no timings."""
    settings = driver.Settings(senders=2, duration=0.3, drain=5.0, processes=1, breakdown=1)
    results = driver.benchmark([6], [1000.0], settings, baseline=False)
    (run,) = results["runs"]
    (step,) = run["steps"]
    found = step["breakdown"]
    assert found["samples"] == step["messages"]
    assert found["members"] == 6
    for part in breakdown.PARTS:
        low, high = found[part]
        assert 0 <= low <= high, (part, found)
    assert found["server"][1] >= found["write"][0]
    assert "arrival→commit" in "\n".join(breakdown.table([run]))
    plain = driver.start_parley(tmp_path)
    try:
        assert plain.timings is None
    finally:
        plain.stop()
        driver.remove_db(plain)
    assert not list(tmp_path.glob("timings-*"))


def test_the_breakdown_reads_only_its_steps_whole_lines(tmp_path: Path) -> None:
    """Samples that arrived outside the step, and a line still being written, are left out."""
    path = tmp_path / "t.log"
    path.write_text("5 6 8 11 15 3\n100 110 130 160 200 4\n300 301 302 303 304 4\n400 40")
    found = breakdown.read(path, 50, 350)
    assert found["samples"] == 2 and found["members"] == 4
    assert found["commit"] == [pytest.approx(1e-6), pytest.approx(10e-6)]
    assert found["server"] == [pytest.approx(4e-6), pytest.approx(100e-6)]
    assert breakdown.read(path, 1000, 2000) == {"samples": 0}


def test_overload_runs_its_phases_and_reports_who_was_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--overload: the four phases deliver everything to the reading clients, the idle clients'
    pings are answered, the stalled clients' fate and the server's RSS are reported, and
    ``benchmarks.report`` prints the saved results again."""
    settings = driver.Settings(senders=2, duration=0.5, drain=5.0, processes=1)
    results = overload.overload(8, 1000.0, settings, tmp_path, settle=0.3, sendq_timeout=2)
    names = [phase["phase"] for phase in results["phases"]]
    assert names == ["before", "overload", "after", "after, half"]
    offered = [phase["step"]["offered_per_s"] for phase in results["phases"]]
    assert offered == [1000.0, 1500.0, 1000.0, 500.0]
    for phase in results["phases"]:
        step = phase["step"]
        assert step["lost"] == 0 and step["lost_connections"] == 0, phase
        assert step["received"] == step["expected"]
        for who in ("idle-lobby", "idle-room"):
            assert phase["pings"][who]["pings"] > 0
    overloaded = results["phases"][1]
    assert len(overloaded["stalled"]) == overload.STALLED
    assert overloaded["pings"]["idle-room"]["p50_ms"] > 0
    assert results["pinger_errors"] == {}
    assert results["sendq_timeout"] == 2
    assert results["rss"] and all(rss > 1 << 20 for _, rss in results["rss"])
    results.update(machine={"cpu": "x", "cores": 2, "python": "3", "event_loop": "y"})
    saved = tmp_path / "overload.json"
    saved.write_text(json.dumps({**results, "elapsed_s": 1.0}), encoding="utf-8")
    assert report.main([str(saved)]) == 0
    assert "| overload | 1,500 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["--clients", "10", "--rooms", "3"], "multiple of it"),
        (["--clients", "12", "--rooms", "3", "--senders", "4"], "multiple of --rooms"),
        (["--clients", "3", "--rooms", "3", "--senders", "3"], "2 or more per room"),
    ],
)
def test_rooms_that_do_not_divide_evenly_are_refused_before_measuring(
    words: list[str], problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``--rooms`` needs N and the senders to split evenly over the rooms: said at once."""
    args = build_parser().parse_args(["bench", *words])
    assert args.command(args) == 2
    assert problem in caplog.text


def test_a_revision_of_the_checkout_runs_beside_the_working_parley() -> None:
    """``--before REV``: Parley exported at REV runs from its own tree, paired with this one,
    and both deliver every message; a revision that does not exist is named as such."""
    from benchmarks import revision

    if revision.check("HEAD") is not None:
        pytest.skip("not a git checkout")
    assert "is not a commit" in (revision.check("no-such-revision-here") or "")
    kinds = ["parley", revision.kind_of("HEAD")]
    settings = driver.Settings(senders=2, duration=0.3, drain=5.0, processes=1)
    results = paired.repeated(kinds, 6, [1000.0], settings, repeat=1)
    (runs,) = results["repeats"]
    for run in runs:
        (step,) = run["steps"]
        assert step["lost"] == 0 and step["received"] == step["expected"], run["server"]
    assert set(results["ratios"]) == {"parley@HEAD"}
