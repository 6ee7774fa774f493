"""``parley serve --redis URL`` and ``--workers N`` refused at start, each in one sentence.

Like ``tests/test_cli.py`` (whose helpers these use), each test runs the real command in a
subprocess: a malformed URL, a Redis that is not there or does not let us in, the ``redis`` extra
missing, workers without Redis, and a platform without ``SO_REUSEPORT`` are each one line on
stderr and exit status 2, before any port or database opens; the URL's password shows nowhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

from tests.conftest import closed_port
from tests.redis_server import RedisServer, redis_server
from tests.test_cli import REPO, TIMEOUT, environment, one_sentence, parley

SECRET = "hunter2-secret"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``parley serve ARGS``'s one-sentence refusal, checked to name no password; no database
    was made."""
    result = parley(tmp_path, "serve", "--db", "x.db", "--port", "0", *args, env=env)
    assert SECRET not in result.stderr
    assert not (tmp_path / "x.db").exists()
    return one_sentence(result, "serve")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:6379/0", "must be a redis://, rediss:// or unix:// URL"),
        (f"redis://:{SECRET}@127.0.0.1:99999/0", "port from 1 to 65535"),
        (f"rediss://user:{SECRET}@127.0.0.1:port/0", "port from 1 to 65535"),
        ("redis://:6379/0", "names no host"),
        (f"redis://:{SECRET}@127.0.0.1:6379/zero", "database number (/0), not /zero"),
        ("unix://", "names no socket"),
    ],
)
def test_a_malformed_redis_url_is_one_sentence(tmp_path: Path, url: str, words: str) -> None:
    """A --redis that is no Redis URL is named, with its password masked, and refused."""
    line = serve(tmp_path, "--redis", url)
    assert "--redis" in line and words in line
    if SECRET in url:
        assert ":***@" in line


def test_workers_need_redis(tmp_path: Path) -> None:
    """More than one worker without --redis is refused, naming where the count came from."""
    assert "--workers needs --redis" in serve(tmp_path, "--workers", "2")
    line = serve(tmp_path, env={"PARLEY_WORKERS": "3"})
    assert "PARLEY_WORKERS needs --redis" in line
    assert "from 1 to 1024" in serve(tmp_path, "--workers", "0")


def test_an_ssh_gateway_inside_goes_with_one_worker_only(tmp_path: Path) -> None:
    """--ssh-port runs one gateway in one server: with several workers it is refused."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    line = serve(tmp_path, "--ssh-port", "0", "--workers", "2", "--redis", url)
    assert "--ssh-port runs one SSH gateway inside one server" in line and "--workers" in line


def test_an_unreachable_redis_is_one_sentence(tmp_path: Path) -> None:
    """A Redis nobody listens for is one sentence naming where it was looked for."""
    url = f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0"
    line = serve(tmp_path, env={"PARLEY_REDIS": url})
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in line and "(PARLEY_REDIS)" in line


def test_a_redis_that_refuses_the_password_is_one_sentence(
    tmp_path: Path, redis: RedisServer
) -> None:
    """A Redis that wants a password, given none or a wrong one, refuses us: one sentence
    that does not repeat the wrong password."""
    with redis_py.Redis(port=redis.port) as admin:
        admin.config_set("requirepass", "the-right-one")
    for url in (redis.url, f"redis://:{SECRET}@127.0.0.1:{redis.port}/0"):
        line = serve(tmp_path, "--redis", url)
        assert f"Redis at {url.replace(SECRET, '***')} (--redis) refused to let us in" in line


def test_a_database_redis_does_not_have_is_one_sentence(tmp_path: Path, redis: RedisServer) -> None:
    """A database number beyond the Redis server's is refused by Redis, and said so."""
    line = serve(tmp_path, "--redis", f"redis://127.0.0.1:{redis.port}/999")
    assert "Redis at" in line and "/999" in line


def test_without_the_redis_extra_it_says_what_to_install(tmp_path: Path) -> None:
    """Where redis-py cannot be imported, --redis names the extra to install."""
    blocked = tmp_path / "blocked" / "redis"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('not installed')\n")
    path = f"{blocked.parent}{os.pathsep}{REPO}"
    line = serve(tmp_path, "--redis", "redis://127.0.0.1:6379/0", env={"PYTHONPATH": path})
    assert "--redis needs the redis package" in line
    assert "pip install 'parley-chat[redis]'" in line


def test_workers_are_refused_where_ports_cannot_be_shared(tmp_path: Path) -> None:
    """On a platform without SO_REUSEPORT, --workers is a clear refusal."""
    script = (
        "import socket, sys\n"
        "del socket.SO_REUSEPORT\n"
        "from parley.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [
            *(sys.executable, "-c", script, "serve", "--db", "x.db", "--port", "0"),
            *("--workers", "2", "--redis", f"redis://127.0.0.1:{closed_port()}/0"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=environment(tmp_path, {}),
        stdin=subprocess.DEVNULL,
    )
    line = one_sentence(result, "serve", "--workers needs SO_REUSEPORT")
    assert sys.platform in line
