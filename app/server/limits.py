"""The bounds on what one client can make the server hold: rooms per connection, rooms on the
server, and rooms created per address.

``RoomQuota`` owns these rules and the state they need (a token bucket of room creations per
address); ``rooms.py`` asks it before a join takes a connection into one more room. A join is
refused with ``too_many_rooms`` when the connection is already in ``--max-rooms-per-conn`` rooms
(IRC's ``maxchans``), with ``server_full`` when the room is not held and the server already holds
``--max-rooms``, and with ``rate_limited`` (and ``retry_after_ms``) when the room is new to the
server and its address has created ``--new-rooms-per-min`` rooms within the last minute's worth
of its bucket. Joining a room that exists is never charged to the creation bucket, so clients
rejoining their rooms after a restart are not slowed. Each limit is off at 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app import protocol as p
from app.server.config import ServerConfig

# Buckets of addresses that have not created a room for a while are full again and can be
# forgotten; they are swept when there are more than this many.
_PRUNE_AT = 1024


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a join is refused: the error the client gets."""

    code: p.ErrorCode
    message: str
    retry_after_ms: int | None = None


class RoomQuota:
    """The room limits of one server, and the creation bucket of each address."""

    def __init__(self, config: ServerConfig) -> None:
        self.per_conn = config.max_rooms_per_conn
        self.on_server = config.max_rooms
        self.per_minute = config.new_rooms_per_min
        # address -> (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def may_join(self, rooms_joined: int) -> Refusal | None:
        """Whether a connection in ``rooms_joined`` rooms may join one more."""
        if self.per_conn and rooms_joined >= self.per_conn:
            return Refusal(
                "too_many_rooms",
                f"you are in {rooms_joined} rooms, the most one connection may be in; "
                "part one first",
            )
        return None

    def may_hold(self, rooms_held: int) -> Refusal | None:
        """Whether a server holding ``rooms_held`` rooms may hold one more."""
        if self.on_server and rooms_held >= self.on_server:
            return Refusal(
                "server_full",
                f"the server holds {rooms_held} rooms, the most it allows; join one that exists",
            )
        return None

    def may_create(self, address: str) -> Refusal | None:
        """Take one room creation from ``address``'s bucket, or say when one will be left."""
        rate = self.per_minute
        if not rate:
            return None
        now = time.monotonic()
        tokens, counted = self._buckets.get(address, (float(rate), now))
        tokens = min(float(rate), tokens + (now - counted) * rate / 60.0)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            retry = int((1.0 - tokens) * 60_000 / rate) + 1
            return Refusal(
                "rate_limited",
                f"your address may create {rate} new rooms a minute; try again in {retry} ms",
                retry,
            )
        self._buckets[address] = (tokens - 1.0, now)
        if len(self._buckets) > _PRUNE_AT:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        """Forget the buckets that have refilled: they are what a new address starts with."""
        rate = self.per_minute
        full = [
            address
            for address, (tokens, counted) in self._buckets.items()
            if tokens + (now - counted) * rate / 60.0 >= rate
        ]
        for address in full:
            del self._buckets[address]
