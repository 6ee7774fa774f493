"""The sans-I/O protocol: framing, decoding with typed errors, encoding, and name rules.

No sockets here: bytes go into ``LineDecoder`` and ``decode_client_frame`` and typed frames or
``RemoteProtocolError``s come out, so every framing corner and every error code the decoder can
produce is checked directly, whatever a server does with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

from app import protocol as p

MULTIBYTE = "é€😀日本"  # 2-, 3- and 4-byte UTF-8 sequences


def feed_all(decoder: p.LineDecoder, chunks: list[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    for chunk in chunks:
        lines += decoder.feed(chunk)
    return lines


def refusal(line: bytes) -> p.RemoteProtocolError:
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_client_frame(line)
    return info.value


# --- LineDecoder --------------------------------------------------------------------------


def test_lines_split_byte_by_byte() -> None:
    """A stream fed one byte at a time yields the same lines as one read."""
    data = b'{"type":"ping","id":1}\n{"type":"quit"}\r\n'
    decoder = p.LineDecoder()
    lines = feed_all(decoder, [data[i : i + 1] for i in range(len(data))])
    assert lines == [b'{"type":"ping","id":1}', b'{"type":"quit"}']
    assert decoder.buffered == 0


def test_line_is_returned_only_when_complete() -> None:
    """Bytes without a newline are held, not returned, until the newline arrives."""
    decoder = p.LineDecoder()
    assert decoder.feed(b'{"type":') == []
    assert decoder.buffered == len(b'{"type":')
    assert decoder.feed(b'"ping"}') == []
    assert decoder.feed(b"\n") == [b'{"type":"ping"}']
    assert decoder.buffered == 0


def test_several_lines_in_one_read() -> None:
    """One read holding several lines and the start of another returns the complete ones."""
    decoder = p.LineDecoder()
    assert decoder.feed(b"a\nb\nc\nd") == [b"a", b"b", b"c"]
    assert decoder.buffered == 1
    assert decoder.feed(b"e\n") == [b"de"]


def test_crlf_and_lf_both_end_a_line() -> None:
    """``\\r\\n`` ends a line like ``\\n``; a ``\\r`` elsewhere in a line is kept."""
    decoder = p.LineDecoder()
    assert decoder.feed(b"one\r\ntwo\nth\rree\r\n") == [b"one", b"two", b"th\rree"]


def test_crlf_split_between_reads() -> None:
    """A ``\\r`` at the end of one read and ``\\n`` at the start of the next make one CRLF."""
    decoder = p.LineDecoder()
    assert decoder.feed(b"abc\r") == []
    assert decoder.feed(b"\nxyz\n") == [b"abc", b"xyz"]


def test_empty_lines_are_skipped() -> None:
    """Blank lines (``\\n`` or ``\\r\\n`` alone) produce no line at all."""
    decoder = p.LineDecoder()
    assert decoder.feed(b"\n\r\n\na\n\r\n\nb\n") == [b"a", b"b"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_multibyte_characters_cut_at_every_point(ending: bytes) -> None:
    """A frame cut anywhere, even inside a UTF-8 sequence, decodes to the same text."""
    data = json.dumps({"type": "say", "room": "#a", "text": MULTIBYTE}, ensure_ascii=False)
    raw = data.encode() + ending
    for cut in range(len(raw) + 1):
        decoder = p.LineDecoder()
        lines = feed_all(decoder, [raw[:cut], raw[cut:]])
        assert len(lines) == 1, cut
        frame = p.decode_client_frame(lines[0])
        assert isinstance(frame, p.Say) and frame.text == MULTIBYTE, cut


def test_multibyte_characters_fed_byte_by_byte() -> None:
    """Multibyte characters fed one byte at a time are joined back up."""
    raw = b'{"type":"away","text":"' + MULTIBYTE.encode() + b'"}\n'
    decoder = p.LineDecoder()
    lines = feed_all(decoder, [raw[i : i + 1] for i in range(len(raw))])
    frame = p.decode_client_frame(lines[0])
    assert isinstance(frame, p.Away) and frame.text == MULTIBYTE


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_line_of_exactly_max_length_is_accepted(ending: bytes, chunk: int | None) -> None:
    """A line of exactly ``max_line`` bytes (before its ending) is a line, however it arrives."""
    limit = 64
    line = b"x" * limit
    raw = line + ending + b"y\n"
    decoder = p.LineDecoder(limit)
    size = chunk or len(raw)
    lines = feed_all(decoder, [raw[i : i + size] for i in range(0, len(raw), size)])
    assert lines == [line, b"y"]
    assert not decoder.too_large


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_line_one_byte_too_long_is_refused(ending: bytes, chunk: int | None) -> None:
    """A line of ``max_line + 1`` bytes sets ``too_large``; the lines before it still come out."""
    limit = 64
    raw = b"first\nsecond\r\n" + b"x" * (limit + 1) + ending + b"after\n"
    decoder = p.LineDecoder(limit)
    size = chunk or len(raw)
    lines = feed_all(decoder, [raw[i : i + size] for i in range(0, len(raw), size)])
    assert lines == [b"first", b"second"]
    assert decoder.too_large
    assert decoder.error.code == "frame_too_large"


def test_over_long_line_detected_before_its_newline() -> None:
    """An endless line is refused once it passes the limit, without waiting for a newline."""
    limit = 64
    decoder = p.LineDecoder(limit)
    assert decoder.feed(b"ok\n" + b"x" * (limit + 1)) == [b"ok"]
    assert not decoder.too_large  # the +1 may still be the "\r" of "\r\n"
    assert decoder.feed(b"x") == []
    assert decoder.too_large
    assert decoder.buffered == 0


def test_decoder_takes_nothing_after_too_large() -> None:
    """Once a line was too long, later bytes are ignored rather than resynchronised."""
    decoder = p.LineDecoder(8)
    decoder.feed(b"x" * 20)
    assert decoder.too_large
    assert decoder.feed(b"\nshort\n") == []
    assert decoder.buffered == 0


# --- decode_client_frame --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type":"hello","nick":"alice","proto":1}', p.Hello(nick="alice", proto=1)),
        (b'{"type":"join","room":"#a","ref":"r1"}', p.Join(room="#a", ref="r1")),
        (b'{"type":"part","room":"#a"}', p.Part(room="#a")),
        (
            b'{"type":"say","room":"#a","text":"hi","nonce":"n","action":true}',
            p.Say(room="#a", text="hi", nonce="n", action=True),
        ),
        (b'{"type":"say","to":"bob","text":"psst"}', p.Say(to="bob", text="psst")),
        (b'{"type":"nick","nick":"bob"}', p.Nick(nick="bob")),
        (b'{"type":"topic","room":"#a","topic":"t"}', p.SetTopic(room="#a", topic="t")),
        (b'{"type":"who","room":"#a"}', p.Who(room="#a")),
        (b'{"type":"rooms","ref":null}', p.ListRooms(ref=None)),
        (
            b'{"type":"history","room":"#a","before":10,"limit":5}',
            p.GetHistory(room="#a", before=10, limit=5),
        ),
        (b'{"type":"away","text":null}', p.Away(text=None)),
        (b'{"type":"ping","id":3}', p.Ping(id=3)),
        (b'{"type":"pong","id":"k"}', p.Pong(id="k")),
        (b'{"type":"quit","text":"bye"}', p.Quit(text="bye")),
        (b' {"type":"ping"} ', p.Ping()),
    ],
)
def test_every_client_frame_decodes(line: bytes, expected: p.ClientFrame) -> None:
    """Each client frame type decodes to its typed struct."""
    assert p.decode_client_frame(line) == expected


def test_absent_ref_and_null_ref_differ() -> None:
    """A ``ref`` of ``null`` is kept as ``None``; an absent one stays unset."""
    assert p.decode_client_frame(b'{"type":"ping","ref":null}').ref is None
    assert p.decode_client_frame(b'{"type":"ping"}').ref is msgspec.UNSET


def test_unknown_fields_are_ignored() -> None:
    """Extra fields (such as a forged ``from``) are dropped by the decoder, not kept."""
    frame = p.decode_client_frame(b'{"type":"say","room":"#a","text":"x","from":"mallory"}')
    assert frame == p.Say(room="#a", text="x")


@pytest.mark.parametrize(
    "line",
    [b"{", b"not json", b'{"type":"ping"} trailing', b'{"type":"ping",}', b"", b"nul", b"'x'"],
)
def test_bad_json(line: bytes) -> None:
    """A line that is not JSON is ``bad_json``."""
    assert refusal(line).code == "bad_json"


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 8000 + b"]" * 8000,
        b'{"a":' * 2700 + b"1" + b"}" * 2700,
        b'{"type":"ping","x":%s}' % (b"[" * (p.MAX_DEPTH) + b"]" * (p.MAX_DEPTH)),
        b"[" * 20000,
    ],
)
def test_deep_nesting_is_bad_json(line: bytes) -> None:
    """A line nested deeper than ``MAX_DEPTH`` is ``bad_json`` "nested too deeply", not a crash."""
    err = refusal(line)
    assert (err.code, err.message) == (
        "bad_json",
        f"nested too deeply: at most {p.MAX_DEPTH} levels of [ and {{",
    )


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    """``MAX_DEPTH`` levels pass; brackets inside a string (even after ``\\"``) do not count."""
    depth = p.MAX_DEPTH - 1  # the frame object itself is one level
    nested = b'{"type":"ping","x":%s}' % (b"[" * depth + b"]" * depth)
    assert p.decode_client_frame(nested) == p.Ping()
    text = '\\"' + "[{" * 100
    line = b'{"type":"say","room":"#a","text":"%s"}' % text.encode()
    assert p.decode_client_frame(line) == p.Say(room="#a", text='"' + "[{" * 100)


@pytest.mark.parametrize(
    ("line", "escape"),
    [
        (b'{"type":"say","room":"#a","text":"\\ud800"}', "\\ud800"),
        (b'{"type":"say","room":"#a","text":"ok \\udc00 no"}', "\\udc00"),
        (b'{"type":"say","room":"#a","text":"\\ud83d\\ude00\\ud83d"}', "\\ud83d"),
    ],
)
def test_lone_surrogate_escape_is_named(line: bytes, escape: str) -> None:
    """An escaped half of a surrogate pair is ``bad_json`` that names it, not "truncated"."""
    err = refusal(line)
    assert err.code == "bad_json"
    assert err.message == f"{escape} is half of a UTF-16 surrogate pair, not a character"


def test_surrogate_pair_escape_is_one_character() -> None:
    """A high-low pair of escapes is the one character it encodes."""
    frame = p.decode_client_frame(b'{"type":"say","room":"#a","text":"\\ud83d\\ude00"}')
    assert frame == p.Say(room="#a", text="\U0001f600")


@pytest.mark.parametrize(
    "line",
    [
        b"\xff",
        b'{"type":"say","room":"#a","text":"\xc3"}',
        b'{"type":"say","room":"#a","text":"\xed\xa0\x80"}',  # an encoded surrogate
        b'{"type":"ping","ref":"\xc0\xaf"}',  # an overlong encoding of "/"
        b"\x80{}",
    ],
)
def test_bad_utf8(line: bytes) -> None:
    """A line that is not valid UTF-8 is ``bad_utf8`` (before any JSON error)."""
    assert refusal(line).code == "bad_utf8"


@pytest.mark.parametrize("line", [b"[1,2]", b'"ping"', b"42", b"null", b"true", b"[]"])
def test_bad_frame_not_an_object(line: bytes) -> None:
    """JSON that is not an object is ``bad_frame``."""
    err = refusal(line)
    assert err.code == "bad_frame"
    assert err.ref is msgspec.UNSET


@pytest.mark.parametrize(
    "line",
    [b'{"ref":5}', b'{"type":5,"ref":5}', b'{"type":null,"ref":5}', b'{"type":["x"],"ref":5}'],
)
def test_bad_frame_missing_or_non_string_type(line: bytes) -> None:
    """An object without a string ``type`` is ``bad_frame``, and its ``ref`` is kept."""
    err = refusal(line)
    assert err.code == "bad_frame"
    assert err.ref == 5


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"hello","nick":"a","ref":"r"}',
        b'{"type":"hello","proto":1,"key":{"fingerprint":"F"},"ref":"r"}',
        b'{"type":"key_add","ref":"r"}',
        b'{"type":"hello","nick":"a","proto":"1","ref":"r"}',
        b'{"type":"hello","nick":"a","proto":true,"ref":"r"}',
        b'{"type":"join","ref":"r"}',
        b'{"type":"join","room":7,"ref":"r"}',
        b'{"type":"join","room":null,"ref":"r"}',
        b'{"type":"part","room":["#a"],"ref":"r"}',
        b'{"type":"say","room":"#a","ref":"r"}',
        b'{"type":"say","room":"#a","text":5,"ref":"r"}',
        b'{"type":"say","room":"#a","text":"x","action":1,"ref":"r"}',
        b'{"type":"say","room":"#a","text":"x","nonce":7,"ref":"r"}',
        b'{"type":"nick","ref":"r"}',
        b'{"type":"topic","room":"#a","ref":"r"}',
        b'{"type":"who","room":{},"ref":"r"}',
        b'{"type":"history","room":"#a","before":"9","ref":"r"}',
        b'{"type":"history","room":"#a","limit":1.5,"ref":"r"}',
        b'{"type":"away","text":3,"ref":"r"}',
        b'{"type":"ping","id":{},"ref":"r"}',
        b'{"type":"quit","text":false,"ref":"r"}',
    ],
)
def test_bad_frame_wrong_or_missing_fields(line: bytes) -> None:
    """A known type with a missing or mistyped field is ``bad_frame`` carrying the ``ref``."""
    err = refusal(line)
    assert err.code == "bad_frame", err.message
    assert err.ref == "r"
    kind = json.loads(line)["type"]
    assert kind in err.message


@pytest.mark.parametrize("ref", [{"a": 1}, [1], [None]])
def test_non_scalar_ref_is_not_echoed(ref: Any) -> None:
    """A ``ref`` that is not a JSON scalar makes the frame bad and is not carried back."""
    err = refusal(json.dumps({"type": "ping", "ref": ref}).encode())
    assert err.code == "bad_frame"
    assert err.ref is msgspec.UNSET


@pytest.mark.parametrize("kind", ["welcome", "message", "PING", "Hello", "", "shout"])
def test_unknown_type(kind: str) -> None:
    """A ``type`` no client frame has, including server-only types, is ``unknown_type``."""
    err = refusal(json.dumps({"type": kind, "ref": 9}).encode())
    assert err.code == "unknown_type"
    assert err.ref == 9


@pytest.mark.parametrize("ref", ["s", 0, -3, 2.5, True, False, None, 2**70])
def test_ref_carried_into_errors(ref: Any) -> None:
    """Every scalar ``ref`` is carried unchanged into the error, and into its encoding."""
    err = refusal(json.dumps({"type": "shout", "ref": ref}).encode())
    assert err.ref == ref and type(err.ref) is type(ref)
    wire = json.loads(p.encode(p.error_frame(err)))
    assert wire == {"type": "error", "code": "unknown_type", "message": err.message, "ref": ref}


def test_error_without_ref_has_no_ref_field() -> None:
    """An error for a frame without ``ref`` has no ``ref`` key at all (not ``null``)."""
    wire = json.loads(p.encode(p.error_frame(refusal(b"{"))))
    assert set(wire) == {"type", "code", "message"}


# --- encode and decode_server_frame ---------------------------------------------------------


SERVER_FRAMES: list[p.ServerFrame] = [
    p.Welcome(nick="alice", server="parley", proto=1, ref=1),
    p.Message(id=1, ts=1_700_000_000_000, sender="alice", text="hi", room="#a"),
    p.Message(id=2, ts=1, sender="alice", text=MULTIBYTE, to="bob", nonce="n", action=True),
    p.Joined(room="#a", topic="t", members=["alice", "bob"]),
    p.Parted(room="#a", ref="x"),
    p.HistoryPage(
        room="#a", messages=[p.Message(id=1, ts=1, sender="a", text="x", room="#a")], more=True
    ),
    p.Presence(room="#a", nick="bob", old="bobby", event="nick"),
    p.Presence(room="#a", nick="bob", event="away", text="lunch"),
    p.Topic(room="#a", topic="news", by="alice"),
    p.Members(room="#a", members=[p.Member(nick="a"), p.Member(nick="b", away=True)]),
    p.RoomList(rooms=[p.RoomInfo(room="#a", topic="", members=2)]),
    p.Renamed(nick="b", old="a"),
    p.AwaySet(text=None, ref=None),
    p.ServerPong(id=4),
    p.ServerPing(id="k"),
    p.Error(code="rate_limited", message="slow down", retry_after_ms=250, ref=False),
    p.Bye(reason="quit", message="later"),
]


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: type(f).__name__)
def test_server_frames_round_trip(frame: p.ServerFrame) -> None:
    """Every server frame encodes to one JSON line and decodes back to an equal frame."""
    line = p.encode(frame)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert p.decode_server_frame(line[:-1]) == frame


def test_message_sender_is_spelled_from_on_the_wire() -> None:
    """The sender is the ``from`` field on the wire, and defaults are left out."""
    wire = json.loads(p.encode(p.Message(id=5, ts=9, sender="alice", text="x", room="#a")))
    assert wire == {"type": "message", "id": 5, "ts": 9, "from": "alice", "text": "x", "room": "#a"}
    back = p.decode_server_frame(b'{"type":"message","id":1,"ts":2,"from":"bob","text":"y"}')
    assert isinstance(back, p.Message) and back.sender == "bob"


def test_client_frames_round_trip() -> None:
    """Client frames encode to lines the client decoder reads back unchanged."""
    frames: list[p.ClientFrame] = [
        p.Hello(nick="a", proto=1, ref="r"),
        p.Say(room="#a", text=MULTIBYTE, nonce="n"),
        p.GetHistory(room="#a", after=3, limit=10),
        p.Quit(),
    ]
    for frame in frames:
        assert p.decode_client_frame(p.encode(frame).rstrip(b"\n")) == frame


def test_encoding_an_invalid_frame_is_a_local_error() -> None:
    """A frame built with a value JSON cannot carry is our bug: ``LocalProtocolError``."""
    with pytest.raises(p.LocalProtocolError):
        p.encode(p.Bye(reason=object(), message=""))  # type: ignore[arg-type]


def test_server_decoder_classifies_errors_too() -> None:
    """The client side gets the same typed errors for a bad server line."""
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_server_frame(b'{"type":"hello","nick":"a","proto":1}')
    assert info.value.code == "unknown_type"
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_server_frame(b'{"type":"welcome"}')
    assert info.value.code == "bad_frame"


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nick", ["a", "Z", "a" * 24, "alice", "Bob_2", "x-y", "a1", "A_-9", "abc" * 8]
)
def test_valid_nicks(nick: str) -> None:
    """Nicks of 1-24 letters, digits, ``_`` or ``-`` starting with a letter are valid."""
    assert p.is_valid_nick(nick)


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "a" * 25,
        "1abc",
        "_abc",
        "-abc",
        "a b",
        "a.b",
        "a#",
        "#a",
        "é",
        "aé",
        "a\n",
        "a\x00",
        " a",
        "\uff41",  # a fullwidth letter
        "a\u0661",  # an Arabic-Indic digit
    ],
)
def test_invalid_nicks(nick: str) -> None:
    """Empty, over-long, non-letter-first and non-ASCII nicks are refused."""
    assert not p.is_valid_nick(nick)


@pytest.mark.parametrize("room", ["#a", "#1", "#" + "a" * 32, "#General", "#a_b-c", "#-", "#_"])
def test_valid_rooms(room: str) -> None:
    """Rooms of ``#`` then 1-32 letters, digits, ``_`` or ``-`` are valid (a digit may lead)."""
    assert p.is_valid_room(room)


@pytest.mark.parametrize(
    "room",
    ["", "#", "general", "#" + "a" * 33, "##a", "#a b", "#a.b", "#é", "#a\n", " #a", "&a", "#a#"],
)
def test_invalid_rooms(room: str) -> None:
    """Rooms without ``#``, empty, over-long or with other characters are refused."""
    assert not p.is_valid_room(room)


def test_fold_ignores_case() -> None:
    """Nicks and rooms compare ignoring case."""
    assert p.fold("AliCe") == p.fold("alice") == "alice"
    assert p.fold("#GENERAL") == "#general"


# --- error codes ----------------------------------------------------------------------------

PROTOCOL_DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def test_error_codes_is_the_literal() -> None:
    """``ERROR_CODES`` holds exactly the codes of the ``ErrorCode`` literal, each once."""
    codes = get_args(p.ErrorCode)
    assert len(set(codes)) == len(codes)
    assert frozenset(codes) == p.ERROR_CODES


def test_every_error_code_is_documented() -> None:
    """docs/protocol.md has a row in its error table for every code in ``ErrorCode``."""
    doc = PROTOCOL_DOC.read_text(encoding="utf-8")
    missing = [code for code in get_args(p.ErrorCode) if f"| `{code}` |" not in doc]
    assert missing == []


def test_is_error_code() -> None:
    """``is_error_code`` knows every code of this version and nothing else."""
    assert all(p.is_error_code(code) for code in get_args(p.ErrorCode))
    assert not p.is_error_code("from_the_future")
    assert not p.is_error_code("")


def test_error_with_an_unknown_code_decodes() -> None:
    """An ``error`` with a code from a newer version 1 server decodes: clients must not fail."""
    line = b'{"type":"error","code":"from_the_future","message":"new","retry_after_ms":5}'
    frame = p.decode_server_frame(line)
    assert frame == p.Error(code="from_the_future", message="new", retry_after_ms=5)


def test_make_error_encodes_like_error() -> None:
    """``make_error`` builds the same frame, and the same bytes, as ``Error`` itself."""
    built = p.make_error("rate_limited", "slow down", ref=3, retry_after_ms=250)
    same = p.Error(code="rate_limited", message="slow down", ref=3, retry_after_ms=250)
    assert built == same and p.encode(built) == p.encode(same)


def test_key_fingerprints_are_openssh_s() -> None:
    """``parse_public_key`` reads a .pub line and gives the fingerprint ssh-keygen prints."""
    asyncssh = pytest.importorskip("asyncssh")
    from app.protocol.keys import PublicKey, parse_public_key

    key = asyncssh.generate_private_key("ssh-ed25519", comment="ann@laptop")
    line = key.export_public_key().decode().strip()
    parsed = parse_public_key(line)
    assert isinstance(parsed, PublicKey)
    assert parsed.fingerprint == key.get_fingerprint("sha256")
    assert (parsed.kind, parsed.comment) == ("ssh-ed25519", "ann@laptop")
    assert isinstance(parse_public_key("ssh-rsa " + line.split()[1]), str)


def test_a_key_proof_holds_for_its_key_and_minutes_only() -> None:
    """A proof checks out with the secret it was made from, for its fingerprint, within
    ``PROOF_WINDOW`` seconds of ``at``, and never with an empty secret."""
    from app.protocol.keys import PROOF_WINDOW, key_proof, key_token, proof_is_valid

    secret, fingerprint, at = b"s" * 32, "SHA256:" + "a" * 43, 1_795_568_346
    proof = key_proof(key_token(secret, fingerprint), fingerprint, at)
    assert proof_is_valid(secret, fingerprint, at, proof, at + PROOF_WINDOW)
    assert not proof_is_valid(secret, fingerprint, at, proof, at + PROOF_WINDOW + 1)
    assert not proof_is_valid(secret, "SHA256:" + "b" * 43, at, proof, at)
    assert not proof_is_valid(b"t" * 32, fingerprint, at, proof, at)
    assert not proof_is_valid(
        b"", fingerprint, at, key_proof(key_token(b"", fingerprint), fingerprint, at), at
    )


# --- edits ----------------------------------------------------------------------------------


def test_edit_decodes_with_and_without_its_room() -> None:
    """``edit`` carries an id and the new text; ``room`` is optional."""
    assert p.decode_client_frame(b'{"type":"edit","id":7,"text":"fixed"}') == p.Edit(
        id=7, text="fixed"
    )
    line = b'{"type":"edit","id":7,"text":"fixed","room":"#a","ref":2}'
    assert p.decode_client_frame(line) == p.Edit(id=7, text="fixed", room="#a", ref=2)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"edit","text":"x"}',
        b'{"type":"edit","id":1}',
        b'{"type":"edit","id":"1","text":"x"}',
        b'{"type":"edit","id":1,"text":5}',
    ],
)
def test_a_malformed_edit_is_bad_frame(line: bytes) -> None:
    """An ``edit`` without an integer id or a string text is refused as ``bad_frame``."""
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_client_frame(line)
    assert info.value.code == "bad_frame"


def test_edited_round_trips_and_leaves_out_what_is_absent() -> None:
    """``edited`` encodes ``by`` and ``ts`` only when given, and decodes back unchanged."""
    bare = p.Edited(room="#a", id=3, text="new")
    assert json.loads(p.encode(bare)) == {"type": "edited", "room": "#a", "id": 3, "text": "new"}
    full = p.Edited(room="#a", id=3, text="new", by="alice", ts=5, ref="r")
    assert p.decode_server_frame(p.encode(full).rstrip(b"\n")) == full


def test_a_message_says_edited_only_when_it_was() -> None:
    """``message`` omits ``edited`` when false, so old clients see the frames they knew."""
    plain = p.Message(id=1, ts=2, sender="a", text="x", room="#a")
    assert "edited" not in json.loads(p.encode(plain))
    edited = p.Message(id=1, ts=2, sender="a", text="x", room="#a", edited=True)
    assert json.loads(p.encode(edited))["edited"] is True
    assert p.decode_server_frame(p.encode(edited).rstrip(b"\n")) == edited


def test_welcome_limits_are_optional_and_extensible() -> None:
    """A welcome without ``limits`` (an older server) decodes with none; one with them decodes
    them, ignoring fields a later server may add, and round-trips."""
    old = p.decode_server_frame(b'{"type":"welcome","nick":"a","server":"s","proto":1}')
    assert isinstance(old, p.Welcome) and old.limits is None
    line = (
        b'{"type":"welcome","nick":"a","server":"s","proto":1,"limits":{"msg_rate":2.0,'
        b'"msg_burst":20,"max_line":16384,"max_text":4000,"max_rooms_per_conn":50,'
        b'"new_rooms_per_min":20,"later":1},"later_too":true}'
    )
    new = p.decode_server_frame(line)
    assert isinstance(new, p.Welcome) and new.limits is not None
    assert (new.limits.msg_rate, new.limits.msg_burst, new.limits.max_text) == (2.0, 20, 4000)
    assert p.decode_server_frame(p.encode(new)) == new
