"""The session registry: every connection from accept to close, and the ids that name them.

``Sessions`` is the one place that knows which connections exist. A session enters it when its
connection is made and leaves it when the connection is lost; nothing else adds or removes, and the
runner waits on it at shutdown for the goodbyes to drain. In between, a session is *in the chat*
(``Session.in_chat``) from its admission under the per-address cap until it departs (dropped,
quit or lost, whichever comes first): only then does it count against its address, hold a nick
and sit in rooms. Session ids are ``<process>-<n>`` with a random process part, so that fan-out
can skip a sender by id even for a payload that crossed processes (a Redis backplane). Keepalive
(ping the quiet, drop the silent and the unregistered), dropping clients that stay behind on their
output for longer than ``--sendq-timeout``, and the shutdown goodbye walk the registry, so they
live here too.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator

from app import protocol as p
from app.server.config import ServerConfig
from app.server.session import Session

log = logging.getLogger("parley.server")


class Sessions:
    """Live connections by id, with per-address admission and keepalive."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        # 48 random bits: two processes sharing rooms will not pick the same prefix.
        self.process = uuid.uuid4().hex[:12]
        self._count = 0
        self._live: dict[str, Session] = {}
        self.per_ip: defaultdict[str, int] = defaultdict(int)  # sessions in the chat

    def new_id(self) -> str:
        """An id no other session of any process has."""
        self._count += 1
        return f"{self.process}-{self._count}"

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._live.values()))

    def get(self, session_id: str) -> Session | None:
        return self._live.get(session_id)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._live

    def in_chat(self) -> list[Session]:
        """The sessions admitted and not yet departed."""
        return [s for s in self._live.values() if s.in_chat]

    # --- lifetime ---

    def opened(self, session: Session) -> None:
        """A connection was made: register it, and admit it unless its address is at the cap."""
        self._live[session.id] = session
        cap = self.config.max_conns_per_ip
        if cap and self.per_ip[session.ip] >= cap:
            session.drop(
                "too_many_connections", f"at most {cap} connections per address", error=True
            )
            return
        self.per_ip[session.ip] += 1
        session.in_chat = True

    def depart(self, session: Session) -> bool:
        """Take a session out of the chat; True only the first time (it is then the caller's
        to free its nick and rooms)."""
        if not session.in_chat:
            return False
        session.in_chat = False
        self.per_ip[session.ip] -= 1
        if self.per_ip[session.ip] <= 0:
            del self.per_ip[session.ip]
        return True

    def closed(self, session: Session) -> None:
        """The connection is gone: forget it."""
        self._live.pop(session.id, None)

    # --- housekeeping ---

    def sweep(self) -> None:
        """Drop unregistered, unresponsive and long-behind sessions; ping the quiet ones."""
        now = time.monotonic()
        config = self.config
        for s in self.in_chat():
            if s.behind_since is not None and now - s.behind_since > config.sendq_timeout:
                s.drop("slow_consumer", "you have not read what was sent for too long", error=True)
            elif not s.key:
                if now - s.connected_at > config.register_timeout:
                    s.drop("register_timeout", "no hello in time", error=True)
            elif s.ping_sent is not None:
                if now - s.ping_sent > config.ping_timeout:
                    s.drop("ping_timeout", "no answer to ping", error=True)
            elif now - s.last_seen > config.ping_interval:
                s.ping_sent = now
                s.send(p.ServerPing(id=int(now * 1000)))

    def say_goodbye(self) -> None:
        """Tell every client the server is shutting down and close their connections."""
        for s in self.in_chat():
            s.drop("server_shutdown", "the server is shutting down", error=True)

    def abort_all(self) -> None:
        """Cut every connection still open (the goodbyes had their time)."""
        for s in self:
            if s.transport is not None:
                s.transport.abort()
