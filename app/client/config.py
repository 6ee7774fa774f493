"""What the client remembers between runs: the last server and nick, and the rooms per server.

This module owns the client's config file (the last server, whether it speaks TLS and with which
private CA, the nick, and the rooms per server), ``client.json`` in the platformdirs config
directory for "parley" (``PARLEY_CONFIG_DIR`` overrides the directory, which is how tests keep it
inside ``tmp_path``). JSON rather than TOML because the standard library of every supported Python
can write it. A missing or unreadable file is an empty config, never an error: losing remembered
rooms must not stop anyone from chatting. Writes go to a temporary file that replaces the old one,
so a crash never leaves half a file behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Final

import msgspec
import platformdirs

from app.protocol import DEFAULT_PORT, DEFAULT_TLS_PORT, fold, is_valid_room

log = logging.getLogger("parley.client")

CONFIG_DIR_ENV: Final = "PARLEY_CONFIG_DIR"
CONFIG_FILE: Final = "client.json"
DEFAULT_HOST: Final = "127.0.0.1"


class ClientConfig(msgspec.Struct, kw_only=True):
    """The remembered settings. ``rooms`` maps ``host:port`` to the rooms joined there."""

    nick: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Whether that server is reached over TLS, and the private CA (a PEM file) that signed it.
    tls: bool = False
    ca: str | None = None
    rooms: dict[str, list[str]] = msgspec.field(default_factory=dict)
    # The Tk window's message text size in points (None: its default).
    text_size: int | None = None

    def rooms_for(self, server: str) -> list[str]:
        return [room for room in self.rooms.get(server, []) if is_valid_room(room)]

    def transport_for(self, host: str | None, port: int | None) -> tuple[bool, str | None]:
        """TLS and CA as remembered, if ``host`` and ``port`` are the remembered server's or
        unset; a server named now that is not the remembered one starts in plain TCP."""
        if host in (None, self.host) and port in (None, self.port):
            return self.tls, self.ca
        return False, None

    def server_for(
        self, host: str | None, port: int | None, *, tls: bool = False, ca: str | None = None
    ) -> tuple[str, int, bool, str | None]:
        """Where a client started with these flags connects: ``(host, port, tls, ca)``.

        What is not given comes from the remembered server when it is the same one; ``--ca``
        implies TLS, and without a port a TLS connection goes to the default TLS port.
        """
        remembered_tls, remembered_ca = self.transport_for(host, port)
        tls = tls or ca is not None or remembered_tls
        ca = ca if ca is not None else (remembered_ca if tls else None)
        if port is None:
            same = host in (None, self.host) and tls == self.tls
            port = self.port if same else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        return host or self.host, port, tls, ca


def server_key(host: str, port: int) -> str:
    return f"{host}:{port}"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("parley"))


class ConfigStore:
    """Loads and saves ``ClientConfig`` at one path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls) -> ConfigStore:
        """The store at the user's config directory (or ``$PARLEY_CONFIG_DIR``)."""
        return cls(config_dir() / CONFIG_FILE)

    def load(self) -> ClientConfig:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ClientConfig()
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return ClientConfig()
        try:
            return msgspec.json.decode(data, type=ClientConfig)
        except msgspec.DecodeError as exc:
            log.warning("ignoring unreadable config %s: %s", self.path, exc)
            return ClientConfig()

    def save(self, config: ClientConfig) -> None:
        data = msgspec.json.format(msgspec.json.encode(config), indent=2)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".client-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            # Remembering is a convenience; a read-only home must not break the chat.
            log.warning("cannot save %s: %s", self.path, exc)

    def remember_text_size(self, size: int) -> None:
        """Record the Tk window's message text size."""
        config = self.load()
        config.text_size = size
        self.save(config)

    def remember(
        self,
        *,
        host: str,
        port: int,
        nick: str,
        rooms: list[str],
        tls: bool = False,
        ca: str | None = None,
    ) -> None:
        """Record the server (and whether over TLS), nick and joined rooms of the session that is
        running now."""
        config = self.load()
        config.host = host
        config.port = port
        config.tls = tls
        config.ca = ca if tls else None
        config.nick = nick
        unique = {fold(room): room for room in rooms}
        config.rooms[server_key(host, port)] = list(unique.values())
        self.save(config)
