"""Search text of journal entries: characters as unigram and bigram tokens spelled in ASCII, so that SQLite
FTS5 (unicode61) and PostgreSQL ``to_tsvector('simple', …)`` index the same tokens and any text of one
character or more, Chinese or not, is found through an index as a substring (what ``LIKE '%q%'`` means)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise


def _unigram(char: str) -> str:
    return f"u{ord(char):x}"


def _bigram(first: str, second: str) -> str:
    # ``g`` is not a hex digit, so the two code points cannot run together into another pair's spelling.
    return f"b{ord(first):x}g{ord(second):x}"


def entry_search_text(fields: Iterable[str | None]) -> str:
    """The tokens of an entry's narration, payee and voucher: each field's bigrams in order (a phrase of
    consecutive bigrams is then a substring), then its unigrams, which also keep one field's last bigram
    from sitting next to the following field's first (a match never spans two fields)."""
    tokens: list[str] = []
    for field in fields:
        if field:
            text = field.lower()  # case-insensitive on both backends (SQLite's LIKE was, PostgreSQL's was not)
            tokens.extend(_bigram(a, b) for a, b in pairwise(text))
            tokens.extend(_unigram(c) for c in text)
    return " ".join(tokens)


def query_tokens(query: str) -> list[str]:
    """The phrase a query becomes: its one unigram, or its consecutive bigrams."""
    text = query.lower()
    if len(text) == 1:
        return [_unigram(text)]
    return [_bigram(a, b) for a, b in pairwise(text)]
