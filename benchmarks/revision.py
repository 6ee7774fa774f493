"""Before and after in one paired run: Parley at another git revision as a server of the pair.

A change meant to make Parley faster is judged by running the old and the new server side by
side, at each offered rate one after the other, as ``paired`` does for the IRC peers: two sweeps
minutes apart on a shared machine compare two different machines. ``parley bench --before REV``
adds the server kind ``parley@REV``: ``export`` writes that revision of this checkout (``git
archive``, so uncommitted changes are not in it) into the run's folder once, and the driver
starts ``python -m parley serve`` there with the same interpreter and the same flags, its
working directory first on ``sys.path``, so that it imports that tree's ``app`` and ``parley``
rather than this one's. The load generator speaks to it as to Parley.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from benchmarks.generators import source_root

PREFIX = "parley@"


def kind_of(rev: str) -> str:
    """The server kind of Parley at revision ``rev``."""
    return PREFIX + rev


def revision_of(kind: str) -> str | None:
    """The revision of a ``parley@REV`` kind, or None for any other kind."""
    return kind[len(PREFIX) :] if kind.startswith(PREFIX) else None


def check(rev: str) -> str | None:
    """Why ``rev`` cannot be exported from this checkout (None when it can)."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=source_root(),
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        return f"{rev!r} is not a commit of the checkout in {source_root()}"
    return None


def export(rev: str, workdir: Path) -> Path:
    """The source tree of ``rev``, written into ``workdir`` the first time it is asked for."""
    tree = workdir / f"tree-{rev.replace('/', '_')}"
    if not (tree / "parley").is_dir():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "app", "parley"],
            cwd=source_root(),
            capture_output=True,
            check=True,
        ).stdout
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    return tree
