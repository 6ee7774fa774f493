"""Bad input over real sockets: typed errors with the same ``ref``, and a connection that survives.

Every refused frame is followed by a ``ping``: its ``pong`` proves the connection is still served,
and the barrier proves that nothing but the one error was sent (in particular, that the refused
frame had no effect on anybody). The two inputs that do close a connection, an over-long line and
(for the frame only) flood control, are checked here too, on one process and on two nodes (a
flood limit is a connection's: whichever node it is on refuses, and the other node's members get
only what was served).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import Connect, StartServer, WireClient
from tests.server.backends import backend, connect, start_server

__all__ = ["backend", "connect", "start_server"]

TEXT_MAX = 4000

# (line sent, expected code, expected ref or None for "no ref field")
SURVIVABLE: list[tuple[bytes, str, Any]] = [
    (b'{"type":"say","room":"#a",', "bad_json", None),
    (b"hello there", "bad_json", None),
    (b'{"type":"ping"}{"type":"ping"}', "bad_json", None),
    (b"[" * 8000 + b"]" * 8000, "bad_json", None),
    (b'{"a":' * 2700 + b"1" + b"}" * 2700, "bad_json", None),
    (b'{"type":"ping","x":%s,"ref":"r"}' % (b"[" * 40 + b"]" * 40), "bad_json", None),
    (b'{"type":"say","room":"#a","text":"\\ud800","ref":"r"}', "bad_json", None),
    (b'{"type":"say","room":"#a","text":"x\\udfff","ref":"r"}', "bad_json", None),
    (b"\xff\xfe{}", "bad_utf8", None),
    (b'{"type":"say","room":"#a","text":"caf\xe9","ref":1}', "bad_utf8", None),
    (b"[1,2,3]", "bad_frame", None),
    (b'"say"', "bad_frame", None),
    (b'{"room":"#a","text":"x","ref":"r"}', "bad_frame", "r"),
    (b'{"type":42,"ref":"r"}', "bad_frame", "r"),
    (b'{"type":"shout","text":"x","ref":"r"}', "unknown_type", "r"),
    (b'{"type":"welcome","ref":7}', "unknown_type", 7),
    (b'{"type":"join","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"join","room":3,"ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","room":"#a","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","room":"#a","text":["x"],"ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","room":"#a","text":"x","action":"yes","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"nick","nick":null,"ref":false}', "bad_frame", False),
    (b'{"type":"history","room":"#a","before":"latest","ref":0}', "bad_frame", 0),
    (b'{"type":"history","room":"#a","limit":"all","ref":null}', "bad_frame", None),
    (b'{"type":"ping","ref":{"nested":true}}', "bad_frame", None),
    (b'{"type":"say","room":"#a","to":"bob","text":"x","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","text":"x","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","room":"#a","text":"","ref":"r"}', "bad_frame", "r"),
    (b'{"type":"say","to":"bob","text":"","ref":"r"}', "bad_frame", "r"),
    (
        b'{"type":"say","room":"#a","text":"%s","ref":"r"}' % (b"x" * (TEXT_MAX + 1)),
        "bad_frame",
        "r",
    ),
    (b'{"type":"history","room":"#a","before":5,"after":1,"ref":"r"}', "bad_frame", "r"),
    (b'{"type":"topic","room":"#a","topic":"%s","ref":"r"}' % (b"t" * 4001), "bad_frame", "r"),
    (b'{"type":"away","text":"%s","ref":"r"}' % (b"a" * 4001), "bad_frame", "r"),
    (b'{"type":"join","room":"general","ref":"r"}', "bad_room", "r"),
    (b'{"type":"join","room":"#","ref":"r"}', "bad_room", "r"),
    (b'{"type":"join","room":"#a b","ref":"r"}', "bad_room", "r"),
    (b'{"type":"join","room":"#%s","ref":"r"}' % (b"r" * 33), "bad_room", "r"),
    (b'{"type":"say","room":"a","text":"x","ref":"r"}', "bad_room", "r"),
    (b'{"type":"who","room":"#\xc3\xa9","ref":"r"}', "bad_room", "r"),
    (b'{"type":"part","room":"","ref":"r"}', "bad_room", "r"),
    (b'{"type":"part","room":"#b","ref":"r"}', "not_in_room", "r"),
    (b'{"type":"say","room":"#b","text":"x","ref":"r"}', "not_in_room", "r"),
    (b'{"type":"topic","room":"#b","topic":"x","ref":"r"}', "not_in_room", "r"),
    (b'{"type":"history","room":"#b","ref":"r"}', "not_in_room", "r"),
    (b'{"type":"say","to":"ghost","text":"boo","ref":"r"}', "no_such_nick", "r"),
    (b'{"type":"say","to":"not a nick","text":"boo","ref":"r"}', "no_such_nick", "r"),
    (b'{"type":"who","room":"#nobody","ref":2.5}', "no_such_room", 2.5),
    (b'{"type":"hello","nick":"alice","proto":1,"ref":"r"}', "already_registered", "r"),
    (b'{"type":"nick","nick":"Bob","ref":"r"}', "nick_taken", "r"),
    (b'{"type":"nick","nick":"-x","ref":"r"}', "bad_nick", "r"),
]


async def alice_and_bob(connect: Connect) -> tuple[WireClient, WireClient]:
    """Alice and bob in ``#a``, quiet; ``#b`` exists with bob in it but alice is not there."""
    alice = await connect("alice")
    bob = await connect("Bob")
    await alice.join("#a")
    await bob.join("#a")
    await bob.join("#b")
    await alice.barrier()
    await bob.barrier()
    return alice, bob


@pytest.mark.parametrize(("line", "code", "ref"), SURVIVABLE, ids=lambda v: str(v)[:40])
async def test_bad_input_is_answered_and_survived(
    connect: Connect, line: bytes, code: str, ref: Any
) -> None:
    """A bad frame gets one typed error with its ``ref``, affects nobody, and the link survives."""
    alice, bob = await alice_and_bob(connect)
    await alice.send_raw(line + b"\n")
    frames = await alice.barrier()
    assert len(frames) == 1, frames
    error = frames[0]
    assert error["type"] == "error" and error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if ref is None and b'"ref":null' not in line:
        assert "ref" not in error
    else:
        assert "ref" in error and error["ref"] == ref and type(error["ref"]) is type(ref)
    assert await bob.barrier() == []
    await alice.send(type="say", room="#a", text="still here")
    await bob.expect("message", text="still here", **{"from": "alice"})


async def test_many_bad_lines_in_one_read_are_each_answered(connect: Connect) -> None:
    """Bad lines mixed with good ones in one read are answered one by one, in order."""
    alice, bob = await alice_and_bob(connect)
    batch = b"".join(line + b"\n" for line, _, _ in SURVIVABLE)
    await alice.send_raw(batch + b'{"type":"say","room":"#a","text":"after","ref":"ok"}\n')
    frames = await alice.barrier()
    assert [f.get("code") for f in frames[:-1]] == [code for _, code, _ in SURVIVABLE]
    assert frames[-1]["type"] == "message" and frames[-1]["ref"] == "ok"
    assert [f["text"] for f in await bob.barrier()] == ["after"]


@pytest.mark.parametrize(
    "query",
    [
        {"before": 2**63},
        {"after": 2**63},
        {"before": -(2**63) - 1},
        {"after": 10**30},
        {"limit": 2**64},
        {"limit": -(2**70)},
    ],
)
async def test_history_with_huge_numbers_is_survived(
    connect: Connect, query: dict[str, int]
) -> None:
    """``history`` with integers beyond 64 bits is answered (a page or an error), never a hang."""
    alice, bob = await alice_and_bob(connect)
    await alice.send(type="history", room="#a", ref="big", **query)
    frames = await alice.barrier()
    assert len(frames) == 1 and frames[0]["ref"] == "big", frames
    assert frames[0]["type"] in ("history", "error"), frames
    await alice.send(type="say", room="#a", text="still served")
    await bob.expect("message", text="still served")
    await alice.expect("message", text="still served")
    await alice.send(type="history", room="#a", ref="small")
    assert (await alice.expect("history", ref="small"))["messages"][-1]["text"] == "still served"


async def test_text_of_exactly_the_limit_is_accepted(connect: Connect) -> None:
    """A message of exactly 4000 characters (not bytes) is accepted and delivered."""
    alice, bob = await alice_and_bob(connect)
    # 4000 four-byte characters still fit the default line limit when sent as raw UTF-8.
    text = "😀" * TEXT_MAX
    line = json.dumps({"type": "say", "room": "#a", "text": text}, ensure_ascii=False)
    await alice.send_raw(line.encode() + b"\n")
    assert (await bob.expect("message"))["text"] == text


# --- over-long lines ------------------------------------------------------------------------


async def test_over_long_line_closes_with_frame_too_large(
    start_server: StartServer, connect: Connect
) -> None:
    """A line over ``max_line`` gets ``frame_too_large`` then ``bye`` and a close; lines before
    it in the same read are still served, and the rooms hear that the client quit."""
    server = await start_server(max_line=512)
    alice = await connect("alice", port=server.port)
    bob = await connect("bob", port=server.port)
    await alice.join("#a")
    await bob.join("#a")
    await alice.barrier()
    await bob.barrier()
    before = b'{"type":"say","room":"#a","text":"last words"}\n{"type":"ping","id":"p"}\n'
    await alice.send_raw(before + b"x" * 600 + b"\n")
    frames = await alice.closed()
    kinds = [(f["type"], f.get("code") or f.get("reason") or f.get("id")) for f in frames]
    assert kinds[-2:] == [("error", "frame_too_large"), ("bye", "frame_too_large")]
    assert ("pong", "p") in kinds
    assert [f["text"] for f in frames if f["type"] == "message"] == ["last words"]
    await bob.expect("message", text="last words")
    await bob.expect("presence", nick="alice", event="quit")


async def test_over_long_line_without_newline_closes(
    start_server: StartServer, connect: Connect
) -> None:
    """A line that never ends is refused once it passes ``max_line``, without waiting for more."""
    server = await start_server(max_line=512)
    client = await connect("alice", port=server.port)
    await client.send_raw(b'{"type":"say","text":"' + b"x" * 1000)
    frames = await client.closed()
    assert [f["type"] for f in frames] == ["error", "bye"]
    assert frames[0]["code"] == "frame_too_large"


async def test_line_of_exactly_max_line_is_served(
    start_server: StartServer, connect: Connect
) -> None:
    """A line of exactly ``max_line`` bytes, ended by ``\\r\\n``, is a frame like any other."""
    server = await start_server(max_line=512)
    alice = await connect("alice", port=server.port)
    await alice.join("#a")
    head = b'{"type":"say","room":"#a","text":"'
    line = head + b"y" * (512 - len(head) - 2) + b'"}'
    assert len(line) == 512
    await alice.send_raw(line + b"\r\n")
    message = await alice.expect("message")
    assert len(message["text"]) == 512 - len(head) - 2


async def test_crlf_and_blank_lines_over_the_wire(connect: Connect) -> None:
    """``\\r\\n`` line ends and blank lines (as from telnet) are accepted and ignored."""
    client = await connect()
    await client.send_raw(b'\r\n\n{"type":"hello","nick":"tel","proto":1}\r\n\r\n')
    await client.expect("welcome", nick="tel")
    await client.send_raw(b'{"type":"ping",\r\n')
    await client.expect("error", code="bad_json")
    assert await client.barrier() == []


async def test_frame_split_across_writes(connect: Connect) -> None:
    """A frame written in pieces, even inside a multibyte character, is served when complete."""
    alice, bob = await alice_and_bob(connect)
    line = json.dumps({"type": "say", "room": "#a", "text": "añ€😀"}, ensure_ascii=False)
    data = line.encode() + b"\n"
    for i in range(len(data)):
        await alice.send_raw(data[i : i + 1])
        await asyncio.sleep(0)
    assert (await bob.expect("message"))["text"] == "añ€😀"


# --- flood control --------------------------------------------------------------------------


async def test_rate_limited_frames_are_refused_then_service_resumes(
    start_server: StartServer, connect: Connect
) -> None:
    """Past the burst, frames get ``rate_limited`` with ``retry_after_ms`` and have no effect;
    after waiting that long, frames are served again."""
    server = await start_server(msg_rate=5, msg_burst=5)
    alice = await connect("alice", port=server.port)
    bob = await connect("bob", port=server.port)
    await alice.join("#a")
    await bob.join("#a")
    await alice.expect("presence", event="join", nick="bob")
    # alice has spent 2 of her 5 tokens; 10 more frames in one read overrun the bucket.
    burst = b"".join(
        json.dumps({"type": "say", "room": "#a", "text": f"m{i}", "ref": i}).encode() + b"\n"
        for i in range(10)
    )
    await alice.send_raw(burst)
    served: list[int] = []
    limited: dict[int, dict[str, Any]] = {}
    while len(served) + len(limited) < 10:
        frame = await alice.recv()
        if frame["type"] == "message":
            served.append(frame["ref"])
        else:
            assert frame["type"] == "error" and frame["code"] == "rate_limited", frame
            limited[frame["ref"]] = frame
    assert 1 <= len(served) <= 5 and served == list(range(len(served)))
    assert sorted(limited) == list(range(len(served), 10))
    for error in limited.values():
        assert isinstance(error["retry_after_ms"], int)
        assert 0 < error["retry_after_ms"] <= 1000 // 5 + 1
    delivered = [(await bob.expect("message"))["text"] for _ in served]
    assert delivered == [f"m{i}" for i in served]

    # Waiting as told is a protocol step here, not a timing assertion.
    await asyncio.sleep(max(e["retry_after_ms"] for e in limited.values()) / 1000)
    await alice.send(type="say", room="#a", text="again", ref="late")
    await alice.expect("message", text="again", ref="late")
    await bob.expect("message", text="again")


async def test_rate_limited_ping_is_refused_with_its_ref(
    start_server: StartServer, connect: Connect
) -> None:
    """Pings are counted too: past the burst a ``ping`` gets ``rate_limited`` carrying its ref."""
    server = await start_server(msg_rate=2, msg_burst=2)
    client = await connect(port=server.port)
    await client.send_raw(
        b"".join(b'{"type":"ping","id":%d,"ref":%d}\n' % (i, i) for i in range(6))
    )
    frames = [await client.recv() for _ in range(6)]
    pongs = [f["id"] for f in frames if f["type"] == "pong"]
    errors = [f for f in frames if f["type"] == "error"]
    assert 1 <= len(pongs) <= 2 and pongs == list(range(len(pongs)))
    assert [e["ref"] for e in errors] == list(range(len(pongs), 6))
    assert all(e["code"] == "rate_limited" and e["retry_after_ms"] > 0 for e in errors)


async def test_rate_limited_bad_frame_keeps_its_ref(
    start_server: StartServer, connect: Connect
) -> None:
    """A refused frame past the burst gets ``rate_limited`` carrying that frame's ``ref``."""
    server = await start_server(msg_rate=1, msg_burst=1)
    client = await connect(port=server.port)
    await client.send_raw(b"".join(b'{"type":"shout","ref":%d}\n' % i for i in range(3)))
    first, *rest = [await client.recv() for _ in range(3)]
    assert first["code"] == "unknown_type" and first["ref"] == 0
    assert [(f["code"], f.get("ref")) for f in rest] == [("rate_limited", 1), ("rate_limited", 2)]
