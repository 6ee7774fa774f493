"""The ``parley`` command line: a bad value is one sentence and exit 2, before anything opens.

Each test runs the real command, ``python -m parley ...``, in a subprocess in ``tmp_path`` with the
repository on ``PYTHONPATH`` and every ``PARLEY_*`` variable cleared unless the test sets one. A
refused ``serve`` is always given ``--db x.db`` so that the test can see that no database was
created. The config-file tests read ``--print-config`` back with tomllib; one test starts a real
server from a config file and connects to it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.server import ServerConfig, serve
from app.server.settings import SETTINGS, UsageError
from parley.cli import build_parser, main

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "parley.example.toml"
TIMEOUT = 30.0
LISTENING = re.compile(r"listening on (\S+):(\d+)")


def parley(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m parley ARGS`` in ``cwd`` with a clean ``PARLEY_*`` environment and
    ``stdin`` on its standard input (a pipe; nothing without it)."""
    return subprocess.run(
        [sys.executable, "-m", "parley", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env=environment(cwd, env or {}, drop),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
    )


def environment(cwd: Path, extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k not in drop}
    env["PYTHONPATH"] = str(REPO)
    # platformdirs' user data and config folders, should anything look there.
    env["XDG_DATA_HOME"] = str(cwd / "data")
    env["PARLEY_CONFIG_DIR"] = str(cwd / "config")
    env.update(extra)
    return env


def one_sentence(result: subprocess.CompletedProcess[str], command: str, *names: str) -> str:
    """Assert exit status 2 and a single ``parley COMMAND: error:`` line naming ``names``."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"parley {command}: error: "), lines[0]
    for name in names:
        assert name in lines[0]
    return lines[0]


def printed_config(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port on which another socket listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- bad flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--port", "-1", "from 0 to 65535"),
        ("--port", "99999", "from 0 to 65535"),
        ("--host", "256.1.1.1", "does not resolve"),
        ("--host", "192.0.2.1", "not an address of this machine"),
        ("--max-line", "0", "from 512"),
        ("--msg-rate", "-5", "from 0"),
        ("--msg-rate", "inf", "finite"),
        ("--msg-burst", "0", "from 1"),
        ("--sendq", "1000", "from 65536"),
        ("--max-conns-per-ip", "-1", "from 0"),
        ("--log-level", "loud", "one of debug, info, warning, error"),
        ("--oper", "1bad", "must name accounts"),
    ],
)
def test_serve_refuses_a_bad_flag(tmp_path: Path, flag: str, value: str, words: str) -> None:
    """A bad serve flag is one sentence naming it, exit 2, and no database is created."""
    result = parley(tmp_path, "serve", "--db", "x.db", flag, value)
    one_sentence(result, "serve", flag, words)
    assert not (tmp_path / "x.db").exists()


def test_serve_refuses_a_db_in_a_missing_folder(tmp_path: Path) -> None:
    """A --db whose folder does not exist is named with that folder, before anything opens."""
    db = tmp_path / "nonexistent" / "x.db"
    result = parley(tmp_path, "serve", "--db", str(db))
    one_sentence(result, "serve", "--db", f"{db.parent} does not exist")
    assert not db.parent.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
def test_serve_refuses_a_db_in_a_read_only_folder(tmp_path: Path) -> None:
    """A --db whose folder cannot take new files (SQLite's WAL files go there) is refused."""
    # No one, root included, can create a file in /proc, so this holds in CI too.
    result = parley(tmp_path, "serve", "--db", "/proc/parley.db")
    one_sentence(result, "serve", "--db", "not writable")


def test_serve_refuses_a_db_that_is_a_folder(tmp_path: Path) -> None:
    """A --db naming a folder is refused instead of failing inside SQLite."""
    result = parley(tmp_path, "serve", "--db", str(tmp_path))
    one_sentence(result, "serve", "--db", "is a folder")


def test_serve_refuses_a_db_that_is_not_a_database(tmp_path: Path) -> None:
    """A --db that is no SQLite file ends the start-up log with one sentence, not a traceback."""
    (tmp_path / "x.db").write_bytes(b"not a database\n" * 500)
    result = parley(tmp_path, "serve", "--port", "0", "--db", "x.db")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    db = tmp_path / "x.db"
    last = result.stderr.splitlines()[-1]
    assert last == f"parley serve: error: cannot open the history {db}: file is not a database"


def test_serve_refuses_a_sendq_below_max_line(tmp_path: Path) -> None:
    """--sendq smaller than --max-line would drop a client for one long line, so it is refused."""
    result = parley(tmp_path, "serve", "--db", "x.db", "--max-line", "200000", "--sendq", "100000")
    one_sentence(result, "serve", "--sendq", "max_line")


def test_serve_on_a_port_in_use_opens_nothing(tmp_path: Path, listening: int) -> None:
    """A port another socket listens on is one sentence, and the database is never created."""
    result = parley(tmp_path, "serve", "--port", str(listening), "--db", "x.db")
    line = one_sentence(result, "serve")
    assert line.endswith(f"127.0.0.1:{listening} is in use — is another parley serve running?")
    assert not (tmp_path / "x.db").exists()


async def test_a_port_taken_after_the_check_is_a_usage_error(
    tmp_path: Path, listening: int
) -> None:
    """A port taken between check and bind is a UsageError from serve, before the store opens."""
    db = tmp_path / "x.db"
    with pytest.raises(UsageError, match="is in use"):
        await serve(ServerConfig(port=listening, db=str(db)))
    assert not db.exists()


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("PARLEY_PORT", "99999", "from 0 to 65535"),
        ("PARLEY_MAX_LINE", "lots", "whole number"),
        ("PARLEY_CONFIG", "missing.toml", "cannot read"),
    ],
)
def test_serve_names_a_bad_environment_variable(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    """A bad PARLEY_* variable gets the flag's checks and the sentence names the variable."""
    result = parley(tmp_path, "serve", "--db", "x.db", env={variable: value})
    one_sentence(result, "serve", variable, words)
    assert not (tmp_path / "x.db").exists()


# --- bad config files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("port = 7000\n\nverbose = true\n", "unknown key 'verbose' on line 3"),
        ("# dashes\nmax-line = 4096\n", "unknown key 'max-line' on line 2"),
        ("port = 7000\n[serve]\nport = 7001\n", "unknown key 'serve' on line 2"),
        ('host = "::1"\nport = "7000"\n', "port on line 2 of"),
        ("msg_burst = true\n", "msg_burst on line 1 of"),
        ("port = 7000\nmax_line = 100\n", "max_line on line 2 of"),
        ("port = 7000\nmax_line =\n", "line 2"),
    ],
)
def test_serve_refuses_a_bad_config_file(tmp_path: Path, text: str, words: str) -> None:
    """Unknown keys, wrong types, bad values and TOML errors name the key and its line."""
    (tmp_path / "parley.toml").write_text(text, encoding="utf-8")
    result = parley(tmp_path, "serve", "--config", "parley.toml", "--db", "x.db")
    one_sentence(result, "serve", words, "parley.toml")
    assert not (tmp_path / "x.db").exists()


def test_serve_refuses_a_missing_config_file(tmp_path: Path) -> None:
    """A --config file that cannot be read is one sentence naming it."""
    result = parley(tmp_path, "serve", "--config", "nowhere.toml")
    one_sentence(result, "serve", "--config", "nowhere.toml", "no such file")


# --- the other subcommands ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "command", "words"),
    [
        (("tui", "--port", "0"), "tui", "--port"),
        (("tui", "--log-file", "missing/tui.log"), "tui", "--log-file"),
        (("tui", "--login-screen-timeout", "0"), "tui", "--login-screen-timeout"),
        (("demo", "--db", "missing/demo.db"), "demo", "--db"),
        (("tk", "--port", "-1"), "tk", "--port"),
        (("bench", "--senders", "0"), "bench", "--senders"),
        (("bench", "--out", "missing/results.json"), "bench", "--out"),
    ],
)
def test_other_commands_refuse_bad_values(
    tmp_path: Path, args: tuple[str, ...], command: str, words: str
) -> None:
    """tui, demo, tk and bench refuse bad ports, numbers and unwritable files in one sentence."""
    one_sentence(parley(tmp_path, *args), command, words)
    assert not (tmp_path / "missing").exists()


def test_bench_without_the_benchmarks_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where ``benchmarks`` is not importable (installed Parley), bench says where it runs."""
    monkeypatch.setitem(sys.modules, "benchmarks", None)
    monkeypatch.setitem(sys.modules, "benchmarks.cli", None)
    assert main(["bench", "--quick"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "parley bench: error: the benchmark is not part of an installed Parley: "
        "run `python -m parley bench` in a source checkout"
    ]
    assert "bench" in build_parser().format_help()


def test_tk_without_a_display_is_one_sentence(tmp_path: Path) -> None:
    """parley tk with no DISPLAY says so in one sentence instead of a Tcl traceback."""
    result = parley(tmp_path, "tk", drop=("DISPLAY", "WAYLAND_DISPLAY"))
    one_sentence(result, "tk", "display")


# --- the config file ------------------------------------------------------------------------


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    """--print-config shows command line > PARLEY_* > --config file > defaults."""
    (tmp_path / "parley.toml").write_text(
        'port = 7000\nmax_line = 4096\nmsg_rate = 3\ndb = "chat.db"\n', encoding="utf-8"
    )
    result = parley(
        tmp_path,
        *("serve", "--config", "parley.toml", "--max-line", "600", "--print-config"),
        env={"PARLEY_PORT": "7001", "PARLEY_MAX_LINE": "5000"},
    )
    config = printed_config(result)
    assert config["port"] == 7001
    assert config["max_line"] == 600
    assert config["msg_rate"] == 3.0
    assert config["db"] == str(tmp_path / "chat.db")
    assert config["sendq"] == ServerConfig().sendq
    assert not (tmp_path / "chat.db").exists()


def test_server_operators_from_flags_the_environment_or_the_file(tmp_path: Path) -> None:
    """--oper repeats, PARLEY_OPERS is comma-separated and opers is an array; names fold, and
    the flags win over the variable, which wins over the file."""
    (tmp_path / "parley.toml").write_text('opers = ["Root"]\n', encoding="utf-8")
    from_file = parley(tmp_path, "serve", "--config", "parley.toml", "--print-config")
    assert printed_config(from_file)["opers"] == ["root"]
    from_env = parley(
        tmp_path,
        *("serve", "--config", "parley.toml", "--print-config"),
        env={"PARLEY_OPERS": "alice, Bob"},
    )
    assert printed_config(from_env)["opers"] == ["alice", "bob"]
    from_flags = parley(
        tmp_path,
        *("serve", "--oper", "carol", "--oper", "dave", "--print-config"),
        env={"PARLEY_OPERS": "alice"},
    )
    assert printed_config(from_flags)["opers"] == ["carol", "dave"]


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    """PARLEY_CONFIG names the file when --config is not given."""
    (tmp_path / "parley.toml").write_text("msg_burst = 7\n", encoding="utf-8")
    result = parley(tmp_path, "serve", "--print-config", env={"PARLEY_CONFIG": "parley.toml"})
    assert printed_config(result)["msg_burst"] == 7


def test_print_config_reads_back_unchanged(tmp_path: Path) -> None:
    """--print-config prints a file that --config accepts and that prints the same settings."""
    first = parley(tmp_path, "serve", "--host", "localhost", "--port", "0", "--print-config")
    (tmp_path / "printed.toml").write_text(first.stdout, encoding="utf-8")
    again = parley(tmp_path, "serve", "--config", "printed.toml", "--print-config")
    assert printed_config(again) == printed_config(first)
    assert again.stdout == first.stdout


def test_the_example_file_shows_every_key_with_its_default(tmp_path: Path) -> None:
    """docs/parley.example.toml loads, changes no default, and mentions every key."""
    defaults = parley(tmp_path, "serve", "--print-config")
    example = parley(tmp_path, "serve", "--config", str(EXAMPLE), "--print-config")
    assert printed_config(example) == printed_config(defaults)
    text = EXAMPLE.read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert re.search(rf"^(# )?{setting.key} = ", text, re.MULTILINE), setting.key


def test_serve_runs_from_a_config_file(tmp_path: Path) -> None:
    """parley serve --config listens on the file's port, answers hello, exits 0 on SIGTERM."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "parley.toml").write_text(
        f'port = {port}\ndb = "chat.db"\nmsg_rate = 0\n', encoding="utf-8"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--config", "parley.toml"],
        cwd=tmp_path,
        env=environment(tmp_path, {}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    # Drained on a thread so that the server never blocks on a full pipe.
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or ()])
    reader.start()
    try:
        log: list[str] = []
        found = None
        while found is None:
            log.append(lines.get(timeout=TIMEOUT))
            assert proc.poll() is None, f"the server exited: {''.join(log)}"
            found = LISTENING.search(log[-1])
        assert found.group(2) == str(port)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            client.sendall(b'{"type":"hello","nick":"alice","proto":1}\n')
            assert b'"welcome"' in client.recv(65536)
        assert (tmp_path / "chat.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        reader.join(TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()
