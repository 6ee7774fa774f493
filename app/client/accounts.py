"""The client's side of accounts: when a password may be sent, and what the replies say.

This module owns the rule that a password never crosses the network in clear text unnoticed: the
engine signs in with one only over TLS, to a loopback address, or when the user said so
(``--allow-plain-password``) — ``plain_password_refusal`` says why not otherwise. It turns the
account commands of ``commands.py`` into frames, and the server's ``account`` and ``whois``
replies, and the ``offline`` mark on a direct message's echo, into sentences for the
conversation. A password is held by the engine in memory only; ``config.py`` never sees it. A
visitor of an SSH gateway is known by their key instead: ``SSHIdentity`` is the fingerprint and
token the gateway put in the environment of their ``parley tui`` (``PARLEY_SSH_KEY``,
``PARLEY_SSH_KEY_TOKEN``), from which each ``hello`` gets a fresh proof (``protocol.keys``); the
``/keys`` command and the ``key_list`` reply are turned into frames and sentences here too.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.client.commands import ChangePassword, ManageKeys, Register, Unregister, WhoIs
from app.protocol import (
    PROTO_VERSION,
    AccountInfo,
    AddKey,
    ClientFrame,
    Hello,
    KeyClaim,
    KeyList,
    ListKeys,
    RemoveKey,
    WhoisInfo,
)
from app.protocol import ChangePassword as ChangePasswordFrame
from app.protocol import Register as RegisterFrame
from app.protocol import Unregister as UnregisterFrame
from app.protocol import Whois as WhoisFrame
from app.protocol.keys import is_fingerprint, key_proof

PASSWORD_ENV: Final = "PARLEY_PASSWORD"
# Set by an SSH gateway for its visitor's process (``frontends/ssh/session.py``).
KEY_ENV: Final = "PARLEY_SSH_KEY"
KEY_TOKEN_ENV: Final = "PARLEY_SSH_KEY_TOKEN"
AccountCommand = Register | ChangePassword | Unregister | WhoIs | ManageKeys


@dataclass(frozen=True)
class SSHIdentity:
    """The SSH key a gateway vouches for: its fingerprint and the token that proves it."""

    fingerprint: str
    token: bytes

    def claim(self, now: float | None = None) -> KeyClaim:
        """A ``hello``'s ``key``, proven as of ``now`` (the clock's time by default)."""
        at = int(time.time() if now is None else now)
        return KeyClaim(
            fingerprint=self.fingerprint, at=at, proof=key_proof(self.token, self.fingerprint, at)
        )


def hello_frame(
    nick: str, password: str | None, ssh_key: SSHIdentity | None, *, pin: bool
) -> Hello:
    """The ``hello`` to send: with an SSH gateway's ``ssh_key`` a fresh proof of it, and no nick
    "" (then the server signs in to the account pinned to the key); ``pin`` pins the nick to the
    key (asked at the first hello only)."""
    claim = ssh_key.claim() if ssh_key is not None else None
    return Hello(
        nick=nick or None,
        proto=PROTO_VERSION,
        password=password,
        key=claim,
        pin=pin and claim is not None,
    )


def ssh_identity_from_env(env: Mapping[str, str]) -> SSHIdentity | None:
    """The identity a gateway gave this process, or None (not run by one, or no secret)."""
    fingerprint, token = env.get(KEY_ENV, ""), env.get(KEY_TOKEN_ENV, "")
    if not is_fingerprint(fingerprint) or not token:
        return None
    try:
        return SSHIdentity(fingerprint, bytes.fromhex(token))
    except ValueError:
        return None


def password_from_env() -> str | None:
    """``PARLEY_PASSWORD`` for scripts, or None when unset or empty."""
    return os.environ.get(PASSWORD_ENV) or None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_password_refusal(host: str, tls: bool, allowed: bool) -> str | None:
    """Why a password must not be sent to ``host`` (None if it may): over plain TCP to another
    machine, anyone on the way could read it."""
    if tls or allowed or is_loopback(host):
        return None
    return (
        f"Not sending a password to {host} without TLS: anyone on the way could read it. "
        "Connect with --tls, or confirm with --allow-plain-password."
    )


def account_frame(command: AccountCommand) -> ClientFrame:
    """The frame an account command sends."""
    if isinstance(command, Register):
        return RegisterFrame(password=command.password)
    if isinstance(command, ChangePassword):
        return ChangePasswordFrame(old=command.old, new=command.new)
    if isinstance(command, Unregister):
        return UnregisterFrame(password=command.password)
    if isinstance(command, ManageKeys):
        if command.action == "add":
            return AddKey(key=command.argument)
        if command.action == "remove":
            return RemoveKey(fingerprint=command.argument)
        return ListKeys()
    return WhoisFrame(nick=command.nick)


def account_text(info: AccountInfo) -> str:
    """The sentence for an ``account`` reply."""
    if not info.registered:
        return f"{info.nick} is no longer an account; you are a guest."
    return f"{info.nick} is your account: sign in with its password from now on."


def key_list_lines(listing: KeyList) -> list[str]:
    """The lines for a ``key_list`` reply: one per key, then how to sign in."""
    if not listing.keys:
        return ["Your account has no SSH keys: /keys add and a line of your .pub file pins one."]
    lines = [f"Your account's SSH keys ({len(listing.keys)}):"]
    for key in listing.keys:
        added = time.strftime("%Y-%m-%d", time.gmtime(key.added_ms / 1000))
        about = " ".join(part for part in (key.kind, key.comment) if part) or "pinned at sign-in"
        mark = " (this session)" if key.current else ""
        lines.append(f"  {key.fingerprint}  {about}, added {added}{mark}")
    if not listing.password:
        lines.append("No password: only these keys sign in to it.")
    return lines


def whois_text(info: WhoisInfo) -> str:
    """The sentence for a ``whois`` reply."""
    kind = "an account" if info.account else "a guest"
    if not info.online:
        return f"{info.nick} is {kind}, offline."
    minutes = (info.connected_ms or 0) // 60_000
    parts = [f"{info.nick} is {kind}, online for {minutes} min"]
    if info.rooms:
        parts.append("in " + ", ".join(info.rooms) + " with you")
    if info.away:
        parts.append(f"away: {info.away}")
    return "; ".join(parts) + "."


def offline_text(nick: str) -> str:
    """The notice after a direct message kept for an offline account."""
    return f"{nick} is offline; they will get it when they sign in."
