"""The accounts interface: what the server asks of a backend that keeps accounts and their mail.

A nick becomes an *account* when its user registers it: the store keeps the nick (folded, and as
registered), an argon2id hash of its password (never the password; hashing is the server's job,
``app/server/passwords.py``) and when it was created. Direct messages between two accounts are
kept too, in one conversation per pair of accounts that pages like a room, and a message to an
account that was offline is marked *undelivered* until its recipient next signs in. Deleting an
account deletes every direct message it sent or received, and its SSH keys: an account may have
keys pinned to it (by SHA256 fingerprint, each key on one account at most), with which an SSH
session signs in without a password; an account made by pinning a key has no password (its hash
is ``NO_PASSWORD``) and lives by its keys. Like ``History`` (``base.py``), every
operation is ordered after the ones submitted before it and answers on the caller's event loop
through ``done`` or, if the storage refused, ``failed`` with the reason. The SQLite backend
(``sqlite_accounts.py``) shares the history's file, writer thread and queue, so an account's writes
and the room messages around them are ordered as they were submitted; the Redis backend
(``redis_accounts.py``) shares a ``RedisHistory``'s worker the same way, and the same suite runs
both (``tests/store/test_accounts.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from app.store.base import Failed

# The hash of an account that has SSH keys and no password: no password opens it.
NO_PASSWORD: Final = ""


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An account: its nick as registered, its password hash (a PHC string) and creation time
    (milliseconds since the epoch). It is looked up by ``fold(nick)``."""

    nick: str
    hash: str
    created: int


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An SSH key pinned to ``account`` (a folded nick): its fingerprint (``SHA256:…``), its
    public key line without comment (``ssh-ed25519 AAAA…``; "" when pinned from a session,
    whose gateway vouches for the fingerprint only), a comment, and when it was added
    (milliseconds since the epoch)."""

    fingerprint: str
    account: str
    public_key: str
    comment: str
    added: int


@dataclass(frozen=True, slots=True)
class StoredDirect:
    """A direct message between two accounts; ``sender`` and ``to`` are nicks as shown."""

    id: int
    ts: int
    sender: str
    to: str
    text: str
    action: bool


@dataclass(frozen=True, slots=True)
class DirectPage:
    """Direct messages of one pair of accounts, oldest first; ``more`` says others exist in the
    direction asked."""

    messages: list[StoredDirect]
    more: bool


def pair_of(a: str, b: str) -> str:
    """The key of the conversation between folded nicks ``a`` and ``b`` (either order), which
    no nick can confuse: nicks hold no space."""
    return f"{a} {b}" if a <= b else f"{b} {a}"


class Accounts(Protocol):
    """Accounts and their stored direct messages; callbacks run on the loop, in order."""

    def find_account(
        self, key: str, done: Callable[[StoredAccount | None], None], failed: Failed
    ) -> None:
        """Read the account whose folded nick is ``key`` (``None`` if there is none)."""
        ...

    def create_account(
        self, account: StoredAccount, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Create ``account``; ``done(False)`` if its nick (folded) is already an account."""
        ...

    def set_password(
        self, key: str, password_hash: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Replace the hash of account ``key``; ``done(False)`` if there is no such account."""
        ...

    def delete_account(self, key: str, done: Callable[[bool], None], failed: Failed) -> None:
        """Delete account ``key``, its keys and every direct message it sent or received;
        ``done(False)`` if there was no such account."""
        ...

    def create_pinned_account(
        self, account: StoredAccount, key: StoredKey, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Create ``account`` with ``key`` as its one key, both or neither; ``done(False)`` if its
        nick (folded) is already an account or the key is already pinned to one."""
        ...

    def find_key(
        self, fingerprint: str, done: Callable[[StoredKey | None], None], failed: Failed
    ) -> None:
        """The key with ``fingerprint`` (``None`` if no account has it)."""
        ...

    def account_keys(
        self, key: str, done: Callable[[list[StoredKey]], None], failed: Failed
    ) -> None:
        """The keys of account ``key``, oldest first (by ``added``, then fingerprint)."""
        ...

    def add_key(self, key: StoredKey, done: Callable[[bool], None], failed: Failed) -> None:
        """Pin ``key`` to its account; ``done(False)`` if its fingerprint is already pinned (to
        this account or another) or the account does not exist."""
        ...

    def remove_key(
        self, key: str, fingerprint: str, done: Callable[[bool], None], failed: Failed
    ) -> None:
        """Unpin ``fingerprint`` from account ``key``; ``done(False)`` if it was not one of its."""
        ...

    def append_direct(
        self, message: StoredDirect, delivered: bool, done: Callable[[], None], failed: Failed
    ) -> None:
        """Store a direct message between two accounts; ``delivered=False`` keeps it for its
        recipient's next sign-in (``undelivered``)."""
        ...

    def direct_page(
        self,
        a: str,
        b: str,
        before: int | None,
        after: int | None,
        limit: int,
        done: Callable[[DirectPage], None],
        failed: Failed,
    ) -> None:
        """One page of the conversation of accounts ``a`` and ``b`` (folded, either order): the
        newest ``limit`` older than ``before``, the oldest newer than ``after``, or the newest."""
        ...

    def undelivered(
        self, key: str, limit: int, done: Callable[[DirectPage], None], failed: Failed
    ) -> None:
        """The oldest ``limit`` messages to account ``key`` not yet delivered, oldest first."""
        ...

    def mark_delivered(self, key: str, upto: int, done: Callable[[], None], failed: Failed) -> None:
        """Mark every message to ``key`` with an id up to ``upto`` delivered."""
        ...
