"""SSH keys as identities: a gateway's proven key at ``hello``, pinning, and ``keys`` frames.

Each handler is one row of ``docs/protocol.md``'s table for ``keys``, ``key_add`` and
``key_remove``; the accounts feature (``accounts.py``) owns this object and asks it about a
``hello`` that carries ``key``. Rules owned here: a key claim is believed only with a valid proof
of a gateway that shares the server's secret (``protocol.keys``; else ``bad_key_proof``, and with
no secret configured every claim is refused); a proven key signs in to the account it is pinned
to without a password; a registered nick whose keys do not include it is refused with
``wrong_key``, saying so; ``pin`` makes a nick that is no account yet an account of that key alone
(no password: ``NO_PASSWORD``); a key is pinned to one account at most (``key_taken``); the last
key of an account without a password cannot be removed (``not_permitted``), nor could it be
signed in to again. Fingerprints are logged, public keys and proofs never.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, Literal, cast

from app import protocol as p
from app.protocol.keys import is_fingerprint, parse_public_key, proof_is_valid
from app.server.feature import Context, Unavailable, awaited, refuse
from app.server.session import Session
from app.store import NO_PASSWORD, StoredAccount, StoredKey

log = logging.getLogger("parley.server")

UNREADABLE = "the server cannot read its accounts now; try again later"
UNWRITABLE = "the server cannot store accounts now; try again later"


class SSHKeys:
    """The server's side of SSH keys: proofs at sign-in, and an account's keys."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.store = context.accounts

    # --- sign-in -------------------------------------------------------------------------

    def proven(self, s: Session, f: p.Hello) -> str | None:
        """The fingerprint ``f.key`` claims, if its proof holds (then it is ``s.ssh_key``);
        else None, answered with ``bad_key_proof``."""
        claim = f.key
        assert claim is not None
        secret = self.ctx.config.gateway_secret
        if is_fingerprint(claim.fingerprint) and proof_is_valid(
            secret, claim.fingerprint, claim.at, claim.proof, time.time()
        ):
            s.ssh_key = claim.fingerprint
            return claim.fingerprint
        log.warning("hello from %s claims an SSH key without a valid proof", s.peer)
        why = (
            "the SSH gateway's proof of your key is wrong or out of date"
            if secret
            else "this server trusts no SSH gateway, so it cannot take an SSH key as who you are"
        )
        refuse(s, f, "bad_key_proof", why)
        return None

    async def pinned_nick(self, s: Session, f: p.Hello) -> str | None:
        """The nick of the account ``f.key`` is pinned to; None (answered) if none or unproven."""
        fingerprint = self.proven(s, f)
        if fingerprint is None:
            return None
        stored = await self._find_key(s, f, fingerprint)
        if stored is False:
            return None
        account = await self.find_account(s, f, stored.account) if stored else None
        if account is False:
            return None
        if account is None:
            refuse(s, f, "no_account", "no nick is pinned to this SSH key yet: pick one")
            return None
        return account.nick

    async def claim(
        self,
        s: Session,
        f: p.ClientFrame,
        nick: str,
        account: StoredAccount | None,
        fingerprint: str,
        *,
        pin: bool,
    ) -> str | None:
        """Sign ``s`` in to ``nick`` (by ``hello``, or ``nick`` later) by its proven key, without
        a password: the account (folded nick) it gets, "" for a guest, or None (answered);
        ``pin`` makes a free nick an account of the key."""
        key = p.fold(nick)
        stored = await self._find_key(s, f, fingerprint)
        if stored is False:
            return None
        if account is not None:
            if stored is not None and stored.account == key:
                log.info("sign-in %s as account %s by SSH key %s", s.peer, key, fingerprint)
                return key
            keys = await self._keys_of(s, f, key)
            if keys is None:
                return None
            if keys:
                how = "" if account.hash == NO_PASSWORD else ", or sign in with its password"
                message = f"{account.nick} is pinned to another SSH key: connect with that key{how}"
                refuse(s, f, "wrong_key", message)
                return None
            refuse(s, f, "bad_password", f"{account.nick} is registered: sign in with its password")
            return None
        if not pin:
            return ""
        if stored is not None:
            refuse(s, f, "key_taken", f"this SSH key is already pinned to {stored.account}")
            return None
        now = time.time_ns() // 1_000_000
        pinned = StoredKey(fingerprint, key, "", "", now)
        new = StoredAccount(nick, NO_PASSWORD, now)
        created = await _ask(s, f, UNWRITABLE, self.store.create_pinned_account, new, pinned)
        if created is _FAILED:
            return None
        if not created:
            refuse(s, f, "nick_registered", f"{nick} is already an account")
            return None
        log.info("pinned account %s to SSH key %s from %s", key, fingerprint, s.peer)
        return key

    async def holds_key_of(self, s: Session, account: str) -> bool:
        """Whether ``s`` signed in with a key pinned to ``account`` (it stands in for the
        password of an account that has none)."""
        if not s.ssh_key:
            return False
        try:
            stored: StoredKey | None = await awaited(self.store.find_key, s.ssh_key)
        except Unavailable:
            return False
        return stored is not None and stored.account == account

    # --- handlers ------------------------------------------------------------------------

    async def list_keys(self, s: Session, f: p.ListKeys) -> None:
        account = await self.signed_in_account(s, f)
        if account is not None:
            await self._send_keys(s, f, account)

    async def add_key(self, s: Session, f: p.AddKey) -> None:
        account = await self.signed_in_account(s, f)
        if account is None:
            return
        parsed = parse_public_key(f.key)
        if isinstance(parsed, str):
            refuse(s, f, "bad_key", parsed)
            return
        fingerprint = parsed.fingerprint
        stored = StoredKey(
            fingerprint, s.account, parsed.line, parsed.comment[:200], time.time_ns() // 1_000_000
        )
        added = await _ask(s, f, UNWRITABLE, self.store.add_key, stored)
        if added is _FAILED:
            return
        if not added:
            refuse(s, f, "key_taken", f"the key {fingerprint} is already pinned to an account")
            return
        log.info("SSH key %s added to account %s from %s", fingerprint, s.account, s.peer)
        await self._send_keys(s, f, account)

    async def remove_key(self, s: Session, f: p.RemoveKey) -> None:
        account = await self.signed_in_account(s, f)
        if account is None:
            return
        keys = await self._keys_of(s, f, s.account)
        if keys is None:
            return
        if not any(key.fingerprint == f.fingerprint for key in keys):
            refuse(s, f, "no_such_key", f"your account has no key {f.fingerprint[:60]}")
            return
        if len(keys) == 1 and account.hash == NO_PASSWORD:
            message = "this is the only way into your account: add another key first"
            refuse(s, f, "not_permitted", message)
            return
        removed = await _ask(s, f, UNWRITABLE, self.store.remove_key, s.account, f.fingerprint)
        if removed is _FAILED:
            return
        if not removed:
            refuse(s, f, "no_such_key", f"your account has no key {f.fingerprint[:60]}")
            return
        log.info("SSH key %s removed from account %s by %s", f.fingerprint, s.account, s.peer)
        await self._send_keys(s, f, account)

    # --- reads that answer the client when they fail -------------------------------------

    async def _send_keys(self, s: Session, f: p.ClientFrame, account: StoredAccount) -> None:
        keys = await self._keys_of(s, f, s.account)
        if keys is None:
            return
        listed = [
            p.KeyInfo(
                fingerprint=key.fingerprint,
                added_ms=key.added,
                kind=key.public_key.split(" ", 1)[0],
                comment=key.comment,
                current=key.fingerprint == s.ssh_key,
            )
            for key in keys
        ]
        s.send(p.KeyList(keys=listed, password=account.hash != NO_PASSWORD, ref=f.ref))

    async def signed_in_account(self, s: Session, f: p.ClientFrame) -> StoredAccount | None:
        """The account ``s`` is signed in to; None (answered) for a guest, or if it is gone."""
        if not s.account:
            refuse(s, f, "no_account", "you are not signed in to an account")
            return None
        account = await self.find_account(s, f, s.account)
        if account is False:
            return None
        if account is None:
            s.account = ""
            refuse(s, f, "no_account", "you are not signed in to an account")
        return account

    async def find_account(
        self, s: Session, f: p.ClientFrame, key: str
    ) -> StoredAccount | Literal[False] | None:
        """The account ``key`` (None if there is none), or False (answered) if unreadable."""
        found = await _ask(s, f, UNREADABLE, self.store.find_account, key)
        return False if found is _FAILED else cast("StoredAccount | None", found)

    async def _find_key(
        self, s: Session, f: p.ClientFrame, fingerprint: str
    ) -> StoredKey | Literal[False] | None:
        found = await _ask(s, f, UNREADABLE, self.store.find_key, fingerprint)
        return False if found is _FAILED else cast("StoredKey | None", found)

    async def _keys_of(self, s: Session, f: p.ClientFrame, key: str) -> list[StoredKey] | None:
        found = await _ask(s, f, UNREADABLE, self.store.account_keys, key)
        return None if found is _FAILED else cast("list[StoredKey]", found)


_FAILED: Final = object()


async def _ask(
    s: Session, f: p.ClientFrame, why: str, operation: Callable[..., None], *args: Any
) -> Any:
    """What a store operation gives, or ``_FAILED`` once ``unavailable`` (``why``) is answered."""
    try:
        return await awaited(operation, *args)
    except Unavailable:
        refuse(s, f, "unavailable", why)
        return _FAILED
