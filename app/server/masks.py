"""Ban masks: what ``account:NAME``, ``nick:GLOB`` and ``ip:ADDR[/PREFIX]`` mean, whom they match.

A mask is parsed once (``parse_mask``) into a ``Mask`` that matches a connection by what the server
knows of it: the folded account it signed in to (``Session.account``, "" for a guest), its folded
nick (``Session.key``) and its address (``Session.ip``). ``account:`` names one account (folded, so
``account:Alice`` bans ``alice``); ``nick:`` is a glob of ``*`` and ``?`` over nick characters
compared ignoring case (``fnmatch`` on folded nicks, with no ``[...]`` classes: a nick cannot hold
them); ``ip:`` is an IPv4 or IPv6 address or network in CIDR notation (host bits are ignored:
``ip:10.1.2.3/8`` is ``10.0.0.0/8``, and a single address is shown without its prefix), and an IPv4
client seen through an IPv6 socket (``::ffff:a.b.c.d``) matches as its IPv4 address. A mask's
``text`` is the canonical spelling the server stores and shows, so that ``unban`` of any spelling of
a mask lifts it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal

from app.protocol import fold, is_valid_nick

MaskKind = Literal["account", "nick", "ip"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A nick glob: nick characters, ``*`` and ``?``, at most as long as a nick can be plus wildcards.
_GLOB_RE: Final = re.compile(r"[A-Za-z0-9_\-*?]{1,64}")


@dataclass(frozen=True, slots=True)
class Mask:
    """A parsed ban mask; ``text`` is its canonical spelling (``kind:value``)."""

    kind: MaskKind
    value: str  # the folded account, the folded glob, or the network as text
    network: IPNetwork | None = None

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.value}"

    def matches(self, account: str, nick_key: str, ip: str) -> bool:
        """Whether a connection signed in to ``account`` ("" a guest), called ``nick_key``
        (folded) and connected from ``ip`` is banned by this mask."""
        if self.kind == "account":
            return bool(account) and account == self.value
        if self.kind == "nick":
            return bool(nick_key) and fnmatch.fnmatchcase(nick_key, self.value)
        address = _address(ip)
        return address is not None and self.network is not None and address in self.network


def parse_mask(text: str) -> Mask | None:
    """The mask ``text`` spells, or ``None`` if it is not a valid one."""
    kind, sep, value = text.partition(":")
    if not sep:
        return None
    kind = kind.lower()
    if kind == "account":
        return Mask("account", fold(value)) if is_valid_nick(value) else None
    if kind == "nick":
        return Mask("nick", fold(value)) if _GLOB_RE.fullmatch(value) else None
    if kind == "ip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        # A single address is shown without its prefix: ``ip:10.0.0.1``, not ``ip:10.0.0.1/32``.
        whole = network.prefixlen == network.max_prefixlen
        shown = str(network.network_address) if whole else str(network)
        return Mask("ip", shown, network)
    return None


def canonical(text: str) -> str:
    """The canonical spelling of the mask ``text``, or ``text`` itself if it is no mask (so that
    a mask stored by another spelling is still found)."""
    mask = parse_mask(text)
    return mask.text if mask is not None else text


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
