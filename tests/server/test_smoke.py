"""The shortest conversation: two clients in #general."""

from __future__ import annotations

from tests.conftest import Connect


async def test_two_clients_chat(connect: Connect) -> None:
    """A room message reaches every member, the sender's copy with its nonce."""
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#general")
    await bob.join("#general")
    assert (await alice.barrier())[0]["event"] == "join"
    await alice.send(type="say", room="#general", text="hi bob", nonce="n1", ref=7)
    got = await bob.expect("message", text="hi bob", room="#general")
    assert got["from"] == "alice" and "nonce" not in got
    own = await alice.expect("message", text="hi bob", nonce="n1", ref=7)
    assert own["id"] == got["id"]
