"""Parley's automation: `nox` runs the tests on every supported Python, lint, typecheck and a
check of the built wheel.

Every session installs exact versions from ``requirements/lock.txt`` (one universal lock for
Python 3.10-3.13, made by uv), so CI today and CI in a month run the same code. ``tests_lowest``
runs the suite on the lowest versions that ``pyproject.toml`` allows users
(``requirements/lowest.txt``), so those lower bounds stay true. ``nox -s lock`` refreshes both
files from the newest releases and then runs every default session on them: rot is seen on
purpose, in a commit that says so, not by surprise. uv makes each session's environment and
installs into it (seconds, where virtualenv and pip took most of a minute), so nox and uv are both
needed to run the sessions (the ``automation`` group).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OLDEST = PYTHONS[0]
# The end-to-end tests (OpenSSH's ssh, a real browser) take the longest and test no Python
# feature: they run on this one Python; the others pass `-m "not e2e"`.
E2E_PYTHON = "3.11"
# The extras the tests import (uvloop for the server, the gateways' libraries); the lowest
# versions of these are tested too.
EXTRA_NAMES = ("fast", "redis", "ssh", "web")
EXTRAS = f".[{','.join(EXTRA_NAMES)}]"
PYPROJECT = nox.project.load_toml("pyproject.toml")
LOCK = "requirements/lock.txt"
LOWEST = "requirements/lowest.txt"


def install_locked(session: nox.Session, *args: str, groups: tuple[str, ...] = ()) -> None:
    """Install ``args`` and the named dependency groups at the versions of the lock."""
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(PYPROJECT, group)
    ]
    session.install("-c", LOCK, *args, *requirements, *reinstall_parley(*args))


def reinstall_parley(*args: str) -> list[str]:
    """uv's flag to build this checkout again where ``args`` install it: uv keeps an installed
    local package that has the same version, which would test a reused environment's old copy."""
    local = any(arg.startswith(".") for arg in args)
    return ["--reinstall-package", PYPROJECT["project"]["name"]] if local else []


def mypy(session: nox.Session) -> None:
    """mypy --strict over the shipped packages, with a cache of the session's own: CI runs
    sessions side by side, and two mypys that see different dependencies must not share one."""
    cache = Path(session.virtualenv.location) / "mypy-cache"
    session.run("mypy", "--strict", "--cache-dir", str(cache), "app", "frontends", "parley")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (real server, real SQLite and Redis, Textual Pilot, Tk on Xvfb); the
    end-to-end tests (OpenSSH, chromium) on 3.11 only."""
    install_locked(session, EXTRAS, groups=("test",))
    only = [] if session.python == E2E_PYTHON else ["-m", "not e2e"]
    session.run("pytest", *only, *session.posargs)


@nox.session(python=OLDEST)
def tests_lowest(session: nox.Session) -> None:
    """Run the tests and mypy with the lowest runtime dependencies pyproject.toml allows."""
    install_locked(session, groups=("test", "typecheck"))
    # Installed last, so the runtime dependencies are the lowest ones even where a test tool
    # shares one of them.
    session.install("-c", LOWEST, EXTRAS, *reinstall_parley(EXTRAS))
    session.run("uv", "pip", "check")
    session.run("pytest", "-m", "not e2e", *session.posargs)
    mypy(session)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    install_locked(session, groups=("lint",))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Type-check app/, frontends/ and parley/ with mypy --strict."""
    install_locked(session, EXTRAS, groups=("typecheck",))
    mypy(session)


@nox.session(python="3.11")
def package(session: nox.Session) -> None:
    """Build the wheel and check it ships app, frontends and parley, and no benchmarks or tests."""
    out = Path(session.create_tmp()) / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    # setuptools' scratch folder: a wheel takes whatever an earlier build left in build/lib.
    shutil.rmtree("build", ignore_errors=True)
    if session.run("uv", "build", "--wheel", "--quiet", "--out-dir", str(out), silent=True) is None:
        return  # `nox --install-only` runs nothing: there is no wheel to check
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = (name for name in names if name.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    shipped = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    if shipped != {"app", "frontends", "parley"}:
        session.error(f"{wheel.name} ships {sorted(shipped)}, not app, frontends and parley")
    if "parley = parley.cli:main" not in scripts:
        session.error(f"{wheel.name}'s parley script is not parley.cli:main: {scripts}")


@nox.session(python="3.11", default=False)
def lock(session: nox.Session) -> None:
    """Refresh the locks from the newest releases, then run every default session on them."""
    install_locked(session, groups=("automation",))
    compile_lock = ["uv", "pip", "compile", "pyproject.toml", "--quiet", "--upgrade"]
    compile_lock += ["--custom-compile-command", "nox -s lock", "--python-version", OLDEST]
    groups = [arg for group in PYPROJECT["dependency-groups"] for arg in ("--group", group)]
    session.run(*compile_lock, "--universal", "--all-extras", *groups, "-o", LOCK)
    extras = [arg for extra in EXTRA_NAMES for arg in ("--extra", extra)]
    session.run(*compile_lock, *extras, "--resolution", "lowest-direct", "-o", LOWEST)
    # A parametrised session is notified one Python at a time: "tests" alone runs only the first.
    others = ("tests_lowest", "lint", "typecheck", "package")
    for name in (*(f"tests-{python}" for python in PYTHONS), *others):
        session.notify(name)


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """Benchmark fan-out against the seed-style baseline (minutes; Linux; `-- --quick` is short)."""
    install_locked(session, ".[fast,bench]")
    # The benchmark is not installed with Parley: it runs from this checkout.
    session.run(
        "python",
        "-m",
        "parley",
        "bench",
        "--out",
        "bench-results.json",
        "--plot",
        "bench-results.png",
        *session.posargs,
    )
