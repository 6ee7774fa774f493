"""Fixtures for the client engine: a recording frontend, engines on a real server, and a tap.

``Recorder`` implements ``frontends.base.Frontend`` and keeps every event the engine sent it,
including a mirror of each conversation's scrollback built only from ``LineAdded``,
``LineUpdated`` and ``ScrollbackReset``, so tests prove that a frontend with no store of its own
sees the right lines. ``Tap`` is a real TCP relay between an engine and the server that records
the frames the client sends (to prove a refused command sent nothing), can refuse connections
(a server that is down), can go silent (a dead network), and can pass the welcome on without
its ``limits`` (a server from before them). Every wait polls a condition with a
timeout; nothing sleeps in place of an assertion. Servers come from ``start_server`` in
``tests/conftest.py``: port 0, a real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.client.config import CONFIG_DIR_ENV, ConfigStore
from app.client.engine import Engine
from app.client.events import (
    ConnectionChanged,
    ErrorReported,
    FrontendEvent,
    LineAdded,
    LineUpdated,
    PresenceChanged,
    ScrollbackReset,
    SearchChanged,
    StateChanged,
    TopicChanged,
    unhandled,
)
from app.client.link import Timings
from app.client.search_view import SearchView
from app.client.state import (
    ConnectionState,
    ConnectionStatus,
    Conversation,
    ConversationView,
    Line,
    LineKind,
    PresenceChange,
    StateSnapshot,
    next_seq,
    now_ms,
)
from app.server import Server

TIMEOUT = 10.0

FAST = Timings(
    backoff_initial=0.05,
    backoff_max=0.2,
    ping_after=5.0,
    dead_after=15.0,
    connect_timeout=2.0,
    quit_timeout=1.0,
)


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait until ``predicate()`` holds; fail the test with ``what`` if it does not in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.01)


# A state for events fed to a frontend with no engine behind it.
QUIET_STATE = StateSnapshot(
    nick="alice",
    server="localhost:1",
    connection=ConnectionStatus(ConnectionState.CONNECTED, "localhost:1"),
    conversations=(),
    active=None,
)


def one_event_of_each_kind(state: StateSnapshot) -> list[FrontendEvent]:
    """A harmless event of every kind for a frontend showing ``state``: a notice in its active
    conversation, the connection as it is. ``test_frontend_base`` fails while a kind has none."""
    where = state.active or "#general"
    line = Line(seq=next_seq(), kind=LineKind.NOTICE, text="one of each kind", ts=now_ms())
    return [
        StateChanged(state),
        ScrollbackReset(where, (), active=state.active == where),
        LineAdded(where, line),
        LineUpdated(where, line),
        PresenceChanged(PresenceChange(where, "zed", "away")),
        TopicChanged(where, "a topic", "zed"),
        ConnectionChanged(state.connection),
        ErrorReported("An error.", where),
        SearchChanged(SearchView("deploy", loading=False)),
    ]


class Recorder:
    """A frontend that records every event and mirrors each conversation's scrollback."""

    def __init__(self) -> None:
        self.events: list[FrontendEvent] = []
        self.added: list[tuple[str, Line]] = []
        self.updated: list[tuple[str, Line]] = []
        self.snapshot: StateSnapshot | None = None
        self.scrollback: dict[str, list[Line]] = {}
        self.errors: list[tuple[str, str | None]] = []
        self.statuses: list[ConnectionStatus] = []
        self.presences: list[PresenceChange] = []
        self.topics: list[tuple[str, str, str]] = []
        self.searches: list[SearchView] = []

    def handle(self, event: FrontendEvent) -> None:
        self.events.append(event)
        match event:
            case StateChanged(state):
                self.snapshot = state
            case LineAdded(conversation, line):
                self.added.append((conversation, line))
                self.scrollback.setdefault(conversation, []).append(line)
            case LineUpdated(conversation, line):
                self.updated.append((conversation, line))
                lines = self.scrollback.get(conversation, [])
                for index, old in enumerate(lines):
                    if old.seq == line.seq:
                        lines[index] = line
            case ScrollbackReset(conversation, lines):
                self.scrollback[conversation] = list(lines)
            case PresenceChanged(change):
                self.presences.append(change)
            case TopicChanged(conversation, topic, by):
                self.topics.append((conversation, topic, by))
            case ConnectionChanged(status):
                self.statuses.append(status)
            case ErrorReported(text, conversation):
                self.errors.append((text, conversation))
            case SearchChanged(search):
                self.searches.append(search)
            case _:
                unhandled(event)

    # --- reading what was recorded ------------------------------------------------------

    def lines(self, conversation: str, *kinds: LineKind) -> list[Line]:
        lines = self.scrollback.get(conversation, [])
        return [line for line in lines if not kinds or line.kind in kinds]

    def texts(self, conversation: str, *kinds: LineKind) -> list[str]:
        return [line.text for line in self.lines(conversation, *kinds)]

    def chat(self, conversation: str) -> list[str]:
        return self.texts(conversation, LineKind.MESSAGE, LineKind.ACTION)

    @property
    def state(self) -> ConnectionState | None:
        return self.statuses[-1].state if self.statuses else None

    @property
    def snap(self) -> StateSnapshot:
        assert self.snapshot is not None, "no StateChanged yet"
        return self.snapshot

    def view(self, conversation: str) -> ConversationView:
        found = self.snap.conversation(conversation)
        assert found is not None, f"{conversation} is not in the latest snapshot"
        return found

    def has(self, conversation: str) -> bool:
        return self.snapshot is not None and self.snapshot.conversation(conversation) is not None


class Client:
    """An engine and the recorder watching it."""

    def __init__(self, engine: Engine, recorder: Recorder) -> None:
        self.engine = engine
        self.rec = recorder

    def room(self, key: str) -> Conversation:
        """The engine's own (loop-thread) conversation ``key``, which must exist."""
        found = self.engine.state.get(key)
        assert found is not None, f"{self.engine.state.nick} has no conversation {key}"
        return found

    async def ready(self, *rooms: str) -> None:
        """Wait until connected and in ``#general`` plus ``rooms``, with the member lists known."""
        wanted = {"#general", *rooms}
        await eventually(
            lambda: (
                self.engine.connected
                and wanted <= set(self.engine.state.joined_rooms())
                and not self.engine.outstanding
            ),
            f"{self.engine.state.nick} connected and in {sorted(wanted)}",
        )

    async def settled(self) -> None:
        """Wait until every request the engine sent has been answered."""
        await eventually(lambda: not self.engine.outstanding, "all requests answered")


MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every engine's remembered settings inside the test's own directory."""
    path = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(path))
    return path


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Start engines (``nick``, ``port``, any ``Engine`` keyword); all closed at the end."""
    clients: list[Client] = []

    async def make(nick: str, port: int, *, ready: bool = True, **kwargs: Any) -> Client:
        kwargs.setdefault("timings", FAST)
        recorder = Recorder()
        engine = Engine(recorder, nick=nick, port=port, **kwargs)
        client = Client(engine, recorder)
        clients.append(client)
        engine.start()
        if ready:
            await client.ready()
        return client

    yield make
    for client in clients:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(client.engine.close(), TIMEOUT)


@pytest.fixture
def store(config_dir: Path) -> ConfigStore:
    return ConfigStore.default()


class Tap:
    """A TCP relay to ``target_port`` that records client frames and can refuse or go silent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.refusing = False
        self.silent = False  # nothing passes either way: a dead network
        self.deaf = False  # what the client sends is lost on the way to the server
        self.mute = False  # what the server sends is lost on the way to the client
        # A client's close is not passed on: the server keeps a connection that is gone (a
        # network that dropped between the two).
        self.hold_open = False
        # The server's welcome reaches the client without its ``limits``: a server from before
        # they were announced.
        self.old_welcome = False
        self.port = 0
        self._listener: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # History pages are long lines; the default 64 KiB limit would cut them.
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=1 << 24)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port, limit=1 << 24
            )
        except OSError:
            writer.close()
            return
        self._writers += [writer, up_writer]
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, self.sent, "deaf")),
            asyncio.create_task(self._pump(up_reader, writer, self.received, "mute")),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        log: list[dict[str, Any]],
        drop_when: str,
    ) -> None:
        try:
            while line := await reader.readline():
                if self.silent or getattr(self, drop_when):
                    self.dropped.append(json.loads(line))  # bytes go nowhere
                    continue
                frame = json.loads(line)
                if self.old_welcome and frame.get("type") == "welcome":
                    frame.pop("limits", None)
                    line = json.dumps(frame).encode() + b"\n"
                log.append(frame)
                writer.write(line)
        except (OSError, ValueError):
            pass
        finally:
            if not (self.hold_open and drop_when == "deaf"):
                writer.close()

    def cut(self) -> None:
        """Break every relayed connection at once, both sides."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def sent_types(self, since: int = 0) -> list[str]:
        return [frame["type"] for frame in self.sent[since:]]

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def make_tap() -> AsyncIterator[Callable[[int], Awaitable[Tap]]]:
    """Start taps in front of a server port; all stopped at the end."""
    taps: list[Tap] = []

    async def make(target_port: int) -> Tap:
        tap = Tap(target_port)
        await tap.start()
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        await tap.stop()


@pytest.fixture
async def alice_bob(server: Server, make_client: MakeClient) -> tuple[Client, Client]:
    """Two engines, alice and bob, both in #general on a fresh server."""
    alice = await make_client("alice", server.port)
    bob = await make_client("bob", server.port)
    await eventually(lambda: "bob" in alice.room("#general").members, "alice sees bob")
    await alice.settled()
    return alice, bob
