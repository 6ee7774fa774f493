"""Where ``parley serve`` gets its settings, and the checks a value must pass before anything opens.

This module owns the table of server settings (``SETTINGS``: one ``Setting`` per ``serve`` flag,
with its TOML key, ``PARLEY_*`` variable, type, bounds and default) and their resolution: the
command line wins over the environment, which wins over a TOML file (``--config`` or
``PARLEY_CONFIG``), which wins over the defaults. Every value, wherever it came from, is checked
for type and range by ``resolve``; ``check_machine`` then checks what depends on this machine (the
database's folder is writable, the host is one of its addresses, the ports are free, the TLS
certificate and key load and match, Redis answers, ports can be shared) without opening the
database or keeping a socket. A bad value is a ``UsageError`` whose message is one sentence
naming the flag, the variable or the file and line it came from; the CLI prints it and exits 2.
The checks every ``parley`` subcommand shares (a port, a file to write, an address to listen on)
are ``checks.py``'s; reading and writing TOML is ``settings_file.py``'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

from app.server.checks import (
    MEMORY_DB,
    account_names,
    check_db,
    check_listen,
    check_redis,
    check_redis_url,
    check_reuse_port,
    kind_name,
    os_reason,
    parse_number,
    parse_switch,
    read_secret,
)
from app.server.checks import UsageError as UsageError  # raised here too; importers know it here
from app.server.config import ServerConfig
from app.server.settings_file import line_of, read_toml, shown, toml_value
from app.server.tls import CertificateError, server_context

CONFIG_ENV: Final = "PARLEY_CONFIG"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")

_DEFAULTS: Final = ServerConfig()


@dataclass(frozen=True)
class Setting:
    """One ``parley serve`` setting: ``--max-line``, ``PARLEY_MAX_LINE`` and ``max_line =``."""

    key: str
    # ``tuple``: a list of account names (``--oper a --oper b``, ``PARLEY_OPERS=a,b``, ``[...]``).
    kind: type[int] | type[float] | type[str] | type[bool] | type[tuple[str, ...]]
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    # What the lowest value means when it is special ("0 = no limit").
    low_means: str = ""
    choices: tuple[str, ...] = ()
    metavar: str = "N"
    # The flag when it is not the key's: a list's is singular and repeated (``--oper``).
    flag_name: str = ""
    # The ``ServerConfig`` field when it is not the key's (``redis`` is ``redis_url``).
    field_name: str = ""

    @property
    def field(self) -> str:
        return self.field_name or self.key

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.key).replace("_", "-")

    @property
    def scalar(self) -> type[int] | type[float] | type[str]:
        """The kind of a setting that is neither a switch nor a list."""
        assert self.kind is not bool and self.kind is not tuple
        return cast("type[int] | type[float] | type[str]", self.kind)

    @property
    def env(self) -> str:
        return "PARLEY_" + self.key.upper()

    def bounds(self) -> str:
        """The allowed values in words, as help and error messages show them."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is None or self.high is None:
            return ""
        text = f"from {_number(self.low)} to {_number(self.high)}"
        return f"{text} ({self.low_means})" if self.low_means else text

    def parse(self, text: str | bool | Sequence[str], origin: str) -> Any:
        """A value typed as text (a flag or a variable), converted and checked; a switch such as
        ``--plain``/``--no-plain`` arrives from argparse as a bool already, a repeated flag as
        the list of its values, and a list in a variable is comma-separated."""
        if isinstance(text, bool):
            return text
        if self.kind is tuple:
            return account_names(text.split(",") if isinstance(text, str) else text, origin)
        assert isinstance(text, str)
        if self.kind is bool:
            return parse_switch(text, origin)
        return self.check(parse_number(text, self.scalar, origin), origin)

    def accept(self, value: object, origin: str) -> Any:
        """A value read from a TOML file, type-checked and checked."""
        if self.kind is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{origin} must be an array of names, not {shown(value)}")
            return account_names(value, origin)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise UsageError(f"{origin} must be true or false, not {shown(value)}")
            return value
        if self.kind is str:
            if not isinstance(value, str):
                raise UsageError(f"{origin} must be a string, not {shown(value)}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{origin} must be a {kind_name(self.kind)}, not {shown(value)}")
        elif self.kind is int and isinstance(value, float):
            raise UsageError(f"{origin} must be a whole number, not {shown(value)}")
        elif not math.isfinite(value):
            raise UsageError(f"{origin} must be a finite number, not {shown(value)}")
        return self.check(self.scalar(value), origin)

    def check(self, value: Any, origin: str) -> Any:
        if self.choices and value not in self.choices:
            raise UsageError(f"{origin} must be {self.bounds()}, not {value!r}")
        if self.kind is str and not value:
            raise UsageError(f"{origin} must not be empty")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise UsageError(f"{origin} must be {self.bounds()}, not {_number(value)}")
        return value


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


SETTINGS: Final = (
    Setting(
        "host",
        str,
        _DEFAULTS.host,
        "address to listen on; 0.0.0.0 or :: is every address of this machine",
        metavar="HOST",
    ),
    Setting(
        "port",
        int,
        _DEFAULTS.port,
        "TCP port",
        0,
        65535,
        "0 = any free port, shown in the log",
        metavar="PORT",
    ),
    Setting(
        "db", str, None, f"SQLite history file; {MEMORY_DB!r} keeps no history", metavar="FILE"
    ),
    Setting(
        "max_line",
        int,
        _DEFAULTS.max_line,
        "longest frame in bytes; a longer line gets frame_too_large and is disconnected",
        512,
        1 << 20,
        metavar="BYTES",
    ),
    Setting(
        "max_conns_per_ip",
        int,
        _DEFAULTS.max_conns_per_ip,
        "connections allowed from one address",
        0,
        1_000_000,
        "0 = unlimited",
    ),
    Setting(
        "msg_rate",
        float,
        _DEFAULTS.msg_rate,
        "frames per second a connection may send once its burst is spent",
        0,
        1_000_000,
        "0 = no limit",
        metavar="PER_SECOND",
    ),
    Setting(
        "msg_burst",
        int,
        _DEFAULTS.msg_burst,
        "frames a connection may send at once before --msg-rate applies",
        1,
        1_000_000,
    ),
    Setting(
        "sendq",
        int,
        _DEFAULTS.sendq,
        "bytes of unread output kept per connection before it is dropped as slow_consumer; "
        "at least --max-line",
        1 << 16,
        1 << 30,
        metavar="BYTES",
    ),
    Setting(
        "sendq_timeout",
        float,
        _DEFAULTS.sendq_timeout,
        "seconds a connection may stay behind (more than a quarter of --sendq unread) before "
        "it is dropped as slow_consumer",
        0.1,
        3600,
        metavar="SECONDS",
    ),
    Setting(
        "max_rooms_per_conn",
        int,
        _DEFAULTS.max_rooms_per_conn,
        "rooms one connection may be in; one more join gets too_many_rooms",
        0,
        1_000_000,
        "0 = unlimited",
    ),
    Setting(
        "max_rooms",
        int,
        _DEFAULTS.max_rooms,
        "rooms the server holds at once (rooms with someone in them); a join that would "
        "create one more gets server_full",
        0,
        100_000_000,
        "0 = unlimited",
    ),
    Setting(
        "new_rooms_per_min",
        int,
        _DEFAULTS.new_rooms_per_min,
        "rooms new to the server that one address may create per minute; past it a join "
        "gets rate_limited",
        0,
        1_000_000,
        "0 = unlimited",
        metavar="PER_MINUTE",
    ),
    Setting(
        "log_level",
        str,
        "info",
        "how much to log",
        choices=LOG_LEVELS,
        metavar="{" + ",".join(LOG_LEVELS) + "}",
    ),
    Setting(
        "retention_days",
        int,
        _DEFAULTS.retention_days,
        "delete room messages older than this many days",
        0,
        36_500,
        "0 = keep them forever",
        metavar="DAYS",
    ),
    Setting(
        "max_history",
        int,
        _DEFAULTS.max_history,
        "keep at most this many of the newest messages of each room, deleting older ones",
        0,
        1_000_000_000,
        "0 = no limit",
    ),
    # TLS (``app/server/tls.py``); kept last so that rows added above merge without a fight.
    Setting(
        "tls_cert",
        str,
        None,
        "PEM certificate chain (leaf first) for the TLS listener; needs --tls-key",
        metavar="PEM",
    ),
    Setting("tls_key", str, None, "PEM private key of --tls-cert, unencrypted", metavar="PEM"),
    Setting(
        "tls_port",
        int,
        _DEFAULTS.tls_port,
        "TCP port of the TLS listener, used when --tls-cert is given",
        0,
        65535,
        "0 = any free port, shown in the log",
        metavar="PORT",
    ),
    Setting(
        "plain",
        bool,
        _DEFAULTS.plain,
        "listen on --port without TLS too; --no-plain (plain = false) leaves the TLS port alone",
        metavar="",
    ),
    # Accounts (``app/server/accounts.py``).
    Setting(
        "accounts_required",
        bool,
        _DEFAULTS.accounts_required,
        "only accounts may join rooms and talk; a guest may still sign in and register",
        metavar="",
    ),
    # Moderation (``app/server/moderation.py``, ``operators.py``).
    Setting(
        "opers",
        tuple,
        _DEFAULTS.opers,
        "an account that is a server operator (repeat the flag for more; PARLEY_OPERS=a,b; "
        'opers = ["a", "b"])',
        metavar="NAME",
        flag_name="oper",
    ),
    # Scale-out (issue 13; ``workers.py``).
    Setting(
        "redis",
        str,
        None,
        "make this process a node of the deployment kept in this Redis "
        "(redis://[USER:PASSWORD@]HOST:PORT/DB, rediss:// for TLS); a password belongs in "
        "PARLEY_REDIS or the config file, where ps cannot show it",
        metavar="URL",
        field_name="redis_url",
    ),
    Setting(
        "workers",
        int,
        _DEFAULTS.workers,
        "node processes to run on this machine, sharing the ports (SO_REUSEPORT); more than "
        "one needs --redis",
        1,
        1024,
    ),
    # SSH keys as identities and the SSH gateway inside the server (``frontends/ssh``).
    Setting(
        "gateway_secret_file",
        str,
        None,
        "a file holding the secret shared with `parley ssh` gateways, which lets their "
        "visitors sign in by SSH key (at least 16 bytes: `head -c 32 /dev/urandom | base64`)",
        metavar="PATH",
    ),
    Setting(
        "ssh_port",
        int,
        None,
        "also serve the terminal UI over SSH on this port, by a gateway inside the server "
        "(needs the ssh extra; its limits are parley ssh's PARLEY_SSH_* variables)",
        0,
        65535,
        "0 = any free port, shown in the log",
        metavar="PORT",
    ),
    Setting(
        "ssh_host_key",
        str,
        None,
        "the --ssh-port gateway's ed25519 host key, created if missing; default: "
        "ssh_host_ed25519_key in the user data dir",
        metavar="PATH",
    ),
    # Edits (``app/server/edits.py``).
    Setting(
        "edit_window",
        int,
        _DEFAULTS.edit_window,
        "seconds after sending a room message during which its author may edit it",
        0,
        31_536_000,
        "0 = editing is off",
        metavar="SECONDS",
    ),
)
BY_KEY: Final = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of ``parley serve`` and where each one came from."""

    config: ServerConfig
    log_level: str
    # key -> "--port", "PARLEY_PORT", "port on line 3 of parley.toml" or "the default".
    origins: Mapping[str, str]

    def to_toml(self) -> str:
        """The settings as a TOML file that ``--config`` reads back, each key with its help."""
        values = self.values()
        lines = [
            "# parley serve settings, printed by `parley serve --print-config`.",
            "# Use with `parley serve --config FILE`; flags and PARLEY_* variables override it.",
        ]
        for setting in SETTINGS:
            bounds = setting.bounds()
            lines.append("")
            lines.append(f"# {setting.help}" + (f", {bounds}" if bounds else ""))
            value = values[setting.key]
            if value is None:
                lines.append(f"# {setting.key} = (not set)")
            else:
                lines.append(f"{setting.key} = {toml_value(value)}")
        return "\n".join(lines) + "\n"

    def values(self) -> dict[str, Any]:
        """Every setting by key, as a file would give it."""
        return {
            setting.key: self.log_level
            if setting.key == "log_level"
            else getattr(self.config, setting.field)
            for setting in SETTINGS
        }


def default_db() -> str:
    """``parley.db`` in the user data directory (not created here)."""
    import platformdirs

    return str(Path(platformdirs.user_data_dir("parley", appauthor=False)) / "parley.db")


def resolve(
    flags: Mapping[str, str | bool | Sequence[str] | None],
    environ: Mapping[str, str],
    config_file: str | None = None,
) -> Settings:
    """The settings from the command line, the environment and a file, checked for type and range.

    ``flags`` maps keys to the text given on the command line (``None`` when not given; a
    bool for a switch, a list for a repeated flag);
    ``config_file`` is ``--config``, or else ``PARLEY_CONFIG`` names the file. An empty variable
    counts as unset. Nothing is opened except the file.
    """
    given: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        given.update(read_file(config_file, "--config"))
    elif environ.get(CONFIG_ENV):
        given.update(read_file(environ[CONFIG_ENV], CONFIG_ENV))
    for setting in SETTINGS:
        text = environ.get(setting.env)
        if text:
            given[setting.key] = (setting.parse(text, setting.env), setting.env)
    for setting in SETTINGS:
        flag = flags.get(setting.key)
        if flag is not None:
            # A switch turned off was spelled --no-plain.
            origin = "--no-" + setting.flag[2:] if flag is False else setting.flag
            given[setting.key] = (setting.parse(flag, origin), origin)
    values = {setting.key: setting.default for setting in SETTINGS}
    origins = {setting.key: "the default" for setting in SETTINGS}
    for key, (value, origin) in given.items():
        values[key] = value
        origins[key] = origin
    if values["sendq"] < values["max_line"]:
        raise UsageError(
            f"{origins['sendq']} must be at least max_line ({values['max_line']}), "
            f"not {values['sendq']}"
        )
    _check_tls(values, origins)
    _check_scale_out(values, origins)
    _check_ssh(values, origins)
    db = values["db"] if values["db"] is not None else default_db()
    if db != MEMORY_DB:
        db = os.path.abspath(os.path.expanduser(db))
    log_level = values.pop("log_level")
    values["db"] = db
    for key in _PATHS - {"db"}:
        if values[key] is not None:
            values[key] = os.path.abspath(os.path.expanduser(values[key]))
    fields = {BY_KEY[key].field: value for key, value in values.items()}
    return Settings(replace(_DEFAULTS, **fields), log_level, origins)


def _check_tls(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """The TLS settings make sense together: both files or neither, and something to listen on."""
    cert, key = values["tls_cert"], values["tls_key"]
    if (cert is None) != (key is None):
        given, missing = ("tls_cert", "--tls-key") if key is None else ("tls_key", "--tls-cert")
        raise UsageError(f"{origins[given]} needs {missing} too: a certificate goes with its key")
    if cert is None and not values["plain"]:
        raise UsageError(
            f"{origins['plain']} turns off the only listener: give --tls-cert and --tls-key"
        )
    port, tls_port = values["port"], values["tls_port"]
    if cert is not None and values["plain"] and port == tls_port != 0:
        raise UsageError(
            f"{origins['tls_port']} must differ from the plain port {port} "
            "(or turn that one off with --no-plain)"
        )


def _check_scale_out(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """The Redis URL is in form, and workers have a Redis to share their rooms through."""
    if values["redis"] is not None:
        check_redis_url(values["redis"], origins["redis"])
    if values["workers"] > 1 and values["redis"] is None:
        raise UsageError(
            f"{origins['workers']} needs --redis: the workers share their rooms, nicks and "
            "history through Redis"
        )


def _check_ssh(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """The SSH gateway inside the server has a plain port to connect to, and one server."""
    if values["ssh_port"] is None:
        return
    if not values["plain"]:
        raise UsageError(
            f"{origins['ssh_port']} needs the plain port, which the SSH gateway connects to "
            "(drop --no-plain)"
        )
    if values["workers"] > 1:
        raise UsageError(
            f"{origins['ssh_port']} runs one SSH gateway inside one server: it cannot go with "
            f"{origins['workers']} (run parley ssh beside the workers instead)"
        )


def read_file(path: str, named_by: str) -> dict[str, tuple[Any, str]]:
    """The settings in the TOML file at ``path`` with their origins, checked; a relative ``db``
    is taken from the file's folder."""
    text, table = read_toml(path, named_by)
    given: dict[str, tuple[Any, str]] = {}
    for key, value in table.items():
        line = line_of(text, key)
        where = f"on line {line} of {path}" if line is not None else f"in {path}"
        setting = BY_KEY.get(key)
        if setting is None:
            raise UsageError(f"unknown key {key!r} {where} ({_known_keys_hint(key)})")
        origin = f"{key} {where}"
        checked = setting.accept(value, origin)
        if key in _PATHS and checked != MEMORY_DB:
            checked = str(Path(path).parent / os.path.expanduser(checked))
        given[key] = (checked, origin)
    return given


# Keys naming a file, which a config file gives relative to its own folder.
_PATHS: Final = frozenset({"db", "tls_cert", "tls_key", "gateway_secret_file", "ssh_host_key"})


def _known_keys_hint(key: str) -> str:
    underscored = key.replace("-", "_")
    if underscored in BY_KEY:
        return f"keys are spelled with underscores: {underscored}"
    return "the keys are " + ", ".join(setting.key for setting in SETTINGS)


def check_machine(settings: Settings) -> None:
    """Check what depends on this machine: the database folder, the host, free ports, that the
    TLS certificate and key load and belong together, that workers can share the ports, and that
    Redis answers (connected once, with a short timeout).

    The default database's folder (the user data directory) is created, as it always was; the
    database itself is not opened, and the port is only bound for a moment to see that it is free.
    """
    config, origins = settings.config, settings.origins
    if origins["db"] == "the default":
        folder = Path(config.db).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create the data folder {folder} for the history: {os_reason(exc)} "
                "(--db names another file)"
            ) from None
    check_db(config.db, origins["db"])
    if config.plain:
        check_listen(config.host, config.port, origins["host"])
    if config.tls_cert is not None and config.tls_key is not None:
        try:
            server_context(config.tls_cert, config.tls_key, origins["tls_cert"], origins["tls_key"])
        except CertificateError as exc:
            raise UsageError(str(exc)) from None
        check_listen(config.host, config.tls_port, origins["host"])
    if config.workers > 1:
        check_reuse_port(origins["workers"])
    if config.redis_url is not None:
        check_redis(config.redis_url, origins["redis"])
    if config.gateway_secret_file is not None:
        read_secret(config.gateway_secret_file, origins["gateway_secret_file"])
    if config.ssh_port is not None:
        check_listen(config.host, config.ssh_port, origins["host"])
