"""Keyword side of search: query terms and SQLite FTS5 (BM25) lookups."""

from __future__ import annotations

import re
import sqlite3

# Words that carry no topic; kept short on purpose (FTS5 has no stop list).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves""".split()
)

_TOKEN = re.compile(r"[\w][\w'’-]*", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Lower-cased content words of a query, in order, without duplicates."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        token = token.strip("'’-")
        if token and token not in STOPWORDS:
            seen.setdefault(token, None)
    return list(seen)


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any term, each quoted so user text is never syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def keyword_search(db: sqlite3.Connection, terms: list[str], limit: int, where_sql: str = "", args: tuple = ()) -> list[tuple[int, float]]:
    """(passage id, bm25) best first; `where_sql` filters on passages p / episodes e."""
    if not terms:
        return []
    sql = (
        "SELECT p.id, bm25(passages_fts) AS rank FROM passages_fts"
        " JOIN passages p ON p.id = passages_fts.rowid JOIN episodes e ON e.guid = p.guid"
        " WHERE passages_fts MATCH ?" + (f" AND {where_sql}" if where_sql else "") + " ORDER BY rank LIMIT ?"
    )
    return [(int(r[0]), float(r[1])) for r in db.execute(sql, (fts_query(terms), *args, limit))]


def _stem(word: str) -> str:
    # A light suffix strip, enough to match "relatives"/"relative" and "calming"/"calm".
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def term_coverage(terms: list[str], text: str) -> float:
    """Share of query terms present in `text` (0..1), tolerant of plurals."""
    if not terms:
        return 0.0
    words = {_stem(w.strip("'’-")) for w in _TOKEN.findall(text.lower())}
    return sum(1 for t in terms if _stem(t) in words) / len(terms)
