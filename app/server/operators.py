"""Server operators: ``kill``, ``gban``, ``gunban``, the server-wide ``bans``, and who they bar.

``ServerOperators`` is the server-wide half of moderation (``moderation.py`` registers its handlers,
so that each frame still has one handler, and asks it whether a ``hello`` or ``nick`` may enter):
the rows of ``docs/protocol.md``'s "Moderation" table that only a server operator may use. A server
operator is a session signed in to an account named by ``--oper`` (``ServerConfig.opers``, folded).
Rules owned here: a ``kill`` closes the victim's connection with ``bye {reason: "killed"}`` and its
rooms see it quit "killed by NAME: reason"; a server-wide ban is the ban of room ``SERVER_WIDE`` in
the rule book, read once at start-up, and closes every matching connection with ``bye {reason:
"banned"}`` when set; a matching ``hello`` or ``nick`` is refused ``banned`` (the connection
survives, to choose another nick); server operators are never bound by server-wide bans. The helpers
that room bans share (``check_duration``, ``expiry``, ``check_reason``, ``ban_list``, ``saved``,
``lifted``, ``refuse_banned``) are here too. On a node of a deployment sharing rooms, a ``kill``
of a session on another node is an order to that node, and a server-wide ban or unban is
announced to every node, which rereads the bans and closes its matching connections
(``Context.roster``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Final

from app import protocol as p
from app.server.fanout import Fanout
from app.server.feature import MAX_TEXT, Context, Unavailable, refuse
from app.server.limits import budget, fit, reply_bytes
from app.server.masks import Mask, canonical, parse_mask
from app.server.rulebook import RuleBook, now_ms
from app.server.session import Session
from app.store import SERVER_WIDE, RoomRules, StoredBan

log = logging.getLogger("parley.moderation")

# The longest ban or mute with an end: about 100 years, so that its end fits any store.
MAX_DURATION_S: Final = 100 * 366 * 24 * 3600


def check_duration(s: Session, f: p.ClientFrame, duration_s: int | None) -> bool:
    """Whether ``duration_s`` is absent or a positive number of seconds (else ``bad_frame``)."""
    if duration_s is None or 0 < duration_s <= MAX_DURATION_S:
        return True
    refuse(s, f, "bad_frame", f"duration_s is from 1 to {MAX_DURATION_S} seconds")
    return False


def check_reason(s: Session, f: p.ClientFrame, reason: str | None) -> bool:
    """Whether ``reason`` is absent or at most ``MAX_TEXT`` characters (else ``bad_frame``)."""
    if reason is None or len(reason) <= MAX_TEXT:
        return True
    refuse(s, f, "bad_frame", f"a reason is at most {MAX_TEXT} characters")
    return False


def expiry(now: int, duration_s: int | None) -> int | None:
    """When a ban or mute set at ``now`` for ``duration_s`` ends (None: never)."""
    return None if duration_s is None else now + duration_s * 1000


def ban_list(
    book: RuleBook, rules: RoomRules, room: str | None, ref: p.Ref | p.UnsetType, bound: int
) -> p.BanList:
    """The ``ban_list`` of ``rules``' bans in force, as many as fit ``bound`` bytes."""
    infos = (
        p.BanInfo(mask=ban.mask, by=ban.by, reason=ban.reason, expires_ms=ban.expires)
        for ban in book.bans(rules, now_ms())
    )
    room_left = budget(bound, p.BanList(bans=[], room=room, ref=ref))
    bans, _more = fit(infos, len(rules.bans), room_left)
    return p.BanList(bans=bans, room=room, ref=ref)


async def saved(fanout: Fanout, s: Session, f: p.ClientFrame, write: Awaitable[object]) -> bool:
    """Await a rule book write; False (``unavailable`` answered) if the store refused it."""
    try:
        await write
    except Unavailable:
        fanout.refuse_unsaved(s, f.ref, "the change")
        return False
    return True


async def lifted(
    fanout: Fanout,
    s: Session,
    f: p.ClientFrame,
    removal: Awaitable[bool],
    code: p.ErrorCode,
    missing: str,
) -> bool:
    """Await a rule book removal; False (answered: ``unavailable``, or ``code`` with the
    message ``missing`` if there was nothing to remove) unless it removed something."""
    try:
        removed = await removal
    except Unavailable:
        fanout.refuse_unsaved(s, f.ref, "the change")
        return False
    if not removed:
        refuse(s, f, code, missing)
    return removed


def refuse_banned(s: Session, f: p.ClientFrame, what: str, ban: StoredBan, now: int) -> None:
    """Answer ``banned``, with the ban's reason and, if it ends, when."""
    wait = None if ban.expires is None else ban.expires - now
    message = what + (f": {ban.reason}" if ban.reason else "")
    s.send(p.make_error("banned", message, ref=f.ref, retry_after_ms=wait))


class ServerOperators:
    """The server operators' frames, and the server-wide bans they set."""

    def __init__(self, context: Context, book: RuleBook) -> None:
        self.ctx = context
        self.book = book
        self.reply_bytes = reply_bytes(context.config)
        context.roster.heed("gban", self._banned_elsewhere)
        context.roster.heed("gunban", self._unbanned_elsewhere)

    async def may_enter(self, s: Session, f: p.ClientFrame, account: str, nick: str) -> bool:
        """Whether ``s`` may take ``nick`` as ``account``: no server-wide ban matches it."""
        if account and account in self.book.opers:
            return True
        if not self.ctx.roster.alone:
            # A gban or gunban that another node answered may not have reached this node yet.
            await self.book.refresh(SERVER_WIDE)
        try:
            rules = await self.book.of(SERVER_WIDE)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read its bans now; try again later")
            return False
        now = now_ms()
        ban = self.book.ban_matching(rules, account, p.fold(nick), s.ip, now)
        if ban is None:
            return True
        log.info("refused %s as %s: banned from the server by %s", s.peer, nick, ban.mask)
        refuse_banned(s, f, "you are banned from this server", ban, now)
        return False

    async def _held(self, s: Session, f: p.ClientFrame) -> bool:
        """Whether the server-wide bans are in memory (read now if need be), so that a change
        lands there too; else False (``unavailable`` answered)."""
        try:
            await self.book.of(SERVER_WIDE)
        except Unavailable:
            refuse(s, f, "unavailable", "the server cannot read its bans now; try again later")
            return False
        return True

    def _is_oper(self, s: Session, f: p.ClientFrame) -> bool:
        if self.book.is_oper(s):
            return True
        refuse(s, f, "not_permitted", "only a server operator may do that")
        return False

    async def kill(self, s: Session, f: p.Kill) -> None:
        if not self._is_oper(s, f) or not check_reason(s, f, f.reason):
            return
        victim = self.ctx.nicks.get(p.fold(f.nick))
        text = f"killed by {s.nick}" + (f": {f.reason}" if f.reason else "")
        if victim is None:
            try:
                owner = await self.ctx.roster.where(p.fold(f.nick))
            except Unavailable:
                refuse(s, f, "unavailable", "the server cannot find nicks now; try again later")
                return
            if owner is None:
                refuse(s, f, "no_such_nick", f"nobody called {f.nick} is online")
                return
            holder, nick, _since = owner
            log.info("%s killed %s (on another node): %s", s.nick, nick, f.reason or "-")
            self.ctx.roster.order(holder, "kill", [text])
            done = p.Moderated(action="kill", target=nick, by=s.nick, reason=f.reason, ref=f.ref)
            self.ctx.fanout.after_store(lambda: s.send(done))
            return
        log.info("%s killed %s (%s): %s", s.nick, victim.nick, victim.peer, f.reason or "-")
        victim.drop("killed", text, parting=text)
        done = p.Moderated(action="kill", target=victim.nick, by=s.nick, reason=f.reason, ref=f.ref)
        self.ctx.fanout.after_store(lambda: s.send(done))

    def killed_here(self, victim: Session, order: list[str]) -> None:
        """An operator on another node killed ``victim``."""
        (text,) = order
        log.info("%s (%s) killed from another node: %s", victim.nick, victim.peer, text)
        victim.drop("killed", text, parting=text)

    async def gban(self, s: Session, f: p.GlobalBan) -> None:
        if not self._is_oper(s, f) or not check_reason(s, f, f.reason):
            return
        if not check_duration(s, f, f.duration_s):
            return
        mask = parse_mask(f.mask)
        if mask is None:
            refuse(s, f, "bad_mask", "a mask is account:NAME, nick:GLOB or ip:ADDR[/PREFIX]")
            return
        now = now_ms()
        expires = expiry(now, f.duration_s)
        ban = StoredBan(SERVER_WIDE, mask.text, s.nick, f.reason, now, expires)
        if not await self._held(s, f):
            return
        if not await saved(self.ctx.fanout, s, f, self.book.add_ban(ban)):
            return
        log.info("%s banned %s from the server: %s", s.nick, mask.text, f.reason or "-")
        done = p.Moderated(
            action="gban",
            target=mask.text,
            by=s.nick,
            reason=f.reason,
            expires_ms=expires,
            ref=f.ref,
        )
        s.send(done)
        message = "you are banned from this server" + (f": {f.reason}" if f.reason else "")
        self.ctx.roster.announce("gban", [mask.text, message])
        self._drop_banned(mask, message, s)

    def _drop_banned(self, mask: Mask, message: str, spare: Session | None) -> None:
        for victim in self.ctx.sessions.in_chat():
            if victim is spare or self.book.is_oper(victim):
                continue
            if mask.matches(victim.account, victim.key, victim.ip):
                log.info("closing %s (%s): banned from the server", victim.peer, victim.nick or "-")
                victim.drop("banned", message)

    async def _banned_elsewhere(self, order: list[str]) -> None:
        """An operator on another node banned ``mask`` from the server: its sessions here go."""
        text, message = order
        await self.book.refresh(SERVER_WIDE)
        mask = parse_mask(text)
        if mask is not None:
            self._drop_banned(mask, message, None)

    async def _unbanned_elsewhere(self, order: list[str]) -> None:
        await self.book.refresh(SERVER_WIDE)

    async def gunban(self, s: Session, f: p.GlobalUnban) -> None:
        if not self._is_oper(s, f):
            return
        text = canonical(f.mask)
        if not await self._held(s, f):
            return
        removal = self.book.remove_ban(SERVER_WIDE, text)
        missing = f"{f.mask} is not banned from this server"
        if not await lifted(self.ctx.fanout, s, f, removal, "bad_mask", missing):
            return
        log.info("%s lifted the server-wide ban of %s", s.nick, text)
        self.ctx.roster.announce("gunban", [text])
        s.send(p.Moderated(action="gunban", target=text, by=s.nick, ref=f.ref))

    async def list_bans(self, s: Session, f: p.ListBans) -> None:
        """``bans`` with no room: the server-wide bans in force."""
        if not self._is_oper(s, f):
            return
        if not await self._held(s, f):
            return
        rules = await self.book.of(SERVER_WIDE)
        s.send(ban_list(self.book, rules, None, f.ref, self.reply_bytes))
