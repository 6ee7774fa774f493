"""The SQLite history file's schema: its numbered migrations and the upgrade that runs them.

Every table of the file is created here, by ``_MIGRATIONS``, whichever store owns it
(``sqlite.py`` the messages, meta and rooms; ``sqlite_accounts.py`` the accounts, directs and
keys; ``sqlite_moderation.py`` the roles, bans, mutes and topic locks; ``sqlite_search.py`` the
FTS5 index). ``migrate`` brings a file to ``SCHEMA_VERSION`` in place when it is opened, one
transaction per migration, and refuses a file written by a newer Parley (``SchemaTooNewError``)
or a SQLite without FTS5 (``NoFTS5Error``) without touching it.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

log = logging.getLogger("parley.store")

# Numbered schema migrations: ``_MIGRATIONS[n - 1]`` takes a database from version ``n - 1`` to
# ``n``, recorded in ``PRAGMA user_version``. Append new ones; never edit a released one. Version 1
# is the schema of the releases that predate numbering (they left ``user_version`` at 0).
_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        ts INTEGER NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room, id);
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rooms (
        room TEXT PRIMARY KEY,
        topic TEXT NOT NULL DEFAULT '',
        topic_by TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: accounts and the direct messages between them (``sqlite_accounts.py``). ``pair`` is the
    # two folded nicks in order, joined by a space (no nick holds one), so that a conversation is
    # one index range; the partial index finds a recipient's undelivered mail.
    """
    CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        nick TEXT NOT NULL,
        hash TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE directs (
        id INTEGER PRIMARY KEY,
        pair TEXT NOT NULL,
        recipient TEXT NOT NULL,
        ts INTEGER NOT NULL,
        sender TEXT NOT NULL,
        "to" TEXT NOT NULL,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX directs_by_pair ON directs (pair, id);
    CREATE INDEX directs_undelivered ON directs (recipient, id) WHERE delivered = 0;
    """,
    # 3: moderation (``sqlite_moderation.py``) and deleted messages. A deleted message keeps its
    # row, with ``deleted`` set and its text overwritten by ''. Roles, bans, mutes and topic locks
    # have tables of their own, not columns of ``rooms``, whose row ``forget_room`` deletes. A
    # ban's ``key`` is its mask folded, so that one mask in two spellings is one ban; room ''
    # holds the server-wide bans. Rooms and accounts are stored folded, as the server keys them.
    """
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE room_roles (
        room TEXT NOT NULL,
        account TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('owner', 'op')),
        PRIMARY KEY (room, account)
    );
    CREATE TABLE bans (
        room TEXT NOT NULL,
        key TEXT NOT NULL,
        mask TEXT NOT NULL,
        "by" TEXT NOT NULL,
        reason TEXT,
        created INTEGER NOT NULL,
        expires INTEGER,
        PRIMARY KEY (room, key)
    );
    CREATE TABLE mutes (
        room TEXT NOT NULL,
        nick TEXT NOT NULL,
        "by" TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER,
        PRIMARY KEY (room, nick)
    );
    CREATE TABLE topic_locks (
        room TEXT PRIMARY KEY
    );
    """,
    # 4: SSH keys pinned to accounts (``sqlite_accounts.py``). A fingerprint is on one account at
    # most; ``account`` is the folded nick, as ``accounts.key``; deleting an account deletes its
    # keys (in ``delete_account``: the file has no foreign keys turned on).
    """
    CREATE TABLE keys (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        public_key TEXT NOT NULL,
        comment TEXT NOT NULL,
        added INTEGER NOT NULL
    );
    CREATE INDEX keys_by_account ON keys (account, added);
    """,
    # 5: search (``sqlite_search.py``): an FTS5 index of the messages' text and room, its
    # content read from ``messages`` (no second copy), kept current by triggers: a new message is
    # indexed, a change of ``text`` (a deletion blanks it; an edit rewrites it) indexes the new
    # words in place of the old, a deleted row (retention) leaves the index. ``rebuild`` indexes
    # the history already there. Words and accents as ``app/protocol/query.py`` reads them; the
    # room is indexed so that a search of a few rooms reads only their messages.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, room, content = 'messages', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text, room) VALUES (new.id, new.text, new.room);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text, room)
            VALUES ('delete', old.id, old.text, old.room);
        INSERT INTO messages_fts (rowid, text, room) VALUES (new.id, new.text, new.room);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text, room)
            VALUES ('delete', old.id, old.text, old.room);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    """,
    # 6: edited messages (``sqlite.py``'s ``edit_message``). An edit overwrites ``text`` in place
    # and sets ``edited_at``, the server's time of the latest edit (NULL: never edited). One
    # self-contained statement, so that it can be renumbered after other migrations unchanged.
    """
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    """,
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)
# The tables an unnumbered (version 0) database from an earlier release already has.
_UNNUMBERED_TABLES: Final = frozenset({"messages", "meta", "rooms"})


class SchemaTooNewError(sqlite3.DatabaseError):
    """The history file was written by a newer Parley, whose schema this one does not know.

    A ``sqlite3.DatabaseError``, so whoever reports a history that cannot be opened reports this
    one too, with its one-sentence message.
    """

    def __init__(self, path: str, version: int) -> None:
        super().__init__(
            f"the file has history schema version {version} but this Parley knows only up to"
            f" {SCHEMA_VERSION}, so it was written by a newer Parley"
        )
        self.path = path
        self.version = version


class NoFTS5Error(sqlite3.DatabaseError):
    """The SQLite that Python was built with has no FTS5, which the history's search index
    needs (a ``sqlite3.DatabaseError``, reported like any history that cannot be opened)."""

    def __init__(self) -> None:
        super().__init__(
            f"this Python's SQLite {sqlite3.sqlite_version} was built without FTS5, which the"
            " history's search index needs: use a Python whose SQLite has it (python.org's,"
            " Debian's and Homebrew's do) or --redis"
        )


def check_fts5(conn: sqlite3.Connection) -> None:
    """Raise ``NoFTS5Error`` unless ``conn``'s SQLite can make an FTS5 table."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.parley_fts5_probe USING fts5(x)")
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise NoFTS5Error() from None
        raise
    conn.execute("DROP TABLE temp.parley_fts5_probe")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def is_history(path: str) -> bool:
    """Whether the existing SQLite file at ``path`` holds a Parley history (of any schema
    version, a newer one too), read without changing it; ``sqlite3.DatabaseError`` if it is no
    SQLite database at all. Opening a ``SQLiteHistory`` on any other file makes it one."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version > 0 or _tables(conn) >= _UNNUMBERED_TABLES
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database to ``SCHEMA_VERSION``, each migration in its own transaction."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(path, version)
    check_fts5(conn)  # before any change: a file the search cannot index is left as it was
    if version == 0 and _tables(conn) >= _UNNUMBERED_TABLES:
        # Written by a release before numbering: its schema is migration 1. Running migration
        # 1 (all IF NOT EXISTS) changes nothing that exists and stamps the version.
        log.info("history in %s predates schema versions: stamping it as version 1", path)
    for number in range(version + 1, SCHEMA_VERSION + 1):
        script = (
            f"BEGIN IMMEDIATE; {_MIGRATIONS[number - 1]}; PRAGMA user_version = {number}; COMMIT;"
        )
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if version:
            log.info("history in %s migrated to schema version %d", path, number)
