"""Keyword side of search: query terms and SQLite FTS5 (BM25) lookups."""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import snowballstemmer
from rapidfuzz import fuzz as rf_fuzz
from rapidfuzz import process as rf_process

T = TypeVar("T")

# Words that carry no topic; kept short on purpose (FTS5 has no stop list).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves""".split()
)

# The one tokenizer and stemmer of the project, the same as the index's FTS5 `porter unicode61`:
# tokens are runs of letters and digits (anything else separates, so "relative's" is "relative" + "s"),
# compared without case or diacritics, and stemmed with Porter's algorithm. Matching (coverage),
# pruning and highlighting all use it, so the words shown as matched are the words the index matched.
_TOKEN = re.compile(r"[^\W_]+")
# Pieces of contractions and possessives ("don't", "relative's") carry no topic either.
_FRAGMENTS = frozenset({"s", "t", "d", "ll", "m", "re", "ve"})


def fold(word: str) -> str:
    """A token as FTS5's unicode61 compares it: lower case, diacritics removed."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> Iterator[re.Match[str]]:
    """The word tokens of `text`, with their positions (for highlighting)."""
    return _TOKEN.finditer(text)


# Every ASCII byte that is not a letter or digit, as a space: ASCII text's tokens are then what split() gives.
_ASCII_SEPARATORS = bytes(b if chr(b).isalnum() else 32 for b in range(128)) + bytes([32] * 128)


def _word_list(text: str) -> list[str]:
    """The word tokens of `text` as strings (the tokenizer's, a few times faster for ASCII text)."""
    if text.isascii():
        # A byte table and split() run in C without the regex engine's per-character steps.
        return text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    return _TOKEN.findall(text)


def stem(word: str) -> str:
    """`word` (already folded) as FTS5's porter tokenizer stores it."""
    # A stemmer object keeps state while it works: one per call is thread-safe.
    return snowballstemmer.stemmer("porter").stemWord(word)


class _Spellings:
    """Every word met so far in texts whose coverage was asked, filed under its stem."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.by_stem: dict[str, set[str]] = {}


class Stemmer:
    """`stem`, remembering its answers and the spellings it has met: one per index (its owner), so a
    search stems each distinct word once.

    Scoring compares every word of every candidate passage (`term_coverage`), ~10 µs a stem uncached.
    Thread-safe: a dict's get and set are atomic, two threads stemming one word agree, and the
    spellings index only grows under a lock.
    """

    def __init__(self, size: int = 1 << 16, spellings_limit: int = 1 << 18) -> None:
        self._memo: dict[str, str] = {}
        self._size = size
        # Words remembered before starting afresh (~200 bytes each): a real vocabulary, spelling
        # variants included, stays far below.
        self._spellings_limit = spellings_limit
        self._spellings = _Spellings()
        self._lock = threading.Lock()

    def __call__(self, word: str) -> str:
        stemmed = self._memo.get(word)
        if stemmed is None:
            stemmed = stem(word)
            if len(self._memo) >= self._size:
                self._memo.clear()  # bounded: a long-lived server sees an open-ended vocabulary
            self._memo[word] = stemmed
        return stemmed

    def spellings_of(self, words: set[str]) -> _Spellings:
        """The spellings index, with every word of `words` filed under its stem (new ones stemmed once)."""
        spellings = self._spellings
        if words.issubset(spellings.known):
            return spellings
        with self._lock:
            if len(self._spellings.known) + len(words) > self._spellings_limit:
                self._spellings = _Spellings()
            spellings = self._spellings
            for word in words.difference(spellings.known):
                # Filed under its stem before it counts as known: a reader that finds a word known
                # (without the lock) also finds it under its stem.
                spellings.by_stem.setdefault(self(fold(word)), set()).add(word)
                spellings.known.add(word)
        return spellings


def query_terms(query: str) -> list[str]:
    """Folded content words of a query, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in tokens(query):
        token = fold(match.group(0))
        if token not in STOPWORDS and token not in _FRAGMENTS:
            seen.setdefault(token, None)
    return list(seen)


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any term, each quoted so user text is never syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def keyword_search(db: sqlite3.Connection, terms: list[str], limit: int, where_sql: str = "", args: tuple = (),
                   total_docs: int | None = None, alternatives: Mapping[str, tuple[str, ...]] | None = None,
                   doc_frequency: Callable[[str], int] | None = None) -> list[tuple[int, float]]:
    """(passage id, bm25) best first; `where_sql` filters on passages p / episodes e.

    `total_docs` (the passage count, if the caller knows it) saves a COUNT(*). `alternatives` (from
    `sound_alikes`) are indexed spellings matched as well as the term they stand for.
    `doc_frequency`: passages holding a term (the index's remembering `SearchIndex.doc_frequency`).
    """
    terms = selective_terms(db, terms, total_docs, doc_frequency)
    terms = terms + [alt for t in terms for alt in (alternatives or {}).get(t, ())]
    if not terms:
        return []
    # English passages are in `passages_fts` (Porter-stemmed), the others in `passages_fts_plain` (not
    # stemmed: Porter's rules are English); each table gives its best, and the best of both are kept.
    parts = []
    for table in FTS_TABLES:
        if not where_sql:
            # Without filters the FTS table alone answers: no join per matching row.
            parts.append(f"SELECT * FROM (SELECT rowid AS id, bm25({table}) AS rank FROM {table}"
                         f" WHERE {table} MATCH ? ORDER BY rank LIMIT ?)")
        else:
            parts.append(f"SELECT * FROM (SELECT p.id AS id, bm25({table}) AS rank FROM {table}"
                         f" JOIN passages p ON p.id = {table}.rowid JOIN episodes e ON e.key = p.key"
                         f" WHERE {table} MATCH ? AND {where_sql} ORDER BY rank LIMIT ?)")
    sql = " UNION ALL ".join(parts) + " ORDER BY rank LIMIT ?"
    query = fts_query(terms)
    params = [v for _ in FTS_TABLES for v in (query, *args, limit)] + [limit]
    return [(int(r[0]), float(r[1])) for r in db.execute(sql, params)]


# The keyword tables: English passages (Porter stemming), then every other language (no stemming).
FTS_TABLES = ("passages_fts", "passages_fts_plain")

# A term in more than this share of passages ranks nothing but costs a BM25
# score for every row it matches; dropped when rarer terms remain.
COMMON_SHARE = 0.05
MIN_PASSAGES_FOR_PRUNING = 2000


def selective_terms(db: sqlite3.Connection, terms: list[str], total_docs: int | None = None,
                    doc_frequency: Callable[[str], int] | None = None) -> list[str]:
    """The query terms worth matching: common ones dropped on large indexes (`doc_frequency` as in keyword_search)."""
    if len(terms) < 2:
        return terms
    try:
        if total_docs is None:
            total_docs = int(db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])
        if total_docs < MIN_PASSAGES_FOR_PRUNING:
            return terms
        count = _counter(db, doc_frequency)
        df = {t: count(t) for t in terms}
    except sqlite3.Error:
        return terms  # an older index without the vocabulary table: match everything
    rare = [t for t in terms if df[t] <= COMMON_SHARE * total_docs]
    return rare or [min(terms, key=lambda t: df[t])]


def _counter(db: sqlite3.Connection, doc_frequency: Callable[[str], int] | None) -> Callable[[str], int]:
    """`doc_frequency` when the caller has the index's remembering one, else a count from `db` each time."""
    return doc_frequency or (lambda term: stem_frequency(db, stem(term)))


def stem_frequency(db: sqlite3.Connection, stem: str) -> int:
    row = db.execute("SELECT doc FROM passages_vocab WHERE term = ?", (stem,)).fetchone()
    return int(row[0]) if row else 0


class GenerationMemo:
    """Answers read off the index, remembered for one generation of it: one per index (its owner), shared
    by a server's readers like the `Stemmer`.

    What it holds: each stem's passage count (fts5vocab counts a stem by walking its whole posting list,
    ~3 ms at 100k passages for a word most passages hold, and every search asks for each query term) and
    each unknown term's sound-alike spellings (a fuzzy scan of the whole vocabulary). Thread-safe: a
    dict's get and set are atomic; a new generation starts a new dict.
    """

    def __init__(self, size: int = 1 << 16) -> None:
        self._size = size
        self._state: tuple[int, dict[Hashable, Any]] = (-1, {})

    def get(self, key: Hashable, compute: Callable[[], T], generation: Callable[[], int]) -> T:
        """The answer for `key`, computed by `compute()` unless remembered; `generation()` reads the index's."""
        gen = generation()
        known, memo = self._state
        if known == gen and key in memo:
            return memo[key]
        value = compute()
        # Remembered only when the index did not move while computing (autocommit reads are separate
        # snapshots), and never under an older generation than the one remembered.
        if generation() == gen and gen >= known:
            if gen != known or len(memo) >= self._size:
                memo = {}
                self._state = (gen, memo)
            memo[key] = value
        return value


def term_coverage(terms: list[str], text: str, alternatives: Mapping[str, tuple[str, ...]] | None = None,
                  stemmer: Stemmer | None = None) -> float:
    """Share of query terms present in `text` (0..1), compared by stem (calming/calm, nurses/nurse).

    A term also counts as present when one of its `alternatives` (indexed stems spelled like it) is.
    `stemmer`: the index's `Stemmer` when scoring many passages (a fresh one otherwise).
    """
    return term_coverages(terms, [text], alternatives, stemmer)[0]


def term_coverages(terms: list[str], texts: Sequence[str], alternatives: Mapping[str, tuple[str, ...]] | None = None,
                   stemmer: Stemmer | None = None, stemmed: bool = True,
                   acronyms: Mapping[str, re.Pattern[str]] | None = None) -> list[float]:
    """`term_coverage` of each of `texts`, the query's side worked out once for all of them.

    `stemmed=False`: words compared as `passages_fts_plain` compares them, folded but not stemmed (texts
    not in English, which Porter's rules would mangle); `alternatives` are stems and do not apply.
    `acronyms` (from `spelled_out`): a query term also counts as present where a text spells it out.
    """
    if not terms:
        return [0.0] * len(texts)
    if acronyms:
        plain = [t for t in terms if t not in acronyms]
        shares = term_coverages(plain, texts, alternatives, stemmer, stemmed) if plain else [0.0] * len(texts)
        return [(share * len(plain) + sum(1 for p in acronyms.values() if expands(p, text))) / len(terms)
                for share, text in zip(shares, texts)]
    if not stemmed:
        return [sum(1 for t in terms if t in words) / len(terms)
                for words in ({fold(w) for w in _word_list(text)} for text in texts)]
    # Not every word of the texts stemmed (that was most of a search's Python time, for ~100 candidates):
    # a stem is present when one of the spellings seen with that stem is among the text's words. Every
    # word of the texts is filed first, so each term's spellings are complete for these texts.
    word_sets = [set(_word_list(text)) for text in texts]
    stemmer = stemmer or Stemmer()
    by_stem = stemmer.spellings_of(set().union(*word_sets)).by_stem
    alternatives = alternatives or {}
    empty: frozenset[str] = frozenset()
    spellings = [by_stem.get(stemmer(t), empty).union(*(by_stem.get(a, empty) for a in alternatives.get(t, ())))
                 for t in terms]
    n = len(terms)
    return [sum(1 for s in spellings if not words.isdisjoint(s)) / n for words in word_sets]


# A query's acronym the speakers only ever spell out ("SBAR": "situation, background, assessment,
# recommendation"; "ICU": "intensive care unit"): a word of this many capitals that no passage holds.
ACRONYM_LETTERS = (3, 6)


def spelled_out(query: str, doc_frequency: Callable[[str], int]) -> dict[str, re.Pattern[str]]:
    """For each word of `query` written in capitals that the index lacks (an acronym), a pattern of its
    words spelled out: words starting with its letters in order, with at most an "and" or "of" between.

    Capitals only: an unknown word in small letters is more likely misheard or misspelt (sound_alikes),
    and looking for every one spelled out would cost each search a scan of its candidates' text.
    """
    low, high = ACRONYM_LETTERS
    found: dict[str, re.Pattern[str]] = {}
    for match in tokens(query):
        word = match.group(0)
        term = fold(word)
        if (low <= len(word) <= high and word.isascii() and word.isalpha() and word.isupper()
                and term not in found and not doc_frequency(term)):
            found[term] = re.compile(r"(?:\W+(?:and|of)\b)?\W+".join(rf"\b({letter}\w*)" for letter in term),
                                     re.IGNORECASE)
    return found


def expands(pattern: re.Pattern[str], text: str) -> bool:
    """Whether `text` spells out the acronym of `pattern`: its words in a row, at most one of them a
    stopword ("intensive care unit" yes, "I can understand" no)."""
    return any(sum(1 for word in match.groups() if word.lower() in STOPWORDS) <= 1
               for match in pattern.finditer(text))


# Whisper misspells what it does not know: names, drug names, places ("metformin" heard as "metforman").
# A query term the index has never seen is matched to indexed stems this close in spelling
# (rapidfuzz's normalised Indel ratio, 0-100): one or two letters apart in a word of seven or more.
FUZZY_MIN_RATIO = 80.0
FUZZY_MIN_LENGTH = 5  # shorter words have too many neighbours one letter away
FUZZY_LIMIT = 3  # spellings per term


def sound_alikes(db: sqlite3.Connection, terms: list[str], vocabulary: Callable[[], Sequence[str]],
                 doc_frequency: Callable[[str], int] | None = None,
                 spellings: Callable[[str], tuple[str, ...]] | None = None) -> dict[str, tuple[str, ...]]:
    """For each query term absent from the index, the indexed stems spelled most like it (maybe none).

    `vocabulary` is asked for only when a term is missing: most queries use words the index knows.
    `doc_frequency` as in keyword_search; `spellings`: the index's remembering `spellings_like`.
    """
    count = _counter(db, doc_frequency)
    like = spellings or (lambda term: spellings_like(term, vocabulary()))
    found: dict[str, tuple[str, ...]] = {}
    for term in terms:
        if len(term) < FUZZY_MIN_LENGTH or count(term):
            continue
        if close := like(term):
            found[term] = close
    return found


def spellings_like(term: str, vocabulary: Sequence[str]) -> tuple[str, ...]:
    """The stems of `vocabulary` spelled most like `term`'s stem (at most FUZZY_LIMIT; () when none is close)."""
    close = rf_process.extract(stem(term), vocabulary, scorer=rf_fuzz.ratio, score_cutoff=FUZZY_MIN_RATIO,
                               limit=FUZZY_LIMIT)
    return tuple(match for match, _, _ in close)
