"""The entry points of ``parley tui`` and ``parley demo``.

This module owns how the terminal UI is started. ``run_tui`` opens the app on a server (by default
the one remembered from last time) and hands logging to a file or to nowhere, because the
terminal belongs to the UI. ``run_demo`` is the one-command tour: it starts an embedded
``app.server.Server`` on a free loopback port on the same asyncio loop that then runs the Textual
app (one process, one loop), with a temporary database unless ``--db`` names one. Before the UI
takes over the terminal it prints the exact command with which a second person joins, and the UI
keeps it in its status line until someone has joined (and in the log as history). When the user
quits, the server says goodbye to everyone and the temporary database goes. The demo's server is
not remembered as the user's server.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from app.client.config import ConfigStore
from app.protocol import DEFAULT_PORT
from app.server import Server, ServerConfig
from frontends.tui.app import ParleyApp


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


def run_tui(
    *,
    host: str | None,
    port: int | None,
    nick: str | None,
    bell: bool = True,
    log_file: str | None = None,
) -> int:
    """``parley tui``: chat in this terminal until the user quits.

    The server defaults to the one used last time (remembered in the client config), and
    without a nick the login screen asks for one.
    """
    log_to_file(log_file)
    store = ConfigStore.default()
    remembered = store.load()
    if port is None:
        # The remembered port belongs to the remembered host, not to one named now.
        port = remembered.port if host in (None, remembered.host) else DEFAULT_PORT
    app = ParleyApp(
        host=host or remembered.host,
        port=port,
        nick=nick,
        bell=bell,
        store=store,
        suggested_nick=remembered.nick or "",
    )
    app.run()
    return 0


DEMO_HOST = "127.0.0.1"


def join_command(host: str, port: int) -> str:
    """What a second person types to join the demo from another terminal on this machine."""
    return f"parley tui --host {host} --port {port}"


def demo_app(*, port: int, nick: str | None, bell: bool = True) -> ParleyApp:
    """The app as ``parley demo`` opens it on its server at ``port``: with the join command as
    its invite, and with no store, so the demo's server is not remembered."""
    return ParleyApp(
        host=DEMO_HOST,
        port=port,
        nick=nick,
        bell=bell,
        invite=join_command(DEMO_HOST, port),
        suggested_nick=ConfigStore.default().load().nick or "",
    )


async def serve_demo(*, db: str, nick: str | None, bell: bool) -> int:
    """Run the embedded server and the app on the running loop until the user quits."""
    server = Server(ServerConfig(host=DEMO_HOST, port=0, db=db))
    await server.start()
    command = join_command(DEMO_HOST, server.port)
    print(f"Parley demo server on {DEMO_HOST}:{server.port} (database: {db})")
    print(f"To join from another terminal:  {command}", flush=True)
    app = demo_app(port=server.port, nick=nick, bell=bell)
    try:
        await app.run_async()
    finally:
        await server.stop()
    print("Parley demo stopped.")
    return 0


def run_demo(
    *, db: str | None, nick: str | None, bell: bool = True, log_file: str | None = None
) -> int:
    """``parley demo``: start the embedded server and open the UI on it."""
    log_to_file(log_file)
    if db is not None:
        return asyncio.run(serve_demo(db=db, nick=nick, bell=bell))
    with tempfile.TemporaryDirectory(prefix="parley-demo-") as folder:
        path = str(Path(folder) / "demo.db")
        return asyncio.run(serve_demo(db=path, nick=nick, bell=bell))
