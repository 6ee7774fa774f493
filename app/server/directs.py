"""Direct messages: live between any two nicks, stored between two accounts, kept for an
account that is offline, and paged back with ``history {with}``.

``Directs`` is what ``say {to}`` and ``history {with}`` do (``messages.py`` hands them over) and
what a sign-in delivers (``accounts.py`` calls ``deliver_waiting``); it is no feature of its own,
so that each frame still has one handler. Rules owned here: a direct message that involves a guest
is never stored and is delivered behind the store's queue, as before accounts; one between two
accounts is stored and delivered only once committed, like a room message, or refused
``unavailable`` to its sender alone; one from an account to an account that is not online is
stored as undelivered, and its sender's copy says ``offline``; nobody else can receive it. At
sign-in the waiting ones are sent, oldest first, in pages, and marked delivered once written; a
client that falls behind gets the rest at its next sign-in (and can page them with ``history``).
On a node of a deployment sharing rooms, a message to a nick held on another node is sent to that
node for its session (``Context.roster``), stored first between two accounts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from app import protocol as p
from app.server.feature import Context, Unavailable, awaited, refuse
from app.server.limits import budget, fit, fit_newest, reply_bytes
from app.server.session import Session
from app.store import DirectPage, StoredAccount, StoredDirect

DELIVERY_PAGE = 20  # waiting messages sent per store read at sign-in


def to_wire(m: StoredDirect) -> p.Message:
    """A stored direct message as the frame clients receive."""
    return p.Message(id=m.id, ts=m.ts, sender=m.sender, to=m.to, text=m.text, action=m.action)


class Directs:
    """The direct-message paths, on the shared context and the message id counter."""

    def __init__(self, context: Context, take_id: Callable[[], int]) -> None:
        self.ctx = context
        self.accounts = context.accounts
        self.take_id = take_id
        self.reply_bytes = reply_bytes(context.config)

    async def say(self, s: Session, f: p.Say, to: str) -> None:
        target = self.ctx.nicks.get(p.fold(to))
        if target is None and p.is_valid_nick(to):
            try:
                owner = await self.ctx.roster.where(p.fold(to))
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot find nicks now; try again later")
                return
            if owner is not None:
                await self._say_elsewhere(s, f, owner[1], owner[0])
                return
        if target is not None:
            message = self._message(s, f, target.nick)
            if s.account and target.account:
                self._store(s, f, message, target)
            else:
                self._deliver_live(s, f, message, target)
            return
        account: StoredAccount | None = None
        if s.account and p.is_valid_nick(to):
            try:
                account = await awaited(self.accounts.find_account, p.fold(to))
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot read its accounts now")
                return
        if account is None:
            refuse(s, f, "no_such_nick", f"nobody is called {to}")
            return
        self._store(s, f, self._message(s, f, account.nick), None)

    async def _say_elsewhere(self, s: Session, f: p.Say, to: str, owner: str) -> None:
        """To a nick held on another node: stored first between two accounts, then sent to
        that node for its session."""
        account: StoredAccount | None = None
        if s.account:
            try:
                account = await awaited(self.accounts.find_account, p.fold(to))
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot read its accounts now")
                return
        base = self._message(s, f, account.nick if account is not None else to)
        own = msgspec.structs.replace(base, nonce=f.nonce, ref=f.ref)
        if account is None:
            self.ctx.roster.deliver(owner, base)
            self.ctx.fanout.after_store(lambda: s.send(own))
            return
        stored = StoredDirect(base.id, base.ts, base.sender, base.to or "", base.text, base.action)

        def committed() -> None:
            self.ctx.roster.deliver(owner, base)
            s.send(own)

        def refused(reason: str) -> None:
            refuse(s, f, "unavailable", "the server cannot store messages now; try again later")

        self.accounts.append_direct(stored, True, committed, refused)

    def _message(self, s: Session, f: p.Say, to: str) -> p.Message:
        now = time.time_ns() // 1_000_000
        return p.Message(
            id=self.take_id(), ts=now, sender=s.nick, text=f.text, to=to, action=f.action
        )

    def _deliver_live(self, s: Session, f: p.Say, base: p.Message, target: Session) -> None:
        own = msgspec.structs.replace(base, nonce=f.nonce, ref=f.ref)

        def deliver() -> None:
            if target is not s:
                target.send(base)
            s.send(own)

        self.ctx.fanout.after_store(deliver)

    def _store(self, s: Session, f: p.Say, base: p.Message, target: Session | None) -> None:
        """Commit, then deliver to ``target`` (or keep for the recipient's next sign-in)."""
        stored = StoredDirect(base.id, base.ts, base.sender, base.to or "", base.text, base.action)
        own = msgspec.structs.replace(base, nonce=f.nonce, ref=f.ref, offline=target is None)

        def committed() -> None:
            # The recipient may have gone meanwhile: its copy is then in the history only.
            if target is not None and target is not s:
                target.send(base)
            s.send(own)

        def refused(reason: str) -> None:
            refuse(s, f, "unavailable", "the server cannot store messages now; try again later")

        self.accounts.append_direct(stored, target is not None, committed, refused)

    async def history(self, s: Session, f: p.GetHistory, other: str) -> None:
        """``history {with}``: a page of the sender's stored conversation with ``other``."""
        if not s.account:
            refuse(s, f, "no_account", "stored direct messages are kept for accounts only")
            return
        if not p.is_valid_nick(other):
            refuse(
                s, f, "bad_nick", "a nick is 1-24 letters, digits, _ or -, starting with a letter"
            )
            return
        limit = max(1, min(f.limit, p.HISTORY_LIMIT_MAX))
        top = (1 << 63) - 1
        before = None if f.before is None else max(0, min(f.before, top))
        after = None if f.after is None else max(0, min(f.after, top))
        try:
            page: DirectPage = await awaited(
                self.accounts.direct_page, s.account, p.fold(other), before, after, limit
            )
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read its history now; try again later")
            return
        messages = [to_wire(m) for m in page.messages]
        empty = p.HistoryPage(with_=other, messages=[], more=True, ref=f.ref)
        room = budget(self.reply_bytes, empty)
        shown, cut = fit_newest(messages, room) if after is None else fit(messages, 10**9, room)
        s.send(p.HistoryPage(with_=other, messages=shown, more=page.more or cut, ref=f.ref))

    async def deliver_waiting(self, s: Session) -> None:
        """Send ``s`` the messages kept for its account, oldest first, marking them delivered."""
        key = s.account
        while key and s.account == key and not s.closing and s.behind_since is None:
            try:
                page: DirectPage = await awaited(self.accounts.undelivered, key, DELIVERY_PAGE)
                if not page.messages or s.closing:
                    return
                for message in page.messages:
                    s.send(to_wire(message))
                await awaited(self.accounts.mark_delivered, key, page.messages[-1].id)
            except Unavailable:
                return  # they stay waiting for the next sign-in
            if not page.more:
                return
