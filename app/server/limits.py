"""The bounds on what one client can make the server hold or send: rooms per connection, rooms on
the server, rooms created per address, and the size of one reply.

``RoomQuota`` owns these rules and the state they need (a token bucket of room creations per
address); ``rooms.py`` asks it before a join takes a connection into one more room. A join is
refused with ``too_many_rooms`` when the connection is already in ``--max-rooms-per-conn`` rooms
(IRC's ``maxchans``), with ``server_full`` when the room is not held and the server already holds
``--max-rooms``, and with ``rate_limited`` (and ``retry_after_ms``) when the room is new to the
server and its address has created ``--new-rooms-per-min`` rooms within the last minute's worth
of its bucket. Joining a room that exists is never charged to the creation bucket, so clients
rejoining their rooms after a restart are not slowed. Each limit is off at 0.

A short request must not make a long reply: ``fit`` takes the first entries of a listing (the
rooms of ``rooms``, the members of ``who`` and of ``joined``) that fit a count and a byte budget,
counted as they are encoded, and says whether more are left (``fit_newest`` does the same from
the end, for the messages of a ``history`` page and of the one a join sends); ``reply_bytes`` is
that bound for a server (64 KiB, or half of ``--sendq`` if that is less), so that one reply never
comes near the output a connection may have queued. A page holds at least one entry, so paging
always advances.

A client is told these bounds up front: ``announced`` is the ``limits`` object of ``welcome``
(the flood control of ``session.py``, the line and text limits, and the room limits here), so
that a client paces its lines from the first one instead of learning the pace from refusals.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from app import protocol as p
from app.server.config import ServerConfig
from app.server.feature import MAX_TEXT

T = TypeVar("T")

MAX_REPLY: Final = 64 * 1024  # bytes in one listing reply, frame and all
# Room for what a page adds to its empty frame besides entries: ``"more":true`` and a ``next``
# cursor (a room name or a nick, both at most 33 characters).
_CURSOR: Final = 64
_encode: Final = msgspec.json.Encoder().encode

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


def announced(config: ServerConfig) -> p.Limits:
    """What ``welcome`` tells each client of the limits it is held to."""
    return p.Limits(
        msg_rate=config.msg_rate,
        msg_burst=config.msg_burst,
        max_line=config.max_line,
        max_text=MAX_TEXT,
        max_rooms_per_conn=config.max_rooms_per_conn,
        new_rooms_per_min=config.new_rooms_per_min,
    )


def reply_bytes(config: ServerConfig) -> int:
    """The most bytes one listing reply of this server may take."""
    return min(MAX_REPLY, config.sendq // 2)


def budget(bound: int, empty: p.ServerFrame) -> int:
    """The bytes left for entries in a reply of at most ``bound`` bytes whose frame, with no
    entries, is ``empty`` (its ``ref`` and topic count too)."""
    return bound - len(p.encode(empty)) - _CURSOR


def fit(entries: Iterable[T], limit: int, room: int) -> tuple[list[T], bool]:
    """The first of ``entries`` that fit: at most ``limit`` of them in ``room`` bytes of JSON
    (each with its comma), but always the first; and whether any are left over."""
    page: list[T] = []
    used = 0
    for entry in entries:
        if len(page) >= limit:
            return page, True
        size = len(_encode(entry)) + 1
        if page and used + size > room:
            return page, True
        page.append(entry)
        used += size
    return page, False


def fit_newest(entries: Sequence[T], room: int) -> tuple[list[T], bool]:
    """The last of ``entries`` (the newest messages of a page) that fit ``room`` bytes, in their
    order, but always the last one; and whether older ones were left out."""
    page, cut = fit(reversed(entries), len(entries), room)
    page.reverse()
    return page, cut
