"""The frontend benchmark's measurements: one run of the TUI or the Tk window, in this process.

This module owns what ``benchmarks/frontends.py`` measures and how. A history run seeds the room
through the server, starts the frontend and times (a) from its start to the first screen (the
server's newest 50 messages), (b) paging back through the whole history by the frontend's own
load-older path (the TUI's PgUp action at the top of the log, the Tk view's PgUp at the top of
the text), each page timed, checking that every message shows once and in order, and (c) a live
burst arriving while the view follows the newest line. A memory run lets messages arrive in
batches and reads, at checkpoints, the process's resident memory (``VmRSS``), the Python memory
blocks in use and, if asked, the traced Python heap, with how many lines the engine and the view
hold. Stutter is the longest time the frontend could not draw: the event loop's longest lag
(TUI, whose engine shares the loop) or the longest single Tk event (Tk), with the CPU time the
frontend's own thread spent in the worst such interval beside it. The timed parts
poll the frontend rather than use Textual's ``Pilot`` waits, which sleep until the process is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from benchmarks.chatroom import ROOM, ChatServer, message_text
from benchmarks.procstat import cpu_seconds, machine_busy_seconds, own_cpu_seconds, rss_bytes
from frontends.base import freeze_startup_heap

if TYPE_CHECKING:
    import tkinter as tk

    from frontends.tk.app import TkApp
    from frontends.tui.app import ParleyApp

READER: Final = "reader"
# The server answers a join with its newest messages (ServerConfig.recent).
FIRST_SCREEN: Final = 50
TUI_SIZE: Final = (120, 40)
TK_GEOMETRY: Final = "1040x660"
LAG_TICK: Final = 0.005
# Issue 14's goal: no freeze longer than this during a 10,000-message burst.
FREEZE_GOAL: Final = 0.050


@dataclass(frozen=True)
class Settings:
    """What to measure; the defaults are the full run of ``docs/performance-frontends.md``."""

    history: int = 10_000  # messages in the room before the frontend starts
    burst: int = 10_000  # messages arriving live at once
    # The history run holds the whole history; the memory run keeps the default caps.
    scrollback: int = 11_000  # more than the history: the join notice takes a line too
    memory_scrollback: int | None = None  # None: the engine's default (what users get)
    # Messages received when memory is read.
    checkpoints: tuple[int, ...] = (10_000, 50_000, 100_000)
    batch: int = 10_000  # messages the memory run sends before waiting for the frontend
    frontends: tuple[str, ...] = ("tui", "tk")
    runs: tuple[str, ...] = ("history", "memory")
    tracemalloc: bool = False  # slows receiving several times over
    timeout: float = 180.0  # for any one wait


QUICK: Final = Settings(
    history=600,
    burst=500,
    scrollback=1_000,
    memory_scrollback=200,
    checkpoints=(300, 1_200),
    batch=300,
    tracemalloc=False,
    timeout=30.0,
)


# --- measuring tools -----------------------------------------------------------------------


@dataclass
class Freezes:
    """The longest times the frontend could not draw or take a key, between two ``take``s.

    ``worst`` is wall time. ``busy`` is the most CPU time the frontend's thread itself spent in
    one such interval: on a shared machine a wall-time stall can be the scheduler running other
    processes (other people's, or this benchmark's own server and loadbot), which no frontend
    code can prevent; ``busy`` is the part that is the frontend's own work. ``over`` counts the
    intervals longer than ``FREEZE_GOAL`` (wall).
    """

    worst: float = 0.0
    busy: float = 0.0
    over: int = 0

    def record(self, wall: float, cpu: float) -> None:
        self.worst = max(self.worst, wall)
        self.busy = max(self.busy, min(cpu, wall))
        self.over += wall > FREEZE_GOAL

    def add(self, other: Freezes) -> None:
        """Count ``other``'s freezes as well."""
        self.worst = max(self.worst, other.worst)
        self.busy = max(self.busy, other.busy)
        self.over += other.over

    def take(self) -> Freezes:
        """What was recorded since the last ``take``; starts again from nothing."""
        taken = Freezes(self.worst, self.busy, self.over)
        self.worst, self.busy, self.over = 0.0, 0.0, 0
        return taken

    def into(self, result: dict[str, Any], prefix: str) -> None:
        """Take what was recorded into ``result`` as ``{prefix}_lag_s`` and the like."""
        taken = self.take()
        result[f"{prefix}_lag_s"] = taken.worst
        result[f"{prefix}_busy_s"] = taken.busy
        result[f"{prefix}_over_goal"] = taken.over


class LoopLag(Freezes):
    """The event loop's lags as a 5 ms ticker sees them: a frozen terminal."""

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            started, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(LAG_TICK)
            lag = time.perf_counter() - started - LAG_TICK
            self.record(lag, time.thread_time() - cpu)


def memory_reading(traced: bool) -> dict[str, int]:
    """The process's resident memory, the Python objects' memory blocks in use and, when
    tracing, the bytes of Python heap allocated since tracing started and still alive."""
    gc.collect()
    reading = {"rss": rss_bytes(os.getpid()), "blocks": sys.getallocatedblocks()}
    if traced:
        reading["traced"] = tracemalloc.get_traced_memory()[0]
    return reading


def expected_history(count: int) -> list[str]:
    """The texts of the seeded history, oldest first, as a view must show them."""
    return [message_text("history", number) for number in range(count)]


def burst_texts(first: int, count: int, held: int) -> list[str]:
    """The newest ``held`` texts of a burst of ``count`` from number ``first``, oldest first:
    what a view holding ``held`` of them must show, each once and in order."""
    numbers = range(first + count - min(held, count), first + count)
    return [message_text("burst", number) for number in numbers] if held else ["(none)"]


def page_summary(pages: list[float]) -> dict[str, Any]:
    return {
        "pages": len(pages),
        "page_median_s": statistics.median(pages) if pages else 0.0,
        "page_max_s": max(pages, default=0.0),
        "pages_s": sum(pages),
    }


# --- the TUI -------------------------------------------------------------------------------


def _tui_messages(app: ParleyApp) -> int:
    return sum(1 for line in app.chat_log.lines if line.id is not None)


def _tui_last_text(app: ParleyApp) -> str:
    lines = app.chat_log.lines
    return lines[-1].text if lines else ""


def _tui_more_than(app: ParleyApp, held: int) -> bool:
    return _tui_messages(app) > held


def _tui_paged(app: ParleyApp, held: int) -> bool:
    """More messages are held, and the view is back at the reader's place (not at the top)."""
    log = app.chat_log
    return _tui_messages(app) > held and (log.scroll_y > 0 or log.max_scroll_y == 0)


def _tui_ends_with(app: ParleyApp, text: str) -> bool:
    return _tui_last_text(app) == text


def _tui_on_screen(app: ParleyApp, text: str) -> bool:
    """Whether the log's visible rows show the start of ``text`` (drawing them if need be)."""
    start = text[:30]
    return any(start in row for row in app.chat_log.visible_text())


def _tui_holds(app: ParleyApp) -> dict[str, int]:
    engine = app.engine
    held = engine.state.get(ROOM) if engine is not None else None
    return {
        "engine_lines": len(held.lines) if held is not None else 0,
        "view_rows": app.chat_log.row_count,
        "view_cached_rows": app.chat_log.rendered_rows,
    }


async def _tui_wait(
    app: ParleyApp, condition: Callable[[], bool], what: str, timeout: float
) -> None:
    from app.client.state import ConnectionState

    deadline = time.perf_counter() + timeout
    while not condition():
        state = app.snapshot.connection.state if app.snapshot is not None else None
        if state in (ConnectionState.RECONNECTING, ConnectionState.CLOSED):
            raise RuntimeError(f"the TUI lost its connection waiting for {what}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the TUI timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def _tui_history(server: ChatServer, settings: Settings) -> dict[str, Any]:
    from frontends.tui.app import ParleyApp

    server.say("history", settings.history, settings.timeout)
    server.said(settings.timeout)
    freeze_startup_heap()  # as parley tui does before its app starts
    app = ParleyApp(host="127.0.0.1", port=server.port, nick=READER, scrollback=settings.scrollback)
    result: dict[str, Any] = {"frontend": "tui", "run": "history", "history": settings.history}
    started = time.perf_counter()
    async with app.run_test(size=TUI_SIZE) as pilot, LoopLag() as lag:
        # Pilot's own waits sleep until the process is idle, tens of milliseconds each, so the
        # timed parts poll the app instead: a line is shown once the log's visible rows have it.
        newest = message_text("history", settings.history - 1)
        await _tui_wait(app, partial(_tui_on_screen, app, newest), "the first screen", 60)
        result["first_screen_s"] = time.perf_counter() - started
        await pilot.pause()
        pages: list[float] = []
        paging = time.perf_counter()
        lag.take()
        while _tui_messages(app) < settings.history:
            held = _tui_messages(app)
            press = time.perf_counter()
            app.chat_log.scroll_home(animate=False)
            app.action_page_up()  # what PgUp does: at the top, it asks for the page before
            await _tui_wait(app, partial(_tui_paged, app, held), "a page", settings.timeout)
            app.chat_log.visible_text()  # the screen at the reader's place, drawn
            pages.append(time.perf_counter() - press)
        result["page_back_s"] = time.perf_counter() - paging
        lag.into(result, "page_back_worst")
        result.update(page_summary(pages))
        result["held_after_paging"] = _tui_messages(app)
        shown = [line.text for line in app.chat_log.lines if line.id is not None]
        result["history_in_order"] = shown == expected_history(settings.history)
        app.action_latest()  # back to the newest line, where a burst is followed
        await pilot.pause()
        lag.take()
        burst = time.perf_counter()
        first_burst = server.say("burst", settings.burst, settings.timeout)
        last = message_text("burst", first_burst + settings.burst - 1)
        await _tui_wait(app, partial(_tui_on_screen, app, last), "the burst", settings.timeout)
        result["burst"] = settings.burst
        result["burst_s"] = time.perf_counter() - burst
        lag.into(result, "burst_worst")
        result["burst_server_s"] = server.said(settings.timeout)["seconds"]
        result["burst_shown_on_screen"] = _tui_ends_with(app, last)
        shown = [line.text for line in app.chat_log.lines if line.text.startswith("burst ")]
        result["burst_in_order"] = shown == burst_texts(first_burst, settings.burst, len(shown))
        result.update(_tui_holds(app))
    return result


async def _tui_memory(server: ChatServer, settings: Settings) -> dict[str, Any]:
    from app.client.state import DEFAULT_SCROLLBACK
    from frontends.tui.app import ParleyApp

    scrollback = settings.memory_scrollback or DEFAULT_SCROLLBACK
    freeze_startup_heap()
    app = ParleyApp(host="127.0.0.1", port=server.port, nick=READER, scrollback=scrollback)
    result: dict[str, Any] = {"frontend": "tui", "run": "memory", "scrollback": scrollback}
    async with app.run_test(size=TUI_SIZE) as pilot, LoopLag() as lag:
        await _tui_wait(
            app, lambda: app.snapshot is not None and app.snapshot.active == ROOM, "joining", 60
        )
        await pilot.pause()
        if settings.tracemalloc:
            tracemalloc.start()
        result["joined"] = memory_reading(settings.tracemalloc)
        received, readings, receiving, worst = 0, [], 0.0, Freezes()
        lag.take()
        for checkpoint in settings.checkpoints:
            started = time.perf_counter()
            while received < checkpoint:
                count = min(settings.batch, checkpoint - received)
                first = server.say("flood", count, settings.timeout)
                last = message_text("flood", first + count - 1)
                await _tui_wait(app, partial(_tui_ends_with, app, last), "a batch", 600)
                server.said(settings.timeout)
                received += count
            receiving += time.perf_counter() - started
            worst.add(lag.take())
            await pilot.pause()
            readings.append({"received": received, **memory_reading(settings.tracemalloc)})
            readings[-1].update(_tui_holds(app))
            lag.take()  # the reading's gc.collect() stalls the loop, not the app
        result["receive_s"] = receiving
        worst.into(result, "worst")
        result["readings"] = readings
        tracemalloc.stop()
    return result


# --- the Tk window -------------------------------------------------------------------------


def _tk_messages(app: TkApp) -> int:
    """Messages the Tk view shows: the mirror's, once the Text holds exactly the mirror."""
    window = app.window
    if window is None or window.view.key != ROOM:
        return 0
    lines = window.scrollbacks.lines(ROOM)
    shown = int(window.view.text.index("end-1c").split(".")[0]) - 1
    if shown != len(lines) or window.view.changes:
        return 0
    return sum(1 for line in lines if line.id is not None)


def _tk_last_text(app: TkApp) -> str:
    window = app.window
    if window is None:
        return ""
    return str(window.view.text.get("end-2l linestart", "end-1c"))


def _tk_more_than(app: TkApp, held: int) -> bool:
    return _tk_messages(app) > held


def _tk_ends_with(app: TkApp, text: str) -> bool:
    return text in _tk_last_text(app)


def _tk_holds(app: TkApp) -> dict[str, int]:
    assert app.window is not None and app.session is not None
    return {
        "mirror_lines": len(app.window.scrollbacks.lines(ROOM)),
        "view_lines": int(app.window.view.text.index("end-1c").split(".")[0]) - 1,
    }


class TkPump(Freezes):
    """Runs Tk as its main loop would, one event at a time, recording the longest time one
    event took (a poll tick, a redraw, a key): the longest the window could not answer."""

    def __init__(self, root: tk.Tk, app: TkApp) -> None:
        super().__init__()
        self.root = root
        self.app = app

    def until(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        import _tkinter

        from app.client.state import ConnectionState

        deadline = time.perf_counter() + timeout
        while True:
            # Not root.update(): it runs every event until none is left, so a flood drawn in
            # ticks one after another would count as one long turn although keys and redraws
            # are served between them; mainloop, like this, takes one event at a time.
            started, cpu = time.perf_counter(), time.thread_time()
            handled = self.root.tk.dooneevent(_tkinter.DONT_WAIT)
            self.record(time.perf_counter() - started, time.thread_time() - cpu)
            if condition():
                return
            status = self.app.window.status if self.app.window is not None else None
            if status is not None and status.state is ConnectionState.RECONNECTING:
                raise RuntimeError(f"the Tk window lost its connection waiting for {what}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the Tk window timed out waiting for {what}")
            if not handled:
                time.sleep(0.001)  # the engine thread needs the GIL to read the socket


@contextlib.contextmanager
def tk_app(port: int, scrollback: int) -> Iterator[tuple[TkApp, TkPump]]:
    """``parley tk`` signed in as ``reader``; closed, with its engine thread joined, at the end."""
    import tkinter as tk

    from frontends.tk.app import TkApp, apply_style

    root = tk.Tk(className="ParleyBench")
    root.geometry(TK_GEOMETRY)
    apply_style(root)
    app = TkApp(root, host="127.0.0.1", port=port, nick=READER, scrollback=scrollback)
    freeze_startup_heap()  # as parley tk does before its app starts
    app.start(ask=False)
    pump = TkPump(root, app)
    try:
        yield app, pump
    finally:
        app.close()
        with contextlib.suppress(TimeoutError):
            pump.until(lambda: app.finished, "closing", 10)


def _tk_history(server: ChatServer, settings: Settings) -> dict[str, Any]:
    server.say("history", settings.history, settings.timeout)
    server.said(settings.timeout)
    result: dict[str, Any] = {"frontend": "tk", "run": "history", "history": settings.history}
    started = time.perf_counter()
    with tk_app(server.port, settings.scrollback) as (app, pump):
        first = min(FIRST_SCREEN, settings.history)
        pump.until(lambda: _tk_messages(app) >= first, "the first screen", 60)
        app.root.update_idletasks()
        result["first_screen_s"] = time.perf_counter() - started
        pump.take()
        assert app.window is not None
        view = app.window.view
        pages: list[float] = []
        paging = time.perf_counter()
        while _tk_messages(app) < settings.history:
            held = _tk_messages(app)
            press = time.perf_counter()
            view.text.yview_moveto(0.0)
            view.page_up()  # at the top: asks for the page before, as PgUp or the wheel would
            pump.until(partial(_tk_more_than, app, held), "a page", settings.timeout)
            app.root.update_idletasks()
            pages.append(time.perf_counter() - press)
        result["page_back_s"] = time.perf_counter() - paging
        pump.into(result, "page_back_worst")
        result.update(page_summary(pages))
        result["held_after_paging"] = _tk_messages(app)
        rows = str(view.text.get("1.0", "end-1c")).splitlines()
        shown = [row.split("> ", 1)[1] for row in rows if "<loadbot> " in row]
        result["history_in_order"] = shown == expected_history(settings.history)
        view.text.see("end")
        app.root.update()
        pump.take()
        burst = time.perf_counter()
        first_burst = server.say("burst", settings.burst, settings.timeout)
        last = message_text("burst", first_burst + settings.burst - 1)
        pump.until(partial(_tk_ends_with, app, last), "the burst", settings.timeout)
        app.root.update_idletasks()
        result["burst"] = settings.burst
        result["burst_s"] = time.perf_counter() - burst
        pump.into(result, "burst_worst")
        result["burst_server_s"] = server.said(settings.timeout)["seconds"]
        result["burst_shown_on_screen"] = view.at_bottom()
        rows = str(view.text.get("1.0", "end-1c")).splitlines()
        shown = [row.split("> ", 1)[1] for row in rows if "<loadbot> burst " in row]
        result["burst_in_order"] = shown == burst_texts(first_burst, settings.burst, len(shown))
        result.update(_tk_holds(app))
    return result


def _tk_memory(server: ChatServer, settings: Settings) -> dict[str, Any]:
    from app.client.state import DEFAULT_SCROLLBACK

    scrollback = settings.memory_scrollback or DEFAULT_SCROLLBACK
    result: dict[str, Any] = {"frontend": "tk", "run": "memory", "scrollback": scrollback}
    with tk_app(server.port, scrollback) as (app, pump):
        pump.until(lambda: app.window is not None and app.window.view.key == ROOM, "joining", 60)
        if settings.tracemalloc:
            tracemalloc.start()
        result["joined"] = memory_reading(settings.tracemalloc)
        received, readings, receiving = 0, [], 0.0
        for checkpoint in settings.checkpoints:
            started = time.perf_counter()
            while received < checkpoint:
                count = min(settings.batch, checkpoint - received)
                first = server.say("flood", count, settings.timeout)
                last = message_text("flood", first + count - 1)
                pump.until(partial(_tk_ends_with, app, last), "a batch", 600)
                server.said(settings.timeout)
                received += count
            receiving += time.perf_counter() - started
            readings.append({"received": received, **memory_reading(settings.tracemalloc)})
            readings[-1].update(_tk_holds(app))
        result["receive_s"] = receiving
        pump.into(result, "worst")
        result["readings"] = readings
        tracemalloc.stop()
    return result


def measure(frontend: str, run: str, settings: Settings) -> dict[str, Any]:
    """One run (``"history"`` or ``"memory"``) of one frontend (``"tui"`` or ``"tk"``), with
    the CPU that other processes took meanwhile: on a shared machine, other people's work."""
    with tempfile.TemporaryDirectory(prefix="parley-frontends-") as folder:
        from app.client.config import CONFIG_DIR_ENV

        os.environ[CONFIG_DIR_ENV] = folder  # never read or write the user's client config
        server = ChatServer(Path(folder) / "parley.db")
        try:
            ours = own_cpu_seconds() + cpu_seconds(server.pid)
            busy, started = machine_busy_seconds(), time.perf_counter()
            if frontend == "tui":
                run_tui = _tui_history if run == "history" else _tui_memory
                result = asyncio.run(run_tui(server, settings))
            elif run == "history":
                result = _tk_history(server, settings)
            else:
                result = _tk_memory(server, settings)
            ours = own_cpu_seconds() + cpu_seconds(server.pid) - ours
            result["wall_s"] = time.perf_counter() - started
            result["others_cpu_s"] = max(0.0, machine_busy_seconds() - busy - ours)
            return result
        finally:
            server.stop()
