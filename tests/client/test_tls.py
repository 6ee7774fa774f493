"""The engine over TLS: a private CA, a chain it must not trust, and the two port mix-ups.

Each test runs a real server with a trustme certificate and a real engine. A verification
failure or a server that does not speak TLS ends the engine with one sentence and no retries,
whether on the first connection or on a reconnect; the TLS choice is remembered with the server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme

from app.client.config import ConfigStore
from app.client.state import ConnectionState
from app.server import Server
from tests.certs import Pems, issue
from tests.client.conftest import MakeClient, eventually
from tests.conftest import StartServer


@pytest.fixture
def pems(tmp_path: Path) -> Pems:
    return issue(trustme.CA(), tmp_path / "tls")


@pytest.fixture
async def tls_server(start_server: StartServer, pems: Pems) -> Server:
    return await start_server(tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0)


def attempts(states: list[ConnectionState]) -> int:
    return states.count(ConnectionState.CONNECTING) + states.count(ConnectionState.RECONNECTING)


async def test_the_engine_chats_over_tls_with_a_private_ca(
    tls_server: Server, pems: Pems, make_client: MakeClient, store: ConfigStore
) -> None:
    """With ca= the engine verifies the server, gets in, and remembers TLS and the CA."""
    alice = await make_client("alice", tls_server.tls_port, ca=str(pems.ca), store=store)
    bob = await make_client("bob", tls_server.port)
    alice.engine.submit("hello over TLS")
    await eventually(lambda: "hello over TLS" in bob.rec.chat("#general"), "bob hears alice")
    remembered = store.load()
    assert (remembered.port, remembered.tls, remembered.ca) == (
        tls_server.tls_port,
        True,
        str(pems.ca),
    )
    assert remembered.transport_for(None, None) == (True, str(pems.ca))
    assert remembered.transport_for("chat.example.org", None) == (False, None)


async def test_an_untrusted_certificate_is_one_sentence_and_no_retry(
    tls_server: Server, make_client: MakeClient, tmp_path: Path
) -> None:
    """A CA that did not sign the server's chain: closed with why, after one attempt."""
    stranger = issue(trustme.CA(), tmp_path / "stranger")
    alice = await make_client("alice", tls_server.tls_port, ca=str(stranger.ca), ready=False)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    reason = alice.engine.closed_reason
    assert reason.startswith("the certificate of 127.0.0.1 is not trusted: "), reason
    assert "certificate" in reason.split(": ", 1)[1]
    assert attempts([s.state for s in alice.rec.statuses]) == 1
    assert alice.rec.errors == [(reason, None)]


async def test_a_certificate_that_stops_verifying_ends_the_reconnects(
    tls_server: Server, pems: Pems, make_client: MakeClient, tmp_path: Path
) -> None:
    """Connected once, then the server's new certificate does not verify: stop, and say so."""
    alice = await make_client("alice", tls_server.tls_port, ca=str(pems.ca))
    stranger = issue(trustme.CA(), tmp_path / "stranger")
    pems.cert.write_bytes(stranger.cert.read_bytes())
    pems.key.write_bytes(stranger.key.read_bytes())
    assert tls_server.reload_tls()
    tls_server.hub.sessions.abort_all()
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    assert alice.engine.closed_reason.endswith("; stopped reconnecting")
    assert "is not trusted" in alice.engine.closed_reason


async def test_tls_on_the_plain_port_says_it_may_be_a_plain_port(
    tls_server: Server, pems: Pems, make_client: MakeClient
) -> None:
    """A TLS engine pointed at the plain port: closed, asking whether that is a plain port."""
    alice = await make_client("alice", tls_server.port, ca=str(pems.ca), ready=False)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    assert alice.engine.closed_reason == (
        f"the server did not answer TLS; is 127.0.0.1:{tls_server.port} a plain port? "
        "(connect without --tls)"
    )
    assert len(tls_server.hub.sessions) == 0


async def test_plain_on_the_tls_port_is_told_to_use_tls(
    tls_server: Server, make_client: MakeClient
) -> None:
    """A plain engine pointed at the TLS port: closed with the server's plain-text answer."""
    alice = await make_client("alice", tls_server.tls_port, ready=False)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    assert alice.engine.closed_reason == "This is a TLS port: connect with TLS (--tls)."
    assert attempts([s.state for s in alice.rec.statuses]) == 1


async def test_a_missing_ca_file_is_one_sentence(
    tls_server: Server, make_client: MakeClient, tmp_path: Path
) -> None:
    """A remembered CA file that is gone ends the engine with a sentence naming it."""
    missing = tmp_path / "gone.pem"
    alice = await make_client("alice", tls_server.tls_port, ca=str(missing), ready=False)
    await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    assert alice.engine.closed_reason.startswith(f"cannot use the CA file {missing}: ")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (b"", "the server closed the connection without a word; is 127.0.0.1:{port} a TLS port?"),
        (b"\x15\x03\x03\x00\x02\x02\x46", "127.0.0.1:{port} answered in TLS: connect with --tls"),
    ],
    ids=["silent", "tls-alert"],
)
async def test_a_plain_engine_on_a_foreign_tls_port_suspects_tls(
    make_client: MakeClient, answer: bytes, words: str
) -> None:
    """A TLS server that is not Parley's (silent, or a TLS alert) is named as a likely TLS port."""

    async def foreign(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(answer)
        writer.close()

    listener = await asyncio.start_server(foreign, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        alice = await make_client("alice", port, ready=False, give_up_before_welcome=True)
        await eventually(lambda: alice.rec.state is ConnectionState.CLOSED, "alice gives up")
    assert alice.engine.closed_reason.startswith(words.format(port=port))
