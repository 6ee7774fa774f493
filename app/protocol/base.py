"""The protocol's ground: its constants, names, error codes and the two protocol errors.

Everything the frames (``client.py``, ``server.py``) and the codec (``codec.py``) share: the
version and default ports, the limits that shape frames, the rules for nicks and room names and
how they fold, the ``ErrorCode`` literal with its one list ``ERROR_CODES``, and whose fault an
error is (``LocalProtocolError``: ours; ``RemoteProtocolError``: the peer's, carrying the code the
wire answers with).
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeGuard, get_args

from msgspec import UNSET as UNSET
from msgspec import UnsetType as UnsetType

PROTO_VERSION: Final = 1
DEFAULT_PORT: Final = 65433
DEFAULT_TLS_PORT: Final = 65434  # the same frames inside TLS
DEFAULT_MAX_LINE: Final = 16384
MAX_DEPTH: Final = 32  # levels of [ and { in one line; frames need 3
DEFAULT_ROOM: Final = "#general"
HISTORY_LIMIT_MAX: Final = 200
# Listings come in pages: ``rooms`` and ``who`` take an optional ``limit`` (clamped to the most) and
# ``after`` (the last name of the previous page); a ``joined`` lists at most JOINED_MEMBERS_MAX.
ROOMS_PAGE: Final = 100
ROOMS_PAGE_MAX: Final = 500
WHO_PAGE: Final = 500
WHO_PAGE_MAX: Final = 1000
JOINED_MEMBERS_MAX: Final = 500
# Accounts: a password is at least PASSWORD_MIN characters (else ``weak_password``) and at most
# PASSWORD_MAX_BYTES bytes of UTF-8 (else ``bad_frame``), so that hashing one costs a bounded time.
PASSWORD_MIN: Final = 8
PASSWORD_MAX_BYTES: Final = 1024
# Search: a query is at most SEARCH_QUERY_MAX characters (else ``bad_query``); a page of results
# holds ``limit`` (default SEARCH_LIMIT, clamped to SEARCH_LIMIT_MAX) hits, newest first.
SEARCH_QUERY_MAX: Final = 256
SEARCH_LIMIT: Final = 50
SEARCH_LIMIT_MAX: Final = 200

NICK_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,23}")
ROOM_RE: Final = re.compile(r"#[A-Za-z0-9_-]{1,32}")

# A ``ref`` is any JSON scalar the client chose; absent and ``null`` are different things.
Ref = str | int | float | bool | None

ErrorCode = Literal[
    "bad_json",
    "bad_utf8",
    "bad_frame",
    "unknown_type",
    "frame_too_large",
    "not_registered",
    "already_registered",
    "bad_proto",
    "nick_taken",
    "bad_nick",
    "bad_room",
    "no_such_room",
    "not_in_room",
    "no_such_nick",
    "too_many_rooms",
    "server_full",
    "rate_limited",
    "too_many_connections",
    "slow_consumer",
    "register_timeout",
    "ping_timeout",
    "server_shutdown",
    "unavailable",
    "nick_registered",
    "weak_password",
    "bad_password",
    "no_account",
    "not_permitted",
    "muted",
    "banned",
    "bad_mask",
    "no_such_message",
    "bad_key_proof",
    "wrong_key",
    "key_taken",
    "bad_key",
    "no_such_key",
    "edit_window_closed",
    "bad_query",
]

# The one list of error codes: the client's texts, its fatal-on-hello set and docs/protocol.md are
# checked against it (by mypy where they are typed ``ErrorCode``, and by the tests).
ERROR_CODES: Final[frozenset[ErrorCode]] = frozenset(get_args(ErrorCode))


def is_error_code(code: str) -> TypeGuard[ErrorCode]:
    """Whether ``code`` is one this version knows; a newer server may send others."""
    return code in ERROR_CODES


class LocalProtocolError(Exception):
    """We tried to send something the protocol forbids: a bug on our side."""


class RemoteProtocolError(Exception):
    """The peer sent something we refuse; ``code`` is what the wire answers with."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref | UnsetType = UNSET) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.ref = ref


def is_valid_nick(nick: str) -> bool:
    """1-24 letters, digits, ``_`` or ``-``, starting with a letter."""
    return NICK_RE.fullmatch(nick) is not None


def is_valid_room(room: str) -> bool:
    """``#`` then 1-32 letters, digits, ``_`` or ``-``."""
    return ROOM_RE.fullmatch(room) is not None


def fold(name: str) -> str:
    """The case-insensitive key of a nick or a room."""
    return name.lower()
