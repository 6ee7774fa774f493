"""Ban masks without a network: what parses, its canonical spelling, and whom each kind matches."""

from __future__ import annotations

import pytest

from app.server.masks import canonical, parse_mask


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "account:",
        "account:1bad",
        "nick:",
        "nick:[ab]*",
        "ip:300.1.1.1",
        "ip:10.0.0.0/33",
        "host:x",
    ],
)
def test_what_is_no_mask(text: str) -> None:
    """Masks of no known kind, bad names, bad globs and bad addresses do not parse."""
    assert parse_mask(text) is None


def test_canonical_spellings() -> None:
    """Kinds and names fold, host bits of a network are dropped, and a single address has no
    prefix; a text that is no mask stays as it is."""
    assert canonical("ACCOUNT:Alice") == "account:alice"
    assert canonical("nick:Tro*") == "nick:tro*"
    assert canonical("ip:10.1.2.3/8") == "ip:10.0.0.0/8"
    assert canonical("ip:127.0.0.1/32") == "ip:127.0.0.1"
    assert canonical("ip:2001:DB8::1/128") == "ip:2001:db8::1"
    assert canonical("what") == "what"


def test_an_account_mask_matches_that_account_only() -> None:
    """account:NAME matches a session signed in to that account, never a guest of that nick."""
    mask = parse_mask("account:Alice")
    assert mask is not None
    assert mask.matches("alice", "alice", "10.0.0.1")
    assert not mask.matches("", "alice", "10.0.0.1")
    assert not mask.matches("bob", "bob", "10.0.0.1")


def test_a_nick_glob_matches_folded_nicks() -> None:
    """* and ? match any run and any one character, ignoring case."""
    mask = parse_mask("nick:TRO?l*")
    assert mask is not None
    assert mask.matches("", "troll", "")
    assert mask.matches("", "trollface", "")
    assert not mask.matches("", "trol", "")
    assert not mask.matches("", "atroll", "")
    assert not mask.matches("", "", "")  # not registered yet: no nick to match


@pytest.mark.parametrize(
    ("mask_text", "ip", "matched"),
    [
        ("ip:127.0.0.0/8", "127.0.0.1", True),
        ("ip:127.0.0.0/8", "128.0.0.1", False),
        ("ip:127.0.0.1", "127.0.0.1", True),
        ("ip:127.0.0.1", "127.0.0.2", False),
        ("ip:127.0.0.0/8", "::ffff:127.0.0.9", True),
        ("ip:2001:db8::/32", "2001:db8:1::5", True),
        ("ip:2001:db8::/32", "2001:db9::5", False),
        ("ip:2001:db8::/32", "127.0.0.1", False),
        ("ip:fe80::/10", "fe80::1%eth0", True),
        ("ip:10.0.0.0/8", "", False),
    ],
)
def test_an_ip_mask_matches_addresses_in_its_network(
    mask_text: str, ip: str, matched: bool
) -> None:
    """IPv4 and IPv6 networks in CIDR match the addresses inside them, an IPv4 client seen
    through an IPv6 socket as its IPv4 address."""
    mask = parse_mask(mask_text)
    assert mask is not None
    assert mask.matches("", "", ip) is matched
