"""Coroutines started at once, on the caller's stack, and finished in a task only if they wait.

The server runs the first step of some coroutines itself, before the event loop can do anything
else: each frame handler (``session.py``: most never wait, so the message path costs a call and
no task) and the TLS upgrade of a connection (``tls.py``: ``start_tls`` must take the transport
over before the loop reads from it again). ``Started`` is such a coroutine after its first step:
awaiting it, in a task, first waits on what that step yielded and then drives the same coroutine
on to its result. This is what Python 3.12's eager tasks do, written out because the server also
runs on 3.10 and 3.11.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Started(Generic[T]):
    """``coro`` after its first step, which yielded ``waiting_on``; await it for the rest."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, T], waiting_on: object) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    @classmethod
    def start(cls, coro: Coroutine[Any, Any, T]) -> Started[T]:
        """Run ``coro``'s first step now (it must wait on something: it may not finish in it)."""
        return cls(coro, coro.send(None))

    def __await__(self) -> Generator[Any, Any, T]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                # Cancellation (or anything thrown into the task) belongs to the coroutine.
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                waiting_on = coro.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
