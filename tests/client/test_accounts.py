"""The engine with accounts, against a real server: /register, signing in with a password,
the offline notice, and refusing to send a password in clear text to another machine."""

from __future__ import annotations

from pathlib import Path

from app.client.accounts import (
    KEY_ENV,
    KEY_TOKEN_ENV,
    SSHIdentity,
    is_loopback,
    plain_password_refusal,
    ssh_identity_from_env,
)
from app.client.state import ConnectionState, LineKind
from app.protocol.keys import key_token
from app.server import Server
from tests.client.conftest import Client, MakeClient, eventually
from tests.conftest import StartServer

PASSWORD = "correct-horse"
SECRET = b"the gateway's and server's secret"


def notices(client: Client, key: str) -> list[str]:
    return [line.text for line in client.rec.lines(key, LineKind.NOTICE)]


async def test_register_then_sign_in_with_a_password(
    server: Server, make_client: MakeClient, config_dir: Path
) -> None:
    """/register makes the nick an account; a later engine signs in with the password, one
    without it is refused, and no password is written to the client's settings."""
    alice = await make_client("alice", server.port)
    alice.engine.submit(f"/register {PASSWORD}")
    await eventually(
        lambda: any("is your account" in t for t in notices(alice, "#general")), "registered"
    )
    await alice.engine.close()
    again = await make_client("alice", server.port, password=PASSWORD)
    assert again.engine.connected
    await again.engine.close()
    refused = await make_client("alice", server.port, ready=False)
    await eventually(
        lambda: refused.engine.status.state is ConnectionState.CLOSED, "refused without it"
    )
    assert "wrong nick or password" in refused.engine.closed_reason.lower() or (
        "registered" in refused.engine.closed_reason
    )
    for path in config_dir.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(encoding="utf-8", errors="replace")


async def test_a_message_to_an_offline_account_says_so(
    server: Server, make_client: MakeClient
) -> None:
    """A direct message to an account that is offline is confirmed with a notice saying it
    waits for their next sign-in."""
    bob = await make_client("bob", server.port)
    bob.engine.submit(f"/register {PASSWORD}")
    await eventually(lambda: any("account" in t for t in notices(bob, "#general")), "bob")
    await bob.engine.close()
    alice = await make_client("alice", server.port)
    alice.engine.submit(f"/register {PASSWORD}")
    await eventually(lambda: any("account" in t for t in notices(alice, "#general")), "alice")
    alice.engine.submit("/msg bob call me")
    await eventually(
        lambda: any("offline" in t for t in notices(alice, "bob")), "alice told bob is offline"
    )


def test_a_password_goes_in_clear_text_only_to_this_machine_or_when_allowed() -> None:
    """Plain TCP with a password is refused for another host unless TLS or the user allows it."""
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("chat.example.org")
    assert plain_password_refusal("127.0.0.1", tls=False, allowed=False) is None
    assert plain_password_refusal("chat.example.org", tls=True, allowed=False) is None
    assert plain_password_refusal("chat.example.org", tls=False, allowed=True) is None
    refusal = plain_password_refusal("chat.example.org", tls=False, allowed=False)
    assert refusal is not None and "--allow-plain-password" in refusal


async def test_an_ssh_identity_pins_its_nick_and_signs_in_by_key_later(
    start_server: StartServer, make_client: MakeClient, tmp_path: Path
) -> None:
    """An engine with a gateway's identity and ``pin`` pins its nick at hello; a later engine
    with the same identity and no nick signs in to it; /keys lists the key as this session's."""
    server = await start_server(gateway_secret=SECRET, db=str(tmp_path / "keys.db"))
    fingerprint = "SHA256:" + "k" * 43
    identity = SSHIdentity(fingerprint, key_token(SECRET, fingerprint))
    first = await make_client("ann", server.port, ssh_key=identity, pin=True)
    assert first.engine.state.nick == "ann"
    await first.engine.close()
    again = await make_client("", server.port, ssh_key=identity)
    assert again.engine.state.nick == "ann"
    again.engine.submit("/keys")
    await eventually(
        lambda: any(fingerprint in t and "this session" in t for t in notices(again, "#general")),
        "the key listed",
    )
    assert "No password: only these keys sign in to it." in notices(again, "#general")


def test_an_ssh_identity_comes_from_the_gateways_variables() -> None:
    """PARLEY_SSH_KEY and PARLEY_SSH_KEY_TOKEN make an identity; either missing or malformed
    makes none."""
    fingerprint = "SHA256:" + "k" * 43
    found = ssh_identity_from_env({KEY_ENV: fingerprint, KEY_TOKEN_ENV: "00ff"})
    assert found == SSHIdentity(fingerprint, b"\x00\xff")
    assert ssh_identity_from_env({KEY_ENV: fingerprint}) is None
    assert ssh_identity_from_env({KEY_ENV: fingerprint, KEY_TOKEN_ENV: "xyz"}) is None
    assert ssh_identity_from_env({KEY_ENV: "SHA256:short", KEY_TOKEN_ENV: "00"}) is None
