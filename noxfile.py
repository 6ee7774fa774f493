"""Parley's automation: `nox` runs the tests on every supported Python, lint and typecheck."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (real server, real SQLite, Textual Pilot, Tk on Xvfb)."""
    session.install(".[fast]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Type-check app/ and frontends/ with mypy --strict."""
    session.install(".[fast]", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy", "--strict", "app", "frontends")


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """Benchmark fan-out against the seed-style baseline (minutes; Linux; `-- --quick` is short)."""
    session.install(".[fast,bench]")
    session.run(
        "parley",
        "bench",
        "--out",
        "bench-results.json",
        "--plot",
        "bench-results.png",
        *session.posargs,
    )
