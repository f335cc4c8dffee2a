"""Hybrid search: dense (FAISS) + keyword (FTS5 BM25), fused, floored, trimmed to clips."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from podsearch.index import vectors
from podsearch.index.keyword import keyword_search, query_terms, term_coverage
from podsearch.index.store import SearchIndex, chapters_from_json
from podsearch.core.errors import QueryError
from podsearch.core.records import Hit, Segment, chapter_at

Mode = Literal["hybrid", "dense", "keyword"]
RRF_K = 60
CANDIDATES = 50
LEAD_IN = 1.5  # seconds of context before the answer starts
_KEYWORD_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="podsearch-keyword")


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before ranking."""

    shows: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None  # ISO date, inclusive
    sources: tuple[str, ...] = ()
    guids: tuple[str, ...] = ()
    person: str | None = None

    def sql(self) -> tuple[str, tuple]:
        """A WHERE fragment over passages p / episodes e, with its arguments."""
        parts: list[str] = []
        args: list[object] = []
        for column, values in (("e.show", self.shows), ("e.source", self.sources), ("e.guid", self.guids)):
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
            # A person of the episode (podcast:person), or a speaker inside the passage (publisher transcripts).
            parts.append(
                "(EXISTS (SELECT 1 FROM json_each(e.persons) j WHERE lower(json_extract(j.value, '$.name')) LIKE ? ESCAPE '\\')"
                " OR EXISTS (SELECT 1 FROM segments s WHERE s.guid = p.guid"
                " AND s.idx BETWEEN p.first_segment AND p.last_segment AND lower(s.speaker) LIKE ? ESCAPE '\\'))"
            )
            pattern = "%" + self.person.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args.extend([pattern, pattern])
        return " AND ".join(parts), tuple(args)

    @property
    def active(self) -> bool:
        """True when any restriction is set."""
        return bool(self.shows or self.sources or self.guids or self.date_from or self.date_to or self.person)


@dataclass(frozen=True)
class SearchOptions:
    """How to search: result count, mode, filters and the relevance floor."""

    k: int = 10
    mode: Mode = "hybrid"
    filters: Filters = field(default_factory=Filters)
    floor: float = 0.30  # minimum cosine similarity for a meaning-only match
    fusion: Literal["blend", "rrf"] = "blend"
    keyword_weight: float = 0.4  # blend: similarity + weight * keyword strength
    min_coverage: float = 0.5  # share of query words a keyword-only match must contain
    trim: bool = True
    per_episode: int | None = None  # at most this many clips from one episode
    rerank_model: str | None = None  # a cross-encoder to re-order the top candidates


@dataclass(frozen=True)
class _Candidate:
    pid: int
    fused: float
    similarity: float
    coverage: float


def rrf(rankings: list[list[int]], k: int = RRF_K, weights: list[dict[int, float]] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion of best-first id lists (optionally weighting ids per list)."""
    scores: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights else {}
        for rank, pid in enumerate(ranking):
            scores[pid] = scores.get(pid, 0.0) + w.get(pid, 1.0) / (k + rank + 1)
    return scores


def _keyword_strength(keyword_hits: list[tuple[int, float]],
                      scored: dict[int, tuple[float, np.ndarray, float]]) -> dict[int, float]:
    """0..1 per keyword hit: BM25 relative to the best hit, times the share of query words matched.

    The share keeps a passage that matches one common word from outvoting a
    strong match by meaning; BM25 keeps rare words (drug names) ahead of common ones.
    """
    if not keyword_hits:
        return {}
    best = min(rank for _, rank in keyword_hits)  # FTS5's bm25() is negative: lower is better
    return {pid: (rank / best if best else 0.0) * scored[pid][2] for pid, rank in keyword_hits}


def fine_similarities(groups: list[np.ndarray], qvec: np.ndarray) -> np.ndarray:
    """Per passage, the best cosine of the query with one of its segments or two adjacent ones.

    All passages at once: one matrix product over their stacked segment vectors; -1 for a passage without any.
    """
    out = np.full(len(groups), -1.0, dtype=np.float32)
    sizes = np.array([len(g) for g in groups])
    if not sizes.sum():
        return out
    stacked = np.vstack([g for g in groups if len(g)]).astype(np.float32, copy=False)
    sims = stacked @ qvec
    # Adjacent pairs: cos(a + b, q) = (a.q + b.q) / |a + b|, with |a + b| from the rows' norms and dot.
    norms2 = np.einsum("ij,ij->i", stacked, stacked)
    dots = np.einsum("ij,ij->i", stacked[:-1], stacked[1:])
    pair = (sims[:-1] + sims[1:]) / np.sqrt(np.maximum(norms2[:-1] + norms2[1:] + 2 * dots, 1e-18))
    best = np.concatenate([np.maximum(sims[:-1], pair), sims[-1:]]) if len(sims) > 1 else sims
    ends = np.cumsum(sizes[sizes > 0])
    starts = ends - sizes[sizes > 0]
    # A pair must not straddle two passages: each group's last row keeps its own score.
    best[ends - 1] = sims[ends - 1]
    out[sizes > 0] = np.maximum.reduceat(best, starts)
    return out


def trim_clip(
    segments: list[Segment], scores: np.ndarray, lead_in: float = LEAD_IN, max_seconds: float = 30.0,
    min_seconds: float = 8.0,
) -> tuple[float, float, int, int]:
    """Start/end of the clip inside a passage: from the best-matching segment on.

    The clip starts where the answer starts (the best segment, or the one
    before it when that scores nearly as well) with a short lead-in, and runs
    on while following segments stay relevant, up to `max_seconds`.
    """
    best = int(np.argmax(scores))
    first = best
    if best > 0 and (scores[best - 1] >= 0.9 * scores[best] or not _ends_sentence(segments[best - 1].text)):
        first = best - 1  # the answer starts earlier, or the best segment is the tail of a sentence
    last = best

    def fits(j: int) -> bool:
        return j < len(segments) and segments[j].end - segments[first].start <= max_seconds

    while fits(last + 1) and scores[last + 1] >= 0.6 * scores[best]:
        last += 1
    # Whisper's segments are often fragments: finish the sentence and give the
    # listener enough to follow.
    while fits(last + 1) and (
        not _ends_sentence(segments[last].text) or segments[last].end - segments[first].start < min_seconds
    ):
        last += 1
    start = max(0.0, segments[first].start - lead_in)
    return round(start, 2), round(segments[last].end, 2), first, last


def _ends_sentence(text: str) -> bool:
    return text.rstrip().endswith((".", "?", "!", "…", '"', "”"))


def search(index: SearchIndex, query: str, options: SearchOptions = SearchOptions()) -> list[Hit]:
    """The best clips for `query`, most relevant first; [] when nothing is relevant."""
    query = (query or "").strip()
    if not query:
        raise QueryError("the search query is empty; type a few words describing what you want to hear")
    if options.k < 1:
        raise QueryError(f"-k must be at least 1 (got {options.k})")
    total = index.passage_count()
    if total == 0:
        return []
    terms = query_terms(query)
    where, args = options.filters.sql()
    allowed: np.ndarray | None = None
    if options.filters.active:
        ids = [r[0] for r in index.db.execute(
            "SELECT p.id FROM passages p JOIN episodes e ON e.guid = p.guid WHERE " + where, args
        )]
        allowed = np.array(ids, dtype=np.int64)
        if not len(allowed):
            return []

    embedder = index.embedder
    encode_query = getattr(embedder, "encode_query", None)
    keyword_job: Future | None = None
    if options.mode in ("hybrid", "keyword"):
        # FTS5 runs while the model embeds the query: both release the GIL,
        # and together they are most of a search's time.
        keyword_job = _KEYWORD_POOL.submit(keyword_search, index.db, terms, CANDIDATES, where, args, total)
    try:
        faiss_index = index.faiss_index() if options.mode in ("hybrid", "dense") else None
        qvec = encode_query(query) if encode_query else embedder.encode([query])[0]
        dense_ids: list[int] = []
        if faiss_index is not None:
            dense_ids = [int(i) for i in vectors.search(faiss_index, qvec, CANDIDATES, allowed)[1]]
    finally:
        keyword_hits = keyword_job.result() if keyword_job is not None else []
    keyword_ids = [pid for pid, _ in keyword_hits]
    rows = index.passages_by_id(dict.fromkeys(dense_ids + keyword_ids))

    spans = index.span_vectors((r["guid"], r["first_segment"], r["last_segment"]) for r in rows.values())
    pids = list(rows)
    groups = [spans[(rows[p]["guid"], rows[p]["first_segment"], rows[p]["last_segment"])] for p in pids]
    passage_sims = (np.vstack([np.frombuffer(rows[p]["embedding"], dtype=np.float32) for p in pids]) @ qvec
                    if pids else np.zeros(0, dtype=np.float32))
    fine = fine_similarities(groups, qvec)
    keyword_set = {pid for pid, _ in keyword_hits}

    def words_matched(pid: int, similarity: float) -> float:
        # Needed for keyword strength, and for a match by words below the floor;
        # a passage relevant by meaning alone skips the tokenising.
        if pid in keyword_set or similarity < options.floor:
            return term_coverage(terms, rows[pid]["text"])
        return float("nan")

    scored: dict[int, tuple[float, np.ndarray, float]] = {}
    for i, pid in enumerate(pids):
        similarity = float(max(passage_sims[i], fine[i]))
        scored[pid] = (similarity, groups[i], words_matched(pid, similarity))

    # The dense list is re-ranked by the best sentence-level match inside each
    # passage: a short answer inside a long passage is not drowned by the rest.
    dense_rank = sorted(dense_ids if options.mode == "dense" else list(rows), key=lambda i: -scored[i][0])
    keyword_strength = _keyword_strength(keyword_hits, scored)
    if options.mode == "dense":
        fused = {pid: scored[pid][0] for pid in dense_rank}
    elif options.mode == "keyword":
        fused = dict(keyword_strength)
    elif options.fusion == "rrf":
        fused = rrf([dense_rank, keyword_ids], weights=[{}, keyword_strength])
    else:
        fused = {pid: scored[pid][0] + options.keyword_weight * keyword_strength.get(pid, 0.0) for pid in rows}
    top = max(fused.values(), default=1.0) or 1.0

    candidates: list[_Candidate] = []
    for pid, score in fused.items():
        row = rows[pid]
        similarity, _, coverage = scored[pid]
        relevant_by_meaning = options.mode != "keyword" and similarity >= options.floor
        relevant_by_words = options.mode != "dense" and coverage >= options.min_coverage and coverage > 0  # NaN (not needed) is False
        if not (relevant_by_meaning or relevant_by_words):
            continue
        # Likely-hallucinated passages sink below trustworthy ones.
        weight = 0.5 if row["flagged"] else 1.0
        candidates.append(_Candidate(pid, weight * score / top, similarity, coverage))
    candidates.sort(key=lambda c: (-c.fused, -c.similarity))
    if options.rerank_model and candidates:
        candidates = _rerank(options.rerank_model, query, candidates, rows)

    hits: list[Hit] = []
    for cand in candidates:
        row = rows[cand.pid]
        start, end, text = float(row["start"]), float(row["end"]), row["text"]
        segs = index.segments(row["guid"], row["first_segment"], row["last_segment"]) if options.trim else []
        if options.trim and segs and row["kind"] == "speech":  # a soundbite is played as the publisher cut it
            seg_scores = scored[cand.pid][1] @ qvec + np.array([0.5 * term_coverage(terms, s.text) for s in segs])
            start, end, first, last = trim_clip(segs, seg_scores)
            text = " ".join(s.text for s in segs[first : last + 1])
        if any(h.guid == row["guid"] and start < h.end and end > h.start for h in hits):
            continue  # same moment already found through an overlapping passage
        if options.per_episode and sum(h.guid == row["guid"] for h in hits) >= options.per_episode:
            continue
        hits.append(
            Hit(
                show=row["show"], episode=row["episode"], guid=row["guid"],
                published=(row["published"] or "")[:10] or None,
                start=start, end=end, text=text,
                score=round(cand.fused, 4), audio_url=row["audio_url"], source=row["source"],
                link=row["link"], chapter=chapter_at(chapters_from_json(row["chapters"]), min(start + LEAD_IN, end)),
                flagged=bool(row["flagged"]), kind=row["kind"],
            )
        )
        if len(hits) >= options.k:
            break
    return hits


RERANK_TOP = 20


def _rerank(model: str, query: str, candidates: list[_Candidate], rows: dict) -> list[_Candidate]:
    from podsearch.index.rerank import get_reranker

    head, tail = candidates[:RERANK_TOP], candidates[RERANK_TOP:]
    scores = get_reranker(model).scores(query, [rows[c.pid]["text"] for c in head])
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    return [head[i] for i in order] + tail


def group_by_episode(hits: list[Hit]) -> list[tuple[str, list[Hit]]]:
    """Hits grouped per episode (guid), groups in the order of their best hit."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.guid, []).append(hit)
    return list(groups.items())


def context(index: SearchIndex, hit: Hit, seconds: float = 30.0) -> list[Segment]:
    """The transcript around a hit: segments within `seconds` of the clip."""
    return [s for s in index.segments(hit.guid) if s.end >= hit.start - seconds and s.start <= hit.end + seconds]
