"""The floor under any fan-out on this machine: the CPU one write to a loopback socket costs.

A chat server delivers a room message by writing it to every member's socket, and on loopback
the kernel does the receiving side's TCP work and wakes the reader inside that same ``send``
call. So the cost of one small write to a socket whose reader is another process asleep in
``epoll``, measured here, bounds how cheap a delivery can be when each one is a write of its own;
a server below it must be putting several messages into each write. ``write_cost`` runs the reader
as a subprocess (``python -m benchmarks.loopback PORT SOCKETS``) and returns the writer's CPU per
``send`` in microseconds. Linux only, like the rest of the benchmark.
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.procstat import own_cpu_seconds


def write_cost(sockets: int = 200, rounds: int = 50, size: int = 100) -> float:
    """Microseconds of CPU per ``send`` of ``size`` bytes to a reader in another process."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(sockets)
        port = listener.getsockname()[1]
        reader = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loopback", str(port), str(sockets)],
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        peers = [listener.accept()[0] for _ in range(sockets)]
    try:
        for peer in peers:
            peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = b"x" * (size - 1) + b"\n"
        time.sleep(0.1)  # let the reader settle into epoll
        began = own_cpu_seconds()
        for _ in range(rounds):
            for peer in peers:
                peer.send(line)
            time.sleep(0.001)  # as a server between fan-outs: the reader goes back to sleep
        spent = own_cpu_seconds() - began
    finally:
        for peer in peers:
            peer.close()
        reader.wait(10)
    return spent / (rounds * sockets) * 1e6


def _read_until_closed(port: int, sockets: int) -> None:
    """The reader: connect, then read everything until every peer has closed."""
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    poller = select.epoll()
    by_fd = {}
    for conn in conns:
        conn.setblocking(False)
        poller.register(conn.fileno(), select.EPOLLIN)
        by_fd[conn.fileno()] = conn
    while by_fd:
        for fd, _ in poller.poll(5.0):
            peer = by_fd.get(fd)
            if peer is not None and not peer.recv(1 << 16):
                poller.unregister(fd)
                peer.close()
                del by_fd[fd]


if __name__ == "__main__":
    _read_until_closed(int(sys.argv[1]), int(sys.argv[2]))
