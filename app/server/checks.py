"""The checks every ``parley`` subcommand shares, worded the same way: a number, a port, a file to
write, a database path, an address to listen on; and ``UsageError``, the one-sentence error they
raise for the CLI to print (exit status 2). ``settings.py`` uses them for ``parley serve``; the
client and gateway commands use them for their own flags.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Final

MEMORY_DB: Final = ":memory:"


class UsageError(Exception):
    """A value given to ``parley`` is wrong: the message is one sentence saying which and why."""


def kind_name(kind: type) -> str:
    return "whole number" if kind is int else "number"


def parse_number(text: str, kind: type[int] | type[float] | type[str], origin: str) -> Any:
    """``text`` as a ``kind``; strings pass through."""
    if kind is str:
        return text
    try:
        value = int(text, 10) if kind is int else float(text)
    except ValueError:
        raise UsageError(f"{origin} must be a {kind_name(kind)}, not {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{origin} must be a finite number, not {text!r}")
    return value


def parse_port(text: str, origin: str) -> int:
    """A port to connect to: 1 to 65535."""
    port: int = parse_number(text, int, origin)
    if not 1 <= port <= 65535:
        raise UsageError(f"{origin} must be from 1 to 65535, not {port}")
    return port


def check_writable_file(path: str, origin: str) -> None:
    """``path`` can be created or written: its folder exists and is writable, it is no folder."""
    if not path:
        raise UsageError(f"{origin} must name a file")
    target = Path(os.path.expanduser(path))
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{origin} {path}: the folder {folder} does not exist")
    if target.is_dir():
        raise UsageError(f"{origin} {path} is a folder, not a file")
    if not _can_create_in(folder):
        raise UsageError(f"{origin} {path}: the folder {folder} is not writable")
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        raise UsageError(f"{origin} {path} is not readable and writable")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder``, tried for real: ``os.access`` says yes to root
    on folders such as /proc, and SQLite makes its -wal and -shm files beside the database."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".parley-probe-"):
            return True
    except OSError:
        return False


def check_db(path: str, origin: str) -> None:
    """A history file SQLite can open in WAL mode (its folder takes the -wal and -shm files)."""
    if path != MEMORY_DB:
        check_writable_file(path, origin)


def check_listen(host: str, port: int, host_origin: str = "--host") -> None:
    """``host`` resolves to addresses of this machine on which ``port`` is free.

    Each address is bound as ``asyncio``'s ``create_server`` would bind it, then closed at once.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError):
        raise UsageError(f"{host_origin} {host} does not resolve to an address") from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            if os.name == "posix":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise listen_error(host, port, exc, host_origin) from None


def listen_error(host: str, port: int, exc: OSError, host_origin: str = "--host") -> UsageError:
    """The sentence for a failure to listen on ``host:port``."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return UsageError(f"{where} is in use — is another parley serve running?")
    if exc.errno == errno.EADDRNOTAVAIL:
        return UsageError(f"{host_origin} {host} is not an address of this machine")
    if exc.errno == errno.EACCES and 0 < port < 1024:
        return UsageError(f"no permission to listen on {where}: ports below 1024 need privileges")
    return UsageError(f"cannot listen on {where}: {os_reason(exc)}")


def os_reason(exc: OSError) -> str:
    """What went wrong, in lower case, as the sentences here put it."""
    return (exc.strerror or str(exc)).lower()


def read_secret(path: str, origin: str) -> bytes:
    """The secret an SSH gateway and the server share (``protocol.keys``): the file's contents
    without surrounding whitespace, at least ``SECRET_MIN_BYTES`` of them."""
    from app.protocol.keys import SECRET_MIN_BYTES

    try:
        secret = Path(os.path.expanduser(path)).read_bytes().strip()
    except OSError as exc:
        raise UsageError(
            f"cannot read the secret file {path} ({origin}): {os_reason(exc)}"
        ) from None
    if len(secret) < SECRET_MIN_BYTES:
        raise UsageError(
            f"{origin} {path} holds {len(secret)} bytes; a secret is at least {SECRET_MIN_BYTES} "
            "(make one with `head -c 32 /dev/urandom | base64`)"
        )
    return secret
