"""What a ``search`` query means: its words, phrases and prefix, and when a text matches it.

A query is any text: ``parse_query`` never refuses one for its syntax. Words are separated by
spaces; text in double quotes is a phrase (its words in that order, side by side); a bare word
ending in ``*`` is a prefix (``deplo*`` finds "deploy" and "deployed"); an unclosed quote runs
to the end. A message matches when it holds every term, ignoring case and accents. Words are what
SQLite's FTS5 ``unicode61`` tokenizer makes of a text (runs of letters and digits; everything
else, ``_`` included, separates them), so that the SQLite index (``app/store/sqlite_search.py``)
and the scan of the Redis store (``app/store/redis_search.py``, which uses ``matches`` here)
find the same messages. A query with nothing to search for (only punctuation or spaces), longer
than ``SEARCH_QUERY_MAX`` characters or of more than ``SEARCH_TERMS_MAX`` terms is refused with
``bad_query``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from app.protocol.base import SEARCH_QUERY_MAX, RemoteProtocolError

SEARCH_TERMS_MAX: Final = 16
# A word: letters and digits, as FTS5's unicode61 sees them (``_`` is no word character there).
_WORD: Final = re.compile(r"[^\W_]+")
# A quoted phrase (closed or running to the end) or a run of anything but spaces and quotes.
_TERM: Final = re.compile(r'"([^"]*)"?|([^\s"]+)')


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One term: its words in order (one for a word, several for a phrase), the last of them a
    prefix when ``prefix``."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: every term must match. ``text`` is the query as sent."""

    text: str
    terms: tuple[SearchTerm, ...]


def fold_words(text: str) -> list[str]:
    """The words of ``text``, in lower case and without accents (as ``remove_diacritics 2``)."""
    plain = unicodedata.normalize("NFD", text.lower())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    return _WORD.findall(plain)


def parse_query(text: str) -> SearchQuery:
    """The terms of ``text``; ``RemoteProtocolError("bad_query")`` if it has none, or too many,
    or is too long."""
    if len(text) > SEARCH_QUERY_MAX:
        raise RemoteProtocolError("bad_query", f"a search is at most {SEARCH_QUERY_MAX} characters")
    terms: list[SearchTerm] = []
    for match in _TERM.finditer(text):
        phrase, bare = match[1], match[2]
        words = fold_words(phrase if phrase is not None else bare)
        if not words:
            continue
        # A bare "don't" or "e-mail" is its parts side by side, as FTS5 reads it.
        terms.append(SearchTerm(tuple(words), bare is not None and bare.endswith("*")))
    if not terms:
        raise RemoteProtocolError(
            "bad_query", "nothing to search for: give a word of letters or digits"
        )
    if len(terms) > SEARCH_TERMS_MAX:
        raise RemoteProtocolError("bad_query", f"a search has at most {SEARCH_TERMS_MAX} terms")
    return SearchQuery(text, tuple(terms))


def matches(query: SearchQuery, text: str) -> bool:
    """Whether ``text`` holds every term of ``query`` (the meaning the FTS5 index gives it)."""
    lowered = text.lower()
    if lowered.isascii():
        # Most texts are ASCII and most do not match: a word missing as a substring rules the
        # text out before it is split (ASCII has no accents to take off).
        if any(word not in lowered for term in query.terms for word in term.words):
            return False
        words = _WORD.findall(lowered)
    else:
        words = fold_words(text)
    return all(_holds(words, term) for term in query.terms)


def _holds(words: list[str], term: SearchTerm) -> bool:
    wanted = term.words
    last = len(wanted) - 1
    for start in range(len(words) - last):
        if all(words[start + i] == wanted[i] for i in range(last)):
            word = words[start + last]
            if word == wanted[last] or (term.prefix and word.startswith(wanted[last])):
                return True
    return False
