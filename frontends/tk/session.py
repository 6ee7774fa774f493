"""The engine on its own thread: an asyncio loop in a worker, talking to Tk through a queue.

This module owns the one place where the Tk frontend meets another thread. ``EngineThread``
starts a worker thread that runs a fresh asyncio loop with an ``Engine`` whose frontend is a
``QueueFrontend``: every event the engine sends lands in ``events``, a ``queue.Queue`` that the
Tk thread drains with ``root.after`` (as IDLE's ``poll_subprocess`` does), so no widget is ever
touched off the Tk thread. Requests go the other way through ``ThreadSafeControl``, which queues
each call on the engine's loop. ``quit`` asks the engine to say goodbye; once ``alive`` turns
false the app joins the thread, so closing the window leaves no thread behind. Requests made
after the engine has stopped are dropped quietly: there is nobody left to ask.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Final

from app.client.config import ConfigStore
from app.client.engine import Engine
from app.client.link import Timings
from app.client.state import DEFAULT_SCROLLBACK
from frontends.base import FrontendEvent, QueueFrontend, ThreadSafeControl

log = logging.getLogger("parley.tk")

START_TIMEOUT: Final = 10.0


class EngineThread:
    """One engine, its loop and its worker thread; an ``EngineControl`` for the Tk thread."""

    def __init__(
        self,
        *,
        nick: str,
        host: str,
        port: int,
        store: ConfigStore | None,
        timings: Timings | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
        give_up_before_welcome: bool = False,
        tls: bool = False,
        ca: str | None = None,
        password: str | None = None,
        allow_plain_password: bool = False,
    ) -> None:
        self.nick = nick
        self.host = host
        self.port = port
        self.tls = tls
        self.ca = ca
        self.events: queue.Queue[FrontendEvent] = queue.Queue()
        self._store = store
        self._timings = timings
        self._scrollback = scrollback
        self._give_up_before_welcome = give_up_before_welcome
        self._password = password
        self._allow_plain_password = allow_plain_password
        self._control: ThreadSafeControl | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"parley-engine-{nick}", daemon=True)

    def start(self) -> None:
        """Start the worker and wait until its loop can take requests."""
        self.thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the engine thread did not start")

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            log.exception("the engine thread failed")
        finally:
            self._ready.set()

    async def _run(self) -> None:
        engine = Engine(
            QueueFrontend(self.events),
            nick=self.nick,
            host=self.host,
            port=self.port,
            store=self._store,
            timings=self._timings,
            scrollback=self._scrollback,
            give_up_before_welcome=self._give_up_before_welcome,
            tls=self.tls,
            ca=self.ca,
            password=self._password,
            allow_plain_password=self._allow_plain_password,
        )
        self._control = ThreadSafeControl(engine, asyncio.get_running_loop())
        self._ready.set()
        await engine.run()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _forward(self, method: str, *args: object) -> None:
        control = self._control
        if control is None or not self.alive:
            log.debug("engine stopped; dropping %s", method)
            return
        try:
            getattr(control, method)(*args)
        except RuntimeError:
            # The loop closed between the check and the call: the engine has already ended.
            log.debug("engine loop closed; dropping %s", method)

    def submit(self, text: str) -> None:
        self._forward("submit", text)

    def paste(self, lines: list[str]) -> int:
        self._forward("paste", lines)
        return len(lines)

    def edit(self, message_id: int, text: str) -> None:
        self._forward("edit", message_id, text)

    def switch_to(self, conversation: str) -> None:
        self._forward("switch_to", conversation)

    def load_older(self, conversation: str | None = None) -> None:
        self._forward("load_older", conversation)

    def quit(self, text: str | None = None) -> None:
        self._forward("quit", text)

    def search(self, query: str, room: str | None = None) -> None:
        self._forward("search", query, room)

    def search_more(self) -> None:
        self._forward("search_more")

    def jump_to_result(self, number: int) -> None:
        self._forward("jump_to_result", number)
