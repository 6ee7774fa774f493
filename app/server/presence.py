"""Presence: registering under a nick, renaming, away, keepalive and quitting.

Each handler is one row of ``docs/protocol.md``'s table for ``hello``, ``nick``, ``away``, ``ping``,
``pong`` and ``quit``; ``hello``, ``ping``, ``pong`` and ``quit`` are the frames allowed before
registration. This module is the only writer of ``Context.nicks`` (folded nick to session) and of a
session's ``nick``, ``key`` and ``away``; whether a nick may be taken at all (an account's, which
needs its password) it asks of ``Context.owners`` (``accounts.py``) and then sets the session's
``account``; whether a server-wide ban bars the nick it asks of ``Context.rules``
(``moderation.py``). Rules owned here: a nick is valid per ``protocol.is_valid_nick`` and unique
case-insensitively, except that signing in to an account takes its nick over from another connection
of the same account (which is told ``bye {reason: "logged_in_elsewhere"}``); a rename and an away
change are announced in every room of the session, not to itself; the ``pong`` to a client's
``ping`` and the goodbye after ``quit`` wait behind the store's queue, so they follow every effect
of the frames before them. On a node of a deployment sharing rooms, a nick is also claimed across
the nodes before it is taken (``Context.roster``), a sign-in to an account held on another node
tells that session to go (``logged_in_elsewhere``) and then claims it, and the reply to a ``nick``
or ``away`` waits until its announcements reached Redis (``Fanout.settle``). The keepalive sweep
that pings quiet clients is ``registry.Sessions.sweep``.
"""

from __future__ import annotations

import asyncio
import logging

from app import protocol as p
from app.server.feature import MAX_TEXT, Context, Handlers, Unavailable, refuse
from app.server.limits import announced
from app.server.session import Session
from app.store import Snapshot

log = logging.getLogger("parley.server")

# A sign-in that takes its account's nick over from another node waits for it to be let go.
_TAKE_OVER_TRIES = 40
_TAKE_OVER_PAUSE = 0.05


class PresenceFeature:
    """The presence frames' handlers and the nick registry's rules."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.nicks = context.nicks
        self.fanout = context.fanout
        self.owners = context.owners
        self._limits = announced(context.config)
        context.roster.obey("take_over", self._taken_over)
        self.handlers = (
            Handlers()
            .on(p.Hello, self.hello, before_hello=True)
            .on(p.Nick, self.nick)
            .on(p.Away, self.away)
            .on(p.Ping, self.ping, before_hello=True)
            .on(p.Pong, self.pong, before_hello=True)
            .on(p.Quit, self.quit, before_hello=True)
        )

    def load(self, snapshot: Snapshot) -> None:
        return None

    def departed(self, session: Session, text: str | None) -> None:
        if session.key and self.nicks.get(session.key) is session:
            del self.nicks[session.key]
            self.ctx.roster.release(session, session.key)

    async def hello(self, s: Session, f: p.Hello) -> None:
        if s.key:
            refuse(s, f, "already_registered", f"you are already {s.nick}")
            return
        if f.proto != p.PROTO_VERSION:
            refuse(s, f, "bad_proto", f"this server speaks protocol {p.PROTO_VERSION}")
            return
        nick = f.nick
        if nick is None:
            if f.key is None:
                refuse(s, f, "bad_frame", "hello needs a nick (or an SSH gateway's key)")
                return
            # Signing in by key alone: the nick is the one the key is pinned to.
            nick = await self.owners.rule.pinned_nick(s, f)
            if nick is None or s.closing:
                return
        if not self._check_nick(s, f, nick):
            return
        account = await self.owners.rule.claim(s, f, nick, f.password)
        if account is None or not await self.ctx.rules.rule.may_enter(s, f, account, nick):
            return
        # The nick may have been taken while the password was checked.
        if s.closing or not self._take_over(s, f, nick, account):
            return
        if not await self._claim(s, f, nick, account):
            return
        s.nick, s.key, s.account = nick, p.fold(nick), account
        self.nicks[s.key] = s
        server = self.ctx.config.server_name
        welcome = p.Welcome(
            nick=s.nick,
            server=server,
            proto=p.PROTO_VERSION,
            account=s.nick if account else None,
            oper=bool(account) and account in self.ctx.config.opers,
            node=self.ctx.config.node or None,
            limits=self._limits,
            ref=f.ref,
        )
        s.send(welcome)
        log.info("register %s as %s", s.peer, s.nick)
        if account:
            await self.owners.rule.signed_in(s)

    async def nick(self, s: Session, f: p.Nick) -> None:
        if not self._check_nick(s, f, f.nick):
            return
        old = s.nick
        if f.nick == old:
            s.send(p.Renamed(nick=old, old=old, ref=f.ref))
            return
        if p.fold(f.nick) == s.key:
            account = s.account  # the same nick in another case: the same account
            await self.ctx.roster.claim(s, f.nick)  # other nodes show it as written now
        else:
            claimed = await self.owners.rule.claim(s, f, f.nick, f.password)
            if claimed is None or not await self.ctx.rules.rule.may_enter(s, f, claimed, f.nick):
                return
            if s.closing or not self._take_over(s, f, f.nick, claimed):
                return
            if not await self._claim(s, f, f.nick, claimed):
                return
            self.ctx.roster.release(s, s.key)
            account = claimed
        del self.nicks[s.key]
        s.nick, s.key, s.account = f.nick, p.fold(f.nick), account
        self.nicks[s.key] = s
        self.ctx.roster.changed(s, self.ctx.rooms.rooms_of(s))
        for name in self.ctx.rooms.rooms_of(s):
            event = p.Presence(room=name, nick=s.nick, old=old, event="nick")
            self.fanout.broadcast(name, event, skip=s)
        await self.fanout.settle()
        s.send(p.Renamed(nick=s.nick, old=old, ref=f.ref))

    async def away(self, s: Session, f: p.Away) -> None:
        if f.text is not None and len(f.text) > MAX_TEXT:
            refuse(s, f, "bad_frame", f"an away text is at most {MAX_TEXT} characters")
            return
        s.away = f.text or None
        self.ctx.roster.changed(s, self.ctx.rooms.rooms_of(s))
        event: p.PresenceEvent = "away" if s.away is not None else "back"
        for name in self.ctx.rooms.rooms_of(s):
            presence = p.Presence(room=name, nick=s.nick, event=event, text=s.away)
            self.fanout.broadcast(name, presence, skip=s)
        await self.fanout.settle()
        s.send(p.AwaySet(text=s.away, ref=f.ref))

    async def ping(self, s: Session, f: p.Ping) -> None:
        pong = p.ServerPong(id=f.id, ref=f.ref)
        self.fanout.after_store(lambda: s.send(pong))

    async def pong(self, s: Session, f: p.Pong) -> None:
        s.ping_sent = None  # any input already counts; this is the explicit answer

    async def quit(self, s: Session, f: p.Quit) -> None:
        # The echo of a message said just before quit may still wait on the store.
        s.leaving = True
        self.fanout.after_store(lambda: s.drop("quit", f.text or ""))

    def _check_nick(self, s: Session, f: p.ClientFrame, nick: str) -> bool:
        if not p.is_valid_nick(nick):
            refuse(
                s, f, "bad_nick", "a nick is 1-24 letters, digits, _ or -, starting with a letter"
            )
            return False
        holder = self.nicks.get(p.fold(nick))
        # A connection signed in to the nick's account may be taken over: the owner decides.
        if holder is not None and holder is not s and not holder.account:
            refuse(s, f, "nick_taken", f"{nick} is already taken")
            return False
        return True

    async def _claim(self, s: Session, f: p.ClientFrame, nick: str, account: str) -> bool:
        """Whether ``s`` now holds ``nick`` on every node (``Context.roster``; one process's
        roster says yes at once). A nick another node's session holds is refused, unless
        ``s`` signs in to its account and so does that session: it is told to go
        (``logged_in_elsewhere``), and the nick is claimed again once it went."""
        roster = self.ctx.roster
        held = await roster.claim(s, nick)
        if held is False and account:
            try:
                holder = await roster.where(p.fold(nick))
            except Unavailable:
                holder = None
            if holder is not None:
                roster.order(holder[0], "take_over", [account])
                for _ in range(_TAKE_OVER_TRIES):
                    await asyncio.sleep(_TAKE_OVER_PAUSE)
                    held = await roster.claim(s, nick)
                    if held is not False or s.closing:
                        break
        if held is None:
            refuse(s, f, "unavailable", "the server cannot check nicks now; try again later")
        elif not held:
            refuse(s, f, "nick_taken", f"{nick} is already taken")
        elif not s.closing:
            return True
        else:
            self.ctx.roster.release(s, p.fold(nick))
        return False

    def _taken_over(self, s: Session, order: list[str]) -> None:
        """A connection on another node signed in to ``s``'s account: ``s`` goes."""
        (account,) = order
        if s.account == account:
            log.info("account %s signed in again on another node: dropping %s", account, s.peer)
            s.drop("logged_in_elsewhere", "you signed in from another connection")

    def _take_over(self, s: Session, f: p.ClientFrame, nick: str, account: str) -> bool:
        """Whether ``s`` may now hold ``nick`` as ``account`` ("" a guest): free, its own, or held
        by another connection of the same account, which is dropped."""
        holder = self.nicks.get(p.fold(nick))
        if holder is None or holder is s:
            return True
        if account and holder.account == account:
            log.info(
                "account %s signed in again from %s: dropping %s", account, s.peer, holder.peer
            )
            holder.drop("logged_in_elsewhere", "you signed in from another connection")
            return self.nicks.get(p.fold(nick)) is None
        refuse(s, f, "nick_taken", f"{nick} is already taken")
        return False
