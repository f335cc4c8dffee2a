"""Hybrid search as a pipeline of named stages.

    query ─▶ allowed ids (filters) ─▶ retrieve: FAISS by meaning ‖ FTS5 by words (concurrently)
          ─▶ score each candidate passage (Scores) ─▶ fuse the two signals ─▶ keep what clears the floor
          ─▶ order (optionally re-rank) ─▶ trim each passage to the clip that answers ─▶ drop overlaps ─▶ Hits

Every weight below says where it comes from. "Hand-set" weights were chosen when the stage was
written and checked with `podsearch eval --by-kind` on the spoken evaluation set, where nearby values
scored the same; change one only with an evaluation run before and after.
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from podsearch.core.errors import QueryError
from podsearch.core.languages import ENGLISH
from podsearch.core.records import SOUNDBITE, Hit, Segment, chapter_at
from podsearch.index import vectors
from podsearch.index.keyword import keyword_search, query_terms, sound_alikes, spelled_out, term_coverages
from podsearch.index.passages import ends_sentence
from podsearch.index.store import SearchIndex, chapters_from_json

if TYPE_CHECKING:
    from podsearch.index.rerank import Reranker

Mode = Literal["hybrid", "dense", "keyword"]
# Reciprocal rank fusion's damping constant: 60 is the value of the paper that introduced it
# (Cormack et al. 2009) and the usual default.
RRF_K = 60
# A candidate's similarity: its best sentence (or pair of sentences), with the passage's own vector
# keeping this share of the say, so a passage that merely mentions the topic in one sentence does not
# match as well as one about it. Chosen by evaluation on the three dev sets (0.1 to 0.5 compared in
# docs/search-quality.md: 0.4 is as good as 0.3 on conversations and spoken, better on the real library).
PASSAGE_SHARE = 0.4
# Candidates each retriever hands to scoring: enough that a short answer inside a long passage,
# ranked low by the passage vector, is still re-scored by its best sentence.
CANDIDATES = 50
# Seconds of context before the answer's first word: Whisper's segment edges already sit in the pause
# before it, and the strict judge (index.evaluate) allows a clip to open little before its answer.
LEAD_IN = 0.5
# A passage Whisper likely hallucinated (flagged) keeps half its score (hand-set): it sinks below
# trustworthy passages of similar relevance but is not hidden.
FLAGGED_WEIGHT = 0.5
# The host's introduction and the outro mention every topic of an episode without answering any:
# they keep this share of their score (hand-set), so an answer ranks above the intro that announces it.
FRAME_WEIGHT = 0.8
# Confidence thresholds on absolute similarity (all-MiniLM-L6-v2 cosine): an answer that paraphrases
# the question scores 0.55 and up, a related passage that does not answer it 0.3-0.45. Word coverage
# agreeing with meaning lifts a hit by one step. Hand-set, checked on the evaluation sets.
STRONG_SIMILARITY = 0.55
PARTIAL_SIMILARITY = 0.40
AGREEING_COVERAGE = 0.5
# How far past a question to look for its answer, in segments (sentences).
ANSWER_SEGMENTS = 12
# Windows of 1..WINDOW consecutive segments are the units scored inside each candidate passage, and
# each clip is built around its passage's best window: a short answer is never trimmed to a neighbour
# that scores better alone, and never diluted by the passage around it (bench/bench_recall.py).
WINDOW = 3
# Inside a passage, a window's score for choosing the clip is its cosine plus this much per share of
# the query words its best segment contains (hand-set, small: a tie-breaker towards the sentence that
# says a searched name, never enough to move the clip off a window that paraphrases the question).
WINDOW_WORDS_BONUS = 0.1
# A clip runs on to the end of its sentence and at least MIN_CLIP_SECONDS (a lone "Photos." says
# nothing), never past CLIP_SECONDS from its start; it opens at most MAX_EARLY_SECONDS before its
# window (the head of a sentence the window ends). Hand-set for the targets (median <= 20 s).
CLIP_SECONDS = 20.0
MIN_CLIP_SECONDS = 8.0
MAX_EARLY_SECONDS = 4.0
# Candidates turned into clips beyond the k shown, so a later clip that overlaps a shown one and matches
# better can take its place (the overlap keeps the better window, not the first seen).
EXTRA_CLIPS = 10
# A window admits its passage on its own when its cosine clears the floor by this much (hand-set: one short
# line scores noisily; on the conversations set the off-topic queries' best windows reach 0.32, answers'
# 0.40 and up).
WINDOW_FLOOR_MARGIN = 0.05
# A shorter window inside a passage's chosen one that scores within this much of it is the clip instead
# (hand-set, small: a window's extra sentences must add to the match to be heard; docs/search-quality.md).
TIGHT_MARGIN = 0.02
# Clips one passage may give (non-overlapping windows): a long turn can answer two questions.
WINDOWS_PER_PASSAGE = 2


_SPEAKS_IN_PASSAGE = ("EXISTS (SELECT 1 FROM segments s WHERE s.key = p.key"
                      " AND s.idx BETWEEN p.first_segment AND p.last_segment AND lower(s.speaker) LIKE ? ESCAPE '\\')")


def _like(name: str) -> str:
    """A LIKE pattern finding `name` anywhere, case-blind, with the user's % and _ taken literally."""
    return "%" + name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before ranking."""

    shows: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None  # ISO date, inclusive
    sources: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # episode keys
    person: str | None = None
    speaker: str | None = None

    def sql(self) -> tuple[str, tuple]:
        """A WHERE fragment over passages p / episodes e, with its arguments."""
        parts: list[str] = []
        args: list[object] = []
        for column, values in (("e.show", self.shows), ("e.source", self.sources), ("e.key", self.keys)):
            if values:
                parts.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if self.date_from:
            parts.append("substr(e.published, 1, 10) >= ?")
            args.append(self.date_from[:10])
        if self.date_to:
            parts.append("substr(e.published, 1, 10) <= ?")
            args.append(self.date_to[:10])
        if self.person:
            # A person of the episode (podcast:person), or a speaker inside the passage.
            parts.append(
                "(EXISTS (SELECT 1 FROM json_each(e.persons) j WHERE lower(json_extract(j.value, '$.name')) LIKE ? ESCAPE '\\')"
                " OR " + _SPEAKS_IN_PASSAGE + ")"
            )
            args.extend([_like(self.person)] * 2)
        if self.speaker:
            parts.append(_SPEAKS_IN_PASSAGE)  # someone who speaks inside the passage, by name or label
            args.append(_like(self.speaker))
        return " AND ".join(parts), tuple(args)

    @property
    def active(self) -> bool:
        """True when any restriction is set."""
        return bool(self.shows or self.sources or self.keys or self.date_from or self.date_to or self.person
                    or self.speaker)


@dataclass(frozen=True)
class SearchOptions:
    """How to search: result count, mode, filters and the relevance floor."""

    k: int = 10
    mode: Mode = "hybrid"
    filters: Filters = field(default_factory=Filters)
    floor: float = 0.30  # minimum cosine similarity for a meaning-only match
    fusion: Literal["blend", "rrf"] = "blend"
    # blend: similarity + weight × keyword strength. Chosen by evaluation: on the conversations set
    # (paraphrased questions, which share a word or two with many wrong passages) hybrid strict R@1 was
    # 0.21 at 0.4, 0.33 at 0.2 and 0.36 at 0.1; the spoken set (rare names, drug names) scores the same
    # from 0.1 to 0.4, where dense search already finds them.
    keyword_weight: float = 0.1
    min_coverage: float = 0.5  # share of query words a keyword-only match must contain (hand-set: most of them)
    trim: bool = True
    per_episode: int | None = None  # at most this many clips from one episode
    rerank_model: str | None = None  # a cross-encoder to re-order the top candidates
    include_ads: bool = False  # sponsor reads are left out unless asked for


class Scores(NamedTuple):
    """What one candidate passage scored, by signal (the record each stage passes on).

    A named tuple: ~100 candidates are made two or three times a search, and a frozen dataclass's
    __init__ (one object.__setattr__ per field) cost several times as much.
    """

    pid: int
    similarity: float  # the passage's cosine blended with its best window's (see PASSAGE_SHARE)
    coverage: float  # share of query words in the passage; NaN where no stage needs it
    keyword: float  # 0..1: BM25 relative to the best keyword hit, times coverage; 0 without a keyword hit
    fused: float = 0.0  # the signals combined for ranking (see `fuse`)
    window: float = -1.0  # cosine of the query with the passage's best window of 1..WINDOW segments

    def with_fused(self, fused: float) -> "Scores":
        """A copy with another ranking score."""
        return Scores(self[0], self[1], self[2], self[3], fused, self[5])


@dataclass(frozen=True)
class Retrieved:
    """The retrieval stage's output: the query vector and each retriever's best-first candidates."""

    qvec: np.ndarray
    dense_ids: list[int]
    keyword_hits: list[tuple[int, float]]  # (passage id, bm25), best first
    alternatives: dict[str, tuple[str, ...]]  # query terms the index lacks -> indexed stems spelled like them
    acronyms: dict[str, re.Pattern[str]] = field(default_factory=dict)  # terms the index lacks -> spelled out


def rrf(rankings: list[list[int]], k: int = RRF_K, weights: list[dict[int, float]] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion of best-first id lists (optionally weighting ids per list)."""
    scores: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights else {}
        for rank, pid in enumerate(ranking):
            scores[pid] = scores.get(pid, 0.0) + w.get(pid, 1.0) / (k + rank + 1)
    return scores


class Windows(NamedTuple):
    """Per candidate passage, its best window of 1..`WINDOW` consecutive segments (`window_similarities`)."""

    similarity: np.ndarray  # best window cosine per passage; -1 for a passage without segments
    first: np.ndarray  # the best window's first segment, as an offset inside its passage
    last: np.ndarray  # ...and its last one
    cos: np.ndarray  # every window's cosine (`window_cosines` of the stacked rows): a passage's clips use its rows


def window_cosines(stacked: np.ndarray, group: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """Cosine of the query with every window of 1..`WINDOW` consecutive rows of `stacked`: an (n, WINDOW)
    matrix, row i the windows starting at row i, -inf for a window that runs past its group's end.

    A window's vector is the sum of its segments' unit vectors (cos(a + b, q) = (a.q + b.q) / |a + b|,
    |a + b| from the rows' norms and dots), which finds the answers that embedding each window's text
    finds (bench/bench_recall.py) without embedding anything at search time.
    """
    n = len(stacked)
    out = np.full((n, WINDOW), -np.inf, dtype=np.float32)
    if not n:
        return out
    stacked = stacked.astype(np.float32, copy=False)
    sims = stacked @ qvec
    norms2 = np.einsum("ij,ij->i", stacked, stacked)
    out[:, 0] = sims
    dot_sum, sim_sum, norm_sum = np.zeros(n, np.float32), sims.copy(), norms2.copy()
    for size in range(2, WINDOW + 1):
        m = n - size + 1
        if m <= 0:
            break
        # The new row (offset size-1) against every row already in the window.
        dot_sum = dot_sum[:m] + sum(np.einsum("ij,ij->i", stacked[j : j + m], stacked[size - 1 : size - 1 + m])
                                    for j in range(size - 1))
        sim_sum, norm_sum = sim_sum[:m] + sims[size - 1 :], norm_sum[:m] + norms2[size - 1 :]
        cos = sim_sum / np.sqrt(np.maximum(norm_sum + 2 * dot_sum, 1e-18))
        same = group[:m] == group[size - 1 :]
        out[:m, size - 1] = np.where(same, cos, -np.inf)
    return out


def window_similarities(stacked: np.ndarray, sizes: np.ndarray, qvec: np.ndarray) -> Windows:
    """Per passage, its best window of 1..`WINDOW` of its segments (cosine, first and last offset).

    All passages at once: their segment vectors stacked in one matrix (`sizes` rows each, as
    `SearchIndex.stacked_span_vectors` reads them); a window never straddles two passages.
    """
    best = np.full(len(sizes), -1.0, dtype=np.float32)
    first, last = np.zeros(len(sizes), dtype=np.int64), np.zeros(len(sizes), dtype=np.int64)
    if not sizes.sum():
        return Windows(best, first, last, np.full((0, WINDOW), -np.inf, dtype=np.float32))
    group = np.repeat(np.arange(len(sizes)), sizes)
    cos = window_cosines(stacked, group, qvec)
    flat = cos.max(axis=1)
    starts = np.cumsum(sizes) - sizes
    present = np.flatnonzero(sizes)
    # Per passage, its first row holding the passage's best window (as argmax picks the first), all at once.
    top = np.maximum.reduceat(flat, starts[present])
    rows = np.arange(len(flat))
    at_top = np.where(flat == np.repeat(top, sizes[present]), rows, len(flat))
    row = np.minimum.reduceat(at_top, starts[present])
    size = cos[row].argmax(axis=1)
    best[present] = cos[row, size]
    first[present] = row - starts[present]
    last[present] = row - starts[present] + size
    return Windows(best, first, last, cos)


def window_clip(segments: list[Segment], first: int, last: int, lead_in: float = LEAD_IN,
                max_seconds: float = CLIP_SECONDS, min_seconds: float = MIN_CLIP_SECONDS) -> tuple[float, float, int, int]:
    """Start/end of the clip said by `segments[first..last]` (the best window): it starts `lead_in`
    before the window (a little earlier only when the window opens mid-sentence) and runs on to the end
    of the sentence and at least `min_seconds`, never past `max_seconds`. Returns (start, end, first, last).
    """
    if first > 0 and not ends_sentence(segments[first - 1].text) \
            and segments[first].start - segments[first - 1].start <= MAX_EARLY_SECONDS:
        first -= 1  # the window is the tail of a sentence: start at its head

    def fits(j: int) -> bool:
        return j < len(segments) and segments[j].end - segments[first].start <= max_seconds

    while fits(last + 1) and (
        not ends_sentence(segments[last].text) or segments[last].end - segments[first].start < min_seconds
    ):
        last += 1
    start = max(0.0, segments[first].start - lead_in)
    return round(start, 2), round(segments[last].end, 2), first, last


def _is_question(text: str) -> bool:
    return text.rstrip().rstrip('"”').endswith("?")


def answer_after(segments: list[Segment], max_seconds: float = 45.0) -> list[Segment]:
    """The answer to the question `segments[0]` asks: the turn that follows it.

    With speakers known, the next speaker's turn, after whatever the asker adds to the question first
    (a host often goes on explaining it); without, the sentences up to the next question.
    Empty when nothing answers (the episode ends, another question follows at once, or the asker goes on
    and nobody else speaks).
    """
    if len(segments) < 2:
        return []
    asker, answer = segments[0].speaker, []
    answered = False  # someone other than the asker has spoken
    for seg in segments[1:]:
        if seg.kind != "speech" or seg.end - segments[1].start > max_seconds:
            break
        if asker and seg.speaker:
            if seg.speaker == asker and answered:
                break  # the asker speaks again: the answer is over
            answered = answered or seg.speaker != asker
        elif _is_question(seg.text) and answer:
            break
        answer.append(seg)
    if asker and not answered and any(g.speaker for g in answer):
        return []  # the asker went on alone: no answer came
    return answer if answer and not all(_is_question(g.text) for g in answer) else []


def check_query(query: str, options: SearchOptions = SearchOptions()) -> str:
    """`query` stripped; raises QueryError for a request no index could answer (even an empty one)."""
    query = (query or "").strip()
    if not query:
        raise QueryError("the search query is empty; type a few words describing what you want to hear")
    if options.k < 1:
        raise QueryError(f"-k must be at least 1 (got {options.k})")
    return query


def search(index: SearchIndex, query: str, options: SearchOptions = SearchOptions(),
           qvec: np.ndarray | None = None) -> list[Hit]:
    """The best clips for `query`, most relevant first; [] when nothing is relevant.

    `qvec`: the query's vector when the caller has embedded it already (several queries in one batch).
    """
    query = check_query(query, options)
    total = index.passage_count()
    if total == 0:
        return []
    terms = query_terms(query)
    allowed = allowed_ids(index, options.filters)
    if allowed is not None and not len(allowed):
        return []
    found = retrieve(index, query, terms, options, allowed, total, qvec)
    # The candidates' own columns; their episodes' only for the few that become hits (to_hits).
    rows = index.passages_by_id(dict.fromkeys(found.dense_ids + [pid for pid, _ in found.keyword_hits]), episodes=False)
    scores, window_cos = score(index, rows, found, terms, options)
    ranked = relevant(fuse(scores, found, options), rows, options)
    if options.rerank_model and ranked:
        ranked = _rerank(index.reranker(options.rerank_model), query, ranked, rows)
    return to_hits(index, ranked, rows, window_cos, found, terms, options)


def allowed_ids(index: SearchIndex, filters: Filters) -> np.ndarray | None:
    """Stage 1: the passage ids the filters allow (None: no filter, everything is allowed)."""
    if not filters.active:
        return None
    where, args = filters.sql()
    ids = [r[0] for r in index.db.execute("SELECT p.id FROM passages p JOIN episodes e ON e.key = p.key WHERE " + where, args)]
    return np.array(ids, dtype=np.int64)


def retrieve(index: SearchIndex, query: str, terms: list[str], options: SearchOptions, allowed: np.ndarray | None,
             total: int, qvec: np.ndarray | None = None) -> Retrieved:
    """Stage 2: candidates by meaning (FAISS) and by words (FTS5 BM25), fetched concurrently.

    FTS5 runs while the model embeds the query: both release the GIL, and together they are most of a
    search's time. Not when `index.overlap_keyword` is off (a busy server: other searches keep the
    cores busy, and the hand-off to another thread would only cost CPU).
    """
    where, args = options.filters.sql()
    alternatives: dict[str, tuple[str, ...]] = {}
    by_words = options.mode in ("hybrid", "keyword")
    if by_words:
        alternatives = sound_alikes(index.db, terms, index.vocabulary, index.doc_frequency, index.spellings_like)
    lookup = partial(keyword_search, index.db, terms, CANDIDATES, where, args, total, alternatives, index.doc_frequency)
    keyword_job = index.background.submit(lookup) if by_words and index.overlap_keyword else None
    try:
        faiss_index = index.faiss_index() if options.mode in ("hybrid", "dense") else None
        if qvec is None:
            embedder = index.embedder
            encode_query = getattr(embedder, "encode_query", None)
            qvec = encode_query(query) if encode_query else embedder.encode([query])[0]
        dense_ids = ([int(i) for i in vectors.search(faiss_index, qvec, CANDIDATES, allowed)[1]]
                     if faiss_index is not None else [])
    finally:
        keyword_hits = keyword_job.result() if keyword_job is not None else []
    if by_words and keyword_job is None:
        keyword_hits = lookup()
    acronyms = spelled_out(query, index.doc_frequency) if by_words else {}
    return Retrieved(qvec, dense_ids, keyword_hits, alternatives, acronyms)


def score(index: SearchIndex, rows: dict, found: Retrieved, terms: list[str],
          options: SearchOptions) -> tuple[dict[int, Scores], dict[int, np.ndarray]]:
    """Stage 3: each candidate's similarity (its passage vector blended with its best window's),
    word coverage and keyword strength; also each passage's window cosines (its rows of `window_cosines`),
    which its clips are cut by."""
    pids = list(rows)
    stacked, sizes = index.stacked_span_vectors([(rows[p]["key"], rows[p]["first_segment"], rows[p]["last_segment"])
                                                 for p in pids])
    passage_sims = (np.frombuffer(b"".join([rows[p]["embedding"] for p in pids]), dtype=np.float32)
                    .reshape(len(pids), -1) @ found.qvec if pids else np.zeros(0, dtype=np.float32))
    # The passage vector alone drowns a short answer in a long passage: its best window counts too.
    windows = window_similarities(stacked, sizes, found.qvec)
    fine = windows.similarity
    ends = np.cumsum(sizes).tolist()
    groups = [windows.cos[end - n : end] for n, end in zip(sizes.tolist(), ends)]
    keyword_set = {pid for pid, _ in found.keyword_hits}
    # In float32 as the vectors are (the same arithmetic element by element as one passage at a time).
    similarity = dict(zip(pids, (PASSAGE_SHARE * passage_sims + (1 - PASSAGE_SHARE) * np.maximum(fine, passage_sims))
                          .tolist()))
    # The sentence model is English-only: its similarity to a passage in another language is noise, so such
    # passages are found and ranked by their words alone (docs/languages.md).
    similarity.update((pid, 0.0) for pid in pids if rows[pid]["language"] != ENGLISH)
    # Coverage is needed for keyword strength and for a match by words below the floor; a passage
    # relevant by meaning alone skips the tokenising.
    wanted = [pid for pid in pids if pid in keyword_set or similarity[pid] < options.floor]
    coverage = dict.fromkeys(pids, math.nan)
    for stemmed in (True, False):  # English words by stem, other languages' as written (see keyword.FTS_TABLES)
        some = [pid for pid in wanted if (rows[pid]["language"] == ENGLISH) == stemmed]
        coverage.update(zip(some, term_coverages(terms, [rows[pid]["text"] for pid in some], found.alternatives,
                                                 index.stemmer, stemmed=stemmed, acronyms=found.acronyms)))
    strength = keyword_strength(found.keyword_hits, coverage)
    scores = {pid: Scores(pid, similarity[pid], coverage[pid], strength.get(pid, 0.0), 0.0,
                          window if rows[pid]["language"] == ENGLISH else 0.0)
              for pid, window in zip(pids, fine.tolist())}
    return scores, dict(zip(pids, groups))


def keyword_strength(keyword_hits: list[tuple[int, float]], coverage: dict[int, float]) -> dict[int, float]:
    """0..1 per keyword hit: BM25 relative to the best hit, times the share of query words matched.

    The share keeps a passage that matches one common word from outvoting a strong match by meaning;
    BM25 keeps rare words (drug names) ahead of common ones.
    """
    if not keyword_hits:
        return {}
    best = min(rank for _, rank in keyword_hits)  # FTS5's bm25() is negative: lower is better
    return {pid: (rank / best if best else 0.0) * coverage[pid] for pid, rank in keyword_hits}


def fuse(scores: dict[int, Scores], found: Retrieved, options: SearchOptions) -> dict[int, Scores]:
    """Stage 4: one ranking score per candidate, by mode.

    dense: the similarity; keyword: the keyword strength; hybrid "blend" (default): similarity plus
    `keyword_weight` × keyword strength, so words confirm a meaning match and a rare exact term lifts
    its passage; hybrid "rrf": reciprocal rank fusion of the two rankings.
    """
    if options.mode == "dense":
        fused = {pid: scores[pid].similarity for pid in found.dense_ids if pid in scores}
    elif options.mode == "keyword":
        fused = {pid: scores[pid].keyword for pid, _ in found.keyword_hits}
    elif options.fusion == "rrf":
        by_meaning = sorted(scores, key=lambda p: -scores[p].similarity)
        fused = rrf([by_meaning, [pid for pid, _ in found.keyword_hits]],
                    weights=[{}, {pid: s.keyword for pid, s in scores.items()}])
    else:
        fused = {pid: s.similarity + options.keyword_weight * s.keyword for pid, s in scores.items()}
    return {pid: scores[pid].with_fused(value) for pid, value in fused.items()}


def relevant(fused: dict[int, Scores], rows: dict, options: SearchOptions) -> list[Scores]:
    """Stage 5: the candidates that clear the floor, weighted by what they are, best first.

    Relevant by meaning: similarity, or its best window's alone less `WINDOW_FLOOR_MARGIN`, at least `floor`
    (a strong short answer in a long passage about something else is never hidden). Relevant by words: at least `min_coverage` of
    the query words. Anything else is dropped, so an off-topic query gets no clip at all. Sponsor
    reads are dropped unless `include_ads`; intros, outros and likely hallucinations are weighted down.
    """
    kept: list[Scores] = []
    for s in fused.values():
        kind = rows[s.pid]["kind"]
        if kind == "sponsor" and not options.include_ads:
            continue
        by_meaning = options.mode != "keyword" and max(s.similarity, s.window - WINDOW_FLOOR_MARGIN) >= options.floor
        by_words = options.mode != "dense" and s.coverage >= options.min_coverage and s.coverage > 0  # NaN is False
        if by_meaning or by_words:
            weight = (FLAGGED_WEIGHT if rows[s.pid]["flagged"] else 1.0) * (FRAME_WEIGHT if kind in ("intro", "outro") else 1.0)
            kept.append(s.with_fused(weight * s.fused))
    return sorted(kept, key=lambda s: (-s.fused, -s.similarity))


def confidence(similarity: float, coverage: float) -> str:
    """strong, partial or weak: from the absolute similarity and whether the query's words agree.

    Absolute, so "strong" means the same for every query (never relative to the best hit).
    """
    agree = coverage >= AGREEING_COVERAGE  # NaN (words not checked) is False
    if similarity >= STRONG_SIMILARITY or (similarity >= PARTIAL_SIMILARITY and agree):
        return "strong"
    if similarity >= PARTIAL_SIMILARITY or agree:
        return "partial"
    return "weak"


class Clip(NamedTuple):
    """One candidate clip: a window of a candidate passage, cut to what a listener hears."""

    scores: Scores
    row: sqlite3.Row  # the passage's own columns
    start: float
    end: float
    text: str
    speaker: str | None
    match: float  # cosine of the query with the clip's window
    rank: float  # the passage's ranking score with this window in place of its best one
    said: tuple[float, float]  # from the first word to the last (the clip without its lead-in)


def to_hits(index: SearchIndex, ranked: list[Scores], rows: dict, window_cos: dict[int, np.ndarray],
            found: Retrieved, terms: list[str], options: SearchOptions) -> list[Hit]:
    """Stage 6: each candidate passage cut to clips around its best windows (up to `WINDOWS_PER_PASSAGE`
    that do not overlap), ranked by their own windows; of two overlapping clips the better matching one
    stays; an intro or outro never above an answer of its own episode; per-episode excess dropped.

    `rows` are passages' own columns (passages_by_id(episodes=False)): the episode's are read per hit.
    """
    head = ranked[: options.k + EXTRA_CLIPS]
    # Every candidate's segments in one query, and their words' coverage in one pass (the query's side
    # worked out once): the same figures as one passage at a time, for a fraction of the calls.
    spans = [(rows[s.pid]["key"], rows[s.pid]["first_segment"], rows[s.pid]["last_segment"]) for s in head]
    segments = index.span_segments(spans) if options.trim else [[] for _ in head]
    words = _segment_coverages(index, [rows[s.pid] for s in head], segments, found, terms)
    clips: list[Clip] = []
    for s, segs, covered in zip(head, segments, words):
        clips += _clips(index, s, rows[s.pid], window_cos[s.pid], segs, covered, found, options)
    kept: list[Clip] = []
    for clip in sorted(clips, key=lambda c: -c.rank):
        # The same moment through an overlapping passage or window: the better-matching clip stays.
        same = [n for n, c in enumerate(kept) if c.row["key"] == clip.row["key"] and clip.said[0] < c.said[1]
                and clip.said[1] > c.said[0]]
        if not same:
            kept.append(clip)
        elif len(same) == 1 and clip.match > kept[same[0]].match:
            kept[same[0]] = clip._replace(rank=kept[same[0]].rank)  # in the better-ranked one's place
    hits: list[Hit] = []
    episodes: dict[str, sqlite3.Row | None] = {}
    for clip in _answers_before_frames(kept):
        s, row = clip.scores, clip.row
        if options.per_episode and sum(h.key == row["key"] for h in hits) >= options.per_episode:
            continue
        if row["key"] not in episodes:
            episodes[row["key"]] = index.episode_row(row["key"])
        ep = episodes[row["key"]]
        if ep is None:
            continue  # the episode was removed since the passage was read (a writer beside this reader)
        hits.append(Hit(
            show=ep["show"], episode=ep["episode"], guid=ep["guid"], key=row["key"], published=(ep["published"] or "")[:10] or None,
            start=clip.start, end=clip.end, text=clip.text, score=round(clip.rank, 4), audio_url=ep["audio_url"],
            source=ep["source"], link=ep["link"],
            chapter=chapter_at(chapters_from_json(ep["chapters"]), min(clip.start + LEAD_IN, clip.end)),
            flagged=bool(row["flagged"]), kind=row["kind"], speaker=clip.speaker, language=row["language"],
            confidence=_clip_confidence(clip, terms, found, index),
        ))
        if len(hits) >= options.k:
            break
    return hits


def _clip_confidence(clip: Clip, terms: list[str], found: Retrieved, index: SearchIndex) -> str:
    """The label of one clip, not of its passage: the passage's best window carries the passage's
    similarity and words; another window of it (a neighbour of the answer) only its own match and words."""
    s = clip.scores
    own = term_coverages(terms, [clip.text], found.alternatives, index.stemmer,
                         stemmed=clip.row["language"] == ENGLISH, acronyms=found.acronyms)[0]
    if clip.match >= s.window - 1e-6:  # the passage's best window
        return confidence(max(s.similarity, clip.match), own if math.isnan(s.coverage) else max(own, s.coverage))
    return confidence(max(clip.match, s.similarity - (s.window - clip.match)), own)


def _segment_coverages(index: SearchIndex, rows: list[sqlite3.Row], segments: list[list[Segment]], found: Retrieved,
                       terms: list[str]) -> list[np.ndarray]:
    """Per candidate passage, `term_coverages` of each of its segments (English by stem, other languages as
    written), in one call per kind."""
    out = [np.zeros(len(segs), dtype=np.float32) for segs in segments]
    for stemmed in (True, False):
        some = [n for n, row in enumerate(rows) if (row["language"] == ENGLISH) == stemmed and segments[n]]
        texts = [g.text for n in some for g in segments[n]]
        if not texts:
            continue
        flat = np.array(term_coverages(terms, texts, found.alternatives, index.stemmer, stemmed=stemmed,
                                       acronyms=found.acronyms), dtype=np.float32)
        at = 0
        for n in some:
            out[n] = flat[at : at + len(segments[n])]
            at += len(segments[n])
    return out


def _clips(index: SearchIndex, s: Scores, row: sqlite3.Row, cos: np.ndarray, segs: list[Segment], words: np.ndarray,
           found: Retrieved, options: SearchOptions) -> list[Clip]:
    """The clips a candidate passage gives, each built around one of its best windows (none for a best
    match that is a question nobody answers). `cos`: its windows' cosines (rows of `window_cosines`, as
    scoring computed them); `segs`: its segments (none when not trimming); `words`: each one's share of the
    query's words."""
    if not segs or row["kind"] == SOUNDBITE or len(segs) != len(cos):  # a soundbite plays as the publisher cut it
        match = max(s.similarity, s.window)
        return [Clip(s, row, float(row["start"]), float(row["end"]), row["text"], None, match, s.fused,
                     (float(row["start"]), float(row["end"])))]
    english = row["language"] == ENGLISH
    if not english:  # the English-only sentence model says nothing here: the window is chosen by its words
        cos = np.where(np.isfinite(cos), np.float32(0.0), cos)
    scored = cos.copy()
    most = words.copy()  # a window's words: the best share among its segments
    for size in range(1, WINDOW + 1):
        m = len(segs) - size + 1
        if m <= 0:
            break
        if size > 1:
            most = np.maximum(most[:m], words[size - 1 :])
        scored[:m, size - 1] += WINDOW_WORDS_BONUS * most
    out: list[Clip] = []
    taken: list[tuple[int, int]] = []
    for flat in np.argsort(-scored, axis=None, kind="stable"):
        first, size = divmod(int(flat), WINDOW)
        last = first + size
        if len(out) >= WINDOWS_PER_PASSAGE or not np.isfinite(scored[first, size]):
            break
        if any(first <= b and last >= a for a, b in taken):
            continue
        first, size = _tightest(scored, first, size)
        last = first + size
        taken.append((first, last))
        match = float(cos[first, size])
        # This window in place of the passage's best one, in the ranking score's own blend.
        rank = s.fused - (1 - PASSAGE_SHARE) * max(0.0, s.window - match)
        if all(_is_question(g.text) for g in segs[first : last + 1]):
            # The window asks the question: the clip is the question and the answer that follows, which
            # may run past this passage. A question nobody answers is not a clip.
            after = index.segments(row["key"], row["first_segment"] + last,
                                   row["first_segment"] + last + ANSWER_SEGMENTS)
            answer = answer_after(after)
            answer = [g for g in answer if g.end - segs[first].start <= CLIP_SECONDS + 10] or answer[:1]
            if answer:
                out.append(Clip(s, row, max(0.0, segs[first].start - LEAD_IN), answer[-1].end,
                                " ".join(g.text for g in [*segs[first : last + 1], *answer]),
                                next((g.speaker for g in answer if g.speaker != segs[first].speaker), answer[0].speaker),
                                match, rank, (segs[first].start, answer[-1].end)))
            continue
        start, end, a, b = window_clip(segs, first, last)
        who = first + int(np.argmax(cos[first : last + 1, 0]))  # who says the answer: the window's best segment
        out.append(Clip(s, row, start, end, " ".join(g.text for g in segs[a : b + 1]), segs[who].speaker, match, rank,
                        (segs[a].start, segs[b].end)))
    return out


def _tightest(scored: np.ndarray, first: int, size: int) -> tuple[int, int]:
    """The shortest window inside window (`first`, `size`) that scores within `TIGHT_MARGIN` of it (the best
    of those): a sentence that says the answer alone is the clip, not the two before it that add nothing."""
    best = (first, size)
    for sub in range(size):  # shorter sizes first
        inside = [(scored[i, sub], i) for i in range(first, first + size - sub + 1)]
        value, i = max(inside)
        if value >= scored[first, size] - TIGHT_MARGIN:
            return i, sub
    return best


def _answers_before_frames(clips: list[Clip]) -> list[Clip]:
    """The clips with each intro/outro moved just below the first answer (speech) of its own episode
    that ranks under it: an intro announcing the topic is a fine second hit, never the first."""
    out = list(clips)
    frames = [c for c in clips if c.row["kind"] in ("intro", "outro")]
    for clip in frames:
        n = next(i for i, c in enumerate(out) if c is clip)
        answer = next((m for m in range(n + 1, len(out)) if out[m].row["key"] == clip.row["key"]
                       and out[m].row["kind"] == "speech"), None)
        if answer is not None:
            out.insert(answer, out.pop(n))
    return out


RERANK_TOP = 20


def _rerank(reranker: Reranker, query: str, candidates: list[Scores], rows: dict) -> list[Scores]:
    head, tail = candidates[:RERANK_TOP], candidates[RERANK_TOP:]
    scores = reranker.scores(query, [rows[c.pid]["text"] for c in head])
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    return [head[i] for i in order] + tail


def group_by_episode(hits: list[Hit]) -> list[tuple[str, list[Hit]]]:
    """Hits grouped per episode (key), groups in the order of their best hit."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.key, []).append(hit)
    return list(groups.items())


def context(index: SearchIndex, hit: Hit, seconds: float = 30.0) -> list[Segment]:
    """The transcript around a hit: segments within `seconds` of the clip."""
    return [s for s in index.segments(hit.key) if s.end >= hit.start - seconds and s.start <= hit.end + seconds]
