"""Editing our messages through the engine, against a real server: ``/edit``, the engine's
``edit`` (a frontend's edit mode), what every member's lines and a later join's history show,
and the refusals, each as the lines a person reads and the state both frontends draw."""

from __future__ import annotations

from app.client.edits import last_editable
from app.client.state import LineKind
from app.server import Server
from tests.client.conftest import Client, MakeClient, eventually
from tests.conftest import StartServer


def chat(client: Client) -> list[tuple[str, bool]]:
    """The messages of #general with whether each is marked edited."""
    lines = client.rec.lines("#general", LineKind.MESSAGE, LineKind.ACTION)
    return [(line.text, line.edited) for line in lines]


async def sent(client: Client, text: str) -> None:
    """``client`` says ``text`` in #general and waits for the server's echo."""
    client.engine.submit(text)
    await eventually(
        lambda: any(
            line.text == text and line.id is not None
            for line in client.rec.lines("#general", LineKind.MESSAGE)
        ),
        f"{text!r} confirmed",
    )


async def test_slash_edit_changes_our_last_message_for_everyone(
    server: Server, alice_bob: tuple[Client, Client], make_client: MakeClient
) -> None:
    """/edit text gives our newest message its new text, marked edited, in every member's
    lines, keeping its place; a client joining later gets it from history the same way."""
    alice, bob = alice_bob
    await sent(alice, "first")
    await sent(alice, "secnod")
    alice.engine.submit("/edit second")
    await eventually(lambda: ("second", True) in chat(bob), "bob's copy edited")
    assert chat(bob)[-2:] == [("first", False), ("second", True)]
    await eventually(lambda: ("second", True) in chat(alice), "alice's copy edited")
    assert chat(alice)[-2:] == [("first", False), ("second", True)]
    later = await make_client("carol", server.port)
    await eventually(lambda: ("second", True) in chat(later), "carol's history")
    assert chat(later)[-2:] == [("first", False), ("second", True)]


async def test_the_engine_edits_the_line_a_frontend_chose(alice_bob: tuple[Client, Client]) -> None:
    """``last_editable`` is our newest stored message, not another's; ``edit(id, text)`` edits
    exactly that one even if we said more meanwhile, and an edit mentioning bob mentions him."""
    alice, bob = alice_bob
    await sent(alice, "to fix")
    await sent(bob, "bob's own")
    line = alice.engine.last_editable()
    assert line is not None and line.text == "to fix" and line.id is not None
    assert last_editable(alice.rec.lines("#general")) == line
    await sent(alice, "newer")
    alice.engine.edit(line.id, "fixed for bob")
    await eventually(lambda: ("fixed for bob", True) in chat(bob), "bob's copy")
    assert chat(bob)[-3:] == [("fixed for bob", True), ("bob's own", False), ("newer", False)]
    edited = [ln for ln in bob.rec.lines("#general") if ln.text == "fixed for bob"]
    assert edited[0].mention


async def test_edits_refused_here_and_by_the_server_say_why(
    alice_bob: tuple[Client, Client],
) -> None:
    """With nothing of ours, /edit is refused without asking the server; /edit alone shows our
    last message; another's message gets the server's not_permitted as a readable line."""
    alice, bob = alice_bob
    alice.engine.submit("/edit anything")
    assert alice.rec.texts("#general", LineKind.ERROR)[-1] == (
        "You have no message in #general to edit."
    )
    await sent(alice, "mine")
    alice.engine.submit("/edit")
    assert alice.rec.texts("#general", LineKind.NOTICE)[-2] == "Your last message in #general: mine"
    await sent(bob, "bob's")
    await eventually(lambda: ("bob's", False) in chat(alice), "alice sees bob's message")
    bobs = next(ln for ln in alice.rec.lines("#general") if ln.text == "bob's")
    assert bobs.id is not None
    alice.engine.edit(bobs.id, "hijacked")
    await eventually(
        lambda: any(
            "only its author" in t.lower() for t in alice.rec.texts("#general", LineKind.ERROR)
        ),
        "the server's refusal",
    )
    assert ("hijacked", True) not in chat(bob)


async def test_an_edit_on_a_server_with_editing_off_is_refused_in_words(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """On a server with editing off, the server's refusal is shown where we tried."""
    server = await start_server(edit_window=0)
    alice = await make_client("alice", server.port)
    await sent(alice, "final")
    alice.engine.submit("/edit changed")
    await eventually(
        lambda: any("turned off" in t for t in alice.rec.texts("#general", LineKind.ERROR)),
        "the refusal",
    )
    assert chat(alice)[-1] == ("final", False)
