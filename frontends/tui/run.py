"""The entry points of ``parley tui`` and ``parley demo``, and how they end.

This module owns how the terminal UI is started and stopped. ``run_tui`` opens the app on a
server (by default the one remembered from last time) and hands logging to a file or to nowhere,
because the terminal belongs to the UI. ``run_demo`` is the one-command tour: it starts an
embedded ``app.server.Server`` on a free loopback port on the same asyncio loop that then runs
the Textual app (one process, one loop), with a temporary database unless ``--db`` names one.
Before the UI takes over the terminal it prints the exact command with which a second person
joins, and the UI keeps that command in its status line until someone has joined (and in the
log as history). Both run the app under ``StopOnSignal``: SIGTERM or SIGHUP (a closed terminal)
end the app the way Ctrl+Q does, so Textual leaves the alternate screen and restores the
terminal's modes; then the demo's server says goodbye to everyone and the temporary database
goes. A second signal exits at once, restoring the terminal and removing the temporary folder
itself. The demo's server is not remembered as the user's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import termios
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, TextIO

from app.client.accounts import ssh_identity_from_env
from app.client.config import DEFAULT_HOST, ConfigStore
from app.protocol import DEFAULT_PORT, DEFAULT_TLS_PORT
from app.server import Server, ServerConfig
from app.server.tls import write_throwaway_pair
from frontends.base import freeze_startup_heap
from frontends.tui.app import ParleyApp

# A terminal that closes sends SIGHUP; a service manager or `kill` sends SIGTERM.
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)
# How long the app and the demo's server get to stop after a signal before the process exits
# anyway: the app's QUIT_GRACE for the server's goodbye, the server's own shutdown_timeout
# (5 s) to say goodbye to its clients, and room to spare.
STOP_GRACE: Final = 10.0
# What Textual's driver turns on (alternate screen, hidden cursor, mouse, focus and paste
# reports, the kitty keyboard protocol, no line wrap), turned off, for an exit that skips it.
_RESET_SCREEN: Final = (
    "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"
    "\x1b[?2004l\x1b[?7h"
)

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def log_to_file(path: str | None) -> None:
    """Send the process's logging to ``path`` (or nowhere): the terminal belongs to the UI.

    A line written to stderr while Textual draws would tear the screen, and the CLI has already
    pointed logging at stderr, so its handlers are replaced here.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if path is None:
        root.addHandler(logging.NullHandler())
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


class StopOnSignal:
    """Turns SIGTERM and SIGHUP into an ordinary exit of the app.

    The first signal asks the app to exit, as Ctrl+Q does: Textual's own shutdown then restores
    the terminal (its driver leaves SIGTERM and SIGHUP alone, whose default would kill the
    process in raw mode), and the caller's ``finally`` blocks run. If that has not finished
    within ``STOP_GRACE``, or on a second signal, the process exits at once: it restores the
    terminal as it was on entry, removes ``scratch`` and leaves with ``os._exit``. A signal that
    was ignored when we started (``nohup``) stays ignored.

    The handlers are plain ``signal.signal`` ones rather than the loop's: after a hangup the
    kernel sends SIGCONT too, on which Textual's driver starts the terminal over (new threads
    writing to a terminal that is gone, and a shutdown that then blocks for ever). Python runs
    pending handlers in signal-number order, so the SIGHUP handler gets to disarm SIGCONT first;
    the exit itself is handed to the loop.

    ``status`` is the exit status: 0, or 128 + the signal's number after a signal, as a shell
    reports a process that a signal ended, so a script can tell "stopped" from "finished".
    """

    def __init__(self, *, scratch: str | None = None) -> None:
        self.scratch = scratch
        self.signum: int | None = None
        self._app: ParleyApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, _Handler] = {}
        self._modes: list[Any] | None = None
        self._deadline: threading.Timer | None = None

    def __enter__(self) -> StopOnSignal:
        self._loop = asyncio.get_running_loop()
        self._modes = _terminal_modes()
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._received)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        if self._deadline is not None:
            self._deadline.cancel()

    @property
    def status(self) -> int:
        return 0 if self.signum is None else 128 + self.signum

    async def run(self, app: ParleyApp) -> None:
        """Run ``app`` until it exits or a signal ends it (unless one already came)."""
        if self.signum is not None:
            return
        self._app = app
        try:
            await app.run_async()
        finally:
            self._app = None

    def _received(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler: it may run between any two bytecodes of the loop, so it only
        # records the signal and hands the exit to the loop.
        if self.signum is not None:
            self._exit_now(signum)
        self.signum = signum
        signal.signal(signal.SIGCONT, _ignore_continue)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_app)
        self._deadline = threading.Timer(STOP_GRACE, self._exit_now, (signum,))
        self._deadline.daemon = True
        self._deadline.start()

    def _stop_app(self) -> None:
        if self._app is not None:
            self._app.exit()

    def _exit_now(self, signum: int) -> None:
        app, screen = self._app, _fileno(sys.__stderr__)
        if app is not None and app.is_running and screen is not None:
            with contextlib.suppress(OSError):
                os.write(screen, _RESET_SCREEN.encode())
        _restore_terminal_modes(self._modes)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        os._exit(128 + signum)


def _ignore_continue(signum: int, frame: FrameType | None) -> None:
    """SIGCONT while stopping: the process continues, and nothing is started over."""


def _fileno(stream: TextIO | None) -> int | None:
    """The descriptor of one of the process's original streams (Textual reads the keyboard
    and the terminal's modes from stdin and draws on stderr)."""
    if stream is None:
        return None
    try:
        return stream.fileno()
    except (OSError, ValueError):
        return None


def _terminal_modes() -> list[Any] | None:
    """The terminal's modes (termios) on stdin, if it is a terminal."""
    keyboard = _fileno(sys.__stdin__)
    if keyboard is None:
        return None
    try:
        return termios.tcgetattr(keyboard)
    except termios.error:
        return None


def _restore_terminal_modes(modes: list[Any] | None) -> None:
    keyboard = _fileno(sys.__stdin__)
    if modes is None or keyboard is None:
        return
    with contextlib.suppress(termios.error):
        termios.tcsetattr(keyboard, termios.TCSANOW, modes)


async def run_app(app: ParleyApp) -> int:
    """Run ``app`` on this loop under ``StopOnSignal``; the exit status (1 if Textual gave up
    on an error it reported)."""
    freeze_startup_heap()
    with StopOnSignal() as stop:
        await stop.run(app)
    return stop.status or app.return_code or 0


def run_tui(
    *,
    host: str | None,
    port: int | None,
    nick: str | None,
    bell: bool = True,
    log_file: str | None = None,
    tls: bool = False,
    ca: str | None = None,
    password: str | None = None,
    allow_plain_password: bool = False,
    server_fixed: bool = False,
    login_screen_timeout: float | None = None,
) -> int:
    """``parley tui``: chat in this terminal until the user quits.

    The server (and whether it speaks TLS) defaults to the one used last time (remembered in
    the client config), and without a nick the login screen asks for one. ``password``
    (``PARLEY_PASSWORD``) signs in to an account; it is held in memory only. ``server_fixed``
    (``--fixed-server``, as ``parley ssh`` and ``parley web`` run it for their visitors): the
    server is the one given and cannot be changed, and nothing is read from or written to the
    client config, which belongs to the gateway's user, not to the visitor; the visitor's SSH
    key, when the gateway vouches for it (``PARLEY_SSH_KEY_TOKEN``), is who they are.
    ``login_screen_timeout``: exit (status 1, saying why) unless signed in within that long.
    """
    log_to_file(log_file)
    if server_fixed:
        app = ParleyApp(
            host=host or DEFAULT_HOST,
            port=port or (DEFAULT_TLS_PORT if tls or ca else DEFAULT_PORT),
            nick=nick,
            tls=tls or ca is not None,
            ca=ca,
            bell=bell,
            password=password,
            allow_plain_password=allow_plain_password,
            server_fixed=True,
            ssh_key=ssh_identity_from_env(os.environ),
            login_screen_timeout=login_screen_timeout,
        )
        return asyncio.run(run_app(app))
    store = ConfigStore.default()
    remembered = store.load()
    # The remembered port and TLS belong to the remembered host, not to one named now.
    host, port, tls, ca = remembered.server_for(host, port, tls=tls, ca=ca)
    app = ParleyApp(
        host=host,
        port=port,
        nick=nick,
        tls=tls,
        ca=ca,
        bell=bell,
        store=store,
        suggested_nick=remembered.nick or "",
        password=password,
        allow_plain_password=allow_plain_password,
        login_screen_timeout=login_screen_timeout,
    )
    return asyncio.run(run_app(app))


DEMO_HOST = "127.0.0.1"


def join_command(host: str, port: int, ca: str | None = None) -> str:
    """What a second person types to join the demo from another terminal on this machine
    (with ``ca``, the demo's throwaway CA, over TLS)."""
    command = f"parley tui --host {host} --port {port}"
    return f"{command} --tls --ca {ca}" if ca is not None else command


def demo_app(*, port: int, nick: str | None, bell: bool = True, ca: str | None = None) -> ParleyApp:
    """The app as ``parley demo`` opens it on its server at ``port`` (TLS if ``ca``): with the
    join command as its invite, and with no store, so the demo's server is not remembered."""
    return ParleyApp(
        host=DEMO_HOST,
        port=port,
        nick=nick,
        ca=ca,
        bell=bell,
        invite=join_command(DEMO_HOST, port, ca),
        suggested_nick=ConfigStore.default().load().nick or "",
    )


def demo_config(db: str, scratch: str | None, tls: bool) -> tuple[ServerConfig, str | None]:
    """The demo server's settings, and with ``tls`` the CA file of a throwaway certificate made
    in ``scratch``: then the server listens in TLS only."""
    if not tls or scratch is None:
        return ServerConfig(host=DEMO_HOST, port=0, db=db), None
    pair = write_throwaway_pair(Path(scratch), (DEMO_HOST, "localhost"))
    config = ServerConfig(
        host=DEMO_HOST,
        db=db,
        tls_cert=str(pair.cert),
        tls_key=str(pair.key),
        tls_port=0,
        plain=False,
    )
    return config, str(pair.ca)


async def serve_demo(
    *, db: str, nick: str | None, bell: bool, scratch: str | None = None, tls: bool = False
) -> int:
    """Run the embedded server and the app on the running loop until the user quits or a
    signal stops them; the exit status. ``scratch``: the demo's temporary folder (which holds
    the throwaway certificate with ``tls``)."""
    with StopOnSignal(scratch=scratch) as stop:
        config, ca = demo_config(db, scratch, tls)
        server = Server(config)
        await server.start()
        port = server.tls_port if ca is not None else server.port
        try:
            # Short lines: a line wider than the terminal would wrap in the middle of a path.
            how = " (TLS only, a throwaway certificate)" if ca is not None else ""
            print(f"Parley demo server on {DEMO_HOST}:{port}{how}")
            if scratch is not None and db.startswith(scratch):
                print(f"Temporary database: {db} (deleted on exit)")
            else:
                print(f"Database: {db}")
            print(f"To join from another terminal:  {join_command(DEMO_HOST, port, ca)}")
            sys.stdout.flush()
            app = demo_app(port=port, nick=nick, bell=bell, ca=ca)
            await stop.run(app)
        finally:
            await server.stop()
    if stop.signum != signal.SIGHUP:  # after a hangup there is no terminal to tell
        with contextlib.suppress(OSError):
            print("Parley demo stopped.", flush=True)
    return stop.status or app.return_code or 0


def run_demo(
    *,
    db: str | None,
    nick: str | None,
    bell: bool = True,
    log_file: str | None = None,
    tls: bool = False,
) -> int:
    """``parley demo``: start the embedded server and open the UI on it."""
    log_to_file(log_file)
    if db is not None and not tls:
        return asyncio.run(serve_demo(db=db, nick=nick, bell=bell))
    with tempfile.TemporaryDirectory(prefix="parley-demo-") as folder:
        path = db if db is not None else str(Path(folder) / "demo.db")
        return asyncio.run(serve_demo(db=path, nick=nick, bell=bell, scratch=folder, tls=tls))
