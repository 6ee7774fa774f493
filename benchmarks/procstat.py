"""What the kernel says: a process's CPU seconds, memory, threads and port; the machine's load.

The benchmark measures the server from the outside, as an operator would, so that nothing in the
server has to cooperate: CPU is ``utime + stime`` from ``/proc/<pid>/stat`` (every thread, the
SQLite writer included), memory is ``VmRSS`` from ``/proc/<pid>/status``, and the port a server
bound with ``--port 0`` is found by matching the process's socket inodes against the listening
sockets in ``/proc/net/tcp``. A server may be a tree of processes (``parley serve --workers N``:
a supervisor and its N workers), so CPU, memory and listeners are read over ``tree(pid)``, the
process and its descendants now alive. The whole machine's busy time (``/proc/stat``) shows how
much CPU went to something other than the benchmark: on a shared machine, other people's work.
``machine`` says what the numbers were measured on. Linux only, like the rest of the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far, all threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may contain spaces; fields count from after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # gone while we looked
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant of it alive now, parents before their children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found = [pid]
    for member in found:
        found.extend(children.get(member, []))
    return found


def _summed(pids: list[int], read: Callable[[int], float]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += read(pid)
        except (OSError, LookupError):
            continue  # a worker that ended between the listing and the read
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants together. A worker that
    ended takes its seconds with it: a step during which one died reads low."""
    return _summed(tree(pid), cpu_seconds)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its live descendants together."""
    return int(_summed(tree(pid), rss_bytes))


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/status")


def rss_bytes(pid: int) -> int:
    """Resident memory of the process now."""
    return _status(pid, "VmRSS") * 1024


def threads(pid: int) -> int:
    """How many threads the process has now."""
    return _status(pid, "Threads")


def machine_busy_seconds() -> float:
    """CPU seconds all cores together have spent busy since boot (everything but idle)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:9]  # user nice system idle iowait irq softirq steal
    ticks = [int(v) for v in fields]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def own_cpu_seconds() -> float:
    """CPU time this process has used so far (cheaper than reading /proc for ourselves)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_port(pid: int) -> int | None:
    """The TCP port the process listens on, or None if it has not bound one yet."""
    inodes = _socket_inodes(pid)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == _LISTEN and cols[9] in inodes:
                return int(cols[1].rsplit(":", 1)[1], 16)
    return None


def wait_for_port(
    pid: int, alive: Callable[[], bool], timeout: float = 20.0, listeners: int = 1
) -> int:
    """Poll until ``listeners`` processes of ``pid``'s tree listen (on one port, as workers
    do); ``alive()`` false means it died, which raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process {pid} exited before listening")
        ports = []
        for member in tree(pid):
            try:
                port = listening_port(member)
            except OSError:
                continue  # gone while we looked
            if port is not None:
                ports.append(port)
        if len(ports) >= listeners:
            return ports[0]
        time.sleep(0.02)
    raise TimeoutError(f"process {pid} did not listen within {timeout} s")


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted``; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        loop = f"uvloop {version('uvloop')}"
    except PackageNotFoundError:
        loop = "asyncio"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
        "event_loop": loop,
        "load_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
