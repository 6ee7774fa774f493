"""``search`` over real sockets, on one SQLite server and on two nodes sharing a Redis: only the
asker's rooms are searched, pages go newest first with ``next``, deleted messages are never
found, and a bad query is answered ``bad_query`` on a connection that goes on working."""

from __future__ import annotations

from typing import Any

from tests.conftest import Connect, StartServer, WireClient
from tests.server.backends import backend, connect, start_server

__all__ = ["backend", "connect", "start_server"]


async def said(client: WireClient, room: str, *texts: str) -> list[int]:
    """Say ``texts`` in ``room`` and return their ids, in order."""
    for text in texts:
        await client.send(type="say", room=room, text=text)
    echoes = [f for f in await client.barrier() if f["type"] == "message"]
    assert [f["text"] for f in echoes] == list(texts)
    return [f["id"] for f in echoes]


async def search(client: WireClient, query: str, **fields: Any) -> dict[str, Any]:
    """The ``search_results`` answering one ``search``."""
    await client.send(type="search", query=query, ref="s", **fields)
    return await client.expect("search_results", query=query, ref="s")


async def test_search_finds_words_in_your_rooms_newest_first(connect: Connect) -> None:
    """Without ``room``, every room the asker is in is searched (and no other), hits newest
    first with room, id, nick, text and ts; case and accents do not matter."""
    alice = await connect("alice")
    await alice.join("#a")
    await alice.join("#b")
    bob = await connect("bob")
    await bob.join("#secret")
    (hidden,) = await said(bob, "#secret", "the deploy is secret")
    first = await said(alice, "#a", "Deploy at noon", "lunch")
    second = await said(alice, "#b", "the DÉPLOY went fine")
    reply = await search(alice, "deploy")
    assert [hit["id"] for hit in reply["results"]] == [second[0], first[0]]
    assert hidden not in [hit["id"] for hit in reply["results"]]
    top = reply["results"][0]
    assert top["room"] == "#b" and top["nick"] == "alice" and top["text"] == "the DÉPLOY went fine"
    assert isinstance(top["ts"], int)
    assert reply["more"] is False and "next" not in reply and "room" not in reply


async def test_search_in_one_room_and_a_room_you_are_not_in(connect: Connect) -> None:
    """``room`` narrows the search to that room; a room the asker is not in is ``not_in_room``."""
    alice = await connect("alice")
    await alice.join("#a")
    await alice.join("#b")
    (in_a,) = await said(alice, "#a", "ship it")
    await said(alice, "#b", "ship it too")
    reply = await search(alice, "ship", room="#A")
    assert reply["room"] == "#a" and [hit["id"] for hit in reply["results"]] == [in_a]
    await alice.send(type="search", query="ship", room="#elsewhere", ref="x")
    await alice.expect("error", code="not_in_room", ref="x")


async def test_search_pages_with_next(connect: Connect) -> None:
    """``limit`` bounds a page; ``more`` and ``next`` lead to the older hits, none twice."""
    alice = await connect("alice")
    await alice.join("#a")
    ids = await said(alice, "#a", *(f"note {i}" for i in range(7)), "other")
    seen: list[int] = []
    before = None
    pages = 0
    while True:
        fields: dict[str, Any] = {"limit": 3}
        if before is not None:
            fields["before"] = before
        reply = await search(alice, "note", **fields)
        seen += [hit["id"] for hit in reply["results"]]
        pages += 1
        if not reply["more"]:
            break
        before = reply["next"]
        assert before == reply["results"][-1]["id"]
    assert seen == list(reversed(ids[:7])) and pages == 3


async def test_phrases_prefixes_and_every_word(connect: Connect) -> None:
    """Quoted text is a phrase, ``word*`` a prefix, and every term must be there."""
    alice = await connect("alice")
    await alice.join("#a")
    ids = await said(alice, "#a", "red green blue", "green red", "deployed now", "deploying")
    assert [h["id"] for h in (await search(alice, '"red green"'))["results"]] == [ids[0]]
    assert [h["id"] for h in (await search(alice, "green red"))["results"]] == ids[1::-1]
    assert [h["id"] for h in (await search(alice, "deploy*"))["results"]] == ids[3:1:-1]
    assert (await search(alice, "deploy"))["results"] == []


async def test_deleted_messages_are_never_found(connect: Connect) -> None:
    """A message deleted by its author no longer matches its words."""
    alice = await connect("alice")
    await alice.join("#a")
    kept, gone = await said(alice, "#a", "password is swordfish", "swordfish again")
    await alice.send(type="delete", id=gone, ref="d")
    await alice.expect("deleted", id=gone, ref="d")
    reply = await search(alice, "swordfish")
    assert [hit["id"] for hit in reply["results"]] == [kept]


async def test_a_bad_query_is_refused_and_the_connection_survives(connect: Connect) -> None:
    """Nothing to search for, or a query too long, is ``bad_query``; the connection goes on,
    and any other text (FTS5 syntax included) is a valid search."""
    alice = await connect("alice")
    await alice.join("#a")
    await said(alice, "#a", "NEAR(a b) AND c OR d")
    for query in ("", "  ", "!!! ??", "x" * 257):
        await alice.send(type="search", query=query, ref="q")
        await alice.expect("error", code="bad_query", ref="q")
    for query in ('NEAR(a b) AND "c', "c*)(", "a:b -d ^e"):
        reply = await search(alice, query)
        assert reply["query"] == query
    assert len((await search(alice, "near AND"))["results"]) == 1


async def test_searches_have_their_own_bucket(start_server: StartServer, connect: Connect) -> None:
    """Past the burst of searches, one is refused ``rate_limited`` with ``retry_after_ms``."""
    server = await start_server(msg_rate=100, msg_burst=100)
    alice = await connect("alice", port=server.port)
    await alice.join("#a")
    for _ in range(5):
        await search(alice, "anything")
    await alice.send(type="search", query="anything", ref="late")
    refusal = await alice.expect("error", code="rate_limited", ref="late")
    assert refusal["retry_after_ms"] > 0
