"""The client's side of accounts: when a password may be sent, and what the replies say.

This module owns the rule that a password never crosses the network in clear text unnoticed: the
engine signs in with one only over TLS, to a loopback address, or when the user said so
(``--allow-plain-password``) — ``plain_password_refusal`` says why not otherwise. It turns the
account commands of ``commands.py`` into frames, and the server's ``account`` and ``whois``
replies, and the ``offline`` mark on a direct message's echo, into sentences for the
conversation. A password is held by the engine in memory only; ``config.py`` never sees it.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Final

from app.client.commands import ChangePassword, Register, Unregister, WhoIs
from app.protocol import AccountInfo, ClientFrame, WhoisInfo
from app.protocol import ChangePassword as ChangePasswordFrame
from app.protocol import Register as RegisterFrame
from app.protocol import Unregister as UnregisterFrame
from app.protocol import Whois as WhoisFrame

PASSWORD_ENV: Final = "PARLEY_PASSWORD"
AccountCommand = Register | ChangePassword | Unregister | WhoIs


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
    return WhoisFrame(nick=command.nick)


def account_text(info: AccountInfo) -> str:
    """The sentence for an ``account`` reply."""
    if not info.registered:
        return f"{info.nick} is no longer an account; you are a guest."
    return f"{info.nick} is your account: sign in with its password from now on."


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
