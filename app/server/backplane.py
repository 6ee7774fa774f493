"""The fan-out seam: how an encoded room event reaches every member, wherever it is connected.

The hub never loops over a room's members itself. It publishes each room event, encoded once, to
a ``Backplane``; the backplane hands it to every hub that has members in that room, and each hub
writes it to its own connections. ``LocalBackplane`` is the in-process case of a single server.
A node of a deployment sharing rooms through Redis has ``node.NodeBackplane``, which publishes on
the room's channel; every node's subscription delivers what it publishes (``node.NodeFanout``,
which also keeps the node's copy of each room's window and topic up to date).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# deliver(room, payload, skip): write ``payload`` to the room's local members whose session id is
# not in ``skip`` (the senders, who get their own copy with their nonce). Session ids are unique
# across processes, so a payload relayed from another process skips the right sessions.
Deliver = Callable[[str, bytes, frozenset[str]], None]


class Backplane(Protocol):
    """Carries encoded room events to every hub serving the room."""

    def attach(self, deliver: Deliver) -> None:
        """Register the local hub's delivery function."""
        ...

    def publish(self, room: str, payload: bytes, skip: frozenset[str]) -> None:
        """Send ``payload`` (one or more encoded frames) to every member of ``room``."""
        ...


class LocalBackplane:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def attach(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, room: str, payload: bytes, skip: frozenset[str]) -> None:
        assert self._deliver is not None, "publish before attach"
        self._deliver(room, payload, skip)
