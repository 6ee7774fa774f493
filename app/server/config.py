"""The server's settings, in one frozen dataclass shared by the CLI, the tests and the benchmark.

Every field has the default a person running ``parley serve`` gets (except ``db``, which the CLI
puts in the user data directory); ``app/server/settings.py`` fills them from flags, ``PARLEY_*``
environment variables and a TOML file, and owns their bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.protocol import DEFAULT_MAX_LINE, DEFAULT_PORT, DEFAULT_TLS_PORT


@dataclass(frozen=True)
class ServerConfig:
    """What ``parley serve`` is started with."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db: str = ":memory:"
    max_line: int = DEFAULT_MAX_LINE
    max_conns_per_ip: int = 16
    # Like IRC servers' flood control: a burst for pastes and joins, then a steady trickle.
    msg_rate: float = 2.0
    msg_burst: int = 20
    sendq: int = 1 << 20
    # A client whose unread output stays above a quarter of ``sendq`` this long is dropped.
    sendq_timeout: float = 30.0
    # Rooms one connection may be in (IRC's maxchans), rooms held in memory at once, and rooms
    # new to the server that one address may create per minute; 0 turns each off.
    max_rooms_per_conn: int = 50
    max_rooms: int = 10_000
    new_rooms_per_min: int = 20
    server_name: str = "parley"
    register_timeout: float = 10.0
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    shutdown_timeout: float = 5.0
    # Messages per room kept in memory so that a join answers without reading the disk.
    recent: int = 50
    # Retention: messages older than this many days are deleted (0 = kept forever) ...
    retention_days: int = 0
    # ... and so is every message of a room beyond its newest ``max_history`` (0 = no limit),
    max_history: int = 0
    # by a background trim (``retention.py``) this often, in seconds.
    trim_interval: float = 600.0
    # TLS: a second listener on tls_port when both PEM files are given; plain=False leaves only it.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_port: int = DEFAULT_TLS_PORT
    plain: bool = True
    # Accounts: with accounts_required a guest may sign in and register, but not join or talk.
    accounts_required: bool = False
    # Moderation: the accounts (folded nicks) that are server operators.
    opers: tuple[str, ...] = ()
    # Scale-out (issue 13): the Redis this process is a node of (redis://, rediss://, unix://;
    # None: one process alone on its SQLite history) ...
    redis_url: str | None = None
    # ... the node processes ``parley serve`` runs on this machine (``workers.py`` supervises
    # them when more than one) ...
    workers: int = 1
    # ... and, in each of them, the node's name (sent in ``welcome``; empty: not a worker) and
    # whether its listeners share their ports with its siblings (SO_REUSEPORT).
    node: str = ""
    reuse_port: bool = False
    # SSH (docs/protocol.md, "SSH keys"): the secret SSH gateways prove their sessions' keys
    # with (read from gateway_secret_file, or made up when the gateway runs inside: ssh_port),
    # and the gateway run inside the server on ssh_port (None: none) with its host key.
    gateway_secret_file: str | None = None
    gateway_secret: bytes = b""
    ssh_port: int | None = None
    ssh_host_key: str | None = None
    # A node whose heartbeat is older than this many seconds is dead: its users quit.
    node_lease: float = 15.0
    # Edits (``edits.py``): seconds after sending during which an author may edit a room message
    # (0: editing is off).
    edit_window: int = 900
