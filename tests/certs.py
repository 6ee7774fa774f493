"""Certificates for the TLS tests, made by ``trustme``: a private CA and server pairs as PEM files.

``issue`` writes a server's chain and key where ``parley serve --tls-cert/--tls-key`` (or a
``ServerConfig``) reads them, and the CA beside them where ``--ca`` reads it, so every test does a
real handshake against real files. ``client_context`` is what a client trusting only that CA uses.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

# The names every test certificate is valid for: the clients connect to 127.0.0.1 or localhost.
NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Pems:
    """One server's certificate chain and key, and the CA that signed it, as files."""

    cert: Path
    key: Path
    ca: Path


def issue(ca: trustme.CA, folder: Path, name: str = "server") -> Pems:
    """Write a certificate for ``NAMES`` signed by ``ca`` into ``folder`` (``name``-cert.pem...)."""
    folder.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*NAMES)
    pems = Pems(folder / f"{name}-cert.pem", folder / f"{name}-key.pem", folder / f"{name}-ca.pem")
    pems.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    pems.key.write_bytes(leaf.private_key_pem.bytes())
    pems.ca.write_bytes(ca.cert_pem.bytes())
    return pems


def client_context(ca: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca`` alone and checks the host name."""
    return ssl.create_default_context(cafile=str(ca))
