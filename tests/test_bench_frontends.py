"""The frontend benchmark cannot rot: a tiny run of it for the TUI and for the Tk window.

This is not a performance test (the numbers are in ``docs/performance-frontends.md``); it proves
that each run starts its server and loadbot, that the frontend shows the seeded history paged
back through its own load-older path, every message once and in order, follows a live burst,
and that with more messages received than the scrollback holds, the engine and the Tk view keep
exactly the cap.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace

import pytest

from app.client.room_history import OLDER_PAGE
from benchmarks.frontends import QUICK, benchmark, markdown
from tests.tk.conftest import display  # noqa: F401  (the Tk runs need an X display)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc"),
    pytest.mark.usefixtures("display"),
]

SETTINGS = replace(
    QUICK,
    history=160,
    burst=120,
    scrollback=400,
    memory_scrollback=100,
    checkpoints=(150, 450),
    batch=150,
)


@pytest.mark.parametrize("frontend", ["tui", "tk"])
def test_smoke_run_pages_back_and_stays_within_the_cap(frontend: str) -> None:
    """Both runs of one frontend finish with every message shown in order and memory capped."""
    results = benchmark(replace(SETTINGS, frontends=(frontend,)))
    history, memory = results["runs"]
    assert (history["frontend"], history["run"]) == (frontend, "history")
    assert history["held_after_paging"] == SETTINGS.history
    assert history["history_in_order"] is True
    # 160 messages: the join's newest 50, then older pages of up to OLDER_PAGE each.
    assert history["pages"] == math.ceil((SETTINGS.history - 50) / OLDER_PAGE)
    assert history["first_screen_s"] > 0 and history["page_back_s"] > 0
    assert history["burst"] == SETTINGS.burst and history["burst_shown_on_screen"] is True
    assert history["burst_in_order"] is True
    assert history["burst_worst_lag_s"] >= history["burst_worst_busy_s"] >= 0

    assert (memory["frontend"], memory["run"]) == (frontend, "memory")
    readings = memory["readings"]
    assert [r["received"] for r in readings] == list(SETTINGS.checkpoints)
    assert all(r["rss"] > 1 << 20 and r["blocks"] > 0 for r in readings)
    if frontend == "tui":
        assert [r["engine_lines"] for r in readings] == [100, 100]
        assert readings[-1]["view_rows"] > 450  # the log keeps more, up to its own row cap
    else:
        assert [(r["mirror_lines"], r["view_lines"]) for r in readings] == [(100, 100)] * 2
    assert f"| {frontend} | 450 |" in markdown(results)
