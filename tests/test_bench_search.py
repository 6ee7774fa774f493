"""The search benchmark cannot rot: a tiny run of ``python -m benchmarks.search`` end to end.

Not a performance test (the numbers are in docs/performance.md): it proves that the history is
filled through the store with and without the index, that a real ``parley serve`` answers every
kind of search timed, and that the planted words are found as planted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import search

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the benchmark reads /proc"
)


def test_a_small_run_times_every_kind_of_search(tmp_path: Path) -> None:
    """Every kind of query is timed and answered; the rare word has its 10 hits, the word that
    is nowhere none, and the index makes the file larger."""
    out = tmp_path / "search.json"
    assert search.main(["--messages", "2000", "--repeat", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    rows = {row["kind"]: row for row in report["sqlite"]}
    assert list(rows) == [kind for _query, _room, kind in search.QUERIES]
    assert rows["rare word (10 hits in all)"]["hits"] == 10
    assert rows["word that is nowhere"]["hits"] == 0
    assert all(row["p50_ms"] > 0 for row in rows.values())
    assert report["file_mib"]["indexed"] >= report["file_mib"]["unindexed"]
