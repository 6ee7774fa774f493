"""Memory per SSH session: ``parley ssh`` with N visitors signed in, measured from /proc.

Starts a real ``parley serve`` and a real ``parley ssh`` in front of it (each a subprocess, in a
scratch folder), opens N sessions with asyncssh clients (a key each, an 80x24 PTY), signs each
in with its own nick, waits until every screen shows "connected", then reads the resident set
(RSS) and the proportional set (PSS: shared pages divided among the processes sharing them,
the fairer number for N copies of the same Python) of the gateway and of every process under
it, and the CPU they use while every session sits idle. With ``--inside`` the gateway is the
one ``parley serve --ssh-port`` runs inside the server (whose keys are then identities: each
visitor pins its nick to its key), and "the gateway" is the server process. Linux only. Run from
a source checkout with the ``ssh`` extra installed:

    python benchmarks/ssh_memory.py [--sessions 50] [--inside]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on \S+:(\d+)")
GATEWAY_LISTENING = re.compile(r"listening on \S+:(\d+) for the chat server")
TIMEOUT = 120.0
IDLE_SAMPLE = 10.0  # seconds over which the idle sessions' CPU is measured


def children_of(pid: int) -> list[int]:
    """Every process under ``pid`` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of ``pid`` in KiB (smaps_rollup)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user + system) the processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start(
    args: list[str],
    cwd: Path,
    log: Path,
    listening: re.Pattern[str] = LISTENING,
    extra: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``python -m parley ARGS`` (with the variables ``extra``); the process and the port
    its log says it listens on (``listening``'s group)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(cwd / "data"), **(extra or {}))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while not (found := listening.search(log.read_text(errors="replace"))):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{args[0]} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return process, int(found.group(1))


async def visit(port: int, number: int) -> asyncssh.SSHClientConnection:
    """One visitor, signed in as ``visitorN`` and connected; the open connection."""
    conn = await asyncssh.connect(
        "127.0.0.1",
        port,
        known_hosts=None,
        client_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        username=f"visitor{number}",
        agent_path=None,
    )
    process = await conn.create_process(term_type="xterm-256color", term_size=(80, 24))
    await until(process, "Enter to connect")
    process.stdin.write(f"visitor{number}\r")
    await until(process, "connected")
    # Keep draining the screen, as a terminal would.
    asyncio.get_running_loop().create_task(drain(process))
    return conn


async def until(process: asyncssh.SSHClientProcess[str], text: str) -> None:
    seen = ""
    while text not in seen:
        chunk = await asyncio.wait_for(process.stdout.read(65536), TIMEOUT)
        if not chunk:
            raise SystemExit(f"a session ended before {text!r}: {seen[-300:]!r}")
        seen = seen[-4096:] + chunk


async def drain(process: asyncssh.SSHClientProcess[str]) -> None:
    while await process.stdout.read(65536):
        pass


async def measure(sessions: int, gateway: subprocess.Popen[bytes], port: int) -> None:
    baseline = memory_kb(gateway.pid)
    started = time.monotonic()
    connections = []
    # A few at a time: each session starts a Python process, and the machine has few cores.
    for first in range(0, sessions, 5):
        batch = range(first, min(first + 5, sessions))
        connections += await asyncio.gather(*(visit(port, n) for n in batch))
    took = time.monotonic() - started
    await asyncio.sleep(2)  # let every UI settle after its last redraw
    children = children_of(gateway.pid)
    gateway_rss, gateway_pss = memory_kb(gateway.pid)
    child_memory = [memory_kb(pid) for pid in children]
    rss = sum(r for r, _ in child_memory)
    pss = sum(p for _, p in child_memory)
    print(f"sessions signed in:          {sessions} (in {took:.1f} s)")
    print(f"session processes:           {len(children)}")
    print(f"gateway, before any session: RSS {baseline[0] / 1024:.1f} MiB")
    print(f"gateway, with all sessions:  RSS {gateway_rss / 1024:.1f} MiB")
    print(f"session processes, in all:   RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB")
    per_rss = (rss + gateway_rss - baseline[0]) / sessions / 1024
    per_pss = (pss + gateway_pss - baseline[1]) / sessions / 1024
    print(f"per session (gateway's growth included): RSS {per_rss:.1f} MiB, PSS {per_pss:.1f} MiB")
    pids = [gateway.pid, *children]
    before = cpu_seconds(pids)
    await asyncio.sleep(IDLE_SAMPLE)
    idle = (cpu_seconds(pids) - before) / IDLE_SAMPLE
    print(f"CPU with every session idle: {idle * 100:.1f}% of one core in all")
    for conn in connections:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument(
        "--inside", action="store_true", help="the gateway of parley serve --ssh-port"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-ssh-memory-") as scratch:
        folder = Path(scratch)
        # Every session reaches the server from the gateway's address: no per-address cap.
        serve = ["serve", "--port", "0", "--db", ":memory:", "--max-conns-per-ip", "0"]
        if args.inside:
            inside = [*serve, "--ssh-port", "0"]
            count = str(args.sessions)
            limits_env = {
                "PARLEY_SSH_MAX_SESSIONS": count,
                "PARLEY_SSH_SESSIONS_PER_ADDRESS": count,
            }
            both, ssh_port = start(
                inside, folder, folder / "serve.log", GATEWAY_LISTENING, limits_env
            )
            try:
                asyncio.run(measure(args.sessions, both, ssh_port))
            finally:
                both.terminate()
                both.wait(60)
            return
        server, server_port = start(serve, folder, folder / "serve.log")
        limits = [
            "--max-sessions",
            str(args.sessions),
            "--sessions-per-address",
            str(args.sessions),
        ]
        gateway, port = start(
            ["ssh", "--port", "0", "--server", f"127.0.0.1:{server_port}", *limits],
            folder,
            folder / "ssh.log",
        )
        try:
            asyncio.run(measure(args.sessions, gateway, port))
        finally:
            for process in (gateway, server):
                process.terminate()
                process.wait(60)


if __name__ == "__main__":
    main()
