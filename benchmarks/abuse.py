"""What abuse costs the server in memory: the probes of the resource-bounds issue, measured.

Each probe starts a real ``parley serve`` (``benchmarks.driver.Target``) on a fresh SQLite file,
does what an attacker or an unlucky operator would over loopback, and reads the server's resident
memory (``VmRSS``) from outside. Memory belongs here rather than in a unit test: it depends on the
allocator and the machine, and a number is only meaningful beside the others of the same run.

- ``rooms``: 16 connections each join many rooms, then everyone quits; with the room limits off
  (the worst an operator can configure) and with the defaults.
- ``topics``: a history holding 8,000 rooms with 4,000-character topics; the server's memory once it
  listens, before any client (it reads no room until one is joined).
- ``listing``: 8 connections each pipeline 5 ``rooms`` requests for 2,000 rooms with long topics
  and read slowly; the reply lines are bounded, so the server's memory stays small.

Run ``python -m benchmarks.abuse`` (``--quick`` for a tenth of the joins) in a source checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from benchmarks.driver import Target

MIB = 1 << 20
NO_ROOM_LIMITS = ["--max-rooms", "0", "--max-rooms-per-conn", "0", "--new-rooms-per-min", "0"]


def start(db: Path, *flags: str) -> Target:
    argv = [sys.executable, "-m", "parley", "serve", "--port", "0", "--db", str(db)]
    argv += ["--msg-rate", "0", "--max-conns-per-ip", "0", "--log-level", "warning", *flags]
    return Target("parley", argv, db)


async def client(port: int, nick: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(json.dumps({"type": "hello", "nick": nick, "proto": 1}).encode() + b"\n")
    await reader.readline()
    return reader, writer


async def settle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send a ping and read until its pong: everything asked before it has been answered."""
    writer.write(b'{"type":"ping","id":"settle"}\n')
    while b'"pong"' not in await reader.readline():
        pass


async def join_rooms(port: int, connections: int, rooms: int) -> None:
    async def one(n: int) -> None:
        reader, writer = await client(port, f"c{n}")
        for r in range(rooms):
            writer.write(b'{"type":"join","room":"#r%d-%d"}\n' % (n, r))
            if r % 500 == 499:
                await settle(reader, writer)
        await settle(reader, writer)
        writer.write(b'{"type":"quit"}\n')
        await reader.read()
        writer.close()

    await asyncio.gather(*(one(n) for n in range(connections)))


def probe_rooms(workdir: Path, joins: int, flags: Sequence[str], label: str) -> dict[str, Any]:
    server = start(workdir / f"rooms-{label}.db", *flags)
    try:
        before = server.rss()
        asyncio.run(join_rooms(server.port, 16, joins))
        time.sleep(0.5)
        after = server.rss()
        asyncio.run(join_rooms(server.port, 16, joins))
        time.sleep(0.5)
        again = server.rss()
    finally:
        server.stop()
    return {
        "probe": f"16 x {joins:,} joins, then quit ({label})",
        "start MiB": before / MIB,
        "after MiB": after / MIB,
        "after a second round MiB": again / MIB,
    }


def probe_topics(workdir: Path, rooms: int) -> dict[str, Any]:
    db = workdir / "topics.db"
    start(db).stop()  # makes the schema
    with closing(sqlite3.connect(db)) as conn:
        conn.executemany(
            "INSERT INTO rooms VALUES (?, ?, 'op')", ((f"#t{n}", "t" * 4000) for n in range(rooms))
        )
        conn.commit()
    empty = start(workdir / "empty.db")
    full = start(db)
    try:
        return {
            "probe": f"start on {rooms:,} rooms x 4,000-character topics",
            "start MiB": empty.rss() / MIB,
            "after MiB": full.rss() / MIB,
            "after a second round MiB": float("nan"),
        }
    finally:
        empty.stop()
        full.stop()


async def listing(port: int, rooms: int) -> tuple[int, int]:
    """One client holds ``rooms`` rooms with long topics; 8 others pipeline 5 ``rooms`` each and
    read slowly. The longest reply line seen, and how many lines were read."""
    reader, writer = await client(port, "owner")
    for r in range(rooms):
        writer.write(b'{"type":"join","room":"#l%d"}\n' % r)
        writer.write(b'{"type":"topic","room":"#l%d","topic":"%s"}\n' % (r, b"t" * 4000))
        if r % 200 == 199:
            await settle(reader, writer)
    await settle(reader, writer)

    async def greedy(n: int) -> tuple[int, int]:
        r, w = await client(port, f"g{n}")
        w.write(b'{"type":"rooms"}\n' * 5)
        longest = lines = 0
        for _ in range(5):
            await asyncio.sleep(0.05)
            line = await r.readline()
            longest, lines = max(longest, len(line)), lines + 1
        w.close()
        return longest, lines

    results = await asyncio.gather(*(greedy(n) for n in range(8)))
    writer.close()
    return max(r[0] for r in results), sum(r[1] for r in results)


def probe_listing(workdir: Path, rooms: int) -> dict[str, Any]:
    server = start(workdir / "listing.db", *NO_ROOM_LIMITS)
    try:
        before = server.rss()
        longest, _ = asyncio.run(listing(server.port, rooms))
        after = server.rss()
    finally:
        server.stop()
    return {
        "probe": f"8 x 5 pipelined rooms over {rooms:,} long topics (longest line {longest:,} B)",
        "start MiB": before / MIB,
        "after MiB": after / MIB,
        "after a second round MiB": float("nan"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [v if isinstance(v, str) else ("-" if v != v else f"{v:.1f}") for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the joins and rooms")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="parley-abuse-") as tmp:
        workdir = Path(tmp)
        rows = [
            probe_rooms(workdir, 6250 // scale, NO_ROOM_LIMITS, "room limits off"),
            probe_rooms(workdir, 6250 // scale, [], "default limits"),
            probe_topics(workdir, 8000 // scale),
            probe_listing(workdir, 2000 // scale),
        ]
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
