"""The IRC servers people would pick instead, as live peers in the benchmark: InspIRCd and ngIRCd.

``start_peer`` runs one of Debian's packages (``apt-get install inspircd ngircd``) as a
subprocess on a free loopback port, from a configuration written here into the run's folder:
everything that would throttle or cap a benchmark client is off, as ``parley serve --msg-rate 0
--max-conns-per-ip 0`` is for Parley. InspIRCd gets no command rate or fake lag, send and receive
queues of 64 MiB, no connection limits and a ping interval longer than any sweep; ngIRCd gets
``MaxPenaltyTime = 0`` (no penalty delays), no connection or join limits and the same ping
interval. Neither does DNS or ident lookups. The load generator speaks IRC to them (``irc`` mode
of ``benchmarks.loadgen``: NICK/USER, JOIN, PRIVMSG). ``missing`` says, in one sentence, why a
peer cannot run on this machine, so that the benchmark can skip it with that reason.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

PEERS = ("inspircd", "ngircd")
# Connections each load-generator process opens at once: ngIRCd listens with a backlog of 10,
# which more overflow; InspIRCd completes registrations once a second, so it needs many at once.
CONNECTS_AT_ONCE = {"inspircd": 200, "ngircd": 4}
_BINARIES = {"inspircd": "/usr/sbin/inspircd", "ngircd": "/usr/sbin/ngircd"}


def binary(name: str) -> str | None:
    """The peer's executable, or ``None`` when its package is not installed."""
    found = shutil.which(name) or _BINARIES.get(name)
    return found if found and Path(found).exists() else None


def missing(name: str) -> str | None:
    """Why peer ``name`` cannot run here (``None`` when it can)."""
    if name not in PEERS:
        return f"{name!r} is not a peer the benchmark knows (it knows {', '.join(PEERS)})"
    if binary(name) is None:
        return f"{name} is not installed (apt-get install {name})"
    return None


def free_port() -> int:
    """A loopback port nobody listens on just now (the peers cannot be told to take port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def peer_argv(name: str, workdir: Path, port: int) -> list[str]:
    """The command line that runs peer ``name`` in the foreground on ``port``, its
    configuration written to ``workdir``."""
    exe = binary(name)
    if exe is None:
        raise RuntimeError(missing(name))
    if name == "inspircd":
        conf = workdir / f"inspircd-{port}.conf"
        conf.write_text(_INSPIRCD.format(port=port, pid=workdir / f"inspircd-{port}.pid"))
        # It refuses to run as root without being told; the benchmark may run in a container.
        return [exe, "--nofork", "--runasroot", "--config", str(conf)]
    conf = workdir / f"ngircd-{port}.conf"
    conf.write_text(_NGIRCD.format(port=port, pid=workdir / f"ngircd-{port}.pid"))
    return [exe, "--nodaemon", "--config", str(conf)]


_INSPIRCD = """\
<server name="irc.bench" description="benchmark peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="bench" allow="*" timeout="60" pingfreq="3600" threshold="1000000000"
         commandrate="1000000000" fakelag="no" hardsendq="67108864" softsendq="67108864"
         recvq="67108864" localmax="1000000" globalmax="1000000" limit="1000000"
         maxchans="20" useident="no" resolvehostnames="no">
<performance softlimit="1000000" somaxconn="4096" clonesonconnect="no" nouserdns="yes">
<pid file="{pid}">
<dns timeout="1">
"""

_NGIRCD = """\
[Global]
    Name = irc.bench
    Info = benchmark peer
    Listen = 127.0.0.1
    Ports = {port}
    PidFile = {pid}
    MotdPhrase = bench
[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxPenaltyTime = 0
    PingTimeout = 3600
    PongTimeout = 3600
[Options]
    DNS = no
    Ident = no
    PAM = no
"""
