"""The server's TLS: its certificate and key, their reload, and the doors of both ports.

This module owns everything the server does with the stdlib ``ssl`` module. ``server_context``
loads a PEM certificate chain and its key into a context with the library's secure defaults
(``create_default_context(Purpose.CLIENT_AUTH)``, TLS 1.2 or newer), and turns every way that can
fail (a missing or unreadable file, no PEM inside, a key of another certificate, a passphrase)
into a ``CertificateError`` whose message is one sentence. ``Certificate`` holds the live context;
``reload`` (SIGHUP) builds a whole new context from the same paths and swaps it in only if it
loaded, so a bad renewal keeps the old pair and every open connection stays. ``TLSDoor`` is the
protocol of the TLS port until its handshake is over (``loop.start_tls``, timed out after
``register_timeout`` like a registration): only then is a ``Session`` made, so a client that never
finishes costs one socket for a bounded time and is never in the chat; a first byte that opens no
TLS handshake is a plain client, answered with an error in plain text and one log line.
``PlainDoor`` does the reverse on the plain port for a TLS hello.
``write_throwaway_pair`` makes the private CA and certificate of ``parley demo --tls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

from app import protocol as p
from app.server.eager import Started

log = logging.getLogger("parley.server")

# The first byte of a TLS record carrying a handshake (RFC 8446, 5.1): a ClientHello.
_TLS_HANDSHAKE: Final = 0x16
# OpenSSL's reasons for a peer that does not speak TLS at all (a plain client on the TLS port).
_NOT_TLS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"}
)
_NOT_A_TLS_CLIENT: Final = "the client does not speak TLS (a plain client on the TLS port?)"
# How long a refused client has to read the answer and hang up before the socket is aborted.
_LINGER: Final = 2.0


@dataclass(frozen=True)
class Pair:
    """Where a certificate chain, its key and the CA that signed it were written."""

    cert: Path
    key: Path
    ca: Path


class CertificateError(Exception):
    """The certificate or key cannot be used: the message is one sentence saying which and why."""


def server_context(
    cert: str, key: str, cert_origin: str = "--tls-cert", key_origin: str = "--tls-key"
) -> ssl.SSLContext:
    """A server context holding the chain in ``cert`` and the key in ``key``, checked."""
    cert_text = _read_pem(cert, cert_origin)
    key_text = _read_pem(key, key_origin)
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise CertificateError(f"{cert_origin} {cert} holds no PEM certificate")
    if "PRIVATE KEY-----" not in key_text:
        raise CertificateError(f"{key_origin} {key} holds no PEM private key")
    if "ENCRYPTED" in key_text:
        raise CertificateError(
            f"{key_origin} {key} is protected by a passphrase; parley needs the key unencrypted "
            "(readable by the server's user only)"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # An empty passphrase: never let OpenSSL prompt on the terminal.
        context.load_cert_chain(cert, key, password="")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise CertificateError(
                f"{key_origin} {key} is not the key of the certificate in {cert_origin} {cert}"
            ) from None
        raise CertificateError(
            f"cannot use {cert_origin} {cert} with {key_origin} {key}: {ssl_reason(exc)}"
        ) from None
    return context


def _read_pem(path: str, origin: str) -> str:
    file = Path(path)
    if not file.exists():
        raise CertificateError(f"{origin} {path}: no such file")
    if file.is_dir():
        raise CertificateError(f"{origin} {path} is a folder, not a PEM file")
    try:
        return file.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise CertificateError(
            f"{origin} {path} is not readable: {(exc.strerror or str(exc)).lower()}"
        ) from None


def ssl_reason(exc: BaseException) -> str:
    """What went wrong in TLS, in words: OpenSSL's reason without its codes and line numbers."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason.replace("_", " ").lower()
    return str(exc) or type(exc).__name__


class Certificate:
    """The live server context and the paths it was loaded from; ``reload`` renews it."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert = cert
        self.key = key
        self.context = server_context(cert, key)

    def reload(self) -> bool:
        """Load the files again; on failure keep the old pair and log why. True if renewed."""
        try:
            context = server_context(self.cert, self.key)
        except CertificateError as exc:
            log.error("TLS reload failed, still serving the old certificate: %s", exc)
            return False
        # Handshakes already done keep their keys; every new one gets the new context.
        self.context = context
        log.info("TLS certificate reloaded from %s", self.cert)
        return True


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"


class TLSDoor(asyncio.Protocol):
    """The TLS port's protocol until the handshake is done; then the session's transport's.

    The door reads the first bytes itself: a peer that does not open with a TLS handshake record
    is a plain client on the wrong port, answered in plain text. Otherwise the handshake starts
    (``loop.start_tls``) with those bytes handed to the TLS layer before anything else is read,
    and runs in a task held by ``doors`` (so that a stopping server cancels it). What the client
    sends between the end of the handshake and the session's arrival is kept and handed over.
    """

    def __init__(
        self,
        certificate: Certificate,
        new_session: Callable[[], asyncio.Protocol],
        timeout: float,
        doors: set[asyncio.Task[None]],
    ) -> None:
        self._certificate = certificate
        self._new_session = new_session
        self._timeout = timeout
        self._doors = doors
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._deadline: asyncio.TimerHandle | None = None
        self._started = False  # the first bytes came: the TLS layer reads from here on
        self._early: list[bytes] = []
        self._eof = False
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = _peer(transport)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._timeout, self._too_slow)

    def _too_slow(self) -> None:
        if self._transport is not None and not self._started:
            log.info("TLS handshake with %s failed: not finished in time", self._peer)
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._started:
            self._early.append(data)  # decrypted, after the handshake
            return
        transport = self._transport
        if transport is None:
            return
        self._started = True
        transport.pause_reading()
        if data[:1] != bytes([_TLS_HANDSHAKE]):
            if self._deadline is not None:
                self._deadline.cancel()
            log.info("TLS handshake with %s failed: %s", self._peer, _NOT_A_TLS_CLIENT)
            refuse_in_plain_text(transport, "this is a TLS port: connect with TLS (--tls)")
            return
        # The handshake's own timeout covers the rest; this one only waited for the first bytes.
        remaining = (
            self._deadline.when() - asyncio.get_running_loop().time() if self._deadline else 0
        )
        if self._deadline is not None:
            self._deadline.cancel()
        loop = asyncio.get_running_loop()
        upgrade = Started.start(
            loop.start_tls(
                transport,
                self,
                self._certificate.context,
                server_side=True,
                ssl_handshake_timeout=max(remaining, 0.001),
            )
        )
        # start_tls has made its TLS protocol the transport's and queued its connection_made and
        # resume_reading; the bytes read here go to it right after those, before any new read.
        loop.call_soon(_replay, transport.get_protocol(), data)
        task = loop.create_task(self._handshake(transport, upgrade))
        self._doors.add(task)
        task.add_done_callback(self._doors.discard)

    async def _handshake(
        self, transport: asyncio.Transport, upgrade: Started[asyncio.Transport | None]
    ) -> None:
        try:
            secure = await upgrade
        except asyncio.CancelledError:
            transport.abort()
            raise
        except (OSError, asyncio.TimeoutError) as exc:
            log.info("TLS handshake with %s failed: %s", self._peer, _handshake_failure(exc))
            transport.abort()
            return
        if secure is None or self._lost:
            return
        session = self._new_session()
        secure.set_protocol(session)
        session.connection_made(secure)
        for data in self._early:
            session.data_received(data)
        if self._eof:
            session.eof_received()

    def eof_received(self) -> bool | None:
        self._eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._deadline is not None:
            self._deadline.cancel()


def _replay(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Give ``protocol`` bytes as its transport would (uvloop's TLS protocol is buffered, without
    subclassing ``asyncio.BufferedProtocol``)."""
    get_buffer = getattr(protocol, "get_buffer", None)
    if get_buffer is None:
        cast(asyncio.Protocol, protocol).data_received(data)
        return
    view = memoryview(data)
    while view:
        buffer = memoryview(get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        cast(asyncio.BufferedProtocol, protocol).buffer_updated(size)
        view = view[size:]


def looks_like_tls(data: bytes) -> bool:
    """Whether a connection's first bytes are a TLS handshake record: type 22, then version
    3.0 to 3.4 (RFC 8446, 5.1): three bytes, so that a stray byte 22 of junk is not one."""
    return len(data) >= 3 and data[0] == _TLS_HANDSHAKE and data[1] == 3 and data[2] <= 4


def refuse_in_plain_text(transport: asyncio.Transport, message: str) -> None:
    """Answer a client on the wrong port with ``error`` and ``bye`` it can read, then close.

    As a session's drop does, the close lingers: FIN first, reading (and ignoring) until the
    client hangs up, so that a reset does not destroy the answer before the client reads it.
    """
    transport.set_protocol(_Lingering())
    transport.write(
        p.encode(p.Error(code="bad_frame", message=message))
        + p.encode(p.Bye(reason="bad_frame", message=message))
    )
    if transport.can_write_eof():
        transport.write_eof()
    transport.resume_reading()
    asyncio.get_running_loop().call_later(_LINGER, transport.abort)


class _Lingering(asyncio.Protocol):
    """A refused connection waiting for its client to hang up; what it says is ignored."""

    def eof_received(self) -> bool | None:
        return False


def _handshake_failure(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS:
        return _NOT_A_TLS_CLIENT
    if isinstance(exc, (asyncio.TimeoutError, ConnectionAbortedError)):
        return "not finished in time"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)):
        return "the client hung up (does it trust this certificate?)"
    return ssl_reason(exc)


class PlainDoor(asyncio.Protocol):
    """The plain port's protocol until the first bytes arrive; then the session's alone.

    The session is made at once (its registration timeout runs from the connect); only a first
    read that starts a TLS handshake is kept from it: that client is answered in plain text and
    dropped, with one log line, instead of a stream of undecodable frames.
    """

    def __init__(self, session: asyncio.Protocol, drop: Callable[[str, str], None]) -> None:
        self._session = session
        self._drop = drop
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._session.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.set_protocol(self._session)
        if looks_like_tls(data):
            log.info("%s speaks TLS on the plain port: dropped", _peer(transport))
            self._drop("bad_frame", "this is a plain Parley port: connect without TLS")
            return
        self._session.data_received(data)

    def eof_received(self) -> bool | None:
        return self._session.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._session.connection_lost(exc)

    def pause_writing(self) -> None:
        self._session.pause_writing()

    def resume_writing(self) -> None:
        self._session.resume_writing()


async def close_doors(doors: set[asyncio.Task[None]]) -> None:
    """Cancel every handshake still in progress (the server is stopping)."""
    for task in list(doors):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*doors, return_exceptions=True)


def write_throwaway_pair(folder: Path, names: tuple[str, ...] = ("localhost",)) -> Pair:
    """A new private CA and a server certificate it signed for ``names`` (host names or IP
    addresses), valid for a day, written into ``folder``; for ``parley demo --tls``.

    A CA and a leaf rather than one self-signed certificate: Python 3.13's default client
    context verifies strictly, and a CA certificate serving as its own leaf fails that.
    The ``cryptography`` package (a dependency of Parley for this alone) is imported here only.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Parley demo CA (throwaway)")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pair = Pair(folder / "demo-cert.pem", folder / "demo-key.pem", folder / "demo-ca.pem")
    pair.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.touch(mode=0o600)
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pair
