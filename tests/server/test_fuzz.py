"""Property tests: whatever one connection throws at a live server, it survives and keeps serving.

Hypothesis generates random bytes (newlines, ``\\r``, invalid UTF-8, lines around and past
``--max-line``) and random frames (real and unknown types with fields of any JSON type). One server
(the ``server`` fixture) serves every example of a property, so damage done by one example would
show in the next; each example opens a fresh attacker connection, and after it a well-behaved
bystander on its own connection must still get its message echoed and its ``ping`` answered, no
error may have been logged, and the attacker's session must be gone once it hangs up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from app import protocol as p
from app.server import Server, ServerConfig
from app.server.tls import looks_like_tls
from tests.conftest import TIMEOUT, Connect, WireClient

MAX_LINE = p.DEFAULT_MAX_LINE
ROOM = "#fuzz"
ERROR_CODES = frozenset(p.ErrorCode.__args__)  # type: ignore[attr-defined]
_examples = itertools.count()

fuzz_settings = settings(
    max_examples=60,
    deadline=None,
    # One server for every example is the point: an example must not break the next one.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def server(db_path: Path) -> AsyncIterator[Server]:
    """One server for every example (this overrides the shared fixture for this module).

    Its stop is bounded: an example that wedges the server must fail the test, not hang it.
    """
    server = Server(ServerConfig(port=0, db=str(db_path), msg_rate=0))
    await server.start()
    yield server
    await asyncio.wait_for(server.stop(), TIMEOUT)


@pytest.fixture
async def bystander(connect: Connect) -> AsyncIterator[WireClient]:
    """A well-behaved client in ``#fuzz`` for the whole property: an account, so that it owns the
    room and no attacker can become its owner and moderate the bystander out of it."""
    client = await connect("bystander")
    await client.send(type="register", password="bystander's password", ref="r")
    await client.expect("account", ref="r")
    joined, _history = await client.join(ROOM)
    assert joined["roles"] == {"bystander": "owner"}
    yield client


# --- the checks after every example ---------------------------------------------------------


async def read_until_pong_or_close(client: WireClient, ping_id: str) -> tuple[list[Any], bool]:
    """Every frame up to the pong ``ping_id`` (True) or the server closing the connection."""
    frames: list[Any] = []
    while True:
        try:
            line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
        except ConnectionError:
            return frames, False
        if not line:
            return frames, False
        frame = json.loads(line)
        frames.append(frame)
        if frame == {"type": "pong", "id": ping_id}:
            return frames, True


def check_frames(frames: list[Any]) -> None:
    """The server only ever sends JSON objects with a type; errors carry a known code."""
    for frame in frames:
        assert isinstance(frame, dict) and isinstance(frame.get("type"), str), frame
        if frame["type"] == "error":
            assert frame["code"] in ERROR_CODES, frame


async def check_still_serving(
    server: Server, bystander: WireClient, attacker: WireClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The bystander is served, nothing was logged as an error, the attacker leaves no trace."""
    nonce = f"check-{next(_examples)}"
    await bystander.send(type="say", room=ROOM, text="still there?", nonce=nonce)
    while (await bystander.recv()).get("nonce") != nonce:
        pass
    await bystander.barrier()
    await attacker.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while len(server.hub.sessions) > 1:
        assert loop.time() < deadline, "the attacker's session outlived its connection"
        await asyncio.sleep(0.005)
    assert [s.nick for s in server.hub.sessions] == ["bystander"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# --- random bytes ---------------------------------------------------------------------------

_fragments = st.sampled_from(
    [
        b"\n",
        b"\r\n",
        b"\r",
        b"\r\r\n",
        b"\n\n",
        b"\xff",
        b"\xc3",  # a two-byte character cut short
        b"\xe2\x82",
        b"\xed\xa0\x80",  # an encoded surrogate, which UTF-8 forbids
        b"\xef\xbb\xbf",  # a byte order mark
        b"\x00",
        b"{",
        b"}",
        b"[]",
        b'"',
        b"\\",
        b"null",
        b'{"type":',
        b'"ping"',
        b'{"type":"ping","id":',
        b'{"type":"say","room":"#fuzz","text":"',
        b'{"type":"join","room":',
        b'{"type":"nope"}',
        b'{"type":"hello","nick":1}',
        b"[" * 40,  # deeper than protocol.MAX_DEPTH
        b'{"a":' * 40,
        b"]" * 40,
        b'"\\ud800"',  # an escaped lone surrogate
        b'"\\udfff\\ud800"',
    ]
)
_small_pieces = st.one_of(
    st.binary(max_size=40),
    _fragments,
    st.text(max_size=20).map(lambda text: text.encode()),
)
# Around the limit: exactly MAX_LINE bytes is allowed, one more is not.
_huge_piece = st.integers(MAX_LINE - 2, MAX_LINE + 3).map(lambda n: b"y" * n)


@st.composite
def junk(draw: st.DrawFn) -> list[bytes]:
    """Pieces of bytes to send one write each, with at most one piece near the line limit."""
    pieces = draw(st.lists(_small_pieces, max_size=25))
    if draw(st.integers(0, 3)) == 0:
        pieces.insert(draw(st.integers(0, len(pieces))), draw(_huge_piece))
    # Bytes that open like a TLS handshake are a TLS client on the plain port, refused and
    # dropped on purpose (tests/server/test_tls.py), not junk to survive.
    assume(not looks_like_tls(b"".join(pieces)[:3]))
    return pieces


def lines_of(data: bytes) -> list[bytes]:
    """The lines a server reads from ``data`` then a newline: one ``\\r`` dropped, none empty."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")]
    return [line for line in lines if line]


def refusals_before_overflow(lines: list[bytes]) -> tuple[int, bool, bool]:
    """(lines the server must refuse, whether a line is over-long, whether any line is a frame)."""
    refused = 0
    for line in lines:
        if len(line) > MAX_LINE:
            return refused, True, False
        try:
            p.decode_client_frame(line)
        except p.RemoteProtocolError:
            refused += 1
        else:
            return refused, False, True
    return refused, False, False


@fuzz_settings
@given(pieces=junk())
async def test_random_bytes_are_survived(
    server: Server,
    connect: Connect,
    bystander: WireClient,
    caplog: pytest.LogCaptureFixture,
    pieces: list[bytes],
) -> None:
    """Random bytes get one error per bad line and survive, unless a line is over-long."""
    attacker = await connect()
    for piece in pieces:
        await attacker.send_raw(piece)
    await attacker.send_raw(b'\n{"type":"ping","id":"end"}\n')
    frames, answered = await read_until_pong_or_close(attacker, "end")
    check_frames(frames)

    refused, too_long, has_frame = refusals_before_overflow(lines_of(b"".join(pieces)))
    if too_long:
        assert not answered
        assert [(f["type"], f.get("code") or f.get("reason")) for f in frames[-2:]] == [
            ("error", "frame_too_large"),
            ("bye", "frame_too_large"),
        ], frames[-2:]
        frames = frames[:-2]
    else:
        assert answered, frames
        frames = frames[:-1]
    if not has_frame:
        # Every bad line is answered, once, and nothing else is said.
        assert [f["type"] for f in frames] == ["error"] * refused, frames
    await check_still_serving(server, bystander, attacker, caplog)


# --- random frames --------------------------------------------------------------------------

_rooms = st.just(ROOM) | st.sampled_from(
    ["#FUZZ", "#other", "#", "#" + "a" * 33, "fuzz", "#fu zz", ""]
)
_nicks = st.sampled_from(["bystander", "BYSTANDER", "fz", "a" * 24, "a" * 25, "1a", "n\u00f1", ""])
_texts = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "z" * 4000, "z" * 4001]))
# Integers at the edges of every integer type a server might store them in.
_ints = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30]),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _ints, st.floats(allow_nan=False), _texts, _rooms, _nicks
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
_masks = st.sampled_from(
    ["nick:fz*", "nick:*", "account:fz", "ip:127.0.0.0/8", "ip:::1", "ip:1.2.3.4/33", "host:x", ""]
)
# Per type, the fields it takes, with values that are mostly of the right kind.
_passwords = st.one_of(
    st.text(max_size=12), st.sampled_from(["p" * 1024, "p" * 1025, "\u00e9" * 513])
)
_fingerprints = st.sampled_from(["SHA256:" + "A" * 43, "SHA256:", "", "MD5:aa:bb"]) | _texts
_claims = st.fixed_dictionaries(
    {"fingerprint": _fingerprints, "at": _ints, "proof": st.text(max_size=64)}
)
_key_lines = st.sampled_from(
    ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x", "ssh-ed25519", "ssh-rsa !!!", "x" * 9000, ""]
)
_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "hello": {
        "nick": _nicks,
        "proto": _ints,
        "password": _passwords,
        "key": _claims,
        "pin": _scalars,
    },
    "join": {"room": _rooms},
    "part": {"room": _rooms},
    "say": {"room": _rooms, "to": _nicks, "text": _texts, "nonce": _texts, "action": _scalars},
    "nick": {"nick": _nicks, "password": _passwords},
    "topic": {"room": _rooms, "topic": _texts},
    "who": {"room": _rooms},
    "rooms": {},
    "history": {"room": _rooms, "with": _nicks, "before": _ints, "after": _ints, "limit": _ints},
    "away": {"text": _texts | st.none()},
    "ping": {"id": _scalars},
    "pong": {"id": _scalars},
    "quit": {"text": _texts},
    "register": {"password": _passwords},
    "password": {"old": _passwords, "new": _passwords},
    "unregister": {"password": _passwords},
    "whois": {"nick": _nicks},
    "keys": {},
    "key_add": {"key": _key_lines | _texts},
    "key_remove": {"fingerprint": _fingerprints},
    "op": {"room": _rooms, "nick": _nicks},
    "deop": {"room": _rooms, "nick": _nicks},
    "owner": {"room": _rooms, "nick": _nicks},
    "kick": {"room": _rooms, "nick": _nicks, "reason": _texts},
    "ban": {"room": _rooms, "mask": _masks, "duration_s": _ints, "reason": _texts},
    "unban": {"room": _rooms, "mask": _masks},
    "bans": {"room": _rooms},
    "mute": {"room": _rooms, "nick": _nicks, "duration_s": _ints},
    "unmute": {"room": _rooms, "nick": _nicks},
    "topic_lock": {"room": _rooms, "locked": _scalars},
    "delete": {"id": _ints},
    "kill": {"nick": _nicks, "reason": _texts},
    "gban": {"mask": _masks, "duration_s": _ints, "reason": _texts},
    "gunban": {"mask": _masks},
    "edit": {"id": _ints, "text": _texts, "room": _rooms},
    "search": {
        "query": _texts | st.sampled_from(['"', "*", 'NEAR(a b) OR "c', "a" * 257, "é*"]),
        "room": _rooms,
        "before": _ints,
        "limit": _ints,
    },
}
assert set(_FIELDS) == p.CLIENT_TYPES


def _shaped(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A frame of type ``kind``: its own fields (each may be missing or of any JSON type)."""
    fields = {name: strategy | _values for name, strategy in _FIELDS[kind].items()}
    extra = {"ref": _scalars | _values, "from": _nicks, "id": _scalars}
    return st.fixed_dictionaries({"type": st.just(kind)}, optional={**extra, **fields})


_any_frame = st.fixed_dictionaries(
    {"type": _values | st.sampled_from(["", "PING", "message", "welcome", "nope"])},
    optional={name: _values for name in ("room", "nick", "text", "ref")},
)
frames_strategy = st.lists(
    st.one_of(*map(_shaped, sorted(_FIELDS)), _any_frame).filter(
        lambda frame: len(json.dumps(frame)) < MAX_LINE
    ),
    max_size=12,
)


@fuzz_settings
@given(frames=frames_strategy, joined=st.booleans())
# Once found by this test: an id past SQLite's 64-bit range killed the store's writer thread.
@example(frames=[{"type": "history", "room": ROOM, "before": 2**63}], joined=True)
@example(frames=[{"type": "history", "room": ROOM, "after": -(2**63) - 1}], joined=True)
async def test_random_frames_are_survived(
    server: Server,
    connect: Connect,
    bystander: WireClient,
    caplog: pytest.LogCaptureFixture,
    frames: list[dict[str, Any]],
    joined: bool,
) -> None:
    """Random frames, right or wrong, from a registered client never break the server."""
    attacker = await connect(f"fz{next(_examples)}")
    if joined:
        await attacker.join(ROOM)
    for frame in frames:
        await attacker.send(**frame)
    await attacker.send_raw(b'{"type":"ping","id":"end"}\n')
    replies, answered = await read_until_pong_or_close(attacker, "end")
    check_frames(replies)
    if not answered:
        # Only quitting ends the connection (no line here can be over-long).
        assert any(f["type"] == "quit" for f in frames), replies
        assert replies and replies[-1]["type"] == "bye", replies
        assert replies[-1]["reason"] == "quit", replies[-1]
    await check_still_serving(server, bystander, attacker, caplog)
