"""A server whose history, accounts and moderation all live in Redis (``RedisHistory``,
``RedisAccounts``, ``RedisModeration`` passed to ``Server``), on a private ``redis-server`` that
the test starts (``tests/redis_server.py``; skipped where it is not installed).

The server's ``db`` stays the default ``:memory:``, so whatever survives a restart of the server
was kept in Redis. ``parley serve --redis`` wires the same classes (issue 13).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.server import Server, ServerConfig
from tests.conftest import Dial
from tests.redis_server import RedisServer, redis_server
from tests.server.wire import PASSWORD, sign_in

pytest.importorskip("redis", reason="the redis extra is not installed")

from app.store import RedisAccounts, RedisHistory, RedisModeration


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def redis_server_of(url: str) -> Server:
    """A server on port 0 whose every store is on the Redis at ``url``."""
    history = RedisHistory(url)
    return Server(
        ServerConfig(port=0, msg_rate=0),
        store=history,
        accounts=RedisAccounts(history),
        moderation=RedisModeration(history),
    )


async def test_accounts_and_roles_survive_a_restart_in_redis(
    redis: RedisServer, dial: Dial
) -> None:
    """An account registered on a server on Redis signs in after the server restarts on the
    same Redis (and a wrong password still fails), and its room and op keep their roles."""
    first = redis_server_of(redis.url)
    await first.start()
    try:
        alice = await dial(first.port, "alice")
        await alice.send(type="register", password=PASSWORD, ref=1)
        await alice.expect("account", ref=1)
        joined, _ = await alice.join("#dev")
        assert joined["roles"] == {"alice": "owner"}
        bob = await dial(first.port, "bob")
        await bob.send(type="register", password=PASSWORD, ref=2)
        await bob.expect("account", ref=2)
        await bob.join("#dev")
        await alice.barrier()
        await alice.send(type="op", room="#dev", nick="bob", ref=3)
        await alice.expect("mode", room="#dev", nick="bob", role="op", ref=3)
    finally:
        await first.stop()

    second = redis_server_of(redis.url)
    await second.start()
    try:
        refused = await sign_in(dial, second.port, "alice", "wrong password")
        assert refused["code"] == "bad_password"
        welcome = await sign_in(dial, second.port, "alice", PASSWORD)
        assert welcome["type"] == "welcome" and welcome["account"] == "alice"
        bob = await dial(second.port)
        await bob.send(type="hello", nick="bob", proto=1, password=PASSWORD)
        await bob.expect("welcome", account="bob")
        joined, _ = await bob.join("#dev")
        assert joined["roles"] == {"bob": "op"}
    finally:
        await second.stop()
