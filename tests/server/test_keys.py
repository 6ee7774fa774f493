"""SSH keys on a real server over loopback, with a real SQLite file: proofs at ``hello``, signing in
by key, pinning a nick, a wrong key refused, and ``keys`` / ``key_add`` / ``key_remove``.

The clients play the part of an SSH gateway's visitor: they hold the key token the gateway would
hand them (``key_token`` of the server's secret) and prove the key in each ``hello``.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from typing import Any

from app.protocol.keys import fingerprint_of, key_proof, key_token
from app.server import Server
from tests.conftest import Connect, Dial, StartServer
from tests.server.wire import PASSWORD, registered

SECRET = b"a secret the gateway shares, 32b"


def public_key(comment: str = "ann@laptop") -> tuple[str, str]:
    """A new ed25519 public key line, as in a .pub file, and its fingerprint."""
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + os.urandom(32)
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"
    return line, fingerprint_of(blob)


def claim(fingerprint: str, *, secret: bytes = SECRET, skew: int = 0) -> dict[str, Any]:
    """A hello's ``key`` as a gateway sharing ``secret`` proves it, ``skew`` seconds off."""
    at = int(time.time()) + skew
    proof = key_proof(key_token(secret, fingerprint), fingerprint, at)
    return {"fingerprint": fingerprint, "at": at, "proof": proof}


async def keyed_server(start_server: StartServer) -> Server:
    return await start_server(gateway_secret=SECRET)


async def pinned(dial: Dial, server: Server, nick: str, fingerprint: str) -> Any:
    """A visitor who pinned ``nick`` to their key at hello."""
    client = await dial(server.port)
    await client.send(type="hello", nick=nick, proto=1, pin=True, key=claim(fingerprint))
    await client.expect("welcome", nick=nick, account=nick)
    return client


async def test_a_new_key_pins_a_nick_and_signs_in_by_key_alone_next_time(
    start_server: StartServer, dial: Dial
) -> None:
    """``hello {nick, key, pin}`` makes the nick an account of that key; a later ``hello {key}``
    with no nick and no password is welcomed to it."""
    server = await keyed_server(start_server)
    _, fingerprint = public_key()
    first = await dial(server.port)
    await first.send(type="hello", proto=1, key=claim(fingerprint))
    refused = await first.expect("error", code="no_account")
    assert "pinned" in refused["message"]
    await first.send(type="hello", nick="ann", proto=1, pin=True, key=claim(fingerprint))
    await first.expect("welcome", nick="ann", account="ann")
    await first.close()

    again = await dial(server.port)
    await again.send(type="hello", proto=1, key=claim(fingerprint))
    await again.expect("welcome", nick="ann", account="ann")


async def test_a_different_key_for_a_pinned_nick_is_refused_saying_so(
    start_server: StartServer, dial: Dial
) -> None:
    """Another key (proven) for a pinned nick gets ``wrong_key`` naming the nick, with or without
    ``pin``, and a guest hello for it gets ``bad_password``: the nick is owned."""
    server = await keyed_server(start_server)
    _, ann_key = public_key()
    await (await pinned(dial, server, "ann", ann_key)).close()
    _, other = public_key()
    client = await dial(server.port)
    for pin in (False, True):
        await client.send(type="hello", nick="ann", proto=1, pin=pin, key=claim(other))
        refused = await client.expect("error", code="wrong_key")
        assert refused["message"] == "ann is pinned to another SSH key: connect with that key"
    await client.send(type="hello", nick="ann", proto=1)
    await client.expect("error", code="bad_password")


async def test_a_hello_claiming_a_key_with_a_bad_proof_is_refused(
    start_server: StartServer, dial: Dial
) -> None:
    """A proof made with another secret, one out of date, one for another fingerprint, or any
    claim to a server with no secret gets ``bad_key_proof``; the connection survives and a plain
    hello is welcomed."""
    server = await keyed_server(start_server)
    _, fingerprint = public_key()
    _, other = public_key()
    forged = claim(fingerprint)
    forged["proof"] = claim(other)["proof"]
    client = await dial(server.port)
    for bad in (
        claim(fingerprint, secret=b"not the server's secret at all!"),
        claim(fingerprint, skew=-301),
        claim(fingerprint, skew=301),
        forged,
        {**claim(fingerprint), "fingerprint": "SHA256:short"},
    ):
        await client.send(type="hello", nick="ann", proto=1, pin=True, key=bad)
        await client.expect("error", code="bad_key_proof")
    await client.hello("ann")

    no_secret = await start_server(db=":memory:")
    other_client = await dial(no_secret.port)
    await other_client.send(type="hello", nick="ann", proto=1, key=claim(fingerprint))
    refused = await other_client.expect("error", code="bad_key_proof")
    assert "trusts no SSH gateway" in refused["message"]


async def test_a_hello_with_neither_nick_nor_key_is_a_bad_frame(connect: Connect) -> None:
    """Leaving out the nick is only for a hello by key."""
    client = await connect()
    await client.send(type="hello", proto=1, ref=1)
    await client.expect("error", code="bad_frame", ref=1)


async def test_a_key_without_pin_is_a_guest_and_a_password_still_signs_in(
    start_server: StartServer, dial: Dial, connect: Connect
) -> None:
    """A proven key for a free nick without ``pin`` is a guest (nothing pinned); for a password
    account with no keys, the key alone is not enough but the password is."""
    server = await keyed_server(start_server)
    _, fingerprint = public_key()
    guest = await dial(server.port)
    await guest.send(type="hello", nick="gus", proto=1, key=claim(fingerprint))
    welcome = await guest.expect("welcome", nick="gus")
    assert "account" not in welcome
    await (await registered(lambda nick: dial(server.port, nick), "bob")).close()
    client = await dial(server.port)
    await client.send(type="hello", nick="bob", proto=1, key=claim(fingerprint))
    await client.expect("error", code="bad_password")
    await client.send(type="hello", nick="bob", proto=1, key=claim(fingerprint), password=PASSWORD)
    await client.expect("welcome", nick="bob", account="bob")


async def test_keys_are_listed_added_and_removed(start_server: StartServer, dial: Dial) -> None:
    """A password account lists its keys (none), adds one by its public key line, which then
    signs in by key, and removes it, after which that key is a wrong key for the nick no more."""
    server = await keyed_server(start_server)
    bob = await registered(lambda nick: dial(server.port, nick), "bob")
    await bob.send(type="keys", ref=1)
    assert await bob.expect("key_list", ref=1, keys=[], password=True)
    line, fingerprint = public_key("bob@desk")
    await bob.send(type="key_add", key=line, ref=2)
    listed = await bob.expect("key_list", ref=2)
    [key] = listed["keys"]
    assert key["fingerprint"] == fingerprint
    assert (key["kind"], key["comment"]) == ("ssh-ed25519", "bob@desk")
    assert "current" not in key

    by_key = await dial(server.port)
    await by_key.send(type="hello", proto=1, key=claim(fingerprint))
    await by_key.expect("welcome", nick="bob", account="bob")  # bob's first connection is gone
    await by_key.send(type="keys", ref=3)
    assert (await by_key.expect("key_list", ref=3))["keys"][0]["current"] is True
    await by_key.send(type="key_remove", fingerprint=fingerprint, ref=4)
    await by_key.expect("key_list", ref=4, keys=[])
    await by_key.send(type="key_remove", fingerprint=fingerprint, ref=5)
    await by_key.expect("error", code="no_such_key", ref=5)


async def test_bad_keys_taken_keys_and_guests_are_refused(
    start_server: StartServer, dial: Dial
) -> None:
    """``key_add`` of a line that is no key is ``bad_key``, of a key pinned elsewhere
    ``key_taken``; a guest's ``keys`` is ``no_account``."""
    server = await keyed_server(start_server)
    ann_line, ann_key = public_key()
    ann = await dial(server.port)
    await ann.send(type="hello", nick="ann", proto=1, pin=True, key=claim(ann_key))
    await ann.expect("welcome", account="ann")
    bob = await registered(lambda nick: dial(server.port, nick), "bob")
    for line in ("ssh-ed25519", "ssh-ed25519 !!!", "rsa AAAA", "ssh-rsa " + ann_line.split()[1]):
        await bob.send(type="key_add", key=line, ref=line)
        await bob.expect("error", code="bad_key", ref=line)
    await bob.send(type="key_add", key=ann_line, ref=1)
    await bob.expect("error", code="key_taken", ref=1)
    guest = await dial(server.port, "gus")
    await guest.send(type="keys", ref=2)
    await guest.expect("error", code="no_account", ref=2)


async def test_the_last_key_of_an_account_without_a_password_stays(
    start_server: StartServer, dial: Dial
) -> None:
    """A pinned account (no password) cannot remove its only key (``not_permitted``), can once it
    has another, and its key stands in for the password to set one and to unregister, which
    unpins its keys."""
    server = await keyed_server(start_server)
    _, fingerprint = public_key()
    ann = await pinned(dial, server, "ann", fingerprint)
    await ann.send(type="keys", ref=1)
    assert (await ann.expect("key_list", ref=1))["password"] is False
    await ann.send(type="key_remove", fingerprint=fingerprint, ref=2)
    await ann.expect("error", code="not_permitted", ref=2)
    second_line, second = public_key()
    await ann.send(type="key_add", key=second_line, ref=3)
    await ann.expect("key_list", ref=3)
    await ann.send(type="key_remove", fingerprint=second, ref=4)
    await ann.expect("key_list", ref=4)

    await ann.send(type="password", old="", new=PASSWORD, ref=5)
    await ann.expect("account", nick="ann", ref=5)
    await ann.send(type="unregister", password=PASSWORD, ref=6)
    await ann.expect("account", nick="ann", registered=False, ref=6)
    again = await dial(server.port)
    await again.send(type="hello", proto=1, key=claim(fingerprint))
    await again.expect("error", code="no_account")


async def test_a_password_does_not_open_an_account_without_one(
    start_server: StartServer, dial: Dial
) -> None:
    """An account pinned to a key has no password: any password, even an empty one, is
    ``bad_password``."""
    server = await keyed_server(start_server)
    _, fingerprint = public_key()
    await (await pinned(dial, server, "ann", fingerprint)).close()
    client = await dial(server.port)
    await client.send(type="hello", nick="ann", proto=1, password="")
    await client.expect("error", code="bad_password")
    await client.send(type="hello", nick="ann", proto=1, password=PASSWORD)
    await client.expect("error", code="bad_password")


async def test_a_connection_signed_in_by_key_renames_into_its_pinned_nick(
    start_server: StartServer, dial: Dial
) -> None:
    """``nick`` to a nick pinned to the key proven at hello takes it with no password; to a nick
    pinned to another key it gets ``wrong_key``."""
    server = await keyed_server(start_server)
    _, ann_key = public_key()
    _, cy_key = public_key()
    await (await pinned(dial, server, "ann", ann_key)).close()
    await (await pinned(dial, server, "cy", cy_key)).close()
    client = await dial(server.port)
    await client.send(type="hello", nick="guest", proto=1, key=claim(ann_key))
    await client.expect("welcome", nick="guest")
    await client.send(type="nick", nick="cy", ref=1)
    await client.expect("error", code="wrong_key", ref=1)
    await client.send(type="nick", nick="ann", ref=2)
    await client.expect("renamed", nick="ann", old="guest", ref=2)
    await client.send(type="keys", ref=3)
    await client.expect("key_list", ref=3)
