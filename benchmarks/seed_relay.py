"""The baseline: a thread-per-client relay built the way the classroom seed's server was.

This is what Parley is measured against, so it keeps the seed's design on purpose: one OS thread
per connection doing blocking ``recv(1024)``, and for every chunk read a blocking ``sendall`` of
those same bytes to every other connected client, one after the other, from that thread. There is
no framing (chunks are relayed as the kernel cut them; the load generator sends newline-ended
lines and splits them again itself), no registration, no rooms, no persistence and no flood or
slow-reader control. The only departures from the seed are ones that keep a benchmark run alive:
the client list is guarded by a lock and copied before each broadcast, and a failed send to one
client does not end the sender's thread. It binds ``127.0.0.1`` and, with ``--port 0``, any free
port, which the benchmark reads from ``/proc``.

Run it with ``python -m benchmarks.seed_relay --port 0``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
from collections.abc import Sequence

_clients: list[socket.socket] = []
_clients_lock = threading.Lock()


def _broadcast(chunk: bytes, sender: socket.socket) -> None:
    with _clients_lock:
        targets = list(_clients)
    for client in targets:
        if client is not sender:
            # try/except rather than contextlib.suppress: this is the baseline's hot loop.
            try:  # noqa: SIM105
                client.sendall(chunk)
            except OSError:
                pass  # that client's own thread notices and cleans up


def _serve_client(conn: socket.socket) -> None:
    try:
        while True:
            chunk = conn.recv(1024)
            if not chunk:
                break
            _broadcast(chunk, conn)
    except OSError:
        pass
    finally:
        with _clients_lock:
            if conn in _clients:
                _clients.remove(conn)
        conn.close()


def serve(host: str, port: int) -> None:
    """Accept forever, one thread per client."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(4096)
        while True:
            conn, _ = listener.accept()
            with _clients_lock:
                _clients.append(conn)
            threading.Thread(target=_serve_client, args=(conn,), daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A seed-style thread-per-client relay.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
