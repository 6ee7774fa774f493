"""Passwords: argon2id hashing off the event loop, and the limit on guessing them.

``Passwords`` hashes and verifies with argon2id (argon2-cffi) on a small thread pool of its own,
never on the event loop, so a burst of sign-ins costs the chat no latency beyond the CPU the
hashes take; the pool has one thread per core but one (at least one), which bounds both the CPU
and the memory (``MEMORY_KIB`` per hash in flight) that sign-ins can take. The parameters are
OWASP's first choice for argon2id (19 MiB, two passes, one lane; the Password Storage Cheat
Sheet), written into every hash, so raising them later still verifies old hashes. Verifying for
an account that does not exist checks against a hash of a random password, so that an unknown
account costs the same time as a wrong password. ``Guesses`` counts failed sign-ins per account
and per address in a sliding minute and says how long a sixth must wait: against the account an
attempt counts from the moment it starts (parallel guesses at one account are counted before their
hashes finish), against the address only once it failed, with at most ``CHECKS_PER_ADDRESS``
checks in flight from one address, so that people sharing an address can sign in together. A
password is never logged: nothing here logs, and the callers log only nicks and addresses.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST: Final = 2
MEMORY_KIB: Final = 19 * 1024
PARALLELISM: Final = 1
HASH_LEN: Final = 32
SALT_LEN: Final = 16

GUESS_WINDOW: Final = 60.0  # seconds
GUESS_LIMIT: Final = 5  # failures per account, or per address, within the window
# Checks in flight at once from one address: sign-ins from behind one NAT (or from an SSH
# gateway, whose visitors all share its address) are not failures, but a burst of parallel
# guesses must still be bounded before the first of them fails.
CHECKS_PER_ADDRESS: Final = 8


class Passwords:
    """argon2id hashing and verifying on a thread pool beside the event loop."""

    def __init__(self, workers: int | None = None) -> None:
        self._hasher = PasswordHasher(
            time_cost=TIME_COST,
            memory_cost=MEMORY_KIB,
            parallelism=PARALLELISM,
            hash_len=HASH_LEN,
            salt_len=SALT_LEN,
            type=Type.ID,
        )
        count = workers if workers is not None else max(1, min(4, (os.cpu_count() or 2) - 1))
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="parley-argon2")
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id hash (a PHC string with its salt and parameters) of ``password``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; with no hash (no such account), the
        same work against a decoy, and False."""
        if password_hash is None:
            if self._decoy is None:
                self._decoy = await self.hash(secrets.token_urlsafe(16))
            await asyncio.get_running_loop().run_in_executor(
                self._pool, self._matches, self._decoy, password
            )
            return False
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._matches, password_hash, password
        )

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        """Let hashes in flight finish in their threads; start no more."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Guesses:
    """Failed sign-ins in the last ``GUESS_WINDOW`` seconds, per key (an account or an address).

    An attempt counts as a failure from the moment it starts (``attempt``) until it succeeds
    (``forgive``), so that guesses sent in parallel are counted before their hashes finish.
    """

    def __init__(self, limit: int = GUESS_LIMIT, window: float = GUESS_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def retry_after_ms(self, *keys: str) -> int | None:
        """How long until one more attempt on all of ``keys`` is allowed; None if it is now."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self.limit:
                wait = max(wait, failures[-self.limit] + self.window - now)
        return int(wait * 1000) + 1 if wait > 0 else None

    def attempt(self, *keys: str) -> float:
        """Count an attempt on ``keys`` as failed until ``forgive``n; its mark."""
        mark = time.monotonic()
        for key in keys:
            self._failures.setdefault(key, deque()).append(mark)
        if len(self._failures) > 10_000:
            self._prune(mark)
        return mark

    def forgive(self, mark: float, *keys: str) -> None:
        """The attempt ``mark`` on ``keys`` succeeded: it is no failure."""
        for key in keys:
            failures = self._failures.get(key)
            if failures is not None and mark in failures:
                failures.remove(mark)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
