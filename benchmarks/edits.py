"""What an edit costs: the round trip of ``edit`` beside that of ``say``, on a large history.

An edit reads its message, writes the new text in place and tells the room; a ``say`` only appends.
The read is of the room the ``edit`` names, or else by id alone (``History.find_message``): on
SQLite a primary-key lookup, on Redis, where an id does not say its room, a question to every room
that holds messages in one pipeline, whose cost grows with their number. This benchmark fills a
history with ``--rooms`` rooms of ``--messages`` messages each (SQLite: a fresh file; Redis:
``--redis URL``, whose database it empties first), starts a real ``parley serve`` on it, and has one
client in a room with a second member say a line and then edit it twice, once naming its room (as
Parley's clients do: the server then reads that room alone) and once by id alone, ``--rounds``
times, timing each from the frame sent to the sender's own echo (``message``, ``edited``). It prints
the median, 90th and 99th percentiles in milliseconds. Timing goals live here, never in a unit test.

Run ``python -m benchmarks.edits`` (``--redis redis://127.0.0.1:6379/15`` for the Redis store) in
a source checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.store import History, SQLiteHistory, StoredMessage
from benchmarks.driver import Target

_BATCH = 5000  # messages appended per store call while filling


async def fill(history: History, rooms: int, messages: int) -> None:
    """``rooms`` rooms of ``messages`` messages each, ids from 1, in batches."""
    history.open()
    loop = asyncio.get_running_loop()
    now = time.time_ns() // 1_000_000 - 3_600_000
    batch: list[StoredMessage] = []
    id = 0
    for n in range(messages):
        for room in range(rooms):
            id += 1
            batch.append(StoredMessage(id, now + id, f"#r{room}", "filler", f"line {n}", False))
            if len(batch) == _BATCH:
                await _append(loop, history, batch)
                batch = []
    if batch:
        await _append(loop, history, batch)
    await history.close()


async def _append(
    loop: asyncio.AbstractEventLoop, history: History, batch: list[StoredMessage]
) -> None:
    done: asyncio.Future[None] = loop.create_future()
    history.append(
        batch, lambda _: done.set_result(None), lambda _m, why: done.set_exception(OSError(why))
    )
    await done


class Client:
    """One raw connection: JSON frames in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, nick: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        client = cls(reader, writer)
        client.send(type="hello", nick=nick, proto=1)
        await client.until("welcome")
        return client

    def send(self, **frame: Any) -> None:
        self.writer.write(json.dumps(frame).encode() + b"\n")

    async def until(self, kind: str, ref: object = None) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.reader.readline(), 30))
            if frame["type"] == kind and (ref is None or frame.get("ref") == ref):
                return frame
            if frame["type"] == "error":
                raise RuntimeError(f"the server refused: {frame}")


async def rounds(port: int, count: int) -> dict[str, list[float]]:
    """Milliseconds of each round trip: ``say``, ``edit`` naming the room (as Parley's clients
    send it) and ``edit`` of the id alone."""
    author, member = await Client.open(port, "author"), await Client.open(port, "member")
    for client in (author, member):
        client.send(type="join", room="#r0")
        await client.until("history")
    times: dict[str, list[float]] = {"say": [], "edit {room}": [], "edit {id}": []}
    for n in range(count):
        start = time.perf_counter()
        author.send(type="say", room="#r0", text=f"draft {n}", ref=f"s{n}")
        said = await author.until("message", f"s{n}")
        times["say"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        author.send(type="edit", id=said["id"], text=f"edit {n}", room="#r0", ref=f"e{n}")
        await author.until("edited", f"e{n}")
        times["edit {room}"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        author.send(type="edit", id=said["id"], text=f"final {n}", ref=f"f{n}")
        await author.until("edited", f"f{n}")
        times["edit {id}"].append((time.perf_counter() - start) * 1000)
    for client in (author, member):
        client.writer.close()
    return times


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return f"p50 {at(0.5):7.2f}  p90 {at(0.9):7.2f}  p99 {at(0.99):7.2f} ms"


async def run(args: argparse.Namespace, workdir: Path) -> None:
    db = workdir / "edits.db"
    argv = [sys.executable, "-m", "parley", "serve", "--port", "0", "--msg-rate", "0"]
    argv += ["--db", str(db), "--log-level", "warning"]
    env = None
    if args.redis:
        import redis

        from app.store import RedisHistory

        with redis.Redis.from_url(args.redis) as admin:
            admin.flushdb()
        history: History = RedisHistory(args.redis)
        env = dict(os.environ, PARLEY_REDIS=args.redis)
    else:
        history = SQLiteHistory(str(db))
    started = time.perf_counter()
    await fill(history, args.rooms, args.messages)
    total = args.rooms * args.messages
    print(f"filled {total} messages in {args.rooms} rooms in {time.perf_counter() - started:.1f} s")
    target = Target("parley", argv, db, env=env)
    try:
        times = await rounds(target.port, args.rounds)
    finally:
        target.stop()
    store = "redis" if args.redis else "sqlite"
    print(f"{store}, {args.rounds} rounds:")
    for name, values in times.items():
        print(f"  {name:<12} {percentiles(values)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edits", description=__doc__)
    parser.add_argument("--rooms", type=int, default=1000, help="rooms holding messages")
    parser.add_argument("--messages", type=int, default=100, help="messages per room")
    parser.add_argument("--rounds", type=int, default=500, help="say-then-edit rounds timed")
    parser.add_argument("--redis", help="a Redis URL: measure the Redis store (emptied first)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="parley-edits-") as workdir:
        asyncio.run(run(args, Path(workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
