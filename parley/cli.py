"""The ``parley`` command line: one subcommand per way of running Parley.

This module sits above everything it launches: ``serve`` runs ``app.server``, ``tui`` and
``demo`` run ``frontends.tui``, ``tk`` runs ``frontends.tk`` and ``bench`` runs ``benchmarks``
(only in a source checkout: the benchmark is not installed). Each is imported when its command
runs, and only that command's parser is built, so ``parley serve`` imports no frontend and no
benchmark. The server's flags, their ``PARLEY_<FLAG>`` variables and its ``--config`` file are
resolved and checked by ``app/server/settings.py``; the clients' flags are declared here, and
whether a Tk window can open is checked here before ``frontends.tk`` is imported. Every bad
value, for any subcommand, is one sentence on stderr and exit status 2, found before anything is
opened: the checks raise ``UsageError`` and ``main`` prints it; argparse's own errors are
shortened to the same one line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

if TYPE_CHECKING:
    from app.server.config import ServerConfig
    from app.server.settings import Setting

Command = Callable[[argparse.Namespace], int]
AddParser = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other bad value (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from app.server.settings import CONFIG_ENV, SETTINGS

    serve = sub.add_parser(
        "serve",
        help="run a Parley server",
        description="Run a Parley server. Every flag can also be set as PARLEY_<FLAG> "
        "(--max-line is PARLEY_MAX_LINE) or as a key of a TOML file given with --config "
        "(max_line = 4096); the command line wins over the environment, which wins over the file.",
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"read settings from this TOML file (default: ${CONFIG_ENV}, else none); "
        "docs/parley.example.toml shows every key",
    )
    serve.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings this command would run with, as a TOML file, and exit",
    )
    for setting in SETTINGS:
        if setting.kind is bool:
            # --plain / --no-plain: None when neither is given, so PARLEY_PLAIN or the file decide.
            serve.add_argument(
                setting.flag,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_serve_help(setting),
            )
            continue
        if setting.kind is tuple:
            # --oper a --oper b: None when not given, so PARLEY_OPERS or the file decide.
            serve.add_argument(
                setting.flag,
                action="append",
                dest=setting.key,
                default=None,
                metavar=setting.metavar,
                help=_serve_help(setting),
            )
            continue
        serve.add_argument(
            setting.flag,
            default=None,
            metavar=setting.metavar,
            help=_serve_help(setting),
        )
    serve.set_defaults(command=_serve)


def _serve_help(setting: Setting) -> str:
    default = "parley.db in the user data dir" if setting.key == "db" else str(setting.default)
    if setting.kind is bool:
        default = "--" + setting.key if setting.default else "--no-" + setting.key
    elif setting.default is None or setting.default == ():
        default = "none"
    bounds = "" if setting.choices else setting.bounds()
    return setting.help + (f", {bounds}" if bounds else "") + f"; default: {default}"


def _serve(args: argparse.Namespace) -> int:
    from app.server.settings import SETTINGS, UsageError, check_machine, resolve

    settings = resolve(
        {setting.key: getattr(args, setting.key) for setting in SETTINGS},
        os.environ,
        args.config,
    )
    if args.print_config:
        sys.stdout.write(settings.to_toml())
        return 0
    check_machine(settings)
    logging.getLogger().setLevel(settings.log_level.upper())
    config = _with_gateway_secret(settings.config)
    from app.server.workers import run_serve

    if config.ssh_port is None:
        return run_serve(config, settings.log_level)
    try:
        import asyncssh  # noqa: F401
    except ImportError:
        raise UsageError(
            "--ssh-port needs asyncssh, which is not installed: pip install 'parley-chat[ssh]'"
        ) from None
    from frontends.ssh.gateway import GatewayInside

    return run_serve(config, settings.log_level, GatewayInside(config, os.environ))


def _with_gateway_secret(config: ServerConfig) -> ServerConfig:
    """``config`` with the secret SSH gateways prove keys with: read from
    ``--gateway-secret-file``, else made up for the gateway of ``--ssh-port``, else none."""
    import secrets
    from dataclasses import replace

    from app.server.checks import read_secret

    if config.gateway_secret_file is not None:
        secret = read_secret(config.gateway_secret_file, "--gateway-secret-file")
    elif config.ssh_port is not None:
        secret = secrets.token_bytes(32)
    else:
        return config
    return replace(config, gateway_secret=secret)


def _add_tk(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tk = sub.add_parser(
        "tk",
        help="open the desktop chat window",
        description="Open the Tk chat window. Without --nick a sign-in form asks for nick and "
        "server (remembered for next time). " + PASSWORD_HELP,
    )
    _add_client_flags(tk)
    tk.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr",
    )
    tk.set_defaults(command=_tk)


def _tk(args: argparse.Namespace) -> int:
    client = _client_args(args)
    _check_display()
    from frontends.tk import run

    return run(**client)


def _add_client_flags(parser: argparse.ArgumentParser) -> None:
    """The flags ``parley tui`` and ``parley tk`` share: which server, which nick, TLS and the
    password switches."""
    parser.add_argument("--host", default=None, help="server address (default: the last one used)")
    parser.add_argument(
        "--port", default=None, help="server port, 1 to 65535 (default: the last one used)"
    )
    parser.add_argument("--nick", default=None, help="connect at once with this nick")
    _add_tls_flags(parser)
    _add_password_flags(parser)


def _client_args(args: argparse.Namespace) -> dict[str, Any]:
    """The shared client flags, checked, as keyword arguments for a frontend's ``run``."""
    from app.server.checks import parse_port

    return {
        "host": args.host,
        "port": None if args.port is None else parse_port(args.port, "--port"),
        "nick": args.nick,
        "tls": args.tls,
        "ca": _check_ca(args.ca),
        "password": _password(args),
        "allow_plain_password": args.allow_plain_password,
    }


def _add_tls_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls",
        action="store_true",
        help="connect in TLS, verifying the server against the system's CAs "
        "(default: as remembered for the server; the port then defaults to 65434)",
    )
    parser.add_argument(
        "--ca",
        default=None,
        metavar="PEM",
        help="trust only the CA certificates in this PEM file (a private CA); implies --tls",
    )


PASSWORD_HELP: Final = (
    "The password of a registered nick comes from the environment variable PARLEY_PASSWORD "
    "(for scripts) or from the sign-in form, never from a flag on the command line, which every "
    "user of the machine can read in ps. It is sent only over TLS or to this machine, unless "
    "--allow-plain-password says otherwise."
)


def _add_password_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-plain-password",
        action="store_true",
        help="send the password to a server on another machine even without TLS, where anyone "
        "on the way can read it (default: refuse, and say so)",
    )
    # Not a flag: it exists only to refuse a password typed on the command line, saying why.
    parser.add_argument("--password", default=None, help=argparse.SUPPRESS)


def _password(args: argparse.Namespace) -> str | None:
    """The password from ``PARLEY_PASSWORD``; a ``--password`` on the command line is refused."""
    from app.client.accounts import PASSWORD_ENV, password_from_env
    from app.server.settings import UsageError

    if args.password is not None:
        raise UsageError(
            "there is no --password: a command line is visible to every user of the machine "
            f"in ps; set {PASSWORD_ENV}, or type the password in the sign-in form"
        )
    return password_from_env()


def _check_ca(path: str | None) -> str | None:
    """``--ca`` names a PEM file of CA certificates that TLS can load; its absolute path."""
    from app.server.checks import check_ca_file

    return None if path is None else check_ca_file(path, "--ca")


def _check_display() -> None:
    """A Tk window can open here: tkinter is built in and the display answers."""
    from app.server.settings import UsageError

    try:
        import tkinter
    except ImportError:
        raise UsageError(
            "this Python has no tkinter, which the window needs (parley tui works in a terminal)"
        ) from None
    if sys.platform not in ("win32", "darwin") and not os.environ.get("DISPLAY"):
        raise UsageError(
            "there is no graphical display: DISPLAY is not set (parley tui works in a terminal)"
        )
    try:
        probe = tkinter.Tk()
    except tkinter.TclError as exc:
        raise UsageError(f"the graphical display does not answer: {exc}") from None
    probe.destroy()


def _add_terminal_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-bell", action="store_true", help="do not ring the bell on mentions")
    parser.add_argument(
        "--log-file",
        default=None,
        help="write the log to this file (default: nowhere, the terminal is the UI)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to write to --log-file",
    )


def _add_tui(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = sub.add_parser(
        "tui",
        help="chat in this terminal (works over SSH)",
        description="Chat in the terminal. Without --nick a login screen asks for nick and "
        "server. " + PASSWORD_HELP,
    )
    _add_client_flags(tui)
    tui.add_argument(
        "--fixed-server",
        action="store_true",
        help="the login screen cannot change the server and nothing is remembered "
        "(how parley ssh and parley web run it for their visitors)",
    )
    tui.add_argument(
        "--login-screen-timeout",
        metavar="SECONDS",
        help="exit, saying why, unless signed in within this long, typing or not (how parley "
        "ssh and parley web run it for their visitors); default: no limit",
    )
    _add_terminal_flags(tui)
    tui.set_defaults(command=_tui)


def _tui(args: argparse.Namespace) -> int:
    from app.server.checks import check_writable_file
    from frontends.flags import FlagReader

    client = _client_args(args)
    if args.log_file is not None:
        check_writable_file(args.log_file, "--log-file")
    # A flag only: PARLEY_SSH_LOGIN_SCREEN_TIMEOUT is the gateway's, not read here.
    login_screen_timeout = FlagReader(args, {}, "").seconds("login_screen_timeout")
    from frontends.tui.run import run_tui

    return run_tui(
        **client,
        bell=not args.no_bell,
        log_file=args.log_file,
        server_fixed=args.fixed_server,
        login_screen_timeout=login_screen_timeout,
    )


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="start a local server and chat on it in this terminal",
        description="Start a server on a free local port and open the terminal UI on it; prints "
        "the command with which a second person joins.",
    )
    demo.add_argument(
        "--db",
        default=None,
        help="SQLite history file; ':memory:' keeps none (default: a temporary one, deleted after)",
    )
    demo.add_argument("--nick", default=None, help="your nick (default: ask)")
    demo.add_argument(
        "--tls",
        action="store_true",
        help="serve over TLS only, with a throwaway certificate made for this run",
    )
    _add_terminal_flags(demo)
    demo.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    from app.server.checks import UsageError, check_db, check_writable_file

    if args.db is not None:
        check_db(args.db, "--db")
    if args.log_file is not None:
        check_writable_file(args.log_file, "--log-file")
    if args.tls:
        # A dependency, so only a broken install lacks it; the certificate is made with it.
        try:
            import cryptography  # noqa: F401
        except ImportError:
            raise UsageError(
                "--tls needs the cryptography package: pip install cryptography"
            ) from None
    from frontends.tui.run import run_demo

    return run_demo(
        db=args.db, nick=args.nick, bell=not args.no_bell, log_file=args.log_file, tls=args.tls
    )


def _add_ssh(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from frontends.ssh.options import add_ssh_parser

    add_ssh_parser(sub)
    sub.choices["ssh"].set_defaults(command=_ssh)


def _ssh(args: argparse.Namespace) -> int:
    from frontends.ssh.options import config_from

    config = config_from(args, os.environ)
    _require("asyncssh", "ssh")
    from frontends.ssh.gateway import run_gateway

    return run_gateway(config)


def _add_web(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from frontends.web.options import add_web_parser

    add_web_parser(sub)
    sub.choices["web"].set_defaults(command=_web)


def _web(args: argparse.Namespace) -> int:
    from frontends.web.options import config_from

    config = config_from(args, os.environ)
    _require("textual_serve", "web")
    from frontends.web.server import run_web

    return run_web(config)


def _require(module: str, extra: str) -> None:
    """``module`` can be imported, else a one-line error that names the extra to install."""
    import importlib.util

    from app.server.settings import UsageError

    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"this needs {module}, which is not installed: pip install 'parley-chat[{extra}]'"
        )


def _add_admin(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from parley.admin import add_admin  # its actions and their help are parley/admin.py's

    add_admin(sub)


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_bench_parser = _bench_parser()
    if add_bench_parser is None:
        # Listed in --help all the same; main() refuses to run it.
        sub.add_parser("bench", help="measure fan-out throughput (in a source checkout only)")
        return
    add_bench_parser(sub)


def _bench_parser() -> AddParser | None:
    """The benchmark's ``add_bench_parser``, or ``None`` where ``benchmarks`` is not importable
    (an installed Parley: the package is not shipped)."""
    try:
        # The benchmark owns its flags; its parser module imports nothing heavy.
        from benchmarks.cli import add_bench_parser
    except ModuleNotFoundError as exc:
        # Another project's top-level ``benchmarks`` has no ``cli`` module: the same as none.
        if exc.name in ("benchmarks", "benchmarks.cli"):
            return None
        raise
    return add_bench_parser


NO_BENCHMARK: Final = (
    "the benchmark is not part of an installed Parley: run `python -m parley bench` "
    "in a source checkout"
)

_COMMANDS: Final[dict[str, AddParser]] = {
    "serve": _add_serve,
    "tk": _add_tk,
    "tui": _add_tui,
    "demo": _add_demo,
    "ssh": _add_ssh,
    "web": _add_web,
    "admin": _add_admin,
    "bench": _add_bench,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``parley`` parser with every subcommand, or with ``command``'s alone.

    ``main`` builds only the command it runs, so that running one never imports what another
    needs (the benchmark's flags come from ``benchmarks``); ``--help`` and a wrong or missing
    command get all of them.
    """
    parser = _Parser(prog="parley", description="Parley: a small chat system.")
    # The subcommands' parsers are _Parsers too; the helpers below need only ArgumentParser's API.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(
            title="commands", dest="subcommand", required=True, metavar="COMMAND"
        ),
    )
    for name, add in _COMMANDS.items():
        if command is None or name == command:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``parley`` with ``argv`` (default: the process arguments); the exit status.

    A ``UsageError`` is printed as ``parley COMMAND: error: SENTENCE`` with status 2; Ctrl+C
    before a command has its own handling (say, during start-up) exits 130 without a traceback.
    """
    try:
        # Imported here, like everything below, so that Ctrl+C during start-up is caught too.
        from app.server.settings import LOG_LEVELS, UsageError

        words = sys.argv[1:] if argv is None else list(argv)
        chosen = words[0] if words and words[0] in _COMMANDS else None
        if chosen == "bench" and _bench_parser() is None:
            print(f"parley bench: error: {NO_BENCHMARK}", file=sys.stderr)
            return 2
        args = build_parser(chosen).parse_args(words)
        # serve's level is checked later with its other settings, and bench has none: INFO.
        level = getattr(args, "log_level", None)
        logging.basicConfig(
            level=level.upper() if level in LOG_LEVELS else "INFO",
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        command: Command = args.command
        try:
            return command(args)
        except UsageError as exc:
            print(f"parley {args.subcommand}: error: {exc}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        return 130
