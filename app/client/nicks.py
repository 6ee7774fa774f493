"""The nick we want, the alternate we fall back to, and taking ours back when it frees.

This module owns ``NickKeeper``. After a drop our old connection may linger on the server (until
its ping timeout) still holding our nick, so the reconnecting ``hello`` gets ``nick_taken``. As
IRC clients do, the engine then says ``hello`` again on the same connection with an alternate
(``frank_``, then ``frank__``, cut to fit the nick limit) instead of retrying for a minute or two
and showing nothing; once in under the alternate, the keeper asks for our own nick back every
``every`` seconds (a quiet ``nick`` whose refusal is not shown) until the server gives it. The
wanted nick is the one the person chose: at start, or with a ``/nick`` the server granted. It is
the one remembered in the config, never the alternate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from app.protocol import fold

log = logging.getLogger("parley.client")

NICK_MAX: Final = 24  # as app.protocol's NICK_RE allows
# How many alternates to try (``nick_``, ``nick__``) before falling back to waiting.
ALTERNATES: Final = 2


def alternate_nick(nick: str, number: int) -> str:
    """The ``number``-th alternate of ``nick`` (1: ``nick_``), cut to fit the nick limit."""
    tail = "_" * number
    return nick[: NICK_MAX - len(tail)] + tail


class NickKeeper:
    """Which nick to ask for, and the timer that takes ours back."""

    def __init__(self, wanted: str, reclaim: Callable[[str], None], every: float) -> None:
        self.wanted = wanted
        self._reclaim = reclaim
        self._every = every
        self._tried = 0
        self._asked: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    def hello_nick(self) -> str:
        """The nick a new connection says ``hello`` with: ours, until the server refuses it."""
        self._tried = 0
        return self.wanted

    def alternate(self) -> str | None:
        """The next alternate to say ``hello`` with after ``nick_taken``; None when out of them."""
        if self._tried >= ALTERNATES:
            return None
        self._tried += 1
        return alternate_nick(self.wanted, self._tried)

    def asked(self, nick: str) -> None:
        """The person asked for ``nick`` with /nick: once granted, it is the one we want."""
        self._asked = nick

    def current(self, nick: str) -> None:
        """Our nick is now ``nick`` (welcome or a rename): keep taking ours back while it is
        another one, and adopt the one the person asked for once granted."""
        if self._asked is not None and fold(nick) == fold(self._asked):
            self.wanted, self._asked = nick, None
        if fold(nick) == fold(self.wanted):
            self.stop()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._every, self._tick)

    @property
    def reclaiming(self) -> bool:
        return self._timer is not None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._every, self._tick)
        log.debug("asking for our nick %s back", self.wanted)
        self._reclaim(self.wanted)
