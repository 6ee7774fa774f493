"""Chat latency during a burst of password sign-ins, against a real ``parley serve``.

This module owns one measurement the accounts issue asks for: whether argon2id hashing, which
runs on the server's worker threads, stalls the event loop that carries the chat. It starts
``parley serve`` as a subprocess (``driver.start_parley``: flood control off, a fresh SQLite
file), registers ``--accounts`` accounts, then runs the same chat twice: a sender says one line
every ``--interval-ms`` in ``#bench`` and a receiver times each line from send to arrival (one
process, one clock). The first run is chat alone; in the second, after a short warm-up, every
account signs in with its password at once. It prints the chat's p50/p99/max in both runs and
how long the sign-ins took. Not a test: the numbers depend on the machine and its load.
Run it with ``python -m benchmarks.logins``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.driver import start_parley

PASSWORD = "correct horse battery"


class Peer:
    """A raw protocol client: JSON lines over a loopback socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, source: str | None = None) -> Peer:
        local = (source, 0) if source is not None else None
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, limit=1 << 24, local_addr=local
        )
        return cls(reader, writer)

    def send(self, **frame: Any) -> None:
        self.writer.write(json.dumps(frame).encode() + b"\n")

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            frame: dict[str, Any] = json.loads(line)
            if frame["type"] == kind:
                return frame
            if frame["type"] == "error":
                raise RuntimeError(f"refused: {frame}")

    async def hello(self, nick: str, password: str | None = None) -> None:
        extra = {"password": password} if password else {}
        self.send(type="hello", nick=nick, proto=1, **extra)
        await self.until("welcome")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def register(port: int, count: int) -> None:
    for n in range(count):
        peer = await Peer.open(port)
        await peer.hello(f"user{n}")
        peer.send(type="register", password=PASSWORD)
        await peer.until("account")
        await peer.close()


async def sign_in(port: int, n: int) -> float:
    """Sign in to account ``n`` with its password; the seconds it took.

    Each sign-in comes from an address of its own (127.0.1.n), as 50 people would: from one
    address the server checks at most 8 passwords at once and asks the others to come back.
    """
    began = time.perf_counter()
    peer = await Peer.open(port, f"127.0.{1 + n // 250}.{1 + n % 250}")
    nick = f"user{n}"
    await peer.hello(nick, PASSWORD)
    took = time.perf_counter() - began
    await peer.close()
    return took


async def chat(port: int, seconds: float, interval: float, burst: int, tag: str) -> dict[str, Any]:
    """Chat for ``seconds``; with ``burst``, that many sign-ins start after a quarter of it."""
    sender, receiver = await Peer.open(port), await Peer.open(port)
    await sender.hello(f"s{tag}")
    await receiver.hello(f"r{tag}")
    for peer in (sender, receiver):
        peer.send(type="join", room="#bench")
        await peer.until("history")
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def receive() -> None:
        while True:
            frame = await receiver.until("message")
            at = sent.get(frame["text"])
            if at is not None:
                latencies.append((time.perf_counter() - at) * 1000)

    async def speak() -> None:
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            text = f"{tag}-{n}"
            sent[text] = time.perf_counter()
            sender.send(type="say", room="#bench", text=text)
            n += 1
            await asyncio.sleep(interval)

    async def logins() -> list[float]:
        await asyncio.sleep(seconds / 4)
        return await asyncio.gather(*(sign_in(port, n) for n in range(burst)))

    listener = asyncio.create_task(receive())
    taken = await asyncio.gather(speak(), logins())
    deadline = time.perf_counter() + 30
    while len(latencies) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    listener.cancel()
    await sender.close()
    await receiver.close()
    ordered = sorted(latencies)
    return {
        "messages": len(ordered),
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": ordered[-1],
        "logins_s": sorted(taken[1]),
    }


def show(name: str, run: dict[str, Any]) -> None:
    line = (
        f"{name:<22} {run['messages']:>5} lines  p50 {run['p50_ms']:6.2f} ms  "
        f"p99 {run['p99_ms']:6.2f} ms  max {run['max_ms']:7.2f} ms"
    )
    if run["logins_s"]:
        logins = run["logins_s"]
        line += f"  | {len(logins)} sign-ins: last done after {logins[-1] * 1000:.0f} ms"
    print(line)


async def measure(port: int, args: argparse.Namespace) -> None:
    await register(port, args.accounts)
    interval = args.interval_ms / 1000
    for round_ in range(args.rounds):
        quiet = await chat(port, args.seconds, interval, 0, f"q{round_}")
        busy = await chat(port, args.seconds, interval, args.accounts, f"b{round_}")
        show("chat alone", quiet)
        show(f"chat + {args.accounts} sign-ins", busy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50, help="sign-ins in the burst")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each chat run")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="time between lines")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-logins-") as folder:
        target = start_parley(Path(folder))
        try:
            asyncio.run(measure(target.port, args))
        finally:
            target.stop()


if __name__ == "__main__":
    main()
