"""Bytes to frames and frames to bytes: line framing, decoding with typed refusals, encoding.

``LineDecoder`` splits a byte stream into lines whatever the read boundaries, and notices a line
longer than the limit; ``decode_client_frame`` and ``decode_server_frame`` turn one line into a
typed frame or raise ``RemoteProtocolError`` with the code the wire answers (``bad_json``,
``bad_utf8``, ``bad_frame``, ``unknown_type``), after checking nesting depth and lone surrogates;
``encode`` turns a frame into one line; ``make_error`` builds an ``error`` whose code mypy checks.
"""

from __future__ import annotations

import json
import re
from typing import Final

import msgspec
from msgspec import UNSET, UnsetType

from app.protocol.base import (
    DEFAULT_MAX_LINE,
    MAX_DEPTH,
    ErrorCode,
    LocalProtocolError,
    Ref,
    RemoteProtocolError,
)
from app.protocol.client import CLIENT_TYPES, ClientFrame
from app.protocol.server import Error, ServerFrame


class LineDecoder:
    """Splits a byte stream into lines, whatever the read boundaries.

    Lines end with ``\\n``; a ``\\r`` before it is dropped and empty lines are skipped. Nothing
    is decoded as text here, so a multibyte character cut by a read boundary is simply joined up
    with the next read. A line longer than ``max_line`` bytes cannot be resynchronised the way the
    sender would expect: ``feed`` returns the lines before it, sets ``too_large``, and takes
    nothing more; the caller answers ``frame_too_large`` and closes.
    """

    __slots__ = ("_buffer", "_max_line", "_scanned", "too_large")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._scanned = 0
        self.too_large = False

    def feed(self, data: bytes) -> list[bytes]:
        """Take the bytes just read and return every line they complete, oldest first."""
        if self.too_large:
            return []
        buffer = self._buffer
        buffer += data
        lines: list[bytes] = []
        start = 0
        find = buffer.find
        end = find(b"\n", self._scanned)
        limit = self._max_line
        while end != -1:
            line_end = end
            if line_end > start and buffer[line_end - 1] == 0x0D:
                line_end -= 1
            if line_end - start > limit:
                self._overflow()
                return lines
            if line_end > start:
                lines.append(bytes(buffer[start:line_end]))
            start = end + 1
            end = find(b"\n", start)
        if start:
            del buffer[:start]
        # One byte of slack: the line may still end in "\r\n".
        if len(buffer) > limit + 1:
            self._overflow()
        self._scanned = len(buffer)
        return lines

    def _overflow(self) -> None:
        self.too_large = True
        self._buffer = bytearray()
        self._scanned = 0

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet end in a newline."""
        return len(self._buffer)

    @property
    def error(self) -> RemoteProtocolError:
        """The error that answers an over-long line."""
        return RemoteProtocolError(
            "frame_too_large", f"a line is longer than {self._max_line} bytes"
        )


# --- decoding and encoding ------------------------------------------------------------------

_client_decoder: Final[msgspec.json.Decoder[ClientFrame]] = msgspec.json.Decoder(ClientFrame)
_server_decoder: Final[msgspec.json.Decoder[ServerFrame]] = msgspec.json.Decoder(ServerFrame)
_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def decode_client_frame(line: bytes) -> ClientFrame:
    """Decode one line from a client, or raise ``RemoteProtocolError`` saying what is wrong."""
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
        _check_depth(line)
    try:
        return _client_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _classify(line, exc, CLIENT_TYPES) from None


def decode_server_frame(line: bytes) -> ServerFrame:
    """Decode one line from a server, or raise ``RemoteProtocolError``."""
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
        _check_depth(line)
    try:
        return _server_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _classify(line, exc, _SERVER_TYPES) from None


# Brackets inside strings do not nest; an escaped quote does not end a string.
_STRUCTURE: Final = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _check_depth(line: bytes) -> None:
    """Refuse a line nested deeper than ``MAX_DEPTH`` before a decoder recurses into it.

    Only lines with more than ``MAX_DEPTH`` brackets in all are scanned, so a normal frame costs
    two ``bytes.count`` calls.
    """
    depth = 0
    for match in _STRUCTURE.finditer(line):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise RemoteProtocolError(
                    "bad_json", f"nested too deeply: at most {MAX_DEPTH} levels of [ and {{"
                )
        elif token in (b"]", b"}"):
            depth -= 1


def _classify(line: bytes, exc: Exception, known: frozenset[str]) -> RemoteProtocolError:
    """Work out which error code a refused line deserves (the slow path, taken only on error)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as err:
        return RemoteProtocolError("bad_utf8", f"not valid UTF-8 at byte {err.start}")
    try:
        raw = _any_decoder.decode(line)
    except RecursionError:
        return RemoteProtocolError("bad_json", "nested too deeply")
    except msgspec.DecodeError as err:
        surrogate = _lone_surrogate(line)
        if surrogate:
            return RemoteProtocolError(
                "bad_json",
                f"\\u{ord(surrogate):04x} is half of a UTF-16 surrogate pair, not a character",
            )
        return RemoteProtocolError("bad_json", f"not valid JSON: {err}")
    if not isinstance(raw, dict):
        return RemoteProtocolError("bad_frame", "a frame must be a JSON object")
    ref = raw.get("ref", UNSET)
    if not isinstance(ref, (str, int, float, bool, type(None), UnsetType)):
        ref = UNSET
    kind = raw.get("type")
    if not isinstance(kind, str):
        return RemoteProtocolError("bad_frame", 'a frame needs a string "type"', ref)
    if kind not in known:
        return RemoteProtocolError("unknown_type", f"unknown frame type {kind!r}", ref)
    detail = str(exc).replace("`$.", "`")
    return RemoteProtocolError("bad_frame", f"bad {kind} frame: {detail}", ref)


def _lone_surrogate(line: bytes) -> str:
    """The first unpaired surrogate (escaped as ``\\ud800``) in the strings of ``line``, or "".

    JSON lets such an escape through but it is no character: text holding one cannot be encoded.
    Python's own parser keeps it, so it finds where msgspec only says "truncated".
    """
    try:
        value = json.loads(line)
    except ValueError:
        return ""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            for char in item:
                if "\ud800" <= char <= "\udfff":
                    return char
    return ""


_SERVER_TYPES: Final = frozenset(t.__struct_config__.tag for t in ServerFrame.__args__)


def encode(frame: ClientFrame | ServerFrame) -> bytes:
    """One frame as one line of bytes, newline included."""
    try:
        return _encoder.encode(frame) + b"\n"
    except (TypeError, msgspec.EncodeError) as exc:
        raise LocalProtocolError(f"cannot encode {frame!r}: {exc}") from exc


def make_error(
    code: ErrorCode,
    message: str,
    *,
    ref: Ref | UnsetType = UNSET,
    retry_after_ms: int | None = None,
) -> Error:
    """An ``error`` frame whose code mypy checks against ``ErrorCode`` (``Error`` takes any str)."""
    return Error(code=code, message=message, ref=ref, retry_after_ms=retry_after_ms)


def error_frame(err: RemoteProtocolError) -> Error:
    """The ``error`` frame that answers a refused input."""
    return make_error(err.code, err.message, ref=err.ref)
