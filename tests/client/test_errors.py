"""The client's lists of error codes agree with ``protocol.ErrorCode``, the one list of them.

``ErrorCode`` is written once; the client's texts and its fatal-on-hello set are typed against it
(so mypy refuses a code that is not in it), and these tests refuse a code in it that the client
has no text for. A code from a newer server still decodes and is shown by name.
"""

from __future__ import annotations

from typing import get_args

from app import protocol as p
from app.client import errors
from app.client.errors import describe_error


def test_every_error_code_has_a_text() -> None:
    """Adding a code to ``ErrorCode`` without a text for the client fails here."""
    assert set(errors.ERROR_TEXT) == set(get_args(p.ErrorCode))


def test_every_text_is_a_sentence_stem() -> None:
    """Each text is non-empty and has no final stop (``describe_error`` adds one)."""
    for code, text in errors.ERROR_TEXT.items():
        assert text.strip() == text and text and not text.endswith("."), code


def test_fatal_on_hello_codes_are_error_codes() -> None:
    """Every fatal-on-hello code is in ``ErrorCode`` (mypy checks this too)."""
    assert errors.FATAL_ON_HELLO <= p.ERROR_CODES
    assert errors.NAME_FIRST <= p.ERROR_CODES


def test_each_known_code_without_message_gets_its_text() -> None:
    """An error with no message shows the code's text, for every code but ``rate_limited``."""
    for code in p.ERROR_CODES - {"rate_limited"}:
        shown = describe_error(p.make_error(code, ""))
        assert shown == f"{errors.ERROR_TEXT[code]}.", code


def test_an_unknown_code_from_a_newer_server_is_shown_by_name() -> None:
    """A code this version does not know decodes and is shown, rather than crashing the client."""
    frame = p.decode_server_frame(b'{"type":"error","code":"from_the_future","message":""}')
    assert isinstance(frame, p.Error)
    assert describe_error(frame) == "Server error from_the_future."
