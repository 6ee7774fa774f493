"""SSH keys as identities: OpenSSH public key lines, their fingerprints, and a gateway's proof.

This module owns the two pieces of arithmetic the server, the SSH gateway and the client engine
share about keys, with no I/O. ``parse_public_key`` reads one line of an ``authorized_keys`` or
``.pub`` file (``ssh-ed25519 AAAA… comment``) and gives the key's SHA256 fingerprint as OpenSSH
prints it (``SHA256:`` and the unpadded base64 of the hash of the key's blob). The proof is how the
server comes to trust a gateway's word "this session's key has fingerprint F" (docs/protocol.md,
"SSH keys"): the server and the gateway share a secret; for each session the gateway hands the
visitor's process a *key token*, ``HMAC-SHA256(secret, "parley ssh key" NUL F)``, which only
speaks for F; every ``hello`` of that process carries F, the time ``at`` and
``HMAC-SHA256(token, F NUL at)``. The server derives the token from its own copy of the secret
and accepts the proof within ``PROOF_WINDOW`` seconds of its clock, so a proof overheard on the
way is stale minutes later, and the token itself never crosses the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Final

# Seconds a proof's ``at`` may differ from the server's clock (either way), like Kerberos' skew.
PROOF_WINDOW: Final = 300
# A shared secret shorter than this is refused: the proof is only as strong as the secret.
SECRET_MIN_BYTES: Final = 16
FINGERPRINT_PREFIX: Final = "SHA256:"
# The key types OpenSSH offers for authentication (certificates are not identities here).
KEY_TYPES: Final = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    }
)
_TOKEN_LABEL: Final = b"parley ssh key\0"
MAX_KEY_LINE: Final = 8192  # bytes; a 16384-bit RSA key's line is about 2,800


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One OpenSSH public key: its type, its blob (base64, as written) and the line's comment."""

    kind: str
    blob: str
    comment: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(base64.b64decode(self.blob))

    @property
    def line(self) -> str:
        """The key as an ``authorized_keys`` line, without its comment."""
        return f"{self.kind} {self.blob}"


def fingerprint_of(blob: bytes) -> str:
    """The SHA256 fingerprint of a key's wire blob, as ``ssh-keygen -l`` prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return FINGERPRINT_PREFIX + digest


def parse_public_key(line: str) -> PublicKey | str:
    """The key on ``line`` (``TYPE BASE64 [COMMENT]``), or a sentence saying what is wrong."""
    if len(line.encode("utf-8", "surrogatepass")) > MAX_KEY_LINE:
        return f"a public key line is at most {MAX_KEY_LINE} bytes"
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        return "a public key is a line such as `ssh-ed25519 AAAA… you@host` (your .pub file)"
    kind, blob = parts[0], parts[1]
    if kind not in KEY_TYPES:
        return f"{kind[:40]!r} is not a key type OpenSSH signs in with"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "the key's second word is not base64"
    # The blob starts with its own type as an SSH string; a pasted line of another key fails.
    if len(raw) < 4:
        return "the key is cut short"
    (length,) = struct.unpack(">I", raw[:4])
    if raw[4 : 4 + length] != kind.encode():
        return f"the key's data is not a {kind} key"
    return PublicKey(kind, blob, parts[2].strip() if len(parts) > 2 else "")


def is_fingerprint(text: str) -> bool:
    """Whether ``text`` looks like a SHA256 fingerprint (``SHA256:`` and 43 base64 characters)."""
    body = text[len(FINGERPRINT_PREFIX) :]
    return text.startswith(FINGERPRINT_PREFIX) and len(body) == 43 and _is_base64_text(body)


def _is_base64_text(text: str) -> bool:
    try:
        base64.b64decode(text + "=", validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def key_token(secret: bytes, fingerprint: str) -> bytes:
    """What a gateway hands the process of a session whose key is ``fingerprint``."""
    return hmac.new(secret, _TOKEN_LABEL + fingerprint.encode(), hashlib.sha256).digest()


def key_proof(token: bytes, fingerprint: str, at: int) -> str:
    """The proof a ``hello`` sent at ``at`` (seconds since the epoch) carries."""
    return hmac.new(token, f"{fingerprint}\0{at}".encode(), hashlib.sha256).hexdigest()


def proof_is_valid(secret: bytes, fingerprint: str, at: int, proof: str, now: float) -> bool:
    """Whether ``proof`` is the gateway's for ``fingerprint`` at ``at``, and ``at`` is recent."""
    if not secret or abs(now - at) > PROOF_WINDOW:
        return False
    expected = key_proof(key_token(secret, fingerprint), fingerprint, at)
    return hmac.compare_digest(expected, proof)
