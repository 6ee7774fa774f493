"""Make ``docs/tk.png``: the Tk window in the middle of a conversation, on a virtual display.

Run ``python scripts/tk_screenshot.py [--output docs/tk.png]`` from the repository root. It needs
Xvfb and ImageMagick's ``import``. It starts its own Xvfb (so no other window gets in the
way), an embedded Parley server on a free port with a temporary database, and three
scripted chatters on a background thread; then it opens ``parley tk`` as alice in this process,
lets the chatter happen (history, a topic, a mention, a ``/me``, a direct message, unread
messages in another room, someone away), and saves the window with ImageMagick's ``import``.
Everything it started is stopped before it exits, and it is deterministic enough to rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.client.config import ConfigStore  # noqa: E402
from app.client.state import ConnectionState  # noqa: E402
from app.server import Server, ServerConfig  # noqa: E402
from frontends.tk.app import TkApp, apply_style  # noqa: E402
from frontends.tk.display import virtual_display  # noqa: E402

WIDTH, HEIGHT = 1040, 660


class Chatter:
    """A scripted user on a raw socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._drain = asyncio.ensure_future(self._discard())

    @classmethod
    async def open(cls, port: int, nick: str) -> Chatter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        chatter = cls(reader, writer)
        await chatter.send(type="hello", nick=nick, proto=1)
        return chatter

    async def _discard(self) -> None:
        while await self.reader.readline():
            pass

    async def send(self, **frame: Any) -> None:
        self.writer.write(json.dumps(frame).encode() + b"\n")
        await self.writer.drain()

    async def say(self, room: str, text: str, *, action: bool = False) -> None:
        await self.send(type="say", room=room, text=text, action=action)
        await asyncio.sleep(0.05)  # distinct timestamps, a natural order

    async def close(self) -> None:
        self._drain.cancel()
        self.writer.close()


class Backstage:
    """The server and the chatters, on an asyncio loop in a background thread."""

    def __init__(self, db: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = Server(ServerConfig(port=0, db=db, msg_rate=0))
        self.run(self.server.start())
        self.chatters: dict[str, Chatter] = {}

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def before(self) -> None:
        """History that alice finds when she arrives."""
        port = self.server.port
        for nick in ("bob", "carol", "dave"):
            self.chatters[nick] = await Chatter.open(port, nick)
            for room in ("#general", "#random"):
                await self.chatters[nick].send(type="join", room=room)
        bob, carol, dave = (self.chatters[n] for n in ("bob", "carol", "dave"))
        await bob.send(type="topic", room="#general", topic="Parley 0.1 release planning")
        await dave.say("#general", "is the server still on port 65433 by default?")
        await bob.say("#general", "yes, and --port or PARLEY_PORT changes it")
        await carol.say("#general", "the Textual UI works fine over ssh, tried it from my phone")
        await dave.say("#general", "nice. does history survive a restart?")
        await bob.say("#general", "it's all in SQLite, committed before fan-out")
        await bob.say("#general", "morning all! release checklist is in the wiki")
        await carol.say("#general", "I'll take the changelog")
        await dave.say("#general", "reviewing the reconnect PR now")
        await carol.say("#random", "anyone tried the new coffee place?")

    async def after(self) -> None:
        """What happens while alice watches."""
        bob, carol, dave = (self.chatters[n] for n in ("bob", "carol", "dave"))
        await dave.say("#general", "the catch-up after a restart works, nothing missed")
        await bob.say("#general", "alice: can you check the Tk screenshots?")
        await carol.say("#general", "ships the changelog", action=True)
        await dave.send(type="away", text="lunch")
        await bob.say("#random", "yes, the flat white is great")
        await carol.say("#random", "going there at 3")
        await carol.send(type="say", to="alice", text="ping me when the build is green")
        await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for chatter in self.chatters.values():
            await chatter.close()
        await self.server.stop()


def pump_until(root: tk.Tk, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the window")
        root.update()
        time.sleep(0.01)


def settle(root: tk.Tk, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "tk.png"))
    args = parser.parse_args()
    for tool in ("Xvfb", "import"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install xvfb imagemagick)")
    # A private screen even when DISPLAY is set: the shot is of the window alone.
    with (
        virtual_display(reuse=False),
        tempfile.TemporaryDirectory(prefix="parley-shot-") as tmp,
    ):
        backstage = Backstage(str(Path(tmp) / "parley.db"))
        try:
            backstage.run(backstage.before())
            root = tk.Tk(className="Parley")
            root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
            apply_style(root)
            store = ConfigStore(Path(tmp) / "client.json")
            app = TkApp(root, port=backstage.server.port, nick="alice", store=store)
            app.start(ask=False)
            window = app.window
            assert window is not None
            pump_until(
                root,
                lambda: (
                    window.status is not None
                    and window.status.state is ConnectionState.CONNECTED
                    and "checklist" in window.view.visible_text()
                ),
            )
            window.submit("/join #random")
            pump_until(root, lambda: "coffee" in window.view.visible_text())
            window.select("#general")
            pump_until(root, lambda: window.view.key == "#general")
            window.submit("morning! I'm on the Tk frontend today")
            backstage.run(backstage.after())
            pump_until(root, lambda: "Tk screenshots" in window.view.visible_text())
            window.submit("/me looks at the screenshots")
            window.entry.set_value("bob: on it, the ba")
            settle(root, 1.0)
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            # The window sits at the screen's corner; its menu bar is above the client area.
            width = root.winfo_rootx() + root.winfo_width()
            height = root.winfo_rooty() + root.winfo_height()
            crop = f"{width}x{height}+0+0"
            subprocess.run(
                ["import", "-window", "root", "-crop", crop, "+repage", str(out)], check=True
            )
            print(f"saved {out}")
            app.close()
            pump_until(root, lambda: app.finished)
        finally:
            backstage.run(backstage.stop())
            backstage.loop.call_soon_threadsafe(backstage.loop.stop)
            backstage.thread.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
