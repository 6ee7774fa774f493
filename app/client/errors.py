"""What the client tells a person about a server's ``error`` frame: one sentence per error.

This module owns the client's text for every ``ErrorCode`` (``ERROR_TEXT``, checked against the
protocol's list by mypy's key type and by tests/client/test_errors.py) and ``describe_error``,
which turns an ``error`` frame into a sentence a person can act on. The server's own ``message``
is written for people and is used as it is; the table stands in when a server sent none, and a
code this version does not know (from a newer server) is shown as such rather than refused.
``hello_refusal`` says what an error in answer to ``hello`` means for the connection: a reason
to give up (``FATAL_ON_HELLO``: no retry can fix it), to retry later, or nothing about ``hello``.
"""

from __future__ import annotations

from typing import Final

from app.protocol import Error, ErrorCode, fold, is_error_code

# One text per ``ErrorCode``; tests/client/test_errors.py fails if a code has none.
ERROR_TEXT: Final[dict[ErrorCode, str]] = {
    "bad_json": "The server could not read what we sent",
    "bad_utf8": "The server could not read what we sent",
    "bad_frame": "The server refused a malformed request",
    "unknown_type": "The server does not know that request",
    "frame_too_large": "That was too long for the server",
    "not_registered": "Not signed in yet",
    "already_registered": "Already signed in",
    "bad_proto": "This server speaks another protocol version",
    "nick_taken": "That nick is already taken",
    "bad_nick": "That nick is not allowed",
    "bad_room": "That room name is not allowed",
    "no_such_room": "There is no such room",
    "not_in_room": "You are not in that room",
    "no_such_nick": "Nobody by that nick is online",
    "too_many_rooms": "You are in as many rooms as the server allows; leave one first",
    "server_full": "The server holds as many rooms as it allows; join an existing one",
    "rate_limited": "You are sending too fast",
    "too_many_connections": "Too many connections from your address",
    "slow_consumer": "The server dropped us for reading too slowly",
    "register_timeout": "The server timed out waiting for us to sign in",
    "ping_timeout": "The server stopped hearing from us",
    "server_shutdown": "The server is shutting down",
    "unavailable": "The server cannot save that right now; try again later",
    "nick_registered": "That nick is already an account",
    "weak_password": "That password is too short: use at least 8 characters",
    "bad_password": "Wrong nick or password",
    "no_account": "You are not signed in to an account",
    "not_permitted": "You are not allowed to do that here",
    "muted": "You are muted in this room",
    "banned": "You are banned",
    "bad_mask": "That is no ban mask: use a nick, account:NAME, nick:GLOB or ip:ADDR[/N]",
    "no_such_message": "There is no such message in a room you are in",
    "bad_key_proof": "The server does not trust this SSH gateway's word for your key",
    "wrong_key": "That nick is pinned to another SSH key",
    "key_taken": "That SSH key is already pinned to an account",
    "bad_key": "That is no OpenSSH public key line",
    "no_such_key": "Your account has no such key",
    "edit_window_closed": "That message is too old to edit now",
    "bad_query": "There is nothing to search for in that",
}


# Codes whose server message starts with a name (``alice is already taken``), whose case is not
# ours to change.
NAME_FIRST: Final[frozenset[ErrorCode]] = frozenset({"nick_taken"})


def describe_error(error: Error, name: str | None = None) -> str:
    """A server error as one sentence a person can act on, said once.

    The protocol writes ``message`` for people, so it is used as it is (as a sentence); our own
    label for the code stands in only when the server gave no message. ``rate_limited`` says
    when to try again in seconds rather than in the server's milliseconds. A message that starts
    with ``name`` (the nick we asked for: ``alice is registered: …``) keeps its case.
    """
    if error.code == "rate_limited":
        wait = (error.retry_after_ms or 1000) / 1000
        return f"You are sending too fast; try again in {wait:.1f} s."
    text = error.message.strip()
    if not text:
        code = error.code
        # A newer server may send a code this version does not know.
        return f"{ERROR_TEXT[code] if is_error_code(code) else f'Server error {code}'}."
    named = name is not None and fold(text.split(" ", 1)[0]) == fold(name)
    if error.code not in NAME_FIRST and not named:
        text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


# Why someone quit, when the server gives a reason code rather than their own words (the text of
# a ``presence`` quit is the ``bye`` reason, or ``closed`` when their connection just ended).
QUIT_REASONS: Final[dict[str, str]] = {
    "closed": "connection closed",
    "connection lost": "connection lost",
    "server_shutdown": "the server shut down",
    "ping_timeout": "timed out",
    "slow_consumer": "could not keep up",
    "register_timeout": "timed out signing in",
    "logged_in_elsewhere": "signed in elsewhere",
    "killed": "disconnected by a server operator",
    "banned": "banned from the server",
}


def quit_reason(text: str) -> str:
    """A quit reason in words: the server's reason codes worded, anyone's own words kept."""
    return QUIT_REASONS.get(text, text)


# Errors on ``hello`` that no retry can fix: give up and let the user choose again.
# The key codes answer a hello of an SSH gateway's visitor: ``no_account`` when it signs in by
# key alone and no nick is pinned to the key yet, ``nick_registered`` when the nick it pins was
# registered meanwhile.
FATAL_ON_HELLO: Final[frozenset[ErrorCode]] = frozenset(
    {
        "bad_nick",
        "bad_proto",
        "bad_password",
        "banned",
        "bad_key_proof",
        "wrong_key",
        "key_taken",
        "no_account",
        "nick_registered",
    }
)


def hello_refusal(
    error: Error, nick: str, *, first: bool, connected: bool
) -> tuple[str, bool] | None:
    """Why ``hello`` failed and whether retrying is pointless; None if not about ``hello``.

    ``first``: we were never welcomed by this server yet; ``connected``: a session is up.
    """
    text = describe_error(error, nick)
    fatal = (
        # Our hello is well formed: a bad_frame in answer means the server did not understand
        # the connection at all (a plain hello on its TLS port says so).
        (error.code == "bad_frame" and not connected)
        or error.code in FATAL_ON_HELLO
        # rate_limited: too many wrong passwords for this nick or from here; the user waits.
        or (error.code in ("nick_taken", "rate_limited") and first)
    )
    if fatal:
        return text, True
    if error.code == "nick_taken":
        # After a drop our old connection may linger on the server until it times out.
        return f"{text} (waiting for the server to forget our old connection)", False
    if error.code in ("too_many_connections", "server_shutdown", "rate_limited"):
        return text, False
    return None
