"""The benchmark's conductor: servers as subprocesses, load-generator processes, sweeps, results.

``sweep`` measures one server (Parley or the seed-style relay) with N clients in one room: it
starts the server, splits the clients over load-generator processes (``benchmarks.loadgen``),
connects them, then runs one step per offered rate. A step is a schedule of messages from K
senders, evenly spaced and staggered, started on the same ``CLOCK_MONOTONIC`` instant by every
process; it ends when every client has every message, or at its deadline, when what is missing
counts as lost. For each step it records the receivers' latency histogram, the server's CPU
seconds and RSS (from ``/proc``) and the generators' own CPU and lateness, so that it is plain
whether the server or the generator ran out first. The sweep stops at the first loss, or when
less than 90% of the offered rate is delivered (the server has fallen behind), or at a repeat
(a client counted more than its share, or a probe got a message number twice or one not of its
room); a step over the latency bound alone does not stop it, since on a shared machine that may
be other people's load. With ``Settings.rooms`` the clients are spread over that many rooms of
equal size (the load generators' ``rooms``), and with ``Settings.breakdown`` Parley samples its
own latency (``benchmarks.breakdown``), read into each step. ``idle`` connects and registers many
clients and reports the server's memory per idle connection and how long the connecting took.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import breakdown as breakdown_mod
from benchmarks import generators as generators_mod
from benchmarks import nodes as nodes_mod
from benchmarks import peers, procstat, revision
from benchmarks.generators import Generators, source_root
from benchmarks.loadgen import BUCKET_SHIFT
from benchmarks.procstat import machine

log = logging.getLogger("parley.bench")

P99_BOUND_MS = 50.0
# What setting up a room may take per member, beyond ``Settings.step_timeout`` (10,000: 10 min).
SETUP_S_PER_CLIENT = 0.06
ROOM = generators_mod.ROOM


@dataclass(frozen=True)
class Settings:
    """How a sweep drives its server."""

    senders: int = 100
    duration: float = 5.0
    drain: float = 5.0  # how long after the last send a message may still arrive
    processes: int = 2
    probe_every: int = 8
    text_bytes: int = 64
    step_timeout: float = 120.0
    rooms: int = 1  # the clients are spread over this many rooms of equal size
    breakdown: int = 0  # sample 1 message in this many inside Parley (``breakdown``); 0: off


# --- the servers under test ---------------------------------------------------------------


class Target:
    """A server under test, running as a subprocess."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        db: Path | None = None,
        log: Path | None = None,
        *,
        env: dict[str, str] | None = None,
        nodes: int = 1,
        redis: nodes_mod.RedisProbe | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.db = db
        self.nodes = nodes
        self.redis = redis  # the Redis this server keeps its rooms in, to read its CPU
        self.timings: Path | None = None  # where it writes its latency samples (``breakdown``)
        # A peer's own log (ngIRCd writes a line per connection to stderr) goes to a file.
        output = None if log is None else log.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            cwd=cwd or source_root(),
            env=env,
        )
        if output is not None:
            output.close()
        self.pid = self.proc.pid
        # Workers: wait for every one, or the first would take every client.
        self.port = procstat.wait_for_port(
            self.pid, lambda: self.proc.poll() is None, listeners=nodes
        )

    def cpu(self) -> float:
        """CPU seconds of the server's processes (a supervisor and its workers together)."""
        return procstat.tree_cpu_seconds(self.pid)

    def rss(self) -> int:
        return procstat.tree_rss_bytes(self.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.redis is not None:
            self.redis.close()


def start_parley(
    workdir: Path,
    kind: str = "parley",
    redis: str | None = None,
    breakdown: int = 0,
    flags: Sequence[str] = (),
) -> Target:
    """``parley serve`` with flood control off and history persisted to a fresh file, or, for a
    kind of ``benchmarks.nodes``, its nodes on their own emptied database of Redis at ``redis``;
    with ``breakdown``, sampling one message in that many (``benchmarks.breakdown``); ``flags``
    are more of ``parley serve``'s."""
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    argv = [sys.executable, "-m", "parley", "serve", "--port", "0", "--msg-rate", "0"]
    argv += ["--max-conns-per-ip", "0", "--new-rooms-per-min", "0"]
    argv += ["--db", str(db), "--log-level", "warning", *flags]
    nodes = nodes_mod.nodes_of(kind)
    if nodes is None:
        rev = revision.revision_of(kind)  # Parley at another revision, run from its tree
        tree = None if rev is None else revision.export(rev, workdir)
        if not breakdown:
            return Target(kind, argv, db, cwd=tree)
        timings = breakdown_mod.timings_file(workdir, kind)
        env = dict(os.environ, **breakdown_mod.environment(timings, breakdown))
        target = Target(kind, argv, db, env=env, cwd=tree)
        target.timings = timings
        return target
    if redis is None:
        raise ValueError(f"{kind} needs a Redis URL")
    url = nodes_mod.with_database(redis, nodes_mod.database_of(kind))
    probe = nodes_mod.RedisProbe(url)
    try:
        probe.flush()
        if nodes > 1:
            argv += ["--workers", str(nodes)]
        env = dict(os.environ, PARLEY_REDIS=url)
        return Target(kind, argv, db, env=env, nodes=nodes, redis=probe)
    except BaseException:
        probe.close()
        raise


def start_baseline() -> Target:
    """The seed-style thread-per-client relay."""
    return Target("baseline", [sys.executable, "-m", "benchmarks.seed_relay", "--port", "0"])


def start_target(kind: str, workdir: Path, redis: str | None = None, breakdown: int = 0) -> Target:
    """Server ``kind``: "parley", "baseline", a peer of ``benchmarks.peers`` or Parley on the
    Redis at ``redis`` (a kind of ``benchmarks.nodes``)."""
    if kind.startswith("parley"):  # parley, parley@REV, or one of ``benchmarks.nodes``
        return start_parley(workdir, kind, redis, breakdown)
    if kind == "baseline":
        return start_baseline()
    port = peers.free_port()
    return Target(kind, peers.peer_argv(kind, workdir, port), log=workdir / f"{kind}-{port}.log")


def generator_mode(kind: str) -> str:
    """How the load generator speaks to server ``kind``."""
    if kind.startswith("parley"):
        return "parley"
    return {"baseline": "relay"}.get(kind, "irc")


def room_of(kind: str) -> str:
    """The room server ``kind``'s clients meet in: one of its own name per deployment on Redis,
    so that what each leaves in its database is told apart by name as well (each deployment's
    channels carry its database number, so rooms of one name no longer mix)."""
    return ROOM if nodes_mod.nodes_of(kind) is None else f"{ROOM}-{kind}"


def remove_db(target: Target) -> None:
    """Delete a stopped Parley's history file (the benchmark's own, made fresh per run)."""
    if target.db is not None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target.db}{suffix}")


# --- latency arithmetic -------------------------------------------------------------------


def percentile_ms(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile of a latency histogram, as the upper edge of its bucket."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return ((bucket + 1) << BUCKET_SHIFT) / 1e6
    return None


# --- a sweep over offered rates -----------------------------------------------------------


def sweep(
    kind: str, clients: int, rates: Sequence[float], settings: Settings, workdir: Path
) -> dict[str, Any]:
    """Measure ``kind`` (see ``start_target``) with ``clients`` in one room at each rate."""
    if clients < 2:
        raise ValueError("a fan-out needs at least two clients")
    target = start_target(kind, workdir, breakdown=settings.breakdown)
    generators: Generators | None = None
    run = new_run(kind, clients, settings)
    try:
        generators = connect(target, run, settings)
        for rate in rates:
            step = run_step(target, generators, clients, sender_ids(run), rate, settings)
            run["steps"].append(step)
            log_step(kind, clients, step)
            if past_the_limit(target, step):
                break
    finally:
        if generators is not None:
            generators.close()
        target.stop()
        remove_db(target)
    finish(run)
    return run


def new_run(kind: str, clients: int, settings: Settings) -> dict[str, Any]:
    """The record of one server's sweep, before its steps."""
    senders = max(1, min(settings.senders, clients))
    run = {"server": kind, "clients": clients, "senders": senders, "steps": []}
    return {**run, "rooms": settings.rooms}


def connect(target: Target, run: dict[str, Any], settings: Settings) -> Generators:
    """Start the load generators for ``target``, connect and register every client in the room,
    and record the set-up time and the server's memory in ``run``."""
    kind, clients = run["server"], run["clients"]
    rss_start = target.rss()
    concurrency = peers.CONNECTS_AT_ONCE.get(kind, 200)
    generators = Generators(
        generator_mode(kind), target.port, clients, settings, concurrency, room_of(kind)
    )
    try:
        began = time.perf_counter()
        # Each join is announced to every member: setting up a big room takes a while.
        setup_timeout = settings.step_timeout + clients * SETUP_S_PER_CLIENT
        generators.command({"cmd": "connect", "join": True}, setup_timeout)
        if kind == "baseline":
            _wait_for_threads(target, clients + 1)
        generators.command({"cmd": "ready"}, setup_timeout)
    except BaseException:
        generators.close()
        raise
    run["setup_s"] = time.perf_counter() - began
    run["rss_idle"] = target.rss()
    run["rss_start"] = rss_start
    return generators


def sender_ids(run: dict[str, Any]) -> list[int]:
    """The senders, spread through each room's member order rather than bunched at its start;
    sender r is in room r % rooms (client i is in room i % rooms: ``loadgen``)."""
    rooms = run.get("rooms", 1)
    stride = (run["clients"] // rooms) // max(1, run["senders"] // rooms)
    return [r % rooms + rooms * (r // rooms) * stride for r in range(run["senders"])]


def finish(run: dict[str, Any]) -> None:
    """Add the run's best step (within the bounds) and its peak (kept up, whatever latency)."""
    run["best"] = pick(run["steps"], "best")
    run["peak"] = pick(run["steps"], "peak")


def log_step(kind: str, clients: int, step: dict[str, Any]) -> None:
    log.info(
        "%s N=%d offered %.0f/s: delivered %.0f/s p50 %s p99 %s max %.1f ms, lost %d,"
        " duplicated %d, ids missing %d, server %.2f us/delivery, generator %.0f%% CPU,"
        " send lag max %.1f ms, other load %.2f cores",
        kind,
        clients,
        step["offered_per_s"],
        step["delivered_per_s"],
        _ms(step["p50_ms"]),
        _ms(step["p99_ms"]),
        step["max_ms"],
        step["lost"],
        step["duplicated"],
        step["ids_missing"],
        step["server_us_per_delivery"],
        100 * step["generator_cores"],
        step["lag_max_ms"],
        step["other_cores"],
    )


def past_the_limit(target: Target, step: dict[str, Any]) -> bool:
    """Whether a sweep stops after ``step``: something was lost, or under 90% of the offered
    rate was delivered. A latency miss alone is not the limit: it may be other people's load."""
    if step["lost"] or step["lost_connections"] or not target.alive():
        return True
    if step.get("duplicated") or step.get("ids_missing"):
        return True
    return bool(step["delivered_per_s"] < 0.9 * step["offered_per_s"])


def kept_up(step: dict[str, Any]) -> bool:
    """Nothing lost and at least 95% of the offered rate delivered, whatever the latency."""
    return (
        not step["lost"]
        and not step["lost_connections"]
        and not step.get("duplicated")
        and not step.get("ids_missing")
        and step["delivered_per_s"] >= 0.95 * step["offered_per_s"]
    )


def pick(steps: Sequence[dict[str, Any]], which: str) -> dict[str, Any] | None:
    """The step with the most deliveries/s among those within the bounds (``"best"``) or among
    those that kept up (``"peak"``: capacity whatever the latency, since on a shared machine a
    p99 miss may be other people's doing)."""
    chosen = [s for s in steps if (s["ok"] if which == "best" else kept_up(s))]
    return max(chosen, key=lambda s: s["delivered_per_s"]) if chosen else None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _wait_for_threads(target: Target, wanted: int, timeout: float = 30.0) -> None:
    """The relay has no registration: it has accepted everyone once it has a thread each."""
    deadline = time.monotonic() + timeout
    while procstat.threads(target.pid) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the baseline accepted only {procstat.threads(target.pid) - 1}")
        time.sleep(0.02)


def run_step(
    target: Target,
    generators: Generators,
    clients: int,
    sender_ids: list[int],
    rate: float,
    settings: Settings,
) -> dict[str, Any]:
    """One offered rate (deliveries per second to other members) for ``settings.duration``."""
    k = len(sender_ids)
    size = clients // settings.rooms  # members of each room
    message_rate = rate / (size - 1)
    per_sender = max(1, round(message_rate * settings.duration / k))
    interval_ns = 1e9 / message_rate
    # Far enough ahead that every generator has the command before the first message is due.
    start_ns = time.monotonic_ns() + 150_000_000
    send_ns = per_sender * k * interval_ns
    deadline_ns = start_ns + int(send_ns + settings.drain * 1e9)
    cpu_before = target.cpu()
    redis_before = target.redis.cpu() if target.redis is not None else 0.0
    busy_before = procstat.machine_busy_seconds()
    began = time.monotonic()
    answers = generators.command(
        {
            "cmd": "step",
            "senders": sender_ids,
            "per_sender": per_sender,
            "interval_ns": interval_ns,
            "start_ns": start_ns,
            "deadline_ns": deadline_ns,
        },
        settings.duration + settings.drain + settings.step_timeout,
    )
    server_cpu = target.cpu() - cpu_before
    redis_cpu = target.redis.cpu() - redis_before if target.redis is not None else None
    busy = procstat.machine_busy_seconds() - busy_before
    window = time.monotonic() - began  # what the CPU figures were measured over
    messages = per_sender * k
    deliveries = messages * (size - 1)
    received = sum(a["received"] for a in answers)
    expected = sum(a["expected"] for a in answers)
    hist: dict[int, int] = {}
    for answer in answers:
        for bucket, n in answer["hist"].items():
            hist[int(bucket)] = hist.get(int(bucket), 0) + n
    # The delivery rate is measured from the first arrival to the last, against the time from
    # the first send to the last: equal when the server keeps up, longer when it falls behind.
    last_ns = max(a["last_ns"] for a in answers)
    first_ns = min((a["first_ns"] for a in answers if a["first_ns"]), default=last_ns)
    sending = (messages - 1) * interval_ns / 1e9
    wall = max(sending, (last_ns - first_ns) / 1e9)
    fraction = received / expected if expected else 0.0
    if messages > 1 and wall > 0:
        delivered_per_s = deliveries * fraction * (messages - 1) / messages / wall
    else:
        delivered_per_s = deliveries * fraction / (send_ns / 1e9)
    p99 = percentile_ms(hist, 0.99)
    lost = max(0, expected - received)
    # Nothing duplicated: no client counted more than its share, and every probe's slot numbers
    # were its room's, each once; ``ids_missing`` is what the probes lacked, by number.
    duplicated = sum(a.get("surplus", 0) + a.get("probe_repeated", 0) for a in answers)
    duplicated += sum(a.get("probe_foreign", 0) for a in answers)
    ids_missing = sum(a.get("probe_missing", 0) for a in answers)
    sent = sum(a["sent"] for a in answers)
    generator_cpu = sum(a["cpu_s"] for a in answers)
    # A Redis on this machine is the benchmark's work, not other load; one elsewhere is neither.
    local_redis = redis_cpu if redis_cpu is not None and target.redis and target.redis.local else 0
    return {
        "offered_per_s": rate,
        "messages": messages,
        "message_rate": message_rate,
        "deliveries": deliveries,
        "delivered_per_s": delivered_per_s,
        "lost": lost,
        "duplicated": duplicated,
        "ids_missing": ids_missing,
        "probes": sum(a.get("probes", 0) for a in answers),
        "received": received,  # frames counted by the receivers (more than expected: a leak)
        "expected": expected,
        "lost_connections": sum(a["lost_connections"] for a in answers),
        "short_clients": sum(a["short_clients"] for a in answers),
        "p50_ms": percentile_ms(hist, 0.50),
        "p99_ms": p99,
        "max_ms": max(a["max_ns"] for a in answers) / 1e6,
        "latency_samples": sum(hist.values()),
        "server_cpu_s": server_cpu,
        "server_us_per_delivery": server_cpu / deliveries * 1e6,
        "server_cores": server_cpu / window,
        "nodes": target.nodes,
        "server_cores_per_node": server_cpu / window / target.nodes,
        "redis_cpu_s": redis_cpu,
        "redis_cores": None if redis_cpu is None else redis_cpu / window,
        "redis_us_per_message": None if redis_cpu is None else redis_cpu / messages * 1e6,
        "server_rss": target.rss() if target.alive() else None,
        "generator_cpu_s": generator_cpu,
        "generator_cores": generator_cpu / window,
        "machine_cores": busy / window,
        # Busy time charged to neither: other processes, and kernel work (loopback softirqs)
        # not charged to the process that caused it.
        "other_cores": max(0.0, busy - server_cpu - generator_cpu - local_redis) / window,
        "lag_max_ms": max(a["lag_max_ns"] for a in answers) / 1e6,
        "lag_mean_ms": sum(a["lag_sum_ns"] for a in answers) / max(1, sent) / 1e6,
        "wall_s": wall,
        "ok": lost == duplicated == ids_missing == 0 and p99 is not None and p99 <= P99_BOUND_MS,
        **_breakdown(target, start_ns, deadline_ns),
    }


def _breakdown(target: Target, since_ns: int, until_ns: int) -> dict[str, Any]:
    """Where the step's time went inside the server, when it was sampled."""
    if target.timings is None:
        return {}
    return {"breakdown": breakdown_mod.read(target.timings, since_ns, until_ns)}


# --- idle connections ---------------------------------------------------------------------


def idle(clients: int, settings: Settings, workdir: Path) -> dict[str, Any]:
    """Connect and register ``clients`` to a fresh Parley server; measure time and memory."""
    target = start_parley(workdir)
    generators: Generators | None = None
    try:
        generators = Generators("parley", target.port, clients, settings)
        settle = 0.05 + clients / 20_000
        time.sleep(settle)
        rss_before = target.rss()
        began = time.perf_counter()
        generators.command({"cmd": "connect", "join": False}, settings.step_timeout)
        seconds = time.perf_counter() - began
        time.sleep(settle)  # let the last replies drain before reading the server's memory
        rss_after = target.rss()
        result = {
            "clients": clients,
            "connect_register_s": seconds,
            "rss_before": rss_before,
            "rss_after": rss_after,
            "bytes_per_connection": (rss_after - rss_before) / clients,
        }
        log.info(
            "idle: %d clients connected and registered in %.2f s; %.0f bytes each",
            clients,
            seconds,
            result["bytes_per_connection"],
        )
        return result
    finally:
        if generators is not None:
            generators.close()
        target.stop()
        remove_db(target)


# --- the whole benchmark ------------------------------------------------------------------


def benchmark(
    client_counts: Sequence[int],
    rates: Sequence[float],
    settings: Settings,
    idle_clients: int = 0,
    baseline: bool = True,
    baseline_rates: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Every sweep (Parley, then the baseline, for each N) and the idle test, as one result."""
    procstat.raise_fd_limit(max(idle_clients, *client_counts) * 2 + 1024)
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {**settings.__dict__, "rates": list(rates), "clients": list(client_counts)},
        "runs": [],
    }
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        workdir = Path(tmp)
        for n in client_counts:
            results["runs"].append(sweep("parley", n, rates, settings, workdir))
            if baseline:
                results["runs"].append(
                    sweep("baseline", n, baseline_rates or rates, settings, workdir)
                )
        if idle_clients:
            results["idle"] = idle(idle_clients, settings, workdir)
    results["elapsed_s"] = time.perf_counter() - began
    return results
