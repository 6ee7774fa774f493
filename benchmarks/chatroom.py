"""A chat room under load for the frontend benchmark: a Parley server and loadbot, in a process.

This module owns the server side of ``benchmarks/frontends.py``. ``ChatServer`` starts, in a
separate process so that the frontend's process measures only itself, a real ``app.server.Server``
on port 0 with a SQLite file and ``LoadBot``: a raw client in ``#general`` that, on command
through a pipe, says numbered messages as fast as the server takes them and reports once the
server has echoed (so stored and fanned out) every one. History is seeded this way too, so
whatever a frontend shows came from the server. ``message_text`` names each message, so a
frontend's view can be checked line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

ROOM: Final = "#general"  # both frontends join it by themselves
FILLER: Final = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod"
SAY_CHUNK: Final = 500


def message_text(label: str, number: int) -> str:
    """The text of loadbot's ``number``-th message of a run called ``label``."""
    return f"{label} {number:07d} {FILLER}"


def _say_frame(label: str, number: int) -> bytes:
    frame = {"type": "say", "room": ROOM, "text": message_text(label, number)}
    return json.dumps(frame).encode() + b"\n"


class LoadBot:
    """A raw client on the server's loop that says ``count`` messages as fast as it is served."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._echoes = 0
        self._wanted = 0
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_id = 0

    @classmethod
    async def open(cls, port: int) -> LoadBot:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
        bot = cls(reader, writer)
        writer.write(b'{"type":"hello","nick":"loadbot","proto":1}\n')
        writer.write(json.dumps({"type": "join", "room": ROOM}).encode() + b"\n")
        while json.loads(await reader.readline())["type"] != "history":
            pass
        bot._task = asyncio.create_task(bot._read())
        return bot

    async def _read(self) -> None:
        # Its own echoes must be read, or the server would drop it as a slow consumer.
        while line := await self._reader.readline():
            frame = json.loads(line)
            if frame["type"] == "message":
                self._echoes += 1
                self.last_id = frame["id"]
                if self._echoes >= self._wanted:
                    self._done.set()
            elif frame["type"] == "ping":
                self._writer.write(json.dumps({"type": "pong", "id": frame["id"]}).encode() + b"\n")

    async def say(self, label: str, first: int, count: int, timeout: float) -> dict[str, Any]:
        """Send messages ``first`` .. ``first + count - 1``; return once all are echoed."""
        started = time.perf_counter()
        self._wanted = self._echoes + count
        self._done.clear()
        for start in range(first, first + count, SAY_CHUNK):
            end = min(first + count, start + SAY_CHUNK)
            self._writer.write(b"".join(_say_frame(label, n) for n in range(start, end)))
            await self._writer.drain()
        await asyncio.wait_for(self._done.wait(), timeout)
        return {"seconds": time.perf_counter() - started, "last_id": self.last_id}

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _serve(db: str, commands: Connection) -> None:
    """The server process: a Parley server, loadbot, and commands from the worker's pipe."""
    asyncio.run(_serve_until_stopped(db, commands))


async def _serve_until_stopped(db: str, commands: Connection) -> None:
    from app.server import Server, ServerConfig

    server = Server(ServerConfig(port=0, db=db, msg_rate=0))
    await server.start()
    bot = await LoadBot.open(server.port)
    commands.send(server.port)
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(commands.fileno(), readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            while commands.poll():
                command, *args = commands.recv()
                if command == "stop":
                    return
                commands.send(await bot.say(*args))
    finally:
        loop.remove_reader(commands.fileno())
        await bot.close()
        await server.stop()


class ChatServer:
    """The server process seen from the frontend's: its port, and loadbot on command."""

    def __init__(self, db: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(str(db), theirs), name="chat-server")
        self.process.start()
        theirs.close()
        if not self._pipe.poll(60):
            self.process.kill()
            raise RuntimeError("the server process did not start")
        self.port: int = self._pipe.recv()
        assert self.process.pid is not None
        self.pid: int = self.process.pid
        self._said = 0

    def say(self, label: str, count: int, timeout: float) -> int:
        """Have loadbot send ``count`` messages, numbered on from the last; the first number."""
        first, self._said = self._said, self._said + count
        self._pipe.send(("say", label, first, count, timeout))
        return first

    def said(self, timeout: float) -> dict[str, Any]:
        """Wait until the server has echoed everything loadbot was told to say."""
        if not self._pipe.poll(timeout):
            raise TimeoutError("loadbot did not finish in time")
        reply: dict[str, Any] = self._pipe.recv()
        return reply

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(("stop",))
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._pipe.close()
