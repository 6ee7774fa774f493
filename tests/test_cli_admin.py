"""``parley admin``, run as the real command (``python -m parley admin ...``) on real database
files: the integrity check and the backup (also of a server that is running and writing), and the
actions on accounts, bans and room owners, each allowed, then refused in one sentence (no such
file, not a Parley database, locked, no such account)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from pathlib import Path

import pexpect
from argon2 import PasswordHasher

from app.server.runner import Server
from app.store import (
    SERVER_WIDE,
    RoomRules,
    SQLiteAccounts,
    SQLiteHistory,
    SQLiteModeration,
    StoredAccount,
    StoredBan,
    StoredDirect,
)
from tests.conftest import Connect
from tests.store.support import TS0, called
from tests.test_cli import TIMEOUT, environment, one_sentence, parley


def _history(path: Path, messages: int) -> None:
    """A history file as the server writes one, with ``messages`` messages in ``#a``."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, ts INTEGER NOT NULL,"
        " sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX messages_by_room ON messages (room, id);"
    )
    conn.executemany(
        "INSERT INTO messages VALUES (?, '#a', ?, 'ann', ?, 0)",
        [(i, i, "x" * 100) for i in range(1, messages + 1)],
    )
    conn.commit()
    conn.close()


def test_check_passes_a_sound_history(tmp_path: Path) -> None:
    """A sound file: "no damage found" and exit status 0."""
    _history(tmp_path / "h.db", 10)
    result = parley(tmp_path, "admin", "check", "--db", "h.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "h.db: no damage found\n"


def test_check_reports_a_damaged_history_with_status_1(tmp_path: Path) -> None:
    """A file cut in half: what SQLite found, one line each, exit status 1, no traceback."""
    path = tmp_path / "h.db"
    _history(path, 5000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = parley(tmp_path, "admin", "check", "--db", "h.db")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("h.db: ")
    assert "no damage found" not in result.stdout


def test_check_of_a_missing_file_is_one_sentence(tmp_path: Path) -> None:
    """No such file: one sentence and exit 2, and no file is created by looking."""
    one_sentence(parley(tmp_path, "admin", "check", "--db", "nope.db"), "admin", "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_the_history_comes_from_parley_db_like_serve(tmp_path: Path) -> None:
    """Without ``--db``, ``PARLEY_DB`` names the file, as it does for ``parley serve``."""
    _history(tmp_path / "env.db", 3)
    result = parley(tmp_path, "admin", "check", env={"PARLEY_DB": "env.db"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "env.db: no damage found\n"


def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    """An existing target is refused in one sentence and left as it was."""
    _history(tmp_path / "h.db", 3)
    (tmp_path / "old").write_text("keep")
    result = parley(tmp_path, "admin", "backup", "--db", "h.db", "old")
    one_sentence(result, "admin", "old", "already exists")
    assert (tmp_path / "old").read_text() == "keep"


def test_a_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    """Backing up a damaged history fails with status 1 and leaves no half-made copy."""
    path = tmp_path / "h.db"
    _history(path, 5000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = parley(tmp_path, "admin", "backup", "--db", "h.db", "copy.db")
    assert result.returncode == 1
    assert result.stderr.startswith("parley admin: error: cannot back up h.db: ")
    assert not (tmp_path / "copy.db").exists()


async def test_backup_of_a_running_server_holds_its_messages(
    connect: Connect, db_path: Path, tmp_path: Path
) -> None:
    """A backup taken while the server runs has every message echoed so far and checks sound."""
    alice = await connect("alice")
    await alice.join("#a")
    for n in range(20):
        await alice.send(type="say", room="#a", text=f"m{n}")
    for n in range(20):
        await alice.expect("message", text=f"m{n}")
    result = await asyncio.to_thread(
        parley, tmp_path, "admin", "backup", "--db", str(db_path), "copy.db"
    )
    assert result.returncode == 0, result.stderr
    await alice.send(type="say", room="#a", text="after the backup")
    await alice.expect("message", text="after the backup")
    copy = sqlite3.connect(tmp_path / "copy.db")
    texts = [row[0] for row in copy.execute("SELECT text FROM messages ORDER BY id")]
    copy.close()
    assert texts == [f"m{n}" for n in range(20)]
    check = await asyncio.to_thread(parley, tmp_path, "admin", "check", "--db", "copy.db")
    assert check.returncode == 0, check.stdout + check.stderr


# --- accounts, bans and owners ---

PASSWORD = "correct horse"
V1_DB = Path(__file__).resolve().parent / "data" / "history-v1.db"


async def _parley_db(path: Path) -> None:
    """A Parley database as a server leaves one: accounts ann (who has mail) and Bob, ann the
    owner and cy an op of #a, bans in #a (one ended) and a server-wide one."""
    history = SQLiteHistory(str(path))
    history.open()
    accounts, moderation = SQLiteAccounts(history), SQLiteModeration(history)
    for nick, created in (("ann", TS0), ("Bob", TS0 + 86_400_000), ("cy", TS0)):
        await called(accounts.create_account, StoredAccount(nick, "old-hash", created))
    direct = StoredDirect(1, TS0, "Bob", "ann", "psst", False)
    await called(accounts.append_direct, direct, False)
    await called(moderation.set_role, "#a", "ann", "owner")
    await called(moderation.set_role, "#a", "cy", "op")
    await called(moderation.add_ban, StoredBan("#a", "nick:Troll*", "ann", "spam", TS0))
    await called(moderation.add_ban, StoredBan("#a", "ip:10.0.0.1", "ann", None, TS0, TS0 + 1))
    await called(moderation.add_ban, StoredBan(SERVER_WIDE, "account:eve", "root", None, TS0))
    await history.close()


async def _rules(path: Path, room: str) -> RoomRules:
    history = SQLiteHistory(str(path))
    history.open()
    try:
        rules: RoomRules = await called(SQLiteModeration(history).room_rules, room)
    finally:
        await history.close()
    return rules


async def _account(path: Path, nick: str) -> StoredAccount | None:
    history = SQLiteHistory(str(path))
    history.open()
    try:
        found: StoredAccount | None = await called(SQLiteAccounts(history).find_account, nick)
    finally:
        await history.close()
    return found


async def test_accounts_lists_each_nick_with_its_creation_date(tmp_path: Path) -> None:
    """``accounts`` prints every account as registered, by folded nick, with its UTC date."""
    await _parley_db(tmp_path / "p.db")
    result = parley(tmp_path, "admin", "--db", "p.db", "accounts")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "ann\t2023-11-14 22:13 UTC\nBob\t2023-11-15 22:13 UTC\ncy\t2023-11-14 22:13 UTC\n"
    )
    assert result.stderr == ""


async def test_reset_password_reads_stdin_and_stores_an_argon2id_hash(tmp_path: Path) -> None:
    """The first line of stdin becomes the password of the account (any case of its nick),
    hashed with argon2id as the server hashes."""
    await _parley_db(tmp_path / "p.db")
    args = ("admin", "--db", "p.db", "reset-password", "BOB")
    result = parley(tmp_path, *args, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "BOB: password changed\n"
    account = await _account(tmp_path / "p.db", "bob")
    assert account is not None and account.hash.startswith("$argon2id$")
    assert PasswordHasher().verify(account.hash, PASSWORD)


async def test_reset_password_asks_twice_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the password is asked twice, unechoed; two that differ change nothing."""
    await _parley_db(tmp_path / "p.db")
    args = ["-m", "parley", "admin", "--db", "p.db", "reset-password", "ann"]
    env = environment(tmp_path, {})
    child = pexpect.spawn(sys.executable, args, cwd=str(tmp_path), env=env, timeout=TIMEOUT)
    child.expect("New password: ")
    child.sendline(PASSWORD)
    child.expect("Again: ")
    child.sendline(PASSWORD + "!")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert b"differ" in (child.before or b"")
    assert PASSWORD not in (child.before or b"").decode()
    assert (await _account(tmp_path / "p.db", "ann")) == StoredAccount("ann", "old-hash", TS0)

    child = pexpect.spawn(sys.executable, args, cwd=str(tmp_path), env=env, timeout=TIMEOUT)
    for prompt in ("New password: ", "Again: "):
        child.expect(prompt)
        child.sendline(PASSWORD)
    child.expect("ann: password changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    account = await _account(tmp_path / "p.db", "ann")
    assert account is not None and PasswordHasher().verify(account.hash, PASSWORD)


async def test_a_short_password_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    """A password under 8 characters is one sentence, exit 2, and the old hash stays."""
    await _parley_db(tmp_path / "p.db")
    result = parley(tmp_path, "admin", "--db", "p.db", "reset-password", "ann", stdin="short\n")
    one_sentence(result, "admin", "at least 8 characters")
    assert (await _account(tmp_path / "p.db", "ann")) == StoredAccount("ann", "old-hash", TS0)


async def test_delete_account_deletes_it_and_its_mail(tmp_path: Path) -> None:
    """``delete-account`` removes the account, the direct messages it received and its room
    roles: the room it owned passes to its op."""
    path = tmp_path / "p.db"
    await _parley_db(path)
    result = parley(tmp_path, "admin", "delete-account", "Ann", "--db", "p.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Ann: account deleted\n"
    assert await _account(path, "ann") is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM directs").fetchone() == (0,)
    conn.close()
    assert (await _rules(path, "#a")).roles == {"cy": "owner"}


async def test_an_unknown_account_is_one_sentence(tmp_path: Path) -> None:
    """Resetting, deleting or crowning a nick that is no account: one sentence naming it."""
    await _parley_db(tmp_path / "p.db")
    reset = parley(tmp_path, "admin", "--db", "p.db", "reset-password", "zed", stdin=PASSWORD)
    one_sentence(reset, "admin", "no account zed")
    for action in (("delete-account", "zed"), ("owner", "#a", "zed")):
        one_sentence(parley(tmp_path, "admin", "--db", "p.db", *action), "admin", "no account zed")
    assert (await _rules(tmp_path / "p.db", "#a")).roles == {"ann": "owner", "cy": "op"}


async def test_bans_lists_those_in_force_of_a_room_or_the_server(tmp_path: Path) -> None:
    """``bans ROOM`` lists a room's bans that have not ended; without a room, the server's."""
    await _parley_db(tmp_path / "p.db")
    room = parley(tmp_path, "admin", "--db", "p.db", "bans", "#A")
    assert room.returncode == 0, room.stderr
    assert room.stdout == "nick:Troll*\tby ann\tuntil lifted\tspam\n"
    server = parley(tmp_path, "admin", "--db", "p.db", "bans")
    assert server.stdout == "account:eve\tby root\tuntil lifted\n"
    empty = parley(tmp_path, "admin", "--db", "p.db", "bans", "#quiet")
    assert empty.stdout == "no bans in #quiet\n"


async def test_unban_lifts_a_rooms_ban_and_a_server_wide_one(tmp_path: Path) -> None:
    """``unban ROOM MASK`` (mask in any case) and ``unban '*' MASK`` lift the ban; a mask not
    banned there is one sentence."""
    path = tmp_path / "p.db"
    await _parley_db(path)
    lifted = parley(tmp_path, "admin", "--db", "p.db", "unban", "#a", "NICK:troll*")
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout == "NICK:troll*: unbanned in #a\n"
    server = parley(tmp_path, "admin", "--db", "p.db", "unban", "*", "account:eve")
    assert server.stdout == "account:eve: unbanned server-wide\n"
    assert [ban.mask for ban in (await _rules(path, "#a")).bans] == ["ip:10.0.0.1"]
    assert (await _rules(path, SERVER_WIDE)).bans == []
    again = parley(tmp_path, "admin", "--db", "p.db", "unban", "*", "account:eve")
    one_sentence(again, "admin", "account:eve", "not banned server-wide")


async def test_owner_passes_a_room_on_and_the_old_owner_becomes_op(tmp_path: Path) -> None:
    """``owner ROOM NICK`` makes NICK the owner and the previous owner an op."""
    path = tmp_path / "p.db"
    await _parley_db(path)
    result = parley(tmp_path, "admin", "--db", "p.db", "owner", "#a", "bob")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ann: now op of #a\nbob: now owner of #a\n"
    assert (await _rules(path, "#a")).roles == {"ann": "op", "bob": "owner", "cy": "op"}
    fresh = parley(tmp_path, "admin", "--db", "p.db", "owner", "#new", "cy")
    assert fresh.stdout == "cy: now owner of #new\n"
    assert (await _rules(path, "#new")).roles == {"cy": "owner"}


async def test_disown_takes_ownership_and_refuses_a_non_owner(tmp_path: Path) -> None:
    """``disown ROOM NICK`` leaves NICK no role; for one who is no owner, one sentence."""
    path = tmp_path / "p.db"
    await _parley_db(path)
    op = parley(tmp_path, "admin", "--db", "p.db", "disown", "#a", "cy")
    one_sentence(op, "admin", "cy is not an owner of #a")
    result = parley(tmp_path, "admin", "--db", "p.db", "disown", "#a", "ANN")
    assert result.returncode == 0, result.stderr
    assert (await _rules(path, "#a")).roles == {"cy": "op"}


def test_store_actions_refuse_a_missing_file_without_creating_it(tmp_path: Path) -> None:
    """No such database: one sentence, and no new empty database is left behind."""
    one_sentence(parley(tmp_path, "admin", "--db", "nope.db", "accounts"), "admin", "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_store_actions_refuse_what_is_not_a_parley_database(tmp_path: Path) -> None:
    """A text file, and a SQLite file of some other program: one sentence each, both files
    left as they were."""
    (tmp_path / "notes.txt").write_text("not a database at all, " * 100)
    result = parley(tmp_path, "admin", "--db", "notes.txt", "accounts")
    one_sentence(result, "admin", "notes.txt is not a Parley database")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    before = other.read_bytes()
    one_sentence(
        parley(tmp_path, "admin", "--db", "other.db", "bans"), "admin", "not a Parley database"
    )
    assert other.read_bytes() == before


def test_a_locked_database_is_one_sentence(tmp_path: Path) -> None:
    """While another process holds the write lock past ``--wait``, an action says the file is
    locked, in one sentence, and exits 2."""
    path = tmp_path / "p.db"
    shutil.copy(V1_DB, path)
    assert parley(tmp_path, "admin", "--db", "p.db", "accounts").stdout == "no accounts\n"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = parley(tmp_path, "admin", "--db", "p.db", "--wait", "0.2", "owner", "#a", "x")
    finally:
        holder.close()
    one_sentence(result, "admin", "p.db is locked", "--wait")


def test_an_older_history_is_upgraded_for_the_store_actions(tmp_path: Path) -> None:
    """A stopped server's database of schema 1 is migrated in place, then listed."""
    shutil.copy(V1_DB, tmp_path / "p.db")
    result = parley(tmp_path, "admin", "bans", "#general", "--db", "p.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no bans in #general\n"


async def test_actions_work_beside_a_running_server(
    server: Server, connect: Connect, db_path: Path, tmp_path: Path
) -> None:
    """On a running server's database: an account it registered is listed, its password reset
    from the shell signs in, and the server goes on writing."""
    alice = await connect("alice")
    await alice.send(type="register", password="first password", ref="r")
    await alice.expect("account", nick="alice", ref="r")
    await alice.join("#a")
    listed = await asyncio.to_thread(parley, tmp_path, "admin", "--db", str(db_path), "accounts")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("alice\t")
    args = ("admin", "--db", str(db_path), "reset-password", "alice")
    reset = await asyncio.to_thread(lambda: parley(tmp_path, *args, stdin=PASSWORD))
    assert reset.returncode == 0, reset.stderr
    await alice.send(type="say", room="#a", text="still here")
    await alice.expect("message", text="still here")
    again = await connect()
    await again.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await again.expect("welcome", nick="alice", account="alice")
