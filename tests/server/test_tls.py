"""The TLS listener: real handshakes with trustme certificates, beside the plain port or alone.

Covers the port mix-ups (a plain client on the TLS port, a TLS client on the plain port: one log
line each, and the server serves everyone else as before), a handshake that never finishes (closed
after ``register_timeout``), a client whose CA does not sign the server's chain, and a reload
that serves the new certificate to new connections while an open one carries on. The last test
runs the doors' cases again on uvloop, on which ``parley serve`` runs and whose TLS is its own.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from app.server import Server, ServerConfig
from app.server.tls import CertificateError, server_context
from tests.certs import Pems, client_context, issue
from tests.conftest import TIMEOUT, StartServer, WireClient

DialTLS = Callable[..., Awaitable[WireClient]]


@pytest.fixture
def pems(tmp_path: Path) -> Pems:
    return issue(trustme.CA(), tmp_path / "tls")


@pytest.fixture
async def tls_server(start_server: StartServer, pems: Pems) -> Server:
    """A server with a plain port and a TLS port, both on free ports."""
    return await start_server(tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0)


@pytest.fixture
async def dial_tls(pems: Pems) -> AsyncIterator[DialTLS]:
    """Open TLS clients (trusting ``pems``' CA unless ``ca=`` says otherwise); closed at the end."""
    clients: list[WireClient] = []

    async def open_client(port: int, nick: str | None = None, ca: Path | None = None) -> WireClient:
        context = client_context(ca or pems.ca)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("localhost", port, ssl=context), TIMEOUT
        )
        client = WireClient(reader, writer)
        clients.append(client)
        if nick is not None:
            await client.hello(nick)
        return client

    yield open_client
    for client in clients:
        await client.close()


def logged(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


async def test_tls_and_plain_clients_chat_together(
    tls_server: Server, dial_tls: DialTLS, dial: Any
) -> None:
    """A TLS client and a plain one, each on its port, are in the same room and hear each other."""
    assert tls_server.port and tls_server.tls_port and tls_server.port != tls_server.tls_port
    alice = await dial_tls(tls_server.tls_port, "alice")
    bob = await dial(tls_server.port, "bob")
    for client in (alice, bob):
        await client.join("#general")
    await alice.barrier()
    await alice.send(type="say", room="#general", text="over TLS")
    await bob.send(type="say", room="#general", text="in the clear")
    await alice.barrier()
    heard = [(f["from"], f["text"]) for f in await bob.barrier() if f["type"] == "message"]
    assert heard == [("alice", "over TLS"), ("bob", "in the clear")]


async def test_no_plain_leaves_only_the_tls_port(
    start_server: StartServer, pems: Pems, dial_tls: DialTLS
) -> None:
    """With plain=False nothing listens on the plain port, and TLS clients get in."""
    server = await start_server(tls_cert=str(pems.cert), tls_key=str(pems.key), plain=False)
    assert server.port == 0
    await dial_tls(server.tls_port, "alice")


async def test_a_plain_client_on_the_tls_port_is_answered_in_plain_text(
    tls_server: Server, dial: Any, dial_tls: DialTLS, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain hello on the TLS port gets an error it can read, is closed, and is logged once."""
    caplog.set_level(logging.INFO, "parley.server")
    plain = await dial(tls_server.tls_port)
    await plain.send(type="hello", nick="alice", proto=1)
    error, bye = await plain.closed()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert error["message"] == "this is a TLS port: connect with TLS (--tls)"
    assert bye["type"] == "bye"
    lines = logged(caplog, "does not speak TLS")
    assert len(lines) == 1 and lines[0].startswith("TLS handshake with 127.0.0.1:")
    assert not tls_server.hub.sessions  # it never became a session
    await dial_tls(tls_server.tls_port, "bob")  # the server is unaffected


async def test_a_tls_client_on_the_plain_port_gets_a_plain_error(
    tls_server: Server, pems: Pems, dial: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A TLS hello on the plain port fails the client's handshake; the server logs one line."""
    caplog.set_level(logging.INFO, "parley.server")
    with pytest.raises(ssl.SSLError):
        await asyncio.wait_for(
            asyncio.open_connection("localhost", tls_server.port, ssl=client_context(pems.ca)),
            TIMEOUT,
        )
    lines = logged(caplog, "speaks TLS on the plain port")
    assert len(lines) == 1
    await dial(tls_server.port, "bob")  # the server is unaffected


async def test_the_plain_port_answers_a_tls_hello_in_plain_text(
    tls_server: Server, dial: Any
) -> None:
    """Whoever reads the plain port's answer to a TLS hello sees an error frame saying why."""
    raw = await dial(tls_server.port)
    await raw.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    error, bye = await raw.closed()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert "connect without TLS" in error["message"]
    assert bye["type"] == "bye"


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00"], ids=["silent", "half-hello"])
async def test_a_handshake_that_never_finishes_is_closed_like_a_registration(
    start_server: StartServer,
    pems: Pems,
    dial: Any,
    dial_tls: DialTLS,
    caplog: pytest.LogCaptureFixture,
    sent: bytes,
) -> None:
    """A client that opens the TLS port and says nothing, or stops mid-hello, is closed after
    register_timeout with one log line; the others are served meanwhile."""
    caplog.set_level(logging.INFO, "parley.server")
    server = await start_server(
        tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0, register_timeout=0.5
    )
    stalled = await dial(server.tls_port)
    await stalled.send_raw(sent)
    await dial_tls(server.tls_port, "alice")
    assert await asyncio.wait_for(stalled.reader.read(), TIMEOUT) == b""
    assert len(logged(caplog, "not finished in time")) == 1
    assert len(server.hub.sessions) == 1  # alice alone


async def test_a_client_that_does_not_trust_the_chain_is_refused(
    tls_server: Server, dial_tls: DialTLS, tmp_path: Path
) -> None:
    """A client whose CA did not sign the server's certificate fails verification."""
    stranger = issue(trustme.CA(), tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        await dial_tls(tls_server.tls_port, ca=stranger.ca)
    await dial_tls(tls_server.tls_port, "alice")


async def test_reload_serves_the_new_certificate_and_keeps_connections(
    tls_server: Server, pems: Pems, dial_tls: DialTLS, tmp_path: Path
) -> None:
    """After reload new handshakes get the renewed pair; an open connection carries on."""
    alice = await dial_tls(tls_server.tls_port, "alice")
    renewed = issue(trustme.CA(), tmp_path / "renewed")
    pems.cert.write_bytes(renewed.cert.read_bytes())
    pems.key.write_bytes(renewed.key.read_bytes())
    assert tls_server.reload_tls()
    assert await alice.barrier() == []  # still connected, still answered
    with pytest.raises(ssl.SSLCertVerificationError):
        await dial_tls(tls_server.tls_port, ca=pems.ca)  # the old CA no longer matches
    await dial_tls(tls_server.tls_port, "bob", ca=renewed.ca)


async def test_a_failed_reload_keeps_the_old_pair(
    tls_server: Server, pems: Pems, dial_tls: DialTLS, caplog: pytest.LogCaptureFixture
) -> None:
    """A reload from a broken file logs why and keeps serving the certificate it had."""
    pems.key.write_text("not a key\n", encoding="utf-8")
    assert not tls_server.reload_tls()
    assert logged(caplog, "TLS reload failed, still serving the old certificate")
    await dial_tls(tls_server.tls_port, "alice")


def test_the_pair_is_checked_before_use(pems: Pems, tmp_path: Path) -> None:
    """Missing, non-PEM and mismatched files are each one sentence naming the file."""
    other = issue(trustme.CA(), tmp_path / "other")
    (tmp_path / "junk.pem").write_text("hello\n", encoding="utf-8")
    cases = [
        ((tmp_path / "none.pem", pems.key), "none.pem: no such file"),
        ((tmp_path / "junk.pem", pems.key), "junk.pem holds no PEM certificate"),
        ((pems.cert, tmp_path / "junk.pem"), "junk.pem holds no PEM private key"),
        ((pems.cert, other.key), "is not the key of the certificate in --tls-cert"),
    ]
    for (cert, key), words in cases:
        with pytest.raises(CertificateError, match=words):
            server_context(str(cert), str(key))


def test_the_doors_work_on_uvloop(pems: Pems, tmp_path: Path) -> None:
    """On uvloop too: TLS clients get in, both mix-ups are answered, a stalled hello is closed."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        server = Server(
            ServerConfig(
                port=0,
                tls_port=0,
                tls_cert=str(pems.cert),
                tls_key=str(pems.key),
                register_timeout=0.5,
            )
        )
        await server.start()
        clients: list[WireClient] = []

        async def dial(port: int, tls: bool) -> WireClient:
            context = client_context(pems.ca) if tls else None
            host = "localhost" if tls else "127.0.0.1"
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            clients.append(WireClient(reader, writer))
            return clients[-1]

        try:
            for nick in ("alice", "bob"):
                await (await dial(server.tls_port, tls=True)).hello(nick)
            plain = await dial(server.tls_port, tls=False)
            await plain.send(type="hello", nick="carol", proto=1)
            assert [f["type"] for f in await plain.closed()] == ["error", "bye"]
            with pytest.raises(ssl.SSLError):
                await dial(server.port, tls=True)
            stalled = await dial(server.tls_port, tls=False)
            await stalled.send_raw(b"\x16\x03\x01\x02\x00")
            assert await asyncio.wait_for(stalled.reader.read(), TIMEOUT) == b""
            assert len(server.hub.sessions) == 2
        finally:
            for client in clients:
                await client.close()
            await server.stop()

    uvloop.run(scenario())
