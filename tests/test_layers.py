"""The arrows point one way: ``app/`` imports nothing above it, and ``parley serve`` loads no UI.

``parley`` (the command) sits above ``app``, ``frontends`` and ``benchmarks`` and imports each
only when its subcommand runs. These tests prove it three ways: no import statement anywhere
under ``app/`` names a package above it (lazy imports inside functions included); importing every
module of ``app`` in a fresh interpreter loads none of them; and a real ``parley serve`` (started,
greeted by a client, stopped), ``serve --help`` and ``serve --print-config``, run with
``-X importtime``, import no frontend, benchmark or UI toolkit.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0
# What app/ must never import, and parley serve never load.
ABOVE_APP = frozenset({"parley", "frontends", "benchmarks"})
UI = frozenset({"textual", "rich", "tkinter", "_tkinter", "matplotlib"})
TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")
SERVE = ("serve", "--port", "0", "--db", "chat.db")
LISTENING = re.compile(r"listening on (\S+):(\d+)")


def environment(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["PYTHONPATH"] = str(REPO)
    env["XDG_DATA_HOME"] = str(cwd / "data")
    env["PARLEY_CONFIG_DIR"] = str(cwd / "config")
    return env


def imported_packages(importtime_log: str) -> set[str]:
    """The top-level packages named in ``-X importtime`` lines (the rest of stderr is ignored)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def run_time_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``tree`` at any depth, but ``if TYPE_CHECKING:``'s."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_import_under_app_names_a_package_above_it() -> None:
    """No module of app/ imports parley, frontends, benchmarks or a UI toolkit, even lazily."""
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sorted((REPO / "app").rglob("*.py"))
        for line, name in run_time_imports(ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[0] in ABOVE_APP | UI
    ]
    assert offenders == []


def test_importing_all_of_app_loads_nothing_above_it(tmp_path: Path) -> None:
    """Every module of app imported in a fresh interpreter leaves no frontend, benchmark or UI."""
    script = (
        "import json, pkgutil, sys, app\n"
        "for module in pkgutil.walk_packages(app.__path__, 'app.'):\n"
        "    __import__(module.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=environment(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    assert {"app.server.runner", "app.client.engine", "app.store"} <= set(modules)
    assert {name.split(".")[0] for name in modules} & (ABOVE_APP | UI) == set()


@pytest.mark.parametrize("flag", ["--help", "--print-config"])
def test_serve_help_and_print_config_load_no_frontend(tmp_path: Path, flag: str) -> None:
    """parley serve --help and --print-config import no frontend, benchmark or UI toolkit."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "parley", "serve", flag],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    loaded = imported_packages(result.stderr)
    assert {"parley", "app"} <= loaded
    assert loaded & (ABOVE_APP - {"parley"} | UI) == set()


@pytest.mark.skipif(sys.platform == "win32", reason="stopped with SIGTERM")
def test_a_running_server_loads_no_frontend(tmp_path: Path) -> None:
    """A real parley serve, greeted by a client and stopped, never imports a frontend or UI."""
    log_path = tmp_path / "stderr.log"
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "parley", *SERVE],
            cwd=tmp_path,
            env=environment(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        found = None
        while found is None:
            assert proc.poll() is None, log_path.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the server did not say where it listens"
            time.sleep(0.05)
            found = LISTENING.search(log_path.read_text(encoding="utf-8"))
        with socket.create_connection(("127.0.0.1", int(found.group(2))), timeout=TIMEOUT) as sock:
            sock.sendall(b'{"type":"hello","nick":"alice","proto":1}\n')
            assert b'"welcome"' in sock.recv(65536)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
    loaded = imported_packages(log_path.read_text(encoding="utf-8"))
    assert {"parley", "app", "msgspec"} <= loaded
    assert loaded & (ABOVE_APP - {"parley"} | UI) == set()


def test_every_module_imports_first() -> None:
    """Each module of ``app``, ``frontends`` and ``parley`` imports on its own, as the first
    of ours in the interpreter: no import cycle that only works in one order."""
    script = (
        "import importlib, pathlib, sys\n"
        "ours = ('app', 'frontends', 'parley')\n"
        "failed = []\n"
        "names = sorted(\n"
        "    '.'.join(p.with_suffix('').parts)\n"
        "    for top in ours\n"
        "    for p in pathlib.Path(top).rglob('*.py') if p.name != '__main__.py'\n"
        ")\n"
        "for name in names:\n"
        "    name = name.removesuffix('.__init__')\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ours]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout
