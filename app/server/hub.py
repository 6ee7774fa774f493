"""The hub: builds the server's shared state, dispatches each client frame, and ends sessions.

The hub owns no feature. It creates the shared state and services once (the session registry
``Sessions``, the room directory ``Rooms``, the nick table, ``Fanout``), hands them as a
``Context`` to the feature modules it is given (``runner.FEATURES``: presence, rooms, messages,
accounts, moderation, search),
and merges their handler tables into one dispatch table, checked at start-up to cover every
client frame exactly once. ``handle`` refuses frames other than ``hello``, ``ping``, ``pong`` and
``quit`` (as the features' tables declare) until a session registered, then awaits the frame's
handler; ``Session`` awaits ``handle`` before it reads its next frame, so one connection's frames
take effect in the order they arrived even when a handler waits. The hub is the ``SessionHost``
its sessions call back: a session opened, was dropped or lost. Everything here runs on the event
loop, so nothing needs a lock.

Ordering, which every part keeps: room messages reach clients only once committed; every other
room event and the ``pong`` barrier wait behind the store's queue (``Fanout``); a handler that
awaits holds back only its own connection's later frames. So everything a client caused reaches
it in the order it was caused. A node of a deployment sharing rooms gets its fan-out from
``make_fanout`` (``node.NodeFanout``), and with it the ``roster`` the features share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from app import protocol as p
from app.server.backplane import Backplane
from app.server.config import ServerConfig
from app.server.directory import Rooms
from app.server.fanout import Fanout
from app.server.feature import AnyHandler, Context, Feature, FeatureFactory, refuse
from app.server.registry import Sessions
from app.server.session import Session
from app.store import Accounts, History, Moderation

log = logging.getLogger("parley.server")


class Hub:
    """Shared state, the dispatch table, and the sessions' lifecycle callbacks."""

    def __init__(
        self,
        config: ServerConfig,
        store: History,
        backplane: Backplane,
        features: Sequence[FeatureFactory],
        accounts: Accounts,
        moderation: Moderation,
        make_fanout: Callable[[History, Backplane, Rooms], Fanout] = Fanout,
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = Sessions(config)
        self.rooms = Rooms(config.recent)
        self.nicks: dict[str, Session] = {}
        self.fanout = make_fanout(store, backplane, self.rooms)
        context = Context(
            config,
            store,
            self.sessions,
            self.rooms,
            self.nicks,
            self.fanout,
            accounts,
            moderation,
            roster=self.fanout.roster,
        )
        self.features: list[Feature] = [make(context) for make in features]
        self._handlers: dict[type, AnyHandler] = {}
        self._before_hello: set[type] = set()
        for feature in self.features:
            for frame_type, handler in feature.handlers.table.items():
                if frame_type in self._handlers:
                    raise ValueError(f"{frame_type.__name__} is handled by two features")
                self._handlers[frame_type] = handler
            self._before_hello |= feature.handlers.before_hello
        unhandled = set(p.ClientFrame.__args__) - set(self._handlers)
        if unhandled:
            raise ValueError(f"no feature handles {sorted(t.__name__ for t in unhandled)}")

    def load(self) -> None:
        """Open the store and read what the features start from (blocking; before serving).
        Rooms are not read here but when first joined."""
        self.fanout.start(asyncio.get_running_loop())
        snapshot = self.store.open()
        for feature in self.features:
            feature.load(snapshot)

    def new_session(self) -> Session:
        """The protocol factory for the listening socket."""
        return Session(self, self.sessions.new_id())

    # --- dispatch ---

    async def handle(self, session: Session, frame: p.ClientFrame) -> None:
        """Do what one client frame asks (``Session`` awaits it before the next frame)."""
        if not session.key and type(frame) not in self._before_hello:
            refuse(session, frame, "not_registered", "say hello first")
            return
        await self._handlers[type(frame)](session, frame)

    # --- SessionHost: what sessions tell the hub ---

    def opened(self, session: Session) -> None:
        self.sessions.opened(session)

    def left(self, session: Session, text: str | None) -> None:
        """The session leaves the chat: its features forget it. Safe to call more than once."""
        if self.sessions.depart(session):
            for feature in self.features:
                feature.departed(session, text)

    def closed(self, session: Session, text: str | None) -> None:
        self.left(session, text)
        self.sessions.closed(session)

    def after_effects(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything caused so far has been sent."""
        self.fanout.after_store(action)

    # --- housekeeping, for the runner ---

    def sweep(self) -> None:
        """Drop unregistered and unresponsive sessions; ping the quiet ones."""
        self.sessions.sweep()

    def say_goodbye(self) -> None:
        """Tell every client the server is shutting down and close their connections."""
        self.sessions.say_goodbye()
