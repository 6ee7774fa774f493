"""The ``parley`` command line: one subcommand per way of running Parley.

``parley serve`` runs the server; the frontends and tools add their own subcommands here. Each
server flag may also come from an environment variable ``PARLEY_<FLAG>`` (``--max-line`` is
``PARLEY_MAX_LINE``); a flag given on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.protocol import DEFAULT_MAX_LINE, DEFAULT_PORT

Command = Callable[[argparse.Namespace], int]


def default_db() -> str:
    """``parley.db`` in the user data directory, which is created if needed."""
    import platformdirs

    folder = Path(platformdirs.user_data_dir("parley", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / "parley.db")


def _env(name: str, default: object) -> object:
    return os.environ.get(f"PARLEY_{name.upper()}", default)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="run a Parley server",
        description="Run a Parley server. Every flag can also be set as PARLEY_<FLAG>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default=_env("host", "127.0.0.1"), help="address to listen on")
    serve.add_argument("--port", type=int, default=_env("port", DEFAULT_PORT), help="TCP port")
    serve.add_argument(
        "--db",
        default=_env("db", None),
        help="SQLite history file (default: parley.db in the user data dir); ':memory:' keeps none",
    )
    serve.add_argument(
        "--max-line",
        type=int,
        default=_env("max_line", DEFAULT_MAX_LINE),
        help="longest frame in bytes; a longer line gets frame_too_large and is disconnected",
    )
    serve.add_argument(
        "--max-conns-per-ip",
        type=int,
        default=_env("max_conns_per_ip", 16),
        help="connections allowed from one address (0 = unlimited)",
    )
    serve.add_argument(
        "--msg-rate",
        type=float,
        default=_env("msg_rate", 2.0),
        help="frames per second a connection may send once its burst is spent (0 = no limit)",
    )
    serve.add_argument(
        "--msg-burst",
        type=int,
        default=_env("msg_burst", 20),
        help="frames a connection may send at once before --msg-rate applies",
    )
    serve.add_argument(
        "--sendq",
        type=int,
        default=_env("sendq", 1 << 20),
        help="bytes of unread output kept per connection before it is dropped as slow_consumer",
    )
    serve.add_argument(
        "--log-level",
        default=_env("log_level", "info"),
        choices=["debug", "info", "warning", "error"],
        help="how much to log",
    )
    serve.set_defaults(command=_serve)


def _serve(args: argparse.Namespace) -> int:
    from app.server import ServerConfig, run

    config = ServerConfig(
        host=args.host,
        port=int(args.port),
        db=args.db or default_db(),
        max_line=int(args.max_line),
        max_conns_per_ip=int(args.max_conns_per_ip),
        msg_rate=float(args.msg_rate),
        msg_burst=int(args.msg_burst),
        sendq=int(args.sendq),
    )
    return run(config)


def _add_tk(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tk = sub.add_parser(
        "tk",
        help="open the desktop chat window",
        description="Open the Tk chat window. Without --nick a sign-in form asks for nick and "
        "server (remembered for next time).",
    )
    tk.add_argument("--host", default=None, help="server address (default: the last one used)")
    tk.add_argument("--port", type=int, default=None, help="server port (default: the last one)")
    tk.add_argument("--nick", default=None, help="connect at once with this nick")
    tk.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr",
    )
    tk.set_defaults(command=_tk)


def _tk(args: argparse.Namespace) -> int:
    from frontends.tk import run

    return run(host=args.host, port=args.port, nick=args.nick)


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
        description="Chat in the terminal. Without --nick a login screen asks for nick and server.",
    )
    tui.add_argument("--host", default=None, help="server address (default: the last one used)")
    tui.add_argument("--port", type=int, default=None, help="server port (default: the last one)")
    tui.add_argument("--nick", default=None, help="connect at once with this nick")
    _add_terminal_flags(tui)
    tui.set_defaults(command=_tui)


def _tui(args: argparse.Namespace) -> int:
    from frontends.tui.run import run_tui

    return run_tui(
        host=args.host,
        port=args.port,
        nick=args.nick,
        bell=not args.no_bell,
        log_file=args.log_file,
    )


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="start a local server and chat on it in this terminal",
        description="Start a server on a free local port and open the terminal UI on it; prints "
        "the command with which a second person joins.",
    )
    demo.add_argument(
        "--db", default=None, help="SQLite history file (default: a temporary one, deleted after)"
    )
    demo.add_argument("--nick", default=None, help="your nick (default: ask)")
    _add_terminal_flags(demo)
    demo.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    from frontends.tui.run import run_demo

    return run_demo(db=args.db, nick=args.nick, bell=not args.no_bell, log_file=args.log_file)


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The benchmark owns its flags; its parser module imports nothing heavy.
    from benchmarks.cli import add_bench_parser

    add_bench_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    """The ``parley`` parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="parley", description="Parley: a small chat system.")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_tk(sub)
    _add_tui(sub)
    _add_demo(sub)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``parley`` with ``argv`` (default: the process arguments)."""
    args = build_parser().parse_args(argv)
    level = getattr(args, "log_level", "info")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    command: Command = args.command
    return command(args)
