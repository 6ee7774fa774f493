"""How fast ``search`` answers over a real server on a history of 100,000 messages.

The benchmark writes a history through the store itself (``SQLiteHistory.append`` in batches, as
the server's group commit does), so the FTS5 index is filled by its triggers exactly as in
production, and times that fill against the same fill with the index's triggers dropped: what
indexing costs every message. It then starts a real ``parley serve`` on the file
(``benchmarks.driver.Target``), connects one client over loopback, joins every room and sends
searches one at a time, timing each from the write of the ``search`` to the read of its
``search_results`` (p50, p99 and the worst, and the hits of the first page), for a few kinds of
query: a rare word, a word in 1% of the messages, a word in 4 of 10, a phrase, a prefix, a word
that is nowhere, one room only, and a page deep in the history (``before``). Then it times a
line of chat (``say`` to its echo) alone and while another client searches back to back (on
SQLite a word in 4 of 10 messages, on Redis a word that is nowhere, so that each search reads
its 20,000 messages): what searches cost everyone else. With ``--redis URL`` (an empty database
of a Redis you run: the benchmark writes ``parley:*`` keys and leaves them) it does the same on
the Redis store, whose search is a capped scan rather than an index.

The messages are words drawn from a fixed vocabulary with a fixed seed, 5 to 15 per message,
spread over ``--rooms`` rooms; the words searched for are planted at known rates. Run
``python -m benchmarks.search`` in a source checkout (``--messages 20000`` for a quick look;
``--json FILE`` keeps the numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.store import History, SQLiteHistory, StoredMessage
from benchmarks.driver import Target

TS0 = 1_795_000_000_000
BATCH = 2000
_WORDS = (
    "the a to and of is in it that for on with this we was be at are have but not you"
    " i so if do can just what when will all there one about up out now get like"
    " server client room message build test merge branch review ship green red blue"
    " lunch coffee meeting monday friday later today tomorrow bug issue ticket log"
)
_VOCABULARY = _WORDS.split()
# (query, room or None, what it is): the kinds of search timed.
QUERIES: tuple[tuple[str, str | None, str], ...] = (
    ("needle", None, "rare word (10 hits in all)"),
    ("deploy", None, "word in 1% of messages"),
    ("the", None, "word in ~40% of messages"),
    ('"build failed"', None, "phrase (0.5%)"),
    ("depl*", None, "prefix (1%)"),
    ("zzyzx", None, "word that is nowhere"),
    ("deploy", "#r0", "word in 1%, one room of 20"),
    ("the", "deep", "word in ~40%, page from mid-history"),
)


def texts(count: int, seed: int = 15) -> list[str]:
    """``count`` message texts; "needle" in 10 of them, "deploy" in 1%, "build failed" in 0.5%."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(_VOCABULARY))]
    needles = set(rng.sample(range(count), 10))
    out = []
    for n in range(count):
        words = rng.choices(_VOCABULARY, weights, k=rng.randint(5, 15))
        if n in needles:
            words.insert(rng.randrange(len(words)), "needle")
        if rng.random() < 0.01:
            words.insert(rng.randrange(len(words)), "deploy")
        if rng.random() < 0.005:
            words[rng.randrange(len(words)) :] = ["build", "failed"]
        out.append(" ".join(words))
    return out


async def fill(history: History, rooms: int, corpus: Sequence[str]) -> float:
    """Append ``corpus`` through ``history`` in batches; messages written per second."""
    history.open()
    started = time.perf_counter()
    for start in range(0, len(corpus), BATCH):
        batch = [
            StoredMessage(n + 1, TS0 + n * 1000, f"#r{n % rooms}", f"user{n % 37}", text, False)
            for n, text in enumerate(corpus[start : start + BATCH], start)
        ]
        await appended(history, batch)
    elapsed = time.perf_counter() - started
    await history.close()
    return len(corpus) / elapsed


async def appended(history: History, batch: Sequence[StoredMessage]) -> None:
    """Append ``batch`` and wait until it is committed."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def refused(_messages: Sequence[StoredMessage], reason: str) -> None:
        done.set_exception(RuntimeError(reason))

    history.append(batch, lambda _messages: done.set_result(None), refused)
    await done


def drop_index_triggers(path: Path) -> None:
    """The same file without the triggers that feed the index: a fill then costs what it did
    before search."""
    history = SQLiteHistory(str(path))
    asyncio.run(_open_and_close(history))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for trigger in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER messages_fts_{trigger}")


async def _open_and_close(history: History) -> None:
    history.open()
    await history.close()


async def measure(port: int, rooms: int, messages: int, repeat: int) -> list[dict[str, Any]]:
    """Time ``repeat`` searches of each kind of ``QUERIES`` over one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)

    async def ask(frame: dict[str, Any]) -> dict[str, Any]:
        writer.write(json.dumps(frame).encode() + b"\n")
        while True:
            reply = json.loads(await reader.readline())
            if reply.get("ref") == frame.get("ref") and reply["type"] != "message":
                return dict(reply)

    await ask({"type": "hello", "nick": "bench", "proto": 1})
    for n in range(rooms):
        writer.write(json.dumps({"type": "join", "room": f"#r{n}"}).encode() + b"\n")
    await ask({"type": "ping", "id": "joined", "ref": "joined"})
    results = []
    for query, room, kind in QUERIES:
        frame: dict[str, Any] = {"type": "search", "query": query, "ref": 1}
        if room == "deep":
            frame["before"] = messages // 2
        elif room is not None:
            frame["room"] = room
        timings = []
        reply: dict[str, Any] = {}
        for _ in range(repeat):
            started = time.perf_counter_ns()
            reply = await ask(frame)
            timings.append((time.perf_counter_ns() - started) / 1e6)
            assert reply["type"] == "search_results", reply
        timings.sort()
        results.append(
            {
                "kind": kind,
                "query": query,
                "hits": len(reply["results"]),
                "more": reply["more"],
                "p50_ms": round(statistics.median(timings), 3),
                "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
                "max_ms": round(timings[-1], 3),
            }
        )
    writer.close()
    return results


async def chat_beside_searches(port: int, rooms: int, says: int, query: str) -> dict[str, Any]:
    """Echo latency of a line of chat (``say`` to its echo) alone, then while another client
    searches for ``query`` back to back: what a search costs everyone else."""

    async def client(nick: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        writer.write(json.dumps({"type": "hello", "nick": nick, "proto": 1}).encode() + b"\n")
        await reader.readline()
        for n in range(rooms):
            writer.write(json.dumps({"type": "join", "room": f"#r{n}"}).encode() + b"\n")
        writer.write(b'{"type":"ping","id":"joined"}\n')
        while b'"pong"' not in await reader.readline():
            pass
        return reader, writer

    async def talk() -> list[float]:
        reader, writer = await client("talker")
        timings = []
        for n in range(says):
            started = time.perf_counter_ns()
            frame = {"type": "say", "room": "#r0", "text": f"chat {n}", "nonce": str(n)}
            writer.write(json.dumps(frame).encode() + b"\n")
            while f'"nonce":"{n}"'.encode() not in await reader.readline():
                pass
            timings.append((time.perf_counter_ns() - started) / 1e6)
        writer.close()
        return sorted(timings)

    async def search_until(stop: asyncio.Event) -> int:
        reader, writer = await client("searcher")
        frame = json.dumps({"type": "search", "query": query, "ref": 1}).encode() + b"\n"
        done = 0
        while not stop.is_set():
            writer.write(frame)
            while b'"search_results"' not in await reader.readline():
                pass
            done += 1
        writer.close()
        return done

    alone = await talk()
    stop = asyncio.Event()
    searching = asyncio.create_task(search_until(stop))
    beside = await talk()
    stop.set()
    searches = await searching

    def summary(timings: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(statistics.median(timings), 3),
            "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
        }

    return {
        "query": query,
        "alone": summary(alone),
        "beside": summary(beside),
        "searches": searches,
    }


def serve(db: Path | None, redis: str | None) -> Target:
    argv = [sys.executable, "-m", "parley", "serve", "--port", "0", "--msg-rate", "0"]
    argv += ["--log-level", "warning"]
    argv += ["--redis", redis] if redis is not None else ["--db", str(db)]
    return Target("parley", argv, db)


def run_store(
    label: str, target: Target, args: argparse.Namespace, worst: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    try:
        results = asyncio.run(measure(target.port, args.rooms, args.messages, args.repeat))
        chat = asyncio.run(chat_beside_searches(target.port, args.rooms, args.repeat, worst))
    finally:
        target.stop()
    print(
        f"\n{label}: {args.messages:,} messages in {args.rooms} rooms, {args.repeat} searches each"
    )
    print(f"{'kind':<40} {'hits':>5} {'more':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for row in results:
        print(
            f"{row['kind']:<40} {row['hits']:>5} {row['more']!s:>5} {row['p50_ms']:>8.2f}"
            f" {row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}"
        )
    print(
        f"a line of chat, say to echo: p50 {chat['alone']['p50_ms']:.2f} ms, p99"
        f" {chat['alone']['p99_ms']:.2f} ms alone; p50 {chat['beside']['p50_ms']:.2f} ms, p99"
        f" {chat['beside']['p99_ms']:.2f} ms while another client searched for"
        f" {chat['query']!r} back to back ({chat['searches']} searches)"
    )
    return results, chat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200, help="searches timed per kind")
    parser.add_argument("--redis", metavar="URL", help="also measure the Redis store there")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    args = parser.parse_args(argv)
    corpus = texts(args.messages)
    report: dict[str, Any] = {"messages": args.messages, "rooms": args.rooms}
    with tempfile.TemporaryDirectory(prefix="parley-search-") as folder:
        plain = Path(folder) / "unindexed.db"
        drop_index_triggers(plain)
        unindexed = asyncio.run(fill(SQLiteHistory(str(plain)), args.rooms, corpus))
        db = Path(folder) / "history.db"
        indexed = asyncio.run(fill(SQLiteHistory(str(db)), args.rooms, corpus))
        report["fill_per_s"] = {"indexed": round(indexed), "unindexed": round(unindexed)}
        report["file_mib"] = {
            "indexed": round(db.stat().st_size / 2**20, 1),
            "unindexed": round(plain.stat().st_size / 2**20, 1),
        }
        print(
            f"fill through the store: {indexed:,.0f} messages/s with the index,"
            f" {unindexed:,.0f}/s without; file {report['file_mib']['indexed']} MiB"
            f" ({report['file_mib']['unindexed']} MiB without)"
        )
        report["sqlite"], report["sqlite_chat"] = run_store(
            "SQLite (FTS5)", serve(db, None), args, "the"
        )
    if args.redis is not None:
        from app.store import RedisHistory

        asyncio.run(fill(RedisHistory(args.redis), args.rooms, corpus))
        report["redis"], report["redis_chat"] = run_store(
            "Redis (scan, cap 20,000)", serve(None, args.redis), args, "zzyzx"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
