"""The checks every ``parley`` subcommand shares, worded the same way: a number, a port, an on/off
switch, account names, a file to write, a CA file to trust, a database path, an address to listen
on, a Redis to connect to, a port several processes may share; and ``UsageError``, the one-sentence
error they raise for the CLI to print (exit status 2). ``settings.py`` uses them for ``parley
serve``; the client and gateway commands use them for their own flags. A Redis URL may carry a
password: ``redacted`` is how every message and log line shows one, and no sentence here holds the
URL otherwise.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from app.protocol import fold, is_valid_nick

MEMORY_DB: Final = ":memory:"
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
# Seconds the start-up check waits for Redis to connect, and then to answer.
REDIS_CHECK_TIMEOUT: Final = 3.0


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


def check_reuse_port(origin: str) -> None:
    """This platform lets several processes listen on one port (``SO_REUSEPORT``)."""
    option = getattr(socket, "SO_REUSEPORT", None)
    if option is not None:
        with socket.socket() as probe:
            try:
                probe.setsockopt(socket.SOL_SOCKET, option, 1)
                return
            except OSError:
                pass
    raise UsageError(
        f"{origin} needs SO_REUSEPORT to share a port between processes, and {sys.platform} "
        "does not have it: run one parley serve per port behind a load balancer instead"
    )


def redacted(url: str) -> str:
    """``url`` with its password, in the user part or the query, shown as ``***``."""
    parts = urlsplit(url)
    user, at, place = parts.netloc.rpartition("@")
    if at and ":" in user:
        user = user.split(":", 1)[0] + ":***"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=user + at + place, query=query))


def check_redis_url(url: str, origin: str) -> None:
    """``url`` is a Redis URL in form (nothing is connected): a scheme redis-py knows, a host
    and a port, or a socket file, and a database number."""
    shown = redacted(url)
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise UsageError(f"{origin} must be a redis://, rediss:// or unix:// URL, not {shown}")
    if parts.scheme == "unix":
        if not parts.path:
            raise UsageError(f"{origin} {shown} names no socket (unix:///path/to/redis.sock)")
        return
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise UsageError(f"{origin} {shown} must have a port from 1 to 65535 after the host")
    if not parts.hostname:
        raise UsageError(f"{origin} {shown} names no host ({parts.scheme}://HOST:PORT/DB)")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise UsageError(f"{origin} {shown} must end in a database number (/0), not /{db}")


def check_redis(url: str, origin: str) -> None:
    """Redis answers at ``url``, once: the ``redis`` extra is installed, Redis is reachable
    within ``REDIS_CHECK_TIMEOUT`` and takes the URL's user, password and database."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise UsageError(
            f"{origin} needs the redis package, which is not installed: "
            "pip install 'parley-chat[redis]'"
        ) from None
    shown = redacted(url)
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_CHECK_TIMEOUT,
            socket_timeout=REDIS_CHECK_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise UsageError(f"{origin} {shown} is not a Redis URL: {_said(exc, url)}") from None
    with client:
        try:
            client.ping()
        except redis.AuthenticationError as exc:  # a ConnectionError too: caught first
            raise UsageError(
                f"Redis at {shown} ({origin}) refused to let us in: {_said(exc, url)} "
                "(the user and password go in the URL: redis://USER:PASSWORD@HOST:PORT/DB)"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise UsageError(
                f"cannot reach Redis at {shown} ({origin}): {_said(exc, url)}"
            ) from None
        except redis.RedisError as exc:
            raise UsageError(f"Redis at {shown} ({origin}) refused: {_said(exc, url)}") from None


def _said(exc: BaseException, url: str) -> str:
    """What an exception says, as a part of a sentence, with the URL's password masked should a
    library quote it."""
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    # "Connection refused" reads on in lower case; "DB index ..." keeps its capitals.
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _secrets(url: str) -> list[str]:
    """The password of ``url`` as written and as decoded, from its user part or its query."""
    parts = urlsplit(url)
    found = [value for key, value in parse_qsl(parts.query) if key == "password"]
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return [secret for secret in found if secret]


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


def check_ca_file(path: str, origin: str) -> str:
    """``path`` is a PEM file of CA certificates that TLS can load: its absolute path."""
    import ssl

    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise UsageError(f"{origin} {path}: no such file")
    try:
        ssl.create_default_context(cafile=full)
    except ssl.SSLError:
        raise UsageError(f"{origin} {path} holds no PEM certificate") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(f"{origin} {path} is not readable: {reason}") from None
    return full


def parse_switch(text: str, origin: str) -> bool:
    """An on/off variable: true/false, yes/no, on/off or 1/0, in any case."""
    word = text.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise UsageError(f"{origin} must be true or false, not {text!r}")


def account_names(names: Sequence[str], origin: str) -> tuple[str, ...]:
    """Account names (nicks, folded, each once), from a list whose entries may have spaces
    around them; an empty list is no name."""
    folded: dict[str, None] = {}
    for name in (name.strip() for name in names):
        if not is_valid_nick(name):
            raise UsageError(f"{origin} must name accounts (nicks), not {name!r}")
        folded[fold(name)] = None
    return tuple(folded)
