"""Accounts on a real server over loopback (one process on a real SQLite file, and two nodes on a
real Redis: ``tests/server/backends.py``): registering, signing in, bad passwords, throttled
guessing, taking over, and restarts."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.server import Server
from tests.conftest import Connect, Dial, StartServer, stop_and_hang_up
from tests.server.backends import backend, connect, start_server
from tests.server.wire import PASSWORD, from_address, registered, sign_in

__all__ = ["backend", "connect", "start_server"]


async def test_register_then_sign_in_with_the_password(server: Server, connect: Connect) -> None:
    """A registered nick signs in with its password: the welcome names the account."""
    alice = await registered(connect, "alice")
    await alice.close()
    again = await connect()
    await again.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await again.expect("welcome", nick="alice", account="alice")


async def test_a_guest_welcome_has_no_account(connect: Connect) -> None:
    """A hello without a password for a free nick is a guest's, as before accounts."""
    client = await connect()
    await client.send(type="hello", nick="guest", proto=1)
    welcome = await client.expect("welcome", nick="guest")
    assert "account" not in welcome


async def test_register_before_hello_is_refused(connect: Connect) -> None:
    """``register`` before ``hello`` gets not_registered, and hello still works after."""
    client = await connect()
    await client.send(type="register", password=PASSWORD, ref=1)
    await client.expect("error", code="not_registered", ref=1)
    await client.hello("alice")


async def test_register_twice_is_refused(connect: Connect) -> None:
    """A second ``register`` of the same nick gets nick_registered."""
    alice = await registered(connect, "alice")
    await alice.send(type="register", password="another one", ref=2)
    await alice.expect("error", code="nick_registered", ref=2)


async def test_weak_and_over_long_passwords_are_refused(connect: Connect) -> None:
    """Under 8 characters is weak_password; over 1024 bytes (é is two) is bad_frame; the
    connection survives both and registers after."""
    alice = await connect("alice")
    await alice.send(type="register", password="short12", ref=1)
    await alice.expect("error", code="weak_password", ref=1)
    await alice.send(type="register", password="\u00e9" * 513, ref=2)
    await alice.expect("error", code="bad_frame", ref=2)
    await alice.send(type="register", password="p" * 1024, ref=3)
    await alice.expect("account", nick="alice", ref=3)


async def test_an_over_long_password_in_hello_is_a_bad_frame(connect: Connect) -> None:
    """A hello with a password over 1024 bytes is refused bad_frame before any hashing."""
    client = await connect()
    await client.send(type="hello", nick="alice", proto=1, password="p" * 1025, ref=1)
    await client.expect("error", code="bad_frame", ref=1)


async def test_wrong_password_and_unknown_account_look_the_same(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """A wrong password and a password for a nick that is no account get the same error, and
    the connection survives to pick another nick."""
    await registered(connect, "alice")
    wrong = await dial(server.port)
    await wrong.send(type="hello", nick="alice", proto=1, password="not the one")
    refused = await wrong.expect("error", code="bad_password")
    unknown = await dial(server.port)
    await unknown.send(type="hello", nick="nobody", proto=1, password="not the one")
    assert await unknown.expect("error", code="bad_password") == refused
    await wrong.hello("alice2")


async def test_a_registered_nick_is_owned_online_or_not(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """Without the password nobody takes a registered nick: not while its owner is online (by
    hello or nick), not after it left."""
    alice = await registered(connect, "alice")
    other = await dial(server.port)
    await other.send(type="hello", nick="ALICE", proto=1)
    await other.expect("error", code="bad_password")
    await other.hello("mallory")
    await alice.send(type="quit")
    await alice.closed()
    await other.send(type="nick", nick="alice", ref="n")
    await other.expect("error", code="bad_password", ref="n")
    await other.send(type="nick", nick="alice", password=PASSWORD, ref="m")
    await other.expect("renamed", nick="alice", old="mallory", ref="m")


async def test_a_second_sign_in_takes_the_nick_over(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """Signing in to an account that is online drops the older connection with
    logged_in_elsewhere, tells its rooms it quit, and welcomes the new one."""
    alice = await registered(connect, "alice")
    await alice.join("#a")
    bob = await connect("bob")
    await bob.join("#a")
    await bob.barrier()
    second = await dial(server.port)
    await second.send(type="hello", nick="alice", proto=1, password=PASSWORD)
    await second.expect("welcome", nick="alice", account="alice")
    last = await alice.closed()
    assert last[-1]["type"] == "bye" and last[-1]["reason"] == "logged_in_elsewhere", last
    presence = await bob.expect("presence", nick="alice", event="quit")
    assert presence["room"] == "#a"


async def test_a_guessing_loop_is_throttled_and_others_are_unaffected(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """After 5 wrong passwords a sixth attempt, even the right one, gets rate_limited with
    retry_after_ms; meanwhile another user from another address signs in to their account and
    people in a room go on chatting."""
    await registered(connect, "alice")
    await registered(connect, "bob")
    carol, dave = await connect("carol"), await connect("dave")
    for client in (carol, dave):
        await client.join("#a")
    guesser = await dial(server.port)
    for n in range(5):
        await guesser.send(type="hello", nick="alice", proto=1, password=f"guess {n}", ref=n)
        await guesser.expect("error", code="bad_password", ref=n)
    await guesser.send(type="hello", nick="alice", proto=1, password=PASSWORD, ref="right")
    limited = await guesser.expect("error", code="rate_limited", ref="right")
    assert 0 < limited["retry_after_ms"] <= 60_000
    # The address is throttled too, for any account.
    await guesser.send(type="hello", nick="bob", proto=1, password=PASSWORD, ref="bob")
    await guesser.expect("error", code="rate_limited", ref="bob")

    elsewhere = await from_address(server.port, "127.0.0.2")
    try:
        await elsewhere.send(type="hello", nick="bob", proto=1, password=PASSWORD)
        await elsewhere.expect("welcome", nick="bob", account="bob")
    finally:
        await elsewhere.close()
    await carol.send(type="say", room="#a", text="still here")
    await dave.expect("message", text="still here")


async def test_the_password_changes_and_the_old_one_stops_working(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """``password`` with the right old one changes it; a wrong old one is bad_password; a short
    new one weak_password; a guest gets no_account."""
    alice = await registered(connect, "alice")
    await alice.send(type="password", old="wrong one", new="new password", ref=1)
    await alice.expect("error", code="bad_password", ref=1)
    await alice.send(type="password", old=PASSWORD, new="short", ref=2)
    await alice.expect("error", code="weak_password", ref=2)
    await alice.send(type="password", old=PASSWORD, new="new password", ref=3)
    await alice.expect("account", nick="alice", ref=3)
    assert (await sign_in(dial, server.port, "alice", PASSWORD))["code"] == "bad_password"
    welcome = await sign_in(dial, server.port, "alice", "new password")
    assert welcome["type"] == "welcome" and welcome["account"] == "alice"
    guest = await connect("guest")
    await guest.send(type="password", old=PASSWORD, new="new password", ref=4)
    await guest.expect("error", code="no_account", ref=4)


async def test_unregister_frees_the_nick(server: Server, connect: Connect, dial: Dial) -> None:
    """``unregister`` with the password deletes the account; the nick is a guest's again."""
    alice = await registered(connect, "alice")
    await alice.send(type="unregister", password="wrong one", ref=1)
    await alice.expect("error", code="bad_password", ref=1)
    await alice.send(type="unregister", password=PASSWORD, ref=2)
    await alice.expect("account", nick="alice", registered=False, ref=2)
    await alice.send(type="quit")
    await alice.closed()
    guest = await dial(server.port)
    welcome = await guest.hello("alice")
    assert "account" not in welcome


async def test_whois_tells_account_rooms_shared_and_online(
    server: Server, connect: Connect
) -> None:
    """``whois`` says whether a nick is an account, the rooms shared with the asker, its away
    text and connection time; an offline account is online false; nobody is no_such_nick."""
    alice = await registered(connect, "alice")
    await alice.join("#a")
    await alice.join("#secret")
    await alice.send(type="away", text="lunch")
    bob = await connect("bob")
    await bob.join("#a")
    await bob.send(type="whois", nick="ALICE", ref=1)
    info = await bob.expect("whois", nick="alice", account=True, online=True, ref=1)
    assert info["rooms"] == ["#a"] and info["away"] == "lunch" and info["connected_ms"] >= 0
    await bob.send(type="whois", nick="bob", ref=2)
    await bob.expect("whois", nick="bob", account=False, online=True, ref=2)
    await alice.send(type="quit")
    await alice.closed()
    await bob.expect("presence", nick="alice", event="quit")
    await bob.send(type="whois", nick="alice", ref=3)
    offline = await bob.expect("whois", nick="alice", account=True, online=False, ref=3)
    assert "connected_ms" not in offline
    await bob.send(type="whois", nick="nobody", ref=4)
    await bob.expect("error", code="no_such_nick", ref=4)


async def test_a_restart_keeps_accounts(start_server: StartServer, dial: Dial) -> None:
    """An account registered before a restart signs in after it, on the same database."""
    first = await start_server()
    alice = await dial(first.port, "alice")
    await alice.send(type="register", password=PASSWORD, ref=1)
    await alice.expect("account", ref=1)
    await stop_and_hang_up(first, alice)
    second = await start_server()
    assert (await sign_in(dial, second.port, "alice", "wrong password"))["code"] == "bad_password"
    welcome = await sign_in(dial, second.port, "alice", PASSWORD)
    assert welcome["type"] == "welcome" and welcome["account"] == "alice"


@pytest.mark.slow
async def test_hashing_does_not_stall_the_chat(server: Server, connect: Connect) -> None:
    """While ten registrations hash, a room message goes round without waiting for them."""
    carol, dave = await connect("carol"), await connect("dave")
    for client in (carol, dave):
        await client.join("#a")
    others = [await connect(f"user{n}") for n in range(10)]
    for n, client in enumerate(others):
        await client.send(type="register", password=PASSWORD, ref=n)
    start = time.monotonic()
    await carol.send(type="say", room="#a", text="quick")
    await dave.expect("message", text="quick")
    chat = time.monotonic() - start
    for n, client in enumerate(others):
        await client.expect("account", ref=n)
    assert chat < time.monotonic() - start


async def test_accounts_required_keeps_guests_out_until_they_register(
    start_server: StartServer, dial: Dial
) -> None:
    """With accounts_required a guest signs in but may not join or talk until it registers."""
    server = await start_server(accounts_required=True)
    guest = await dial(server.port, "newcomer")
    await guest.send(type="join", room="#a", ref=1)
    await guest.expect("error", code="no_account", ref=1)
    await guest.send(type="say", to="newcomer", text="hi", ref=2)
    await guest.expect("error", code="no_account", ref=2)
    await guest.send(type="register", password=PASSWORD, ref=3)
    await guest.expect("account", ref=3)
    await guest.join("#a")


async def test_people_behind_one_address_sign_in_together(
    server: Server, connect: Connect, dial: Dial
) -> None:
    """Twelve accounts signing in at once from one address (a NAT, an SSH gateway) all get in:
    a sign-in being checked is no failure of the address, only checks beyond eight at once wait."""
    nicks = [f"user{n}" for n in range(12)]
    for nick in nicks:
        await (await registered(connect, nick)).close()
    clients = [await dial(server.port) for _ in nicks]
    for client, nick in zip(clients, nicks, strict=True):
        await client.send(type="hello", nick=nick, proto=1, password=PASSWORD, ref=nick)
    answers = [await client.recv() for client in clients]
    # More than eight at once: told to come back in a second (all of them together), then let in.
    limited = [answer for answer in answers if answer["type"] == "error"]
    for answer in limited:
        assert answer["code"] == "rate_limited" and answer["retry_after_ms"] == 1000, answer
    if limited:
        await asyncio.sleep(1)
    for client, nick, answer in zip(clients, nicks, answers, strict=True):
        if answer["type"] == "error":
            await client.send(type="hello", nick=nick, proto=1, password=PASSWORD)
            answer = await client.recv()
        assert answer["type"] == "welcome" and answer["account"] == nick, answer
