"""``/search`` and ``/jump`` in the engine, against a real server: parsing, hits kept in the
engine's state and written as lines, paging with ``/search`` alone, a hit shown among its
neighbours, and refusals said where the user is."""

from __future__ import annotations

import pytest

from app.client.commands import CommandError, JumpToResult, SearchHistory, parse
from app.client.state import LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, eventually


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/search deploy friday", SearchHistory("deploy friday")),
        ('/search #Ops "on call"', SearchHistory('"on call"', "#Ops")),
        ("/search", SearchHistory(None)),
        ("/jump 3", JumpToResult(3)),
    ],
)
def test_search_commands_parse(line: str, expected: object) -> None:
    """/search takes an optional room then the text; alone it asks for more; /jump a number."""
    assert parse(line) == expected


@pytest.mark.parametrize("line", ["/search #ops", "/jump", "/jump 0", "/jump x", "/search #b@d x"])
def test_bad_search_commands_are_refused(line: str) -> None:
    """A room with no text, /jump without a positive number, a bad room: a usage line."""
    with pytest.raises(CommandError):
        parse(line)


def notices(client: Client, conversation: str) -> list[str]:
    return client.rec.texts(conversation, LineKind.NOTICE)


async def say_all(client: Client, room: str, *texts: str) -> None:
    """Send ``texts`` to ``room`` and wait until each is confirmed."""
    client.engine.switch_to(room)
    for text in texts:
        client.engine.submit(text)
    await eventually(
        lambda: all(line.id is not None for line in client.room(room).lines if line.own),
        "every line confirmed",
    )


async def test_search_shows_hits_as_lines_and_in_the_view(
    server: Server, make_client: MakeClient
) -> None:
    """/search writes a summary and numbered hits where it was typed, and the engine's view (and
    the frontend's SearchChanged) holds them, newest first; /search alone fetches the next page."""
    alice = await make_client("alice", server.port)
    await say_all(alice, "#general", *(f"release {n}" for n in range(1, 56)), "unrelated")
    alice.engine.submit("/search release")
    await eventually(
        lambda: alice.engine.search_view is not None and len(alice.engine.search_view.hits) == 50,
        "the first page of hits",
    )
    view = alice.engine.search_view
    assert view is not None and view.more and view.room is None
    assert [hit.text for hit in view.hits[:2]] == ["release 55", "release 54"]
    assert alice.rec.searches[-1] == view
    lines = notices(alice, "#general")
    assert "Search for 'release' in your rooms: 50 messages; more with /search or Ctrl+F." in lines
    assert any(
        line.startswith("1. #general ") and line.endswith("<alice> release 55") for line in lines
    )
    alice.engine.submit("/search")
    await eventually(lambda: len(alice.engine.search_view.hits) == 55, "the second page")  # type: ignore[union-attr]
    assert alice.engine.search_view is not None and not alice.engine.search_view.more
    assert any(line.startswith("55. #general ") for line in notices(alice, "#general"))
    alice.engine.submit("/search")
    await eventually(
        lambda: notices(alice, "#general")[-1] == "There are no more results for that search.",
        "no more",
    )


async def test_jump_shows_a_hit_among_its_neighbours_in_its_room(
    server: Server, make_client: MakeClient
) -> None:
    """/jump N makes the hit's room active and fills the view's context with the messages
    around it, the hit among them."""
    alice = await make_client("alice", server.port)
    alice.engine.submit("/join #ops")
    await alice.ready("#ops")
    await say_all(alice, "#ops", *(f"line {n}" for n in range(1, 21)))
    await say_all(alice, "#ops", "the needle", *(f"after {n}" for n in range(1, 11)))
    alice.engine.switch_to("#general")
    alice.engine.submit("/search #ops needle")
    await eventually(
        lambda: bool(alice.engine.search_view and alice.engine.search_view.hits), "hit"
    )
    alice.engine.submit("/jump 1")
    await eventually(
        lambda: bool(
            alice.engine.search_view
            and alice.engine.search_view.context
            and not alice.engine.search_view.context.loading
        ),
        "the context",
    )
    view = alice.engine.search_view
    assert view is not None and view.context is not None
    texts = [line.text for line in view.context.lines]
    assert texts == [*(f"line {n}" for n in range(16, 21)), "the needle"] + [
        f"after {n}" for n in range(1, 6)
    ]
    assert view.context.id == view.hits[0].id and view.context.room == "#ops"
    await eventually(lambda: alice.rec.snap.active == "#ops", "#ops active")


async def test_refusals_are_said_where_the_user_is(server: Server, make_client: MakeClient) -> None:
    """A room we are not in, /jump with no results, and a bad query (answered by the server)
    each become an error line; the bad query also marks the view failed."""
    alice = await make_client("alice", server.port)
    alice.engine.submit("/search #elsewhere deploy")
    alice.engine.submit("/jump 1")
    alice.engine.submit("/search !!!")
    await eventually(lambda: len(alice.rec.texts("#general", LineKind.ERROR)) == 3, "3 errors")
    errors = alice.rec.texts("#general", LineKind.ERROR)
    assert errors[0] == "You are not in #elsewhere; only your rooms can be searched."
    assert errors[1] == "There are no search results to jump to; /search text first."
    assert errors[2] == "Nothing to search for: give a word of letters or digits."
    view = alice.engine.search_view
    assert view is not None and view.error is not None and not view.loading


async def test_a_hit_deleted_afterwards_no_longer_shows_its_text(
    server: Server, make_client: MakeClient
) -> None:
    """When a message found is deleted, its hit in the view reads "(message deleted)"."""
    alice = await make_client("alice", server.port)
    await say_all(alice, "#general", "my secret plan", "another plan")
    alice.engine.submit("/search plan")
    await eventually(
        lambda: alice.engine.search_view is not None and len(alice.engine.search_view.hits) == 2,
        "both hits",
    )
    alice.engine.submit("/delete")
    await eventually(
        lambda: (
            [hit.text for hit in alice.engine.search_view.hits]  # type: ignore[union-attr]
            == ["(message deleted)", "my secret plan"]
        ),
        "the newest hit blanked",
    )
