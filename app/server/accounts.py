"""Accounts: registering a nick, signing in to it, changing or dropping its password, ``whois``.

Each handler is one row of ``docs/protocol.md``'s table for ``register``, ``password``,
``unregister`` and ``whois``; as the server's ``NickOwner`` (``feature.Owners``) this module also
decides whether a ``hello`` or ``nick`` may take a nick (``claim``), and hands a session that has
just signed in the direct messages kept for it (``directs.py``). Rules owned here: a registered
nick is owned, so only its password takes it, whether its owner is online or not, and a second
sign-in takes it over from the first (which gets ``bye {reason: "logged_in_elsewhere"}``,
presence's doing); a password is 8 characters or more and 1024 bytes or fewer; a wrong password
and an account that does not exist get the same ``bad_password`` after the same work; after 5
failures within a minute for one account or from one address, further attempts on it get
``rate_limited`` before any hashing (``passwords.Guesses``). Hashes are made and checked off the
event loop (``passwords.Passwords``); passwords are never logged, only nicks and addresses. A
``hello`` that carries an SSH gateway's ``key`` is handed to ``keys.py``, which also handles the
``keys`` frames; an account with no password (pinned to a key) takes its key for the password in
``password`` (``old`` is then ignored) and ``unregister``.
``whois`` of a nick online on another node of a deployment says what the rooms shared with it
show (``Context.roster``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Literal

from app import protocol as p
from app.server.directs import Directs
from app.server.feature import Context, Handlers, Unavailable, awaited, refuse
from app.server.keys import SSHKeys
from app.server.passwords import CHECKS_PER_ADDRESS, Guesses, Passwords
from app.server.roster import Holder, Member
from app.server.session import Session
from app.store import NO_PASSWORD, Snapshot, StoredAccount

log = logging.getLogger("parley.server")

WRONG = "wrong nick or password"


class AccountFeature:
    """The account frames' handlers, and the rule of who may take a registered nick."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.store = context.accounts
        self.passwords = Passwords()
        self.guesses = Guesses()
        self._checking: Counter[str] = Counter()  # password checks in flight, by address
        # Delivery at sign-in only: its messages already have ids, so none are taken here.
        self.directs = Directs(context, _no_ids)
        self.keys = SSHKeys(context)
        context.owners.rule = self
        self.handlers = (
            Handlers()
            .on(p.Register, self.register)
            .on(p.ChangePassword, self.change_password)
            .on(p.Unregister, self.unregister)
            .on(p.Whois, self.whois)
            .on(p.ListKeys, self.keys.list_keys)
            .on(p.AddKey, self.keys.add_key)
            .on(p.RemoveKey, self.keys.remove_key)
        )

    def load(self, snapshot: Snapshot) -> None:
        return None

    def departed(self, session: Session, text: str | None) -> None:
        return None

    # --- NickOwner: what presence asks ---

    async def claim(
        self, s: Session, f: p.ClientFrame, nick: str, password: str | None
    ) -> str | None:
        if password is not None and _too_long(s, f, password):
            return None
        # The key proven by this hello, or (for ``nick``) the one proven by the connection's.
        fingerprint: str | None = s.ssh_key or None
        if isinstance(f, p.Hello):
            fingerprint = self.keys.proven(s, f) if f.key is not None else None
            s.ssh_key = fingerprint or ""
            if f.key is not None and fingerprint is None:
                return None
        key = p.fold(nick)
        account = await self._find(s, f, key)
        if account is False:
            return None
        if password is None:
            if fingerprint is not None:
                pin = isinstance(f, p.Hello) and f.pin
                return await self.keys.claim(s, f, nick, account, fingerprint, pin=pin)
            if account is None:
                return ""
            refuse(s, f, "bad_password", f"{account.nick} is registered: sign in with its password")
            return None
        if not await self._check(s, f, key, account, password):
            return None
        log.info("sign-in %s as account %s", s.peer, key)
        return key

    async def pinned_nick(self, s: Session, f: p.Hello) -> str | None:
        return await self.keys.pinned_nick(s, f)

    async def signed_in(self, s: Session) -> None:
        await self.directs.deliver_waiting(s)

    # --- handlers ---

    async def register(self, s: Session, f: p.Register) -> None:
        if _too_long(s, f, f.password):
            return
        if s.account:
            refuse(s, f, "nick_registered", f"{s.nick} is already an account")
            return
        if len(f.password) < p.PASSWORD_MIN:
            refuse(s, f, "weak_password", f"a password is at least {p.PASSWORD_MIN} characters")
            return
        password_hash = await self.passwords.hash(f.password)
        account = StoredAccount(s.nick, password_hash, time.time_ns() // 1_000_000)
        try:
            created = await awaited(self.store.create_account, account)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot store accounts now; try again later")
            return
        if not created:
            refuse(s, f, "nick_registered", f"{s.nick} is already an account")
            return
        s.account = s.key
        log.info("register account %s from %s", s.key, s.peer)
        s.send(p.AccountInfo(nick=s.nick, ref=f.ref))

    async def change_password(self, s: Session, f: p.ChangePassword) -> None:
        if _too_long(s, f, f.old) or _too_long(s, f, f.new):
            return
        if len(f.new) < p.PASSWORD_MIN:
            refuse(s, f, "weak_password", f"a password is at least {p.PASSWORD_MIN} characters")
            return
        account = await self._own_account(s, f, f.old)
        if account is None:
            return
        password_hash = await self.passwords.hash(f.new)
        try:
            await awaited(self.store.set_password, s.account, password_hash)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot store accounts now; try again later")
            return
        log.info("password changed for account %s from %s", s.account, s.peer)
        s.send(p.AccountInfo(nick=s.nick, ref=f.ref))

    async def unregister(self, s: Session, f: p.Unregister) -> None:
        if _too_long(s, f, f.password):
            return
        account = await self._own_account(s, f, f.password)
        if account is None:
            return
        try:
            # Roles first: a nick registered again must not inherit an owner's rooms.
            await self.ctx.rules.rule.account_deleted(s.account)
            await awaited(self.store.delete_account, s.account)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot store accounts now; try again later")
            return
        log.info("unregister account %s from %s", s.account, s.peer)
        s.account = ""
        # After the rooms it owned were passed on: on a node their ``mode`` comes back through
        # the subscription, and the answer follows it as in one process.
        answer = p.AccountInfo(nick=s.nick, registered=False, ref=f.ref)
        self.ctx.fanout.after_store(lambda: s.send(answer))

    async def whois(self, s: Session, f: p.Whois) -> None:
        key = p.fold(f.nick)
        target = self.ctx.nicks.get(key)
        if target is not None:
            rooms = self.ctx.rooms
            shared = [name for name in rooms.rooms_of(target) if rooms.is_member(name, s)]
            connected = int((time.monotonic() - target.connected_at) * 1000)
            info = p.WhoisInfo(
                nick=target.nick,
                account=bool(target.account),
                online=True,
                rooms=sorted(shared),
                away=target.away,
                connected_ms=connected,
                ref=f.ref,
            )
            s.send(info)
            return
        account = await self._find(s, f, key) if p.is_valid_nick(f.nick) else None
        if account is False:
            return
        try:
            elsewhere = await self.ctx.roster.where(key) if p.is_valid_nick(f.nick) else None
            if elsewhere is not None:
                await self._whois_elsewhere(s, f, key, elsewhere, account)
                return
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot find nicks now; try again later")
            return
        if account is None:
            refuse(s, f, "no_such_nick", f"nobody is called {f.nick}")
            return
        s.send(p.WhoisInfo(nick=account.nick, account=True, online=False, rooms=[], ref=f.ref))

    async def _whois_elsewhere(
        self, s: Session, f: p.Whois, key: str, holder: Holder, account: StoredAccount | None
    ) -> None:
        """``whois`` of a nick online on another node: what its nick's claim and the rooms
        ``s`` shares with it say."""
        shared: list[str] = []
        seen: Member | None = None
        for name in self.ctx.rooms.rooms_of(s):
            found = await self.ctx.roster.find(name, key)
            if found is not None:
                shared.append(name)
                seen = found[1]
        away = seen.away if seen is not None else None
        connected = max(0, time.time_ns() // 1_000_000 - holder.since)
        info = p.WhoisInfo(
            nick=holder.nick,
            account=account is not None,
            online=True,
            rooms=shared,
            away=away,
            connected_ms=connected,
            ref=f.ref,
        )
        s.send(info)

    # --- checks that answer the client when they fail ---

    async def _find(
        self, s: Session, f: p.ClientFrame, key: str
    ) -> StoredAccount | Literal[False] | None:
        """The account ``key`` (None if there is none), or False (answered) if unreadable."""
        return await self.keys.find_account(s, f, key)

    async def _own_account(
        self, s: Session, f: p.ClientFrame, password: str
    ) -> StoredAccount | None:
        """The sender's account if ``password`` is its password; else None (answered)."""
        account = await self.keys.signed_in_account(s, f)
        if account is None:
            return None
        if account.hash == NO_PASSWORD and await self.keys.holds_key_of(s, s.account):
            return account
        if not await self._check(s, f, s.account, account, password):
            return None
        return account

    async def _check(
        self,
        s: Session,
        f: p.ClientFrame,
        key: str,
        account: StoredAccount | None,
        password: str,
    ) -> bool:
        """Whether ``password`` opens ``account`` (None: no such account, which looks the same),
        counting the guess; a refusal (throttled, wrong) is answered."""
        account_key, address_key = f"account {key}", f"address {s.ip}"
        wait = self.guesses.retry_after_ms(account_key, address_key)
        if wait is not None:
            message = f"too many wrong passwords; try again in {wait // 1000 + 1} s"
            s.send(p.make_error("rate_limited", message, ref=f.ref, retry_after_ms=wait))
            return False
        if self._checking[s.ip] >= CHECKS_PER_ADDRESS:
            message = "too many sign-ins at once from your address; try again in a second"
            s.send(p.make_error("rate_limited", message, ref=f.ref, retry_after_ms=1000))
            return False
        mark = self.guesses.attempt(account_key)
        self._checking[s.ip] += 1
        try:
            # An account without a password is checked against the decoy, as none would be.
            stored = account.hash if account and account.hash != NO_PASSWORD else None
            right = await self.passwords.verify(stored, password)
        finally:
            self._checking[s.ip] -= 1
            if not self._checking[s.ip]:
                del self._checking[s.ip]
        if right:
            self.guesses.forgive(mark, account_key)
            return True
        self.guesses.attempt(address_key)
        log.info("wrong password for %s from %s", key, s.peer)
        refuse(s, f, "bad_password", WRONG)
        return False


def _too_long(s: Session, f: p.ClientFrame, password: str) -> bool:
    if len(password.encode("utf-8", "surrogatepass")) <= p.PASSWORD_MAX_BYTES:
        return False
    refuse(s, f, "bad_frame", f"a password is at most {p.PASSWORD_MAX_BYTES} bytes")
    return True


def _no_ids() -> int:
    raise AssertionError("delivering kept messages takes no new ids")
