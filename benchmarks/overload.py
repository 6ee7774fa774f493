"""``parley bench --overload``: Parley offered 1.5x the rate it sustains, and what happens then.

One Parley server (SQLite) with N clients in one room, driven by the load generators as in
every step of ``driver``, runs four phases back to back: the sustained rate S (the one rate of
``--rates``) for a few seconds, then 1.5 x S for ``--duration`` seconds (10 unless told), then
S again and S / 2, to see whether it recovers as soon as the load falls. Meanwhile, from this
process:

- two **idle clients** send a ``ping`` every ``PING_EVERY`` seconds and time the ``pong``: one in
  no room (the event loop's responsiveness) and one in the busy room, which reads every message
  there before it finds its ``pong`` (a ``pong`` is sent only after everything before it in the
  store's order, so it waits for the fan-outs in front of it). A ``pong`` not back within
  ``PING_BOUND`` (1 s) is a miss;
- a few **stalled clients** join the room and then never read again, as a client on a dead link
  does: the server should drop them (``slow_consumer``) once a quarter of ``--sendq`` has stayed
  unread for ``--sendq-timeout`` seconds or ``--sendq`` is reached, and drop nobody else;
- the server's **RSS** is read from ``/proc`` every ``RSS_EVERY`` seconds.

Each phase is reported like a step of the sweep (delivered rate, latency, lost messages and lost
connections of the reading clients) with the pings, the RSS and the stalled clients' fate.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import driver, procstat

log = logging.getLogger("parley.bench")

OVERLOAD = 1.5
PING_EVERY = 0.1
PING_BOUND = 1.0
RSS_EVERY = 0.25
STALLED = 4
QUIET_S = 0.5  # a stalled client still connected: nothing more comes for this long
STALLED_RCVBUF = 4096  # a dead link's receiver takes little before the server has to hold it
SETTLE_S = 3.0  # seconds of each phase around the overload


class Pinger(threading.Thread):
    """An idle client that pings now and then and times each ``pong``."""

    def __init__(self, port: int, nick: str, room: str | None) -> None:
        super().__init__(name=f"pinger-{nick}", daemon=True)
        self.sock = _registered(port, nick, room)
        self.sock.settimeout(PING_BOUND)
        self.rtts: list[tuple[float, float | None]] = []  # (sent, round trip s or None: missed)
        self.stop = threading.Event()
        self.error: str | None = None  # why it stopped early (the server dropped it)
        self._buffer = b""

    def run(self) -> None:
        number = 0
        try:
            while not self.stop.is_set():
                number += 1
                sent = time.monotonic()
                self.sock.sendall(b'{"type":"ping","id":%d}\n' % number)
                self.rtts.append((sent, self._pong(number, sent)))
                self.stop.wait(max(0.0, sent + PING_EVERY - time.monotonic()))
        except OSError as exc:
            if not self.stop.is_set():
                self.error = f"{type(exc).__name__}: {exc}"

    def _pong(self, number: int, sent: float) -> float | None:
        """Read until the ``pong`` of ``number``: its round trip, or None after PING_BOUND."""
        marker = b'"id":%d' % number
        while True:
            for line in self._lines():
                if b'"type":"pong"' in line and marker in line:
                    return time.monotonic() - sent
            if time.monotonic() - sent > PING_BOUND:
                return None

    def _lines(self) -> list[bytes]:
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return []
        if not data:
            raise ConnectionError("the server closed the connection")
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        return lines

    def close(self) -> None:
        self.stop.set()
        self.join(PING_BOUND * 3)
        self.sock.close()


class RssSampler(threading.Thread):
    """The server's resident memory every RSS_EVERY seconds."""

    def __init__(self, target: driver.Target) -> None:
        super().__init__(name="rss", daemon=True)
        self.target = target
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(RSS_EVERY):
            if self.target.alive():
                self.samples.append((time.monotonic(), self.target.rss()))


def _registered(port: int, nick: str, room: str | None, rcvbuf: int = 0) -> socket.socket:
    """A blocking connection that said ``hello`` and, with ``room``, joined it; ``rcvbuf``
    shrinks its receive buffer (before connecting, so that the window it offers is small)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    frames = [b'{"type":"hello","nick":"%s","proto":1}\n' % nick.encode()]
    if room is not None:
        frames.append(b'{"type":"join","room":"%s"}\n' % room.encode())
    frames.append(b'{"type":"ping","id":"ready"}\n')
    sock.sendall(b"".join(frames))
    seen = b""
    while b'"id":"ready"' not in seen:
        data = sock.recv(1 << 16)
        if not data:
            raise ConnectionError(f"{nick} was refused: {seen[-300:]!r}")
        seen = seen[-4096:] + data
    return sock


def stalled_fate(socks: list[socket.socket]) -> list[dict[str, Any]]:
    """For each stalled client: whether the server had closed it, and how much it had left
    unread (read now to the end, or until nothing more comes for ``QUIET_S``)."""
    fates = []
    for sock in socks:
        sock.settimeout(QUIET_S)
        unread, closed = 0, False
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            unread += len(data)
        fates.append({"dropped": closed, "unread_bytes": unread})
        sock.close()
    return fates


def _pings(rtts: list[tuple[float, float | None]], since: float, until: float) -> dict[str, Any]:
    inside = [rtt for sent, rtt in rtts if since <= sent < until]
    answered = sorted(r for r in inside if r is not None)
    if not answered:
        return {"pings": len(inside), "missed": len(inside)}
    return {
        "pings": len(inside),
        "missed": len(inside) - len(answered),
        "p50_ms": 1e3 * statistics.median(answered),
        "p99_ms": 1e3 * answered[min(len(answered) - 1, int(0.99 * len(answered)))],
        "max_ms": 1e3 * answered[-1],
    }


def overload(
    clients: int,
    rate: float,
    settings: driver.Settings,
    workdir: Path,
    settle: float = SETTLE_S,
    sendq_timeout: float | None = None,
) -> dict[str, Any]:
    """The four phases around 1.5 x ``rate`` for ``settings.duration`` seconds, measured;
    the phases before and after last ``settle`` seconds each. ``sendq_timeout`` is the server's
    ``--sendq-timeout`` (its default, 30 s, is longer than most overloads measured)."""
    flags = () if sendq_timeout is None else ("--sendq-timeout", f"{sendq_timeout:g}")
    target = driver.start_parley(workdir, breakdown=settings.breakdown, flags=flags)
    run = driver.new_run("parley", clients, settings)
    generators = None
    pingers: list[Pinger] = []
    stalled: list[socket.socket] = []
    rss = RssSampler(target)
    phases: list[dict[str, Any]] = []
    try:
        generators = driver.connect(target, run, settings)
        pingers = [
            Pinger(target.port, "idle-lobby", None),
            Pinger(target.port, "idle-room", "#bench"),
        ]
        stalled = [
            _registered(target.port, f"stalled{i}", "#bench", STALLED_RCVBUF)
            for i in range(STALLED)
        ]
        rss.start()
        for pinger in pingers:
            pinger.start()
        short = replace(settings, duration=settle)
        plan = [("before", rate, short), ("overload", OVERLOAD * rate, settings)]
        plan += [("after", rate, short), ("after, half", rate / 2, short)]
        for name, offered, phase_settings in plan:
            began = time.monotonic()
            step = driver.run_step(
                target, generators, clients, driver.sender_ids(run), offered, phase_settings
            )
            ended = time.monotonic()
            driver.log_step(f"parley ({name})", clients, step)
            rss_inside = [b for t, b in rss.samples if began <= t <= ended]
            phases.append(
                {
                    "phase": name,
                    "step": step,
                    "seconds": ended - began,
                    "pings": {p.name[7:]: _pings(p.rtts, began, ended) for p in pingers},
                    "rss_max": max(rss_inside, default=None),
                    "rss_end": rss_inside[-1] if rss_inside else None,
                }
            )
            if name == "overload":
                phases[-1]["stalled"] = stalled_fate(stalled)
                stalled = []
    finally:
        rss.stop.set()
        for pinger in pingers:
            pinger.close()
        for sock in stalled:
            sock.close()
        if generators is not None:
            generators.close()
        target.stop()
        driver.remove_db(target)
    start = rss.samples[0][0] if rss.samples else 0.0
    errors = {p.name[7:]: p.error for p in pingers if p.error is not None}
    return {
        "sendq_timeout": sendq_timeout,
        "pinger_errors": errors,
        "clients": clients,
        "sustained_rate": rate,
        "overload_rate": OVERLOAD * rate,
        "setup_s": run.get("setup_s"),
        "rss_idle": run.get("rss_idle"),
        "phases": phases,
        "rss": [(round(t - start, 2), b) for t, b in rss.samples],
    }


def markdown(results: dict[str, Any]) -> str:
    """The overload run as Markdown: a row per phase, then the stalled clients and memory."""
    n, rate = results["clients"], results["sustained_rate"]
    lines = [f"# Overload: N = {n:,} in one room, 1.5 x {rate:,.0f} deliveries/s", ""]
    if results.get("sendq_timeout") is not None:
        lines += [f"The server ran with --sendq-timeout {results['sendq_timeout']:g}.", ""]
    m = results["machine"]
    lines += [f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['event_loop']}", ""]
    lines += [
        "| phase | offered/s | delivered/s | p50 / p99 / max ms | lost | reading clients dropped "
        "| idle ping p50 / max ms (missed) | in-room ping p50 / max ms (missed) "
        "| server RSS max MiB | server cores | gen. cores | other cores |",
        "|---" * 12 + "|",
    ]
    for phase in results["phases"]:
        s = phase["step"]
        pings = [_ping_cell(phase["pings"][who]) for who in ("idle-lobby", "idle-room")]
        lines.append(
            f"| {phase['phase']} | {s['offered_per_s']:,.0f} | {s['delivered_per_s']:,.0f} "
            f"| {_ms(s['p50_ms'])} / {_ms(s['p99_ms'])} / {_ms(s['max_ms'])} | {s['lost']:,} "
            f"| {s['lost_connections']} | {pings[0]} | {pings[1]} "
            f"| {_mib(phase['rss_max'])} | {s['server_cores']:.2f} | {s['generator_cores']:.2f} "
            f"| {s['other_cores']:.2f} |"
        )
    for phase in results["phases"]:
        for i, fate in enumerate(phase.get("stalled", [])):
            what = "dropped" if fate["dropped"] else "still connected"
            lines.append(
                f"- stalled client {i} after the overload: {what}, "
                f"{fate['unread_bytes']:,} bytes waiting for it"
            )
    for who, error in results.get("pinger_errors", {}).items():
        lines.append(f"- idle client {who} stopped: {error}")
    rss = results["rss"]
    if rss:
        every = max(round(1 / RSS_EVERY), len(rss) // 40)
        series = ", ".join(f"{t:.0f}s {b / 2**20:.0f}" for t, b in rss[::every])
        lines += ["", f"Server RSS over time (MiB): {series}."]
    lines += ["", f"Measured in {results['elapsed_s']:.0f} s."]
    return "\n".join(lines)


def _ping_cell(p: dict[str, Any]) -> str:
    if "p50_ms" not in p:
        return f"- ({p['missed']} of {p['pings']})"
    return f"{p['p50_ms']:.1f} / {p['max_ms']:.1f} ({p['missed']})"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def run(
    args: argparse.Namespace, clients: list[int], rates: list[float], settings: driver.Settings
) -> int:
    """``parley bench --overload``: one N, one sustained rate; print (and save) the report."""
    if len(clients) != 1 or len(rates) != 1:
        log.error("--overload takes one N and one sustained rate, e.g. --clients 1000 --rates 1M")
        return 2
    if settings.rooms != 1:
        log.error("--overload measures one room; leave out --rooms")
        return 2
    settings = replace(settings, duration=args.duration or 10.0)
    procstat.raise_fd_limit(clients[0] * 2 + 1024)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        results = overload(
            clients[0], rates[0], settings, Path(tmp), sendq_timeout=args.sendq_timeout
        )
    results["machine"] = procstat.machine()
    results["settings"] = {**settings.__dict__, "rates": rates, "clients": clients}
    results["elapsed_s"] = time.perf_counter() - began
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        log.info("results written to %s", args.out)
    print(markdown(results))
    return 0
