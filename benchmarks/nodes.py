"""Parley nodes on Redis as servers under test: ``parley bench --redis URL --workers N``.

Two kinds of server join the paired sweep beside ``parley`` (one process on SQLite):
``parley-redis``, one ``parley serve --redis`` node, and ``parley-redis-wN``, ``parley serve
--redis --workers N`` (a supervisor and N worker nodes sharing the port). Each gets a Redis
database of its own, numbered from the URL's (the URL's for ``parley-redis``, the next for the
workers), emptied with ``FLUSHDB`` before it starts, so that the two deployments, run at once,
never see each other's rooms, nicks or nodes. The URL reaches the servers in ``PARLEY_REDIS``,
not on a command line where ``ps`` would show its password.

``RedisProbe`` reads Redis' own CPU seconds from ``INFO cpu`` (``used_cpu_user`` plus
``used_cpu_sys``: every thread of the redis-server process), which works for a Redis on another
machine as well as on this one; ``INFO server``'s ``process_id`` says whether it is a process of
this machine, whose CPU then counts as the benchmark's rather than as other load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.server.checks import redacted

REDIS_KIND = "parley-redis"
_WORKERS_KIND = re.compile(r"parley-redis-w(\d+)")


def workers_kind(workers: int) -> str:
    """The server kind of ``--workers`` ``workers`` nodes on Redis."""
    return f"{REDIS_KIND}-w{workers}"


def nodes_of(kind: str) -> int | None:
    """How many nodes server ``kind`` runs, or ``None`` when it is not Parley on Redis."""
    if kind == REDIS_KIND:
        return 1
    found = _WORKERS_KIND.fullmatch(kind)
    return int(found.group(1)) if found else None


def database_of(kind: str) -> int:
    """Which database after the URL's server ``kind`` uses: 0 for one node, 1 for workers."""
    return 0 if kind == REDIS_KIND else 1


def with_database(url: str, offset: int) -> str:
    """``url`` naming the database ``offset`` after its own (``/DB``, or ``?db=`` for a
    ``unix://`` socket; 0 when it names none)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db", "0")) + offset)
        # urlunsplit would drop the "//" of a URL with no host: unix:///path is not unix:/path.
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    path = parts.path.strip("/")
    db = int(path) if path.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{db + offset}"))


class RedisProbe:
    """A plain connection to one database of the Redis under test."""

    def __init__(self, url: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=10.0)
        info = self.client.info("server")
        self.pid = int(info["process_id"])
        self.version = str(info["redis_version"])
        self.local = _is_redis_here(self.pid)

    def cpu(self) -> float:
        """CPU seconds the redis-server process has used so far, all its threads included."""
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def flush(self) -> None:
        """Empty this database (another run's rooms and nicks would skew this one)."""
        self.client.flushdb()

    def close(self) -> None:
        self.client.close()


def _is_redis_here(pid: int) -> bool:
    """Whether ``pid`` on this machine is a redis-server (a Redis elsewhere, or in a container
    with its own process numbers, is not)."""
    try:
        return "redis" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def unreachable(url: str) -> str | None:
    """Why Redis at ``url`` cannot serve the benchmark, in one sentence (``None``: it can)."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed: pip install 'parley-chat[redis]'"
    try:
        probe = RedisProbe(url)
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"Redis at {redacted(url)} does not answer: {exc}"
    probe.close()
    return None
