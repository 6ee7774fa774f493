"""Retention: ``--max-history`` and ``--retention-days`` delete what they say, in the background,
and a join never shows a deleted message.

A real server on loopback with a real SQLite file; the trim interval is a ``ServerConfig`` field,
made short here. The background trim is awaited by reading ``history`` (a store read, so it sees
every trim completed before it) until it shows what should be left, with a deadline; joins of new
clients then check the rooms' windows of newest messages, which are kept in memory.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from app.store import SQLiteHistory, StoredMessage
from tests.conftest import TIMEOUT, Dial, StartServer, WireClient, stop_and_hang_up
from tests.test_cli import one_sentence, parley

DAY_MS = 86_400_000


async def texts_in_store(client: WireClient, room: str) -> list[str]:
    await client.send(type="history", room=room, limit=200, ref="h")
    page = await client.expect("history", ref="h")
    return [m["text"] for m in page["messages"]]


async def until_store_has(client: WireClient, room: str, texts: list[str]) -> None:
    """Wait until ``room``'s history in the store is exactly ``texts``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (now := await texts_in_store(client, room)) != texts:
        assert loop.time() < deadline, f"the trim never left {texts}: {now}"
        await asyncio.sleep(0.02)


async def joined_texts(dial: Dial, port: int, nick: str, room: str) -> dict[str, Any]:
    """What a new client's join of ``room`` shows: its texts and ``more``; then it hangs up."""
    client = await dial(port, nick)
    _, history = await client.join(room)
    await client.close()
    return {"texts": [m["text"] for m in history["messages"]], "more": history["more"]}


async def store_messages(db: Path, messages: list[StoredMessage]) -> None:
    """Write ``messages`` to the history at ``db`` before any server opens it."""
    store = SQLiteHistory(str(db))
    store.open()
    done = asyncio.get_running_loop().create_future()
    store.append(messages, done.set_result, lambda ms, r: done.set_exception(OSError(r)))
    await done
    await store.close()


async def test_max_history_keeps_each_rooms_newest(start_server: StartServer, dial: Dial) -> None:
    """With ``max_history`` 3, six messages become the newest three in the store, in a new
    client's join and after a restart; another room keeps its own three."""
    server = await start_server(max_history=3, trim_interval=0.05)
    alice = await dial(server.port, "alice")
    await alice.join("#r")
    await alice.join("#s")
    for n in range(6):
        await alice.send(type="say", room="#r", text=f"r{n}")
    await alice.send(type="say", room="#s", text="s0")
    await alice.barrier()

    await until_store_has(alice, "#r", ["r3", "r4", "r5"])
    assert await texts_in_store(alice, "#s") == ["s0"]
    assert await joined_texts(dial, server.port, "bob", "#r") == {
        "texts": ["r3", "r4", "r5"],
        "more": False,
    }

    await stop_and_hang_up(server, alice)
    again = await start_server(max_history=3, trim_interval=0.05)
    assert (await joined_texts(dial, again.port, "carol", "#r"))["texts"] == ["r3", "r4", "r5"]


async def test_retention_days_deletes_older_messages_also_from_the_window(
    db_path: Path, start_server: StartServer, dial: Dial
) -> None:
    """Messages older than ``retention_days`` go from the store and from the window they were
    loaded into at start-up, so a join shows only the newer ones."""
    now = time.time_ns() // 1_000_000
    await store_messages(
        db_path,
        [
            StoredMessage(1, now - 3 * DAY_MS, "#r", "ann", "three days old", False),
            StoredMessage(2, now - 2 * DAY_MS, "#r", "ann", "two days old", False),
            StoredMessage(3, now - 3_600_000, "#r", "ann", "an hour old", False),
        ],
    )
    server = await start_server(retention_days=1, trim_interval=0.05)
    alice = await dial(server.port, "alice")
    await alice.send(type="join", room="#r")
    await alice.expect("joined")
    await alice.expect("history")
    await until_store_has(alice, "#r", ["an hour old"])
    assert await joined_texts(dial, server.port, "bob", "#r") == {
        "texts": ["an hour old"],
        "more": False,
    }


async def test_a_trim_larger_than_one_step_finishes(
    db_path: Path, start_server: StartServer, dial: Dial
) -> None:
    """1,200 messages trimmed to 10 (several bounded steps) leave exactly the newest 10."""
    await store_messages(
        db_path, [StoredMessage(i, i, "#r", "ann", f"m{i}", False) for i in range(1, 1201)]
    )
    server = await start_server(max_history=10, trim_interval=3600)
    alice = await dial(server.port, "alice")
    await alice.join("#r")
    await until_store_has(alice, "#r", [f"m{i}" for i in range(1191, 1201)])


def test_the_retention_flags_are_checked(tmp_path: Path) -> None:
    """A negative ``--max-history`` or ``--retention-days`` is one sentence naming it, exit 2."""
    for flag in ("--max-history", "--retention-days"):
        result = parley(tmp_path, "serve", "--db", "x.db", flag, "-1")
        one_sentence(result, "serve", flag, "from 0")
