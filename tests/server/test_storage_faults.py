"""A server whose disk fails under it: never a silent drop, reads go on, recovery by itself.

The history is a real SQLite file on a real 2 MiB tmpfs (``tests/tinyfs.py``; skipped where the
machine cannot mount one). A write starts failing while the server runs by filling the
filesystem (``fill``) and works again once the filler is removed (``free``). Linux refuses to
remount a filesystem read-only while SQLite holds its files open for writing, so a read-only
history is tested where it can happen, at start-up (``tests/test_serve_storage.py``). Messages
are 3,900 characters, so that each needs new space on the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Dial, StartServer, WireClient, stop_and_hang_up
from tests.tinyfs import TinyFS, tinyfs

BIG = "x" * 3900


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[TinyFS]:
    """The tiny filesystem, unmounted after the servers on it have stopped."""
    with tinyfs(tmp_path / "tiny") as fs:
        yield fs
        fs.free()


@pytest.fixture
def db_path(tiny: TinyFS) -> Path:
    """The servers' history file, on the tiny filesystem."""
    return tiny.path / "parley.db"


def shown(frames: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    """Each frame as (type, code or text, ref)."""
    return [(f["type"], f.get("code", f.get("text")), f.get("ref")) for f in frames]


async def all_history(client: WireClient, room: str) -> list[dict[str, Any]]:
    """Every message of ``room``, oldest first, paged back from the newest."""
    messages: list[dict[str, Any]] = []
    before = None
    while True:
        # Ten at a time: a page of long messages must fit the test client's line limit.
        query: dict[str, Any] = {"room": room, "limit": 10, "ref": "page"}
        if before is not None:
            query["before"] = before
        await client.send(type="history", **query)
        page = await client.expect("history", ref="page")
        messages[:0] = page["messages"]
        if not page["more"] or not page["messages"]:
            return messages
        before = page["messages"][0]["id"]


async def test_writes_that_start_failing_are_refused_reads_go_on_and_it_recovers(
    tiny: TinyFS, start_server: StartServer, dial: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    """With the disk full, ``say`` and ``topic`` get ``unavailable`` (with their ref) before the
    pong, nobody sees them, reads are answered; once there is room the next ``say`` works
    without a restart, the log has one line for each change, and a restart has what was kept."""
    server = await start_server()
    alice = await dial(server.port, "alice")
    bob = await dial(server.port, "bob")
    for client in (alice, bob):
        await client.join("#r")
    for client in (alice, bob):
        await client.barrier()
    await alice.send(type="topic", room="#r", topic="before the fault")
    await alice.send(type="say", room="#r", text="before", nonce="n0")
    assert [f["type"] for f in await alice.barrier()] == ["topic", "message"]
    assert [f["type"] for f in await bob.barrier()] == ["topic", "message"]

    with caplog.at_level(logging.INFO, logger="parley.store"):
        tiny.fill()
        await alice.send(type="say", room="#r", text=BIG, nonce="n1", ref="s1")
        await alice.send(type="topic", room="#r", topic="during the fault", ref="t1")
        refused = await alice.barrier()
        assert shown(refused) == [("error", "unavailable", "s1"), ("error", "unavailable", "t1")]
        assert all(f["message"] for f in refused)
        assert await bob.barrier() == []

        await bob.send(type="history", room="#r", ref="h")
        assert [m["text"] for m in (await bob.expect("history", ref="h"))["messages"]] == ["before"]
        await bob.send(type="who", room="#r", ref="w")
        assert len((await bob.expect("members", ref="w"))["members"]) == 2
        await bob.send(type="rooms", ref="l")
        assert (await bob.expect("room_list", ref="l"))["rooms"][0]["topic"] == "before the fault"

        tiny.free()
        await alice.send(type="say", room="#r", text="after", nonce="n2", ref="s2")
        assert shown(await alice.barrier()) == [("message", "after", "s2")]
        assert shown(await bob.barrier()) == [("message", "after", None)]

    changes = [
        r for r in caplog.records if r.name == "parley.store" and r.levelno >= logging.WARNING
    ]
    assert [r.levelname for r in changes] == ["ERROR", "WARNING"]
    assert "cannot write the history" in changes[0].getMessage()
    assert "can be written again" in changes[1].getMessage()

    await stop_and_hang_up(server, alice, bob)
    again = await start_server()
    carol = await dial(again.port, "carol")
    joined, history = await carol.join("#r")
    assert joined["topic"] == "before the fault"
    assert [m["text"] for m in history["messages"]] == ["before", "after"]


async def test_on_a_disk_that_fills_up_every_say_is_kept_or_refused(
    tiny: TinyFS, start_server: StartServer, dial: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    """700 messages of 3,900 characters on 2 MiB: each is echoed (and kept after a restart) or
    answered ``unavailable``, none is silent, and the log says so once; a topic set on the full
    disk is refused (the old one is there after the restart) or shown and kept, never lost."""
    server = await start_server(recent=5)
    alice = await dial(server.port, "alice")
    bob = await dial(server.port, "bob")
    for client in (alice, bob):
        await client.join("#full")
    await alice.send(type="topic", room="#full", topic="the old topic")
    await alice.barrier()
    await bob.barrier()

    echoed: dict[int, int] = {}  # ref -> message id
    refused: set[int] = set()
    seen_by_bob: list[int] = []
    for start in range(0, 700, 50):
        for ref in range(start, start + 50):
            text = f"{ref:04d}{BIG[4:]}"
            await alice.send(type="say", room="#full", text=text, nonce=str(ref), ref=ref)
        for frame in await alice.barrier():
            if frame["type"] == "message":
                assert frame["ref"] not in echoed and frame["text"].startswith(
                    f"{frame['ref']:04d}"
                )
                echoed[frame["ref"]] = frame["id"]
            else:
                assert (frame["type"], frame["code"]) == ("error", "unavailable"), frame
                refused.add(frame["ref"])
        seen_by_bob += [f["id"] for f in await bob.barrier()]
    assert echoed.keys() | refused == set(range(700))
    assert not echoed.keys() & refused
    assert echoed and refused, (len(echoed), len(refused))
    assert seen_by_bob == sorted(echoed.values())

    # SQLite may still have room in its write-ahead log after a checkpoint: a topic on a full
    # disk is either refused, or stored and shown, never shown and lost.
    tiny.fill()
    await alice.send(type="topic", room="#full", topic=BIG, ref="t")
    (answer,) = shown(await alice.barrier())
    assert answer in (("error", "unavailable", "t"), ("topic", None, "t"))
    topic_kept = answer[0] == "topic"
    assert [f["type"] for f in await bob.barrier()] == (["topic"] if topic_kept else [])

    await stop_and_hang_up(server, alice, bob)
    again = await start_server(recent=5)
    carol = await dial(again.port, "carol")
    joined, _ = await carol.join("#full")
    assert joined["topic"] == (BIG if topic_kept else "the old topic")
    kept = await all_history(carol, "#full")
    assert [m["id"] for m in kept] == sorted(echoed.values())
    errors = [r for r in caplog.records if r.name == "parley.store" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
