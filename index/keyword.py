"""Keyword side of search: query terms and SQLite FTS5 (BM25) lookups."""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

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


def keyword_search(db: sqlite3.Connection, terms: list[str], limit: int, where_sql: str = "", args: tuple = (),
                   total_docs: int | None = None) -> list[tuple[int, float]]:
    """(passage id, bm25) best first; `where_sql` filters on passages p / episodes e.

    `total_docs` (the passage count, if the caller knows it) saves a COUNT(*).
    """
    terms = selective_terms(db, terms, total_docs)
    if not terms:
        return []
    if not where_sql:
        # Without filters the FTS table alone answers: no join per matching row.
        sql = "SELECT rowid, bm25(passages_fts) AS rank FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?"
        return [(int(r[0]), float(r[1])) for r in db.execute(sql, (fts_query(terms), limit))]
    sql = (
        "SELECT p.id, bm25(passages_fts) AS rank FROM passages_fts"
        " JOIN passages p ON p.id = passages_fts.rowid JOIN episodes e ON e.key = p.key"
        " WHERE passages_fts MATCH ?" + (f" AND {where_sql}" if where_sql else "") + " ORDER BY rank LIMIT ?"
    )
    return [(int(r[0]), float(r[1])) for r in db.execute(sql, (fts_query(terms), *args, limit))]


# A term in more than this share of passages ranks nothing but costs a BM25
# score for every row it matches; dropped when rarer terms remain.
COMMON_SHARE = 0.05
MIN_PASSAGES_FOR_PRUNING = 2000


def selective_terms(db: sqlite3.Connection, terms: list[str], total_docs: int | None = None) -> list[str]:
    """The query terms worth matching: common ones dropped on large indexes."""
    if len(terms) < 2:
        return terms
    try:
        if total_docs is None:
            total_docs = int(db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])
        if total_docs < MIN_PASSAGES_FOR_PRUNING:
            return terms
        stems = porter_stems(db, terms)
        df = {t: _doc_frequency(db, stems[t]) for t in terms}
    except sqlite3.Error:
        return terms  # an older index without the vocabulary table: match everything
    rare = [t for t in terms if df[t] <= COMMON_SHARE * total_docs]
    return rare or [min(terms, key=lambda t: df[t])]


def _doc_frequency(db: sqlite3.Connection, stem: str) -> int:
    row = db.execute("SELECT doc FROM passages_vocab WHERE term = ?", (stem,)).fetchone()
    return int(row[0]) if row else 0


def porter_stems(db: sqlite3.Connection, terms: list[str]) -> dict[str, str]:
    """Each term as FTS5's porter tokenizer stores it (via a scratch in-memory table)."""
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems USING fts5(t, tokenize='porter unicode61')")
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems_v USING fts5vocab(temp, query_stems, 'instance')")
    try:
        db.executemany("INSERT INTO temp.query_stems(rowid, t) VALUES (?, ?)", list(enumerate(terms)))
        found = {int(doc): term for term, doc in db.execute("SELECT term, doc FROM temp.query_stems_v")}
    finally:
        db.execute("DELETE FROM temp.query_stems")
    return {t: found.get(i, t) for i, t in enumerate(terms)}


@lru_cache(maxsize=1 << 16)
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
    # Stems of distinct words only, each computed once per process: a search
    # checks ~100 candidate passages with mostly the same words.
    words = {_stem(w.strip("'’-")) for w in set(_TOKEN.findall(text.lower()))}
    return sum(1 for t in terms if _stem(t) in words) / len(terms)
