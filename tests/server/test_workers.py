"""``parley serve --workers 2`` as operators run it: real processes on a real port, with a private
``redis-server``.

Each test starts ``python -m parley serve --workers 2 --redis URL`` and reads its log. The worker
that serves a connection is known from the ``node`` of its ``welcome`` (``w<index>-<pid>``), so
the tests open connections until both workers have answered (the kernel spreads them), kill one
worker and watch it come back on the same port, and stop the parent with SIGTERM and see every
client told goodbye. The plain and the TLS port are both shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from ssl import SSLContext

import pytest
import redis as redis_py
import trustme

from app.server.workers import restart_delay
from tests.certs import client_context, issue
from tests.conftest import WireClient
from tests.redis_server import RedisServer, redis_server
from tests.test_cli import TIMEOUT, environment

NODE = re.compile(r"w([12])-(\d+)")
# Connections opened, at most, to find a worker: the kernel hashes each to one of two, so the
# chance that this many all miss one worker is 2**-63.
TRIES = 64
# Seconds a room message may take to reach a member on another worker before it counts as lost.
CROSSING = 5.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


class Deployment:
    """A running ``parley serve --workers 2`` and its log, read on a thread."""

    def __init__(self, cwd: Path, redis_url: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "parley", "serve", "--port", "0", "--workers", "2"),
                *("--db", "chat.db", "--msg-rate", "0", *args),
            ],
            cwd=cwd,
            env=environment(cwd, {"PARLEY_REDIS": redis_url}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        # Drained on a thread so that the processes never block on a full pipe.
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)

    async def wait_for(self, pattern: str) -> re.Match[str]:
        """The first log line from now on that matches ``pattern``."""
        found = None
        while found is None:
            line = await asyncio.to_thread(self._lines.get, timeout=TIMEOUT)
            self.log.append(line)
            found = re.search(pattern, line)
        return found

    async def port(self, kind: str = "") -> int:
        found = await self.wait_for(rf"listening {kind}on \S+:(\d+) with 2 workers")
        return int(found.group(1))

    def rest(self) -> list[str]:
        """Every line of the log, once the process has exited."""
        self._reader.join(TIMEOUT)
        while not self._lines.empty():
            self.log.append(self._lines.get())
        return self.log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
async def deployment(tmp_path: Path, redis: RedisServer) -> AsyncIterator[Deployment]:
    started = Deployment(tmp_path, redis.url)
    try:
        yield started
    finally:
        started.stop()


async def connect(port: int, nick: str, tls: SSLContext | None = None) -> tuple[WireClient, str]:
    """A registered client and the node that welcomed it."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("localhost" if tls else "127.0.0.1", port, ssl=tls), TIMEOUT
    )
    client = WireClient(reader, writer)
    welcome = await client.hello(nick)
    assert NODE.fullmatch(welcome["node"]), welcome
    return client, welcome["node"]


async def one_on_each(
    port: int, tls: SSLContext | None = None, want: str = "12", nicks: str = "user"
) -> dict[str, tuple[WireClient, str]]:
    """Clients opened until each worker whose index is in ``want`` serves one: by index, the
    first client of each and its node (the other clients are closed). Their nicks are ``nicks``
    and a number: a killed worker's stay taken for the nodes' lease."""
    found: dict[str, tuple[WireClient, str]] = {}
    for attempt in range(TRIES):
        client, node = await connect(port, f"{nicks}{attempt}", tls)
        index = node[1]
        if index in want and index not in found:
            found[index] = client, node
            if len(found) == len(want):
                return found
        else:
            await client.close()
    raise AssertionError(f"no welcome from every worker of {want} in {TRIES} tries: {found}")


async def close_all(clients: dict[str, tuple[WireClient, str]]) -> None:
    for client, _node in clients.values():
        await client.close()


async def test_both_workers_accept_on_the_shared_port(deployment: Deployment) -> None:
    """Connections to the one port are served by both workers, two processes other than the
    parent, each tagging its log lines with its node name."""
    port = await deployment.port()
    clients = await one_on_each(port)
    nodes = [node for _client, node in clients.values()]
    pids = {int(NODE.fullmatch(node).group(2)) for node in nodes}  # type: ignore[union-attr]
    assert len(pids) == 2 and deployment.process.pid not in pids
    for node in nodes:
        assert any(f"[{node}]: listening on" in line for line in deployment.log), node
    await close_all(clients)


async def test_a_killed_worker_is_restarted_and_the_port_keeps_accepting(
    deployment: Deployment,
) -> None:
    """kill -9 of a worker: the parent logs it, the port keeps answering meanwhile, and the
    worker is started again (another pid) on the same port, later each time it dies young."""
    port = await deployment.port()
    killed, node = (await one_on_each(port, want="1"))["1"]
    pid = node.split("-")[1]
    os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(ConnectionResetError):  # the kernel resets what the dead held
        assert await killed.closed() == []
    await killed.close()
    await deployment.wait_for(rf"worker 1 \(pid {pid}\) was killed by SIGKILL")
    # Worker 2 answers whatever reaches the port until worker 1 is back.
    for attempt in range(4):
        client, _other = await connect(port, f"meanwhile{attempt}")
        await client.close()
    await deployment.wait_for(r"\[w1-\d+\]: listening on")
    again, new_node = (await one_on_each(port, want="1", nicks="back"))["1"]
    assert new_node != node
    await again.close()
    # Dying again soon after its start, it waits longer: a crash loop does not spin.
    os.kill(int(new_node.split("-")[1]), signal.SIGKILL)
    await deployment.wait_for(r"worker 1 \(pid \d+\) was killed by SIGKILL .* again in 1\.0 s")
    await deployment.wait_for(r"\[w1-\d+\]: listening on")


def test_the_restart_delay_doubles_up_to_its_ceiling() -> None:
    """Each quick death in a row doubles the wait before the next start, up to 30 s."""
    delays = [restart_delay(deaths) for deaths in range(9)]
    assert delays == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_sigterm_tells_every_client_goodbye_and_exits_0(deployment: Deployment) -> None:
    """SIGTERM to the parent: the clients of both workers get bye server_shutdown, each worker
    exits 0, and so does the parent."""
    port = await deployment.port()
    clients = await one_on_each(port)
    deployment.process.send_signal(signal.SIGTERM)
    for client, _node in clients.values():
        frames = await client.closed()
        assert frames[-1]["type"] == "bye" and frames[-1]["reason"] == "server_shutdown", frames
    await close_all(clients)
    assert await asyncio.to_thread(deployment.process.wait, TIMEOUT) == 0
    log = "".join(await asyncio.to_thread(deployment.rest))
    for index in clients:
        assert re.search(rf"worker {index} \(pid \d+\) exited with status 0", log), log


async def test_the_tls_port_is_shared_too(tmp_path: Path, redis: RedisServer) -> None:
    """With a certificate, both workers also accept on the one TLS port."""
    pems = issue(trustme.CA(), tmp_path / "tls")
    deployment = Deployment(
        tmp_path,
        redis.url,
        *("--tls-port", "0", "--tls-cert", str(pems.cert), "--tls-key", str(pems.key)),
    )
    try:
        port = await deployment.port("for TLS ")
        await close_all(await one_on_each(port, client_context(pems.ca)))
    finally:
        deployment.stop()


async def test_the_redis_password_is_in_no_log_line(tmp_path: Path, redis: RedisServer) -> None:
    """A Redis that wants a password: the deployment starts with the one in the URL, and the
    log of the parent and of both workers shows it masked, never in clear."""
    with redis_py.Redis(port=redis.port) as admin:
        admin.config_set("requirepass", "hunter2-secret")
    url = f"redis://:hunter2-secret@127.0.0.1:{redis.port}/0"
    deployment = Deployment(tmp_path, url)
    try:
        await deployment.port()
        deployment.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(deployment.process.wait, TIMEOUT) == 0
        log = "".join(await asyncio.to_thread(deployment.rest))
        assert "hunter2" not in log
        assert f"nodes of redis://:***@127.0.0.1:{redis.port}/0" in log
    finally:
        deployment.stop()


async def test_two_clients_on_different_workers_chat(deployment: Deployment) -> None:
    """A message said on one worker reaches a member of the room on the other."""
    port = await deployment.port()
    clients = await one_on_each(port)
    try:
        (alice, _), (bob, _) = clients["1"], clients["2"]
        await alice.join("#both")
        await bob.join("#both")
        await alice.send(type="say", room="#both", text="across")
        frame = await bob.recv(timeout=CROSSING)
        while frame["type"] != "message":
            frame = await bob.recv(timeout=CROSSING)
        assert frame["text"] == "across", frame
    finally:
        await close_all(clients)
