"""``parley admin``: looking after a server's database from the shell, stopped or running.

This module owns the ``admin`` subcommand: its parser (``add_admin``, which ``cli.py`` registers)
and its actions. ``check`` and ``backup`` read the file as SQLite (``app/store/sqlite.py``); the
others (accounts, passwords, bans and room owners) go through the store classes the server uses,
``SQLiteHistory`` with ``SQLiteAccounts`` and ``SQLiteModeration``, on an event loop of their own,
so that no SQL is written twice. SQLite in WAL mode lets them work beside a running server: a
write waits up to ``--wait`` seconds for the server's, and a database still locked then is one
sentence. A running server reads a room's rules when the room is first joined, so a change to a
room in use takes effect once the room empties or the server restarts; a new password counts from
the next sign-in. Every refusal (no such file, not a Parley database, locked, no such account, a
bad name) is one sentence on stderr and exit status 2, never a traceback: the actions raise
``UsageError`` and ``cli.main`` prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from app import protocol as p
from app.server.checks import UsageError, check_writable_file
from app.server.feature import Unavailable, awaited
from app.server.settings import default_db
from app.store import SERVER_WIDE, SQLiteAccounts, SQLiteHistory, SQLiteModeration

# Names a room's ``ROOM`` argument takes for the server-wide bans (quote it in a shell).
SERVER: Final = "*"
WAIT: Final = 5.0

_ACTIONS_HELP: Final = f"""actions on rooms and accounts (NICK and ROOM ignore case):
  accounts              list the accounts: nick and when it was created (UTC)
  reset-password NICK   set NICK's password, read from stdin (first line) or, on a terminal,
                        asked twice; at least {p.PASSWORD_MIN} characters
  delete-account NICK   delete the account NICK and its direct messages
  bans [ROOM]           list the bans in force in ROOM; without ROOM (or with '{SERVER}'),
                        the server-wide bans
  unban ROOM MASK       lift the ban of MASK (account:NAME, nick:GLOB or ip:ADDR[/PREFIX]) in
                        ROOM; ROOM '{SERVER}' lifts a server-wide ban
  owner ROOM NICK       make the account NICK the owner of ROOM; a previous owner becomes op
  disown ROOM NICK      take ROOM's ownership from NICK (NICK keeps no role)

A running server reads a room's rules when the room is first joined: a change to a room in use
counts once it empties or the server restarts. Refusals are one sentence and exit status 2."""


def add_admin(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``parley admin`` and its actions to ``sub``."""
    admin = sub.add_parser(
        "admin",
        help="look after a server's database: check, back up, accounts, bans, owners",
        description="Look after a server's database, also while parley serve is using it.",
        epilog=_ACTIONS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_db_flags(admin, None)
    actions = admin.add_subparsers(title="actions", dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="run SQLite's integrity check; exit status 1 if it finds damage",
        description="Run SQLite's integrity check on the history file and print what it finds.",
    )
    backup = actions.add_parser(
        "backup",
        help="copy the history, as of one moment, to a new file",
        description="Copy the history file, as of one moment and compacted, to a new file TO "
        "(never over an existing one). Safe while the server is writing.",
    )
    backup.add_argument("to", metavar="TO", help="the new file")
    named = {name: actions.add_parser(name, help=text) for name, text in _STORE_ACTIONS.items()}
    for name in ("reset-password", "delete-account"):
        named[name].add_argument("nick", metavar="NICK")
    named["bans"].add_argument("room", metavar="ROOM", nargs="?", default=SERVER)
    named["unban"].add_argument("room", metavar="ROOM")
    named["unban"].add_argument("mask", metavar="MASK")
    for name in ("owner", "disown"):
        named[name].add_argument("room", metavar="ROOM")
        named[name].add_argument("nick", metavar="NICK")
    for action in (check, backup, *named.values()):
        # Given before or after the action; after it, only when given (argparse would otherwise
        # overwrite the first with the action's default).
        _add_db_flags(action, argparse.SUPPRESS)
    admin.set_defaults(command=run)


_STORE_ACTIONS: Final = {
    "accounts": "list the accounts and when each was created",
    "reset-password": "set an account's password (from stdin, or asked on a terminal)",
    "delete-account": "delete an account and its direct messages",
    "bans": f"list the bans in force in a room, or the server-wide ones ('{SERVER}')",
    "unban": f"lift a ban of a room, or a server-wide one ('{SERVER}')",
    "owner": "make an account a room's owner (the previous owner becomes op)",
    "disown": "take a room's ownership from an account",
}


def _add_db_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--db",
        default=default,
        metavar="FILE",
        help="the server's database (default: PARLEY_DB, else the file parley serve uses)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=WAIT if default is None else default,
        metavar="SECONDS",
        help=f"how long to wait for a running server's write (default: {WAIT:g})",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``parley admin ACTION``; the exit status."""
    path = os.path.expanduser(args.db or os.environ.get("PARLEY_DB") or default_db())
    origin = "--db" if args.db else ("PARLEY_DB" if os.environ.get("PARLEY_DB") else "the history")
    if not os.path.isfile(path):
        raise UsageError(f"{origin} {path}: no such file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{origin} {path} is not readable")
    if args.action == "check":
        return _check(path)
    if args.action == "backup":
        return _backup(path, os.path.expanduser(args.to))
    action = _ACTIONS[args.action]
    _check_history(path)
    # The store's own start-up lines ("history in ...") are not this command's output.
    logging.getLogger("parley.store").setLevel(logging.WARNING)
    if args.action == "reset-password":
        args.password = _new_password()
    return asyncio.run(_on_store(path, args, action))


def _check(path: str) -> int:
    from app.store.sqlite import check_integrity

    problems = check_integrity(path)
    for problem in problems:
        print(f"{path}: {problem}")
    if not problems:
        print(f"{path}: no damage found")
    return 1 if problems else 0


def _backup(path: str, to: str) -> int:
    from app.store.sqlite import backup

    if os.path.lexists(to):
        raise UsageError(f"{to} already exists: a backup never overwrites a file")
    check_writable_file(to, "TO")
    try:
        backup(path, to)
    except sqlite3.DatabaseError as exc:
        print(f"parley admin: error: cannot back up {path}: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: backed up to {to}")
    return 0


def _check_history(path: str) -> None:
    """Refuse a file that is no Parley database before the store would make it one."""
    from app.store.sqlite_schema import is_history

    try:
        parley = is_history(path)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} is not a Parley database ({exc})") from None
    if not parley:
        raise UsageError(f"{path} is not a Parley database (it has none of Parley's tables)")


@dataclass(frozen=True, slots=True)
class _Stores:
    """The opened stores of one database, for an action."""

    history: SQLiteHistory
    accounts: SQLiteAccounts
    moderation: SQLiteModeration


_Action = Callable[[_Stores, argparse.Namespace], Awaitable[None]]


async def _on_store(path: str, args: argparse.Namespace, action: _Action) -> int:
    history = SQLiteHistory(path, busy_timeout=args.wait)
    try:
        history.open()
    except sqlite3.DatabaseError as exc:
        raise UsageError(_why(path, str(exc), args.wait)) from None
    try:
        await action(_Stores(history, SQLiteAccounts(history), SQLiteModeration(history)), args)
    except Unavailable as exc:
        raise UsageError(_why(path, str(exc), args.wait)) from None
    finally:
        await history.close()
    return 0


def _why(path: str, reason: str, wait: float) -> str:
    if "locked" in reason or "busy" in reason:
        return (
            f"{path} is locked by another process (a server writing?) and stayed locked for"
            f" {wait:g} s: try again, or with a longer --wait"
        )
    return f"cannot use {path}: {reason}"


def _new_password() -> str:
    """The new password: asked twice on a terminal, else stdin's first line."""
    if sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ: nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < p.PASSWORD_MIN:
        raise UsageError(f"a password has at least {p.PASSWORD_MIN} characters")
    if len(password.encode()) > p.PASSWORD_MAX_BYTES:
        raise UsageError(f"a password has at most {p.PASSWORD_MAX_BYTES} bytes")
    return password


def _nick(nick: str) -> str:
    if not p.is_valid_nick(nick):
        raise UsageError(f"{nick!r} is no nick: a letter, then up to 23 letters, digits, _ or -")
    return p.fold(nick)


def _room(room: str) -> str:
    if room == SERVER:
        return SERVER_WIDE
    if not p.is_valid_room(room):
        raise UsageError(f"{room!r} is no room: # then 1-32 letters, digits, _ or -")
    return p.fold(room)


async def _account(stores: _Stores, nick: str) -> str:
    """The folded nick of the account ``nick``, which must exist."""
    key = _nick(nick)
    if await awaited(stores.accounts.find_account, key) is None:
        raise UsageError(f"there is no account {nick}")
    return key


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


async def _accounts(stores: _Stores, args: argparse.Namespace) -> None:
    found = await awaited(stores.accounts.all_accounts)
    for account in found:
        print(f"{account.nick}\t{_when(account.created)}")
    if not found:
        print("no accounts")


async def _reset_password(stores: _Stores, args: argparse.Namespace) -> None:
    from app.server.passwords import Passwords

    key = await _account(stores, args.nick)
    passwords = Passwords(workers=1)
    try:
        password_hash = await passwords.hash(args.password)
    finally:
        passwords.close()
    if not await awaited(stores.accounts.set_password, key, password_hash):
        raise UsageError(f"there is no account {args.nick}")
    print(f"{args.nick}: password changed")


async def _delete_account(stores: _Stores, args: argparse.Namespace) -> None:
    key = _nick(args.nick)
    if await awaited(stores.accounts.find_account, key) is None:
        raise UsageError(f"there is no account {args.nick}")
    # Roles first: a nick registered again must not inherit the rooms this account owned.
    await awaited(stores.moderation.drop_account, key)
    if not await awaited(stores.accounts.delete_account, key):
        raise UsageError(f"there is no account {args.nick}")
    print(f"{args.nick}: account deleted")


async def _bans(stores: _Stores, args: argparse.Namespace) -> None:
    room = _room(args.room)
    rules = await awaited(stores.moderation.room_rules, room)
    now = int(time.time() * 1000)
    in_force = [ban for ban in rules.bans if ban.expires is None or ban.expires > now]
    for ban in in_force:
        until = "until lifted" if ban.expires is None else f"until {_when(ban.expires)}"
        reason = f"\t{ban.reason}" if ban.reason else ""
        print(f"{ban.mask}\tby {ban.by}\t{until}{reason}")
    if not in_force:
        print("no server-wide bans" if room == SERVER_WIDE else f"no bans in {args.room}")


async def _unban(stores: _Stores, args: argparse.Namespace) -> None:
    room = _room(args.room)
    if not await awaited(stores.moderation.remove_ban, room, args.mask):
        where = "server-wide" if room == SERVER_WIDE else f"in {args.room}"
        raise UsageError(f"{args.mask} is not banned {where}")
    print(f"{args.mask}: unbanned {'server-wide' if room == SERVER_WIDE else 'in ' + args.room}")


async def _owner(stores: _Stores, args: argparse.Namespace) -> None:
    room = _room_only(args.room)
    key = await _account(stores, args.nick)
    rules = await awaited(stores.moderation.room_rules, room)
    for account, role in rules.roles.items():
        if role == "owner" and account != key:
            await awaited(stores.moderation.set_role, room, account, "op")
            print(f"{account}: now op of {args.room}")
    await awaited(stores.moderation.set_role, room, key, "owner")
    print(f"{args.nick}: now owner of {args.room}")


async def _disown(stores: _Stores, args: argparse.Namespace) -> None:
    room, key = _room_only(args.room), _nick(args.nick)
    rules = await awaited(stores.moderation.room_rules, room)
    if rules.roles.get(key) != "owner":
        raise UsageError(f"{args.nick} is not an owner of {args.room}")
    await awaited(stores.moderation.set_role, room, key, None)
    print(f"{args.nick}: no longer owner of {args.room}")


def _room_only(room: str) -> str:
    """A room's folded name; the server-wide ``*`` has no owner."""
    if room == SERVER:
        raise UsageError("the server has operators (parley serve --oper), not owners: name a room")
    return _room(room)


_ACTIONS: Final[dict[str, _Action]] = {
    "accounts": _accounts,
    "reset-password": _reset_password,
    "delete-account": _delete_account,
    "bans": _bans,
    "unban": _unban,
    "owner": _owner,
    "disown": _disown,
}
