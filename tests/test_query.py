"""The search frames and query language, without sockets: ``search`` and ``search_results``
decode and encode as docs/protocol.md shows them, and ``parse_query`` and ``matches`` give
every text a meaning or a ``bad_query`` refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import protocol as p
from app.protocol.query import SearchTerm, matches, parse_query


def test_a_search_frame_decodes_with_its_defaults() -> None:
    """``search`` needs only ``query``; ``limit`` defaults to 50, ``room`` and ``before`` absent."""
    frame = p.decode_client_frame(b'{"type":"search","query":"deploy","ref":3}')
    assert frame == p.Search(query="deploy", ref=3)
    assert frame.limit == p.SEARCH_LIMIT == 50 and frame.room is None and frame.before is None


def test_a_search_without_a_query_is_a_bad_frame() -> None:
    """A ``search`` missing ``query`` (or with a number for it) is refused ``bad_frame``."""
    for line in (b'{"type":"search"}', b'{"type":"search","query":5}'):
        with pytest.raises(p.RemoteProtocolError) as refused:
            p.decode_client_frame(line)
        assert refused.value.code == "bad_frame"


def test_search_results_round_trip_and_omit_what_is_absent() -> None:
    """``search_results`` encodes hits as objects and leaves out ``room`` and ``next`` when
    absent; a client decodes it back unchanged."""
    hit = p.SearchHit(room="#ops", id=812, nick="bob", text="deploy?", ts=1795568346307)
    frame = p.SearchResults(query="deploy", results=[hit], more=False, ref=4)
    line = p.encode(frame)
    assert line == (
        b'{"type":"search_results","query":"deploy","results":[{"room":"#ops","id":812,'
        b'"nick":"bob","text":"deploy?","ts":1795568346307}],"more":false,"ref":4}\n'
    )
    assert p.decode_server_frame(line.rstrip()) == frame


def test_words_phrases_and_prefixes_are_parsed() -> None:
    """Bare words, quoted phrases (an open quote runs to the end) and ``word*`` prefixes, in
    lower case without accents; punctuation separates words."""
    query = parse_query('Deploy "on FRIDAY" e-mail fri* "open quote')
    assert query.terms == (
        SearchTerm(("deploy",)),
        SearchTerm(("on", "friday")),
        SearchTerm(("e", "mail")),
        SearchTerm(("fri",), prefix=True),
        SearchTerm(("open", "quote")),
    )
    assert parse_query("Élan").terms == (SearchTerm(("elan",)),)


@pytest.mark.parametrize("text", ["", "   ", "!!! ?? ''", '""', "x" * 257, "a " * 17])
def test_a_query_with_nothing_to_search_or_too_big_is_bad_query(text: str) -> None:
    """No word, more than 256 characters or more than 16 terms: ``bad_query``."""
    with pytest.raises(p.RemoteProtocolError) as refused:
        parse_query(text)
    assert refused.value.code == "bad_query"


def test_matches_needs_every_term() -> None:
    """A text matches when it holds every term: phrases side by side, prefixes as prefixes."""
    query = parse_query('"green red" deplo*')
    assert matches(query, "Green, red! We DEPLOYED.")
    assert not matches(query, "red green deployed")
    assert not matches(query, "green red")
    assert not matches(parse_query("deploy"), "deployed")


@given(st.text(max_size=300))
def test_any_text_is_a_query_or_a_bad_query(text: str) -> None:
    """No text makes the parser fail otherwise: it is a query of 1 to 16 terms of words, or
    ``bad_query``."""
    try:
        query = parse_query(text)
    except p.RemoteProtocolError as err:
        assert err.code == "bad_query"
        return
    assert 1 <= len(query.terms) <= 16
    assert all(term.words and all(term.words) for term in query.terms)
