"""What a feature module is: a typed table of its frames' handlers, and what handlers share.

The hub dispatches and nothing else; what each client frame does lives in a feature module
(``rooms.py``, ``messages.py``, ``presence.py``, ``accounts.py``, ``moderation.py``). A feature
is a class built from the shared ``Context`` whose ``handlers`` table maps each frame type it owns
to an ``async`` handler, written with ``Handlers.on`` so that mypy checks every handler against its
frame type. It may read the store's snapshot at start-up (``load``) and clean up when a session
departs (``departed``). Who may take a nick is asked of ``Context.owners``: presence asks, and the
accounts feature, when registered, answers (``NickOwner``), so that neither imports the other; in
the same way rooms, messages and presence ask ``Context.rules`` whether a join, a room ``say``, a
``topic`` or a nick is allowed and which role a member has, and the moderation feature answers
(``Gatekeeper``; without it everything is allowed). The checks that answer the client when they fail
(``refuse``, ``room_name``, ``member_of``), the text limit, ``read_page`` (a store read to await,
which raises ``Unavailable`` when the store cannot read), ``awaited`` (any other store operation,
awaited), ``save_room`` (a write to await) and ``forget_if_empty`` (dropping a room nobody is in)
are here because several features use them. A new feature is a new module and one line in
``runner.FEATURES``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from app import protocol as p
from app.server.config import ServerConfig
from app.server.directory import Room, Rooms
from app.server.fanout import Fanout
from app.server.registry import Sessions
from app.server.roster import Alone, Member, Roster
from app.server.session import Session
from app.store import Accounts, History, Moderation, Page, Snapshot, StoredRoom

MAX_TEXT = 4000  # characters in a message, topic or away text; the line limit bounds bytes
# SQLite integers are 64-bit: a larger id in a query would kill the store's writer thread.
MAX_ID = (1 << 63) - 1

F = TypeVar("F", bound=p.ClientFrame)
# The table's own type forgets which frame each handler takes; ``Handlers.on`` is what checks it.
AnyHandler = Callable[[Session, Any], Coroutine[Any, Any, None]]


class Handlers:
    """One feature's frames: the handler of each, and which may come before ``hello``."""

    def __init__(self) -> None:
        self.table: dict[type, AnyHandler] = {}
        self.before_hello: set[type] = set()

    def on(
        self,
        frame_type: type[F],
        handler: Callable[[Session, F], Coroutine[Any, Any, None]],
        *,
        before_hello: bool = False,
    ) -> Handlers:
        """Let ``handler`` do ``frame_type`` frames (from registered sessions only, unless
        ``before_hello``)."""
        if frame_type in self.table:
            raise ValueError(f"{frame_type.__name__} has two handlers")
        self.table[frame_type] = handler
        if before_hello:
            self.before_hello.add(frame_type)
        return self


class NickOwner(Protocol):
    """Who owns nicks: asked by presence before a ``hello`` or ``nick`` takes a nick."""

    async def claim(
        self, s: Session, f: p.ClientFrame, nick: str, password: str | None
    ) -> str | None:
        """The account (folded nick) ``s`` signs in to by taking ``nick``, "" to take it as a
        guest, or None if it may not (then ``s`` has been answered)."""
        ...

    async def pinned_nick(self, s: Session, f: p.Hello) -> str | None:
        """The nick of the account that ``f.key`` (an SSH gateway's proven key) is pinned to, for
        a ``hello`` without a nick; None if there is none (then ``s`` has been answered)."""
        ...

    async def signed_in(self, s: Session) -> None:
        """``s`` was just welcomed or renamed into its account (``s.account``)."""
        ...


class Guests:
    """The ``NickOwner`` of a server without accounts: every nick is a guest's."""

    async def claim(
        self, s: Session, f: p.ClientFrame, nick: str, password: str | None
    ) -> str | None:
        return ""

    async def pinned_nick(self, s: Session, f: p.Hello) -> str | None:
        refuse(s, f, "no_account", "this server has no accounts")
        return None

    async def signed_in(self, s: Session) -> None:
        return None


class Owners:
    """Where presence finds the ``NickOwner``: guests only, until a feature sets ``rule``."""

    def __init__(self) -> None:
        self.rule: NickOwner = Guests()


class Gatekeeper(Protocol):
    """Room rules (moderation): asked by rooms, messages and presence, answered by
    ``moderation.py``. A ``may_*`` that says no has answered the client."""

    async def may_join(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        """Whether ``s`` may join ``room`` (read from the store the first time; not banned);
        an account joining a room with no owner becomes its owner here."""
        ...

    def may_say(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        """Whether ``s`` may speak in ``room`` (it is not muted there)."""
        ...

    def may_set_topic(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        """Whether ``s`` may set ``room``'s topic (it is not locked, or ``s`` is an op)."""
        ...

    async def may_enter(self, s: Session, f: p.ClientFrame, account: str, nick: str) -> bool:
        """Whether ``s`` may take ``nick`` as ``account`` ("" a guest): no server-wide ban."""
        ...

    def role_of(self, room: str, s: Member) -> str | None:
        """``s``'s role in ``room`` as ``joined`` and ``members`` show it (None: a member)."""
        ...

    def is_locked(self, room: str) -> bool:
        """Whether ``room``'s topic is locked."""
        ...

    def forgotten(self, room: str) -> None:
        """Nobody is in ``room`` any more: what is kept about it in memory may go."""
        ...

    async def account_deleted(self, account: str) -> None:
        """``account`` is about to be deleted: take its roles in every room (raises
        ``Unavailable`` if the store cannot)."""
        ...


class Unmoderated:
    """The ``Gatekeeper`` of a server without moderation: everything is allowed."""

    async def may_join(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        return True

    def may_say(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        return True

    def may_set_topic(self, s: Session, f: p.ClientFrame, room: str) -> bool:
        return True

    async def may_enter(self, s: Session, f: p.ClientFrame, account: str, nick: str) -> bool:
        return True

    def role_of(self, room: str, s: Member) -> str | None:
        return None

    def is_locked(self, room: str) -> bool:
        return False

    def forgotten(self, room: str) -> None:
        return None

    async def account_deleted(self, account: str) -> None:
        return None


class Rules:
    """Where other features find the ``Gatekeeper``: no rules, until a feature sets ``rule``."""

    def __init__(self) -> None:
        self.rule: Gatekeeper = Unmoderated()


@dataclass(frozen=True)
class Context:
    """The server's shared state and services, as every feature sees them."""

    config: ServerConfig
    store: History
    sessions: Sessions
    rooms: Rooms
    nicks: dict[str, Session]  # folded nick -> its session; written by presence only
    fanout: Fanout
    accounts: Accounts
    moderation: Moderation
    owners: Owners = field(default_factory=Owners)
    rules: Rules = field(default_factory=Rules)
    roster: Roster = field(default_factory=Alone)  # nicks and members of other nodes


class Feature(Protocol):
    """A feature module's class: its handlers and its part in start-up and departure."""

    handlers: Handlers

    def load(self, snapshot: Snapshot) -> None:
        """Take what it needs from the store's start-up snapshot."""
        ...

    def departed(self, session: Session, text: str | None) -> None:
        """``session`` left the chat (quit, dropped or lost): forget it."""
        ...


FeatureFactory = Callable[[Context], Feature]


# --- checks that answer the client when they fail ---


def refuse(s: Session, f: p.ClientFrame, code: p.ErrorCode, message: str) -> None:
    """Answer ``f`` with an error and do nothing else."""
    s.send(p.Error(code=code, message=message, ref=f.ref))


def may_talk(config: ServerConfig, s: Session, f: p.ClientFrame) -> bool:
    """Whether ``s`` may join and talk: always, unless ``--accounts-required`` and a guest."""
    if config.accounts_required and not s.account:
        refuse(s, f, "no_account", "this server is for accounts only: register your nick first")
        return False
    return True


def room_name(s: Session, f: p.ClientFrame, room: str) -> str | None:
    """The folded name of ``room``, or ``None`` (and a ``bad_room``) if it is not one."""
    if not p.is_valid_room(room):
        refuse(s, f, "bad_room", "a room is # then 1-32 letters, digits, _ or -")
        return None
    return p.fold(room)


def member_of(rooms: Rooms, s: Session, f: p.ClientFrame, room: str) -> Room | None:
    """The room ``s`` names and is in, or ``None`` (and an error) otherwise."""
    name = room_name(s, f, room)
    if name is None:
        return None
    if not rooms.is_member(name, s):
        refuse(s, f, "not_in_room", f"you are not in {name}")
        return None
    return rooms.get(name)


def forget_if_empty(ctx: Context, name: str) -> None:
    """Drop a room nobody is in, here and (unless it holds messages) in the store."""
    if ctx.rooms.forget_if_unused(name):
        ctx.store.forget_room(name)
        ctx.rules.rule.forgotten(name)


class Unavailable(Exception):
    """The store could not do what was asked (the reason is the message, for the log)."""


async def awaited(operation: Callable[..., None], *args: Any) -> Any:
    """Run a store operation that takes ``(*args, done, failed)`` and return what ``done`` got
    (None for a ``done`` of no arguments); raise ``Unavailable`` if it failed."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(*result: Any) -> None:
        if not future.done():  # the session may have gone, and its wait been cancelled
            future.set_result(result[0] if result else None)

    def failed(reason: str) -> None:
        if not future.done():
            future.set_exception(Unavailable(reason))

    operation(*args, done, failed)
    return await future


async def read_page(
    store: History, room: str, before: int | None, after: int | None, limit: int
) -> Page:
    """One page of ``room`` read from the store, in the order of its queue, awaited; raises
    ``Unavailable`` if the store cannot read it."""
    read: asyncio.Future[Page] = asyncio.get_running_loop().create_future()

    def done(page: Page) -> None:
        if not read.done():  # the session may have gone, and its wait been cancelled
            read.set_result(page)

    def failed(reason: str) -> None:
        if not read.done():
            read.set_exception(Unavailable(reason))

    store.page(room, before, after, limit, done, failed)
    return await read


async def save_room(
    store: History, room: StoredRoom, saved: Callable[[], None], refused: Callable[[], None]
) -> None:
    """Write ``room`` and wait until the store has; ``saved`` or ``refused`` runs in the store's
    order (so two writes at once take effect as the store has them) before the wait ends."""
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(then: Callable[[], None]) -> None:
        then()  # even if the session's wait was cancelled: the store has decided
        if not written.done():
            written.set_result(None)

    store.save_room(room, lambda: settle(saved), lambda reason: settle(refused))
    await written
