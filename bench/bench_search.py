"""Search speed and scale: query latency, build time and memory, flat vs HNSW.

    .venv/bin/python -m bench.bench_search [--sizes 10000 100000] [--queries 200]

Passages are synthetic, at scale: transcripts of real English words (the
bundled model's vocabulary) drawn with Zipf frequencies and per-topic
vocabularies, so FTS5 sees realistic term statistics. They are cut into
passages by the real `make_passages`, and written straight into the index's
SQLite tables with synthetic unit vectors, because embedding 100k passages
with the real model on 2 cores takes hours (the first step measures it).
The synthetic vectors cluster around real embeddings of topic texts.

Queries are embedded by the REAL model at query time and every timed search
goes through `index.search.search()`, so latency includes query embedding,
FAISS, FTS5, row fetches and clip trimming. Figures are printed with the
machine's load average: other processes on a shared machine inflate them.

Runtime is dominated by the 100k step (bulk load ~2 min, HNSW build ~1 min,
1,200 timed searches). `--dir DIR` keeps the index so a rerun skips loading.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import load_average, rss_kb, status_kb
from podsearch.index import vectors
from podsearch.index.embed import Embedder, resolve_embed_model
from podsearch.index.keyword import STOPWORDS, keyword_search, query_terms, term_coverage
from podsearch.index.passages import make_passages, searchable_segments
from podsearch.index.search import (CANDIDATES, RRF_K, SearchOptions, rrf, search, window_clip, window_cosines,
                                    window_similarities)
from podsearch.index.store import SearchIndex
from podsearch.core.config import DEFAULT_EMBED_MODEL
from podsearch.core.records import Segment, Transcript

TOPICS = 256
TOPIC_WORDS = 60  # words a topic prefers
TOPIC_SHARE = 0.3  # share of content words drawn from the topic's list
STOP_SHARE = 0.45  # share of function words in speech
SEGMENTS_PER_EPISODE = 400  # ~45 minutes of 4-10 s Whisper segments
WORDS_PER_SECOND = 2.6
MODES = ("hybrid", "dense", "keyword")
DEFAULTS = SearchOptions()
TARGET_P50_MS, TARGET_P95_MS, TARGET_BYTES = 30.0, 80.0, 2048


# -- process figures ------------------------------------------------------------
def reset_peak() -> None:
    """Restart VmHWM (peak RSS) from the current RSS (Linux clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# -- synthetic corpus -------------------------------------------------------------
def content_vocabulary() -> list[str]:
    """Whole English words of the bundled model's vocabulary, stopwords excluded."""
    vocab = Path(resolve_embed_model(DEFAULT_EMBED_MODEL)) / "vocab.txt"
    words = [w for w in vocab.read_text(encoding="utf-8").split() if re.fullmatch(r"[a-z]{3,}", w)]
    return [w for w in words if w not in STOPWORDS]


@dataclass
class Corpus:
    """Seeded word sampler: Zipf over content words, plus topic-preferred words."""

    rng: np.random.Generator
    words: np.ndarray
    probs: np.ndarray
    stops: np.ndarray
    stop_probs: np.ndarray
    topics: np.ndarray  # (TOPICS, TOPIC_WORDS) indices into words

    @classmethod
    def make(cls, seed: int, size: int = 6000) -> "Corpus":
        rng = np.random.default_rng(seed)
        vocab = content_vocabulary()
        words = np.array(rng.permutation(vocab)[:size])
        ranks = np.arange(1, len(words) + 1)
        probs = 1.0 / ranks**1.05
        stops = np.array(sorted(STOPWORDS))
        stop_probs = 1.0 / np.arange(1, len(stops) + 1) ** 0.8
        # Topic words come from the mid-frequency band, like real subject terms.
        topics = rng.integers(100, len(words), size=(TOPICS, TOPIC_WORDS))
        return cls(rng, words, probs / probs.sum(), stops, stop_probs / stop_probs.sum(), topics)

    def text(self, n: int, topic: int) -> str:
        kinds = self.rng.random(n)
        out = np.empty(n, dtype=object)
        is_stop = kinds < STOP_SHARE
        is_topic = (~is_stop) & (self.rng.random(n) < TOPIC_SHARE)
        is_general = ~(is_stop | is_topic)
        out[is_stop] = self.rng.choice(self.stops, is_stop.sum(), p=self.stop_probs)
        out[is_topic] = self.words[self.rng.choice(self.topics[topic], is_topic.sum())]
        out[is_general] = self.rng.choice(self.words, is_general.sum(), p=self.probs)
        return " ".join(out) + "."

    def query(self, topic: int) -> str:
        """2-5 words a listener might type: topic terms, general words, maybe a function word."""
        n = int(self.rng.integers(2, 6))
        parts = [str(self.words[self.rng.choice(self.topics[topic])]) for _ in range(max(1, n // 2))]
        parts += [str(w) for w in self.rng.choice(self.words, n - len(parts), p=self.probs)]
        if self.rng.random() < 0.5:
            parts.insert(0, str(self.rng.choice(["how", "what", "why", "the", "about"])))
        return " ".join(parts)

    def transcript(self, guid: str, topic: int, segments: int = SEGMENTS_PER_EPISODE) -> Transcript:
        segs: list[Segment] = []
        t = 0.0
        for _ in range(segments):
            dur = float(self.rng.uniform(4.0, 10.0))
            segs.append(Segment(start=round(t, 2), end=round(t + dur, 2),
                                text=self.text(max(3, int(dur * WORDS_PER_SECOND)), topic)))
            t += dur + 0.2
        return Transcript(show=f"Show {topic % 40}", episode=f"Episode {guid}", guid=guid, segments=tuple(segs),
                          published=f"2025-{1 + topic % 12:02d}-{1 + int(guid[2:]) % 28:02d}T09:00:00+00:00",
                          audio_url=f"https://example.org/{guid}.mp3", source="whisper")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


# -- bulk load -----------------------------------------------------------------------
def bulk_load(ix: SearchIndex, corpus: Corpus, centroids: np.ndarray, target: int, model_name: str) -> float:
    """Add synthetic episodes until `ix` holds at least `target` passages; returns seconds.

    Writes the rows `SearchIndex.add_transcript` writes (episodes, segments
    with float16 vectors, passages with float32 vectors; FTS5 via the
    schema's trigger) but with vectors near the episode's topic centroid
    instead of model embeddings, then bumps the generation so the FAISS copy
    is rebuilt from SQLite on next use, exactly as after a crash.
    """
    db = ix.db
    started = time.perf_counter()
    count = ix.passage_count()
    n_eps = db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
    dim = centroids.shape[1]
    while count < target:
        with db:
            for _ in range(20):
                guid = f"ep{n_eps:06d}"
                topic = int(corpus.rng.integers(TOPICS))
                t = corpus.transcript(guid, topic)
                segments = searchable_segments(t)
                passages = make_passages(t)
                # Same-topic cosine ~0.5, unrelated ~0: a clustered space like real embeddings.
                seg_vecs = unit(centroids[topic] + corpus.rng.normal(size=(len(segments), dim)) / np.sqrt(dim))
                pas_vecs = unit(np.stack([seg_vecs[p.first_segment : p.last_segment + 1].mean(axis=0)
                                          for p in passages]))
                db.execute(
                    "INSERT INTO episodes(key, guid, content_hash, show, episode, published, source, audio_url, link,"
                    " language, chapters, persons) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (guid, guid, f"h-{guid}", t.show, t.episode, t.published, t.source, t.audio_url, None, "en",
                     json.dumps([{"start": 0.0, "title": "Intro"}]), "[]"),
                )
                db.executemany(
                    "INSERT INTO segments(key, idx, start, end, text, speaker, flagged, embedding)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    [(guid, i, s.start, s.end, s.text, None, 0, seg_vecs[i].astype(np.float16).tobytes())
                     for i, s in enumerate(segments)],
                )
                db.executemany(
                    "INSERT INTO passages(key, start, end, text, first_segment, last_segment, flagged, embedding)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    [(guid, p.start, p.end, p.text, p.first_segment, p.last_segment, 0, pas_vecs[i].tobytes())
                     for i, p in enumerate(passages)],
                )
                n_eps += 1
                count += len(passages)
                if count >= target:
                    break
        print(f"    loaded {count:,} passages ({time.perf_counter() - started:.0f} s)", flush=True)
    bump_generation(ix, model_name)
    return time.perf_counter() - started


def bump_generation(ix: SearchIndex, model_name: str | None = None) -> None:
    """Move the index generation on, so the next `faiss_index()` rebuilds from SQLite."""
    with ix.db:
        ix.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('generation', ?)", (str(ix.generation() + 1),))
        if model_name:
            ix.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('embed_model', ?)", (model_name,))


@contextmanager
def index_type(kind: str) -> Iterator[None]:
    """Force the FAISS type `build_index` picks: 'flat' or 'hnsw'."""
    saved = vectors.APPROX_THRESHOLD
    vectors.APPROX_THRESHOLD = 0 if kind == "hnsw" else 1 << 62
    try:
        yield
    finally:
        vectors.APPROX_THRESHOLD = saved


# -- measurements -------------------------------------------------------------------
@dataclass
class BuildFigures:
    seconds: float
    faiss_seconds: float  # rebuild minus reading the vectors from SQLite
    held_bytes: float  # RSS growth per passage once built (temporaries freed)
    peak_bytes: float  # peak RSS growth per passage during the build
    load_bytes: float  # RSS growth per passage loading the saved file (app start)
    file_bytes: float


def build(index_dir: Path, embedder: object, kind: str, n: int) -> tuple[SearchIndex, BuildFigures]:
    """Rebuild the FAISS copy as `kind`, then reopen it from file as a fresh index would."""
    builder = SearchIndex(index_dir, embedder=embedder)
    with index_type(kind):
        bump_generation(builder)
        base = rss_kb()
        reset_peak()
        t0 = time.perf_counter()
        builder.faiss_index()
        seconds = time.perf_counter() - t0
        peak = status_kb("VmHWM") - base
        held = rss_kb() - base
        # The rebuild is: read every vector from SQLite, build FAISS, save; time the read alone.
        t0 = time.perf_counter()
        rows = builder.db.execute("SELECT id, embedding FROM passages ORDER BY id").fetchall()
        np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        faiss_seconds = seconds - (time.perf_counter() - t0)
        del rows
    builder.close()
    del builder
    file_bytes = sum(p.stat().st_size for p in index_dir.glob("vectors-*.faiss"))
    reader = SearchIndex(index_dir, embedder=embedder)
    base = rss_kb()
    reader.faiss_index()
    load = rss_kb() - base
    return reader, BuildFigures(seconds, faiss_seconds, held * 1024 / n, peak * 1024 / n, load * 1024 / n,
                                file_bytes / n)


def time_searches(ix: SearchIndex, queries: list[str], k: int = 10) -> tuple[dict[str, list[float]], dict[str, list]]:
    """ms per search for each mode, modes interleaved so load swings hit them alike."""
    times: dict[str, list[float]] = {m: [] for m in (*MODES, "hybrid, query cached")}
    results: dict[str, list] = {m: [] for m in MODES}
    cache = getattr(ix.embedder, "encode_query", None)
    for q in queries:
        for mode in MODES:
            if cache is not None:
                cache.cache_clear()  # every timed search embeds its query, as a new query would
            t0 = time.perf_counter()
            hits = search(ix, q, SearchOptions(k=k, mode=mode))
            times[mode].append((time.perf_counter() - t0) * 1000)
            results[mode].append([(h.guid, h.start) for h in hits])
        # The app reruns a search on every click: the same query again, its vector cached.
        t0 = time.perf_counter()
        search(ix, q, SearchOptions(k=k, mode="hybrid"))
        times["hybrid, query cached"].append((time.perf_counter() - t0) * 1000)
    return times, results


def stage_breakdown(ix: SearchIndex, queries: list[str], k: int = 10) -> dict[str, list[float]]:
    """ms per stage of one hybrid search, mirroring `index.search.search` step by step."""
    stages: dict[str, list[float]] = {s: [] for s in
                                      ("count", "embed", "faiss", "fts5", "fetch", "score", "trim", "total")}

    def timed(stage: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        out = fn()
        stages[stage].append((time.perf_counter() - t0) * 1000)
        return out

    for q in queries:
        t_start = time.perf_counter()
        total = timed("count", ix.passage_count)
        terms = query_terms(q)
        qvec = timed("embed", lambda: ix.embedder._encode_query(q))  # uncached: every query is new
        _, dense = timed("faiss", lambda: vectors.search(ix.faiss_index(), qvec, CANDIDATES, None))
        words = timed("fts5", lambda: keyword_search(ix.db, terms, CANDIDATES, total_docs=total))
        fused = rrf([[int(i) for i in dense], [pid for pid, _ in words]])

        def fetch() -> tuple[dict, np.ndarray, np.ndarray, dict]:
            rows = ix.passages_by_id(fused)
            stacked, sizes = ix.stacked_span_vectors([(rows[p]["key"], rows[p]["first_segment"], rows[p]["last_segment"])
                                                      for p in fused])
            ends = np.cumsum(sizes).tolist()
            return rows, stacked, sizes, {p: stacked[end - n : end] for p, n, end in zip(fused, sizes.tolist(), ends)}

        rows, stacked, sizes, spans = timed("fetch", fetch)

        def score() -> list[int]:
            pids = list(fused)
            passage = np.vstack([np.frombuffer(rows[p]["embedding"], dtype=np.float32) for p in pids]) @ qvec
            sims = np.maximum(passage, window_similarities(stacked, sizes, qvec).similarity)
            keep = [p for i, p in enumerate(pids)
                    if sims[i] >= DEFAULTS.floor
                    or term_coverage(terms, rows[p]["text"], stemmer=ix.stemmer) >= DEFAULTS.min_coverage]
            return sorted(keep, key=lambda p: -fused[p])

        order = timed("score", score)

        def trim() -> None:
            for pid in order[:k]:
                row = rows[pid]
                segs = ix.segments(row["key"], row["first_segment"], row["last_segment"])
                seg_vecs = spans[pid]
                words = np.array([0.1 * term_coverage(terms, s.text, stemmer=ix.stemmer) for s in segs])
                cos = window_cosines(seg_vecs, np.zeros(len(seg_vecs), dtype=np.int64), qvec)
                first, size = divmod(int(np.argmax(cos + words[:, None])), cos.shape[1])
                window_clip(segs, first, first + size)

        timed("trim", trim)
        stages["total"].append((time.perf_counter() - t_start) * 1000)
    return stages


def dense_recall(approx: object, exact: object, qvecs: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-k that the approximate index also returns."""
    got = []
    for q in qvecs:
        _, a = vectors.search(approx, q, k)
        _, e = vectors.search(exact, q, k)
        got.append(len(set(a.tolist()) & set(e.tolist())) / max(1, len(e)))
    return float(np.mean(got))


def ef_sweep(approx: object, exact: object, qvecs: np.ndarray, efs: tuple[int, ...] = (64, 128, 256)) -> list[str]:
    """Dense recall@10 and FAISS-only p50 ms of HNSW at several efSearch values."""
    saved = vectors.HNSW_EF_SEARCH
    out = []
    try:
        for ef in efs:
            vectors.HNSW_EF_SEARCH = ef
            ts = []
            for q in qvecs:
                t0 = time.perf_counter()
                vectors.search(approx, q, CANDIDATES)
                ts.append((time.perf_counter() - t0) * 1000)
            out.append(f"ef {ef}: recall {dense_recall(approx, exact, qvecs):.3f}, {pct(ts, 50):.2f} ms")
    finally:
        vectors.HNSW_EF_SEARCH = saved
    return out


class TermStats:
    """Document frequency of query terms, stemmed exactly as FTS5 stems them.

    A what-if for keyword search: a term in most passages adds almost nothing
    to BM25 but makes FTS5 score every passage that has it.
    """

    def __init__(self, db: object) -> None:
        self.db = db
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab USING fts5vocab(main, passages_fts, 'row')")
        import sqlite3

        # A scratch FTS5 table with the index's tokenizer turns a word into its stored term(s).
        self.scratch = sqlite3.connect(":memory:")
        self.scratch.execute("CREATE VIRTUAL TABLE s USING fts5(text, tokenize='porter unicode61')")
        self.scratch.execute("CREATE VIRTUAL TABLE sv USING fts5vocab(s, 'row')")

    def df(self, term: str) -> int:
        self.scratch.execute("DELETE FROM s")
        self.scratch.execute("INSERT INTO s(text) VALUES (?)", (term,))
        stems = [r[0] for r in self.scratch.execute("SELECT term FROM sv")]
        rows = [self.db.execute("SELECT doc FROM temp.bench_vocab WHERE term = ?", (t,)).fetchone() for t in stems]
        return max((r[0] for r in rows if r), default=0)

    def prune(self, terms: list[str], n: int, max_share: float) -> list[str]:
        """Terms in at most max_share of n passages; the rarest one if none is."""
        dfs = {t: self.df(t) for t in terms}
        kept = [t for t in terms if dfs[t] <= max_share * n]
        return kept or ([min(terms, key=dfs.__getitem__)] if terms else [])


def fts5_whatif(ix: SearchIndex, queries: list[str], max_share: float = 0.05) -> str:
    """Keyword-side ms now vs without the joins vs with common terms pruned, and top-10 agreement."""
    n = ix.passage_count()
    stats = TermStats(ix.db)

    def no_join(terms: list[str]) -> list:
        from podsearch.index.keyword import fts_query

        return ix.db.execute("SELECT rowid, rank FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?",
                             (fts_query(terms), CANDIDATES)).fetchall()

    variants: dict[str, Callable[[list[str]], list]] = {
        "now": lambda t: keyword_search(ix.db, t, CANDIDATES),
        "no join": no_join,
        f"df<={max_share:.0%} pruned (incl. df lookups)": lambda t: keyword_search(
            ix.db, stats.prune(t, n, max_share), CANDIDATES),
    }
    out, tops = [], {}
    matched = [ix.db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?",
                             (" OR ".join(f'"{t}"' for t in query_terms(q)),)).fetchone()[0] for q in queries]
    for name, fn in variants.items():
        ts, tops[name] = [], []
        for q in queries:
            terms = query_terms(q)
            t0 = time.perf_counter()
            got = fn(terms)
            ts.append((time.perf_counter() - t0) * 1000)
            tops[name].append({int(r[0]) for r in got[:10]})
        out.append(f"{name} p50 {pct(ts, 50):.1f} p95 {pct(ts, 95):.1f} ms")
    pruned = list(tops)[-1]
    agree = np.mean([len(a & b) / max(1, len(a)) for a, b in zip(tops["now"], tops[pruned])])
    return (f"FTS5 keyword side, {len(queries)} queries matching p50 {pct(matched, 50):.0f} of {n:,} passages: "
            + "; ".join(out) + f"; pruned top-10 shares {agree:.2f} with now")


def hits_agreement(a: list[list], b: list[list]) -> float:
    """Mean overlap of two runs' top-k clip lists (same queries)."""
    return float(np.mean([len(set(x) & set(y)) / max(1, len(x), len(y)) for x, y in zip(a, b)]))


def embed_probe(embedder: Embedder, encoder: object, queries: list[str]) -> dict[str, float]:
    """p50 ms of one query embedding: eager PyTorch (torch at 1 thread and its default) vs the exported
    query encoder (ONNX Runtime) that searches use."""
    import torch

    def p50(fn: Callable[[str], object]) -> float:
        ts = []
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            ts.append((time.perf_counter() - t0) * 1000)
        return statistics.median(ts)

    default = torch.get_num_threads()
    out: dict[str, float] = {}
    for n in sorted({1, default}, reverse=True):
        torch.set_num_threads(n)
        out[f"eager torch {n} thread(s)"] = p50(lambda q: embedder.encode([q]))
    torch.set_num_threads(default)
    fast = getattr(encoder, "_fast", None)
    if fast is not None:
        out["onnxruntime (the searches' query encoder)"] = p50(fast)
    return out


# -- report -------------------------------------------------------------------------
def print_latency_table(rows: list[tuple[int, str, dict[str, list[float]]]]) -> None:
    print(f"\n{'passages':>9} {'index':>6} " + " ".join(f"{m + ' p50':>12} {m + ' p95':>12}" for m in MODES))
    for n, kind, times in rows:
        cells = " ".join(f"{pct(times[m], 50):12.1f} {pct(times[m], 95):12.1f}" for m in MODES)
        print(f"{n:9,d} {kind:>6} {cells}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--profile-queries", type=int, default=50, help="queries for the stage breakdown")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads for the run (0: leave)")
    ap.add_argument("--faiss-threads", type=int, default=0, help="faiss.omp_set_num_threads for the run (0: leave)")
    ap.add_argument("--dir", type=Path, default=None, help="index directory (default: a temp dir, removed)")
    args = ap.parse_args(argv)

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.faiss_threads:
        vectors.faiss.omp_set_num_threads(args.faiss_threads)
    print(f"cpus={os.cpu_count()} torch_threads={torch.get_num_threads()} "
          f"faiss_threads={vectors.faiss.omp_get_max_threads()} load={load_average()}", flush=True)
    tmp = None if args.dir else tempfile.TemporaryDirectory(prefix="podsearch-bench-")
    index_dir = args.dir or Path(tmp.name) / "index"
    started = time.perf_counter()

    from podsearch.core.config import load_settings
    from podsearch.service.models import Models

    models = Models()
    embedder = models.embedder()
    # What searches embed their queries with (the app, the CLI, the API): the model's ONNX export.
    encoder = models.query_encoder(embedder.name, load_settings(index_dir.parent).models_dir)
    corpus = Corpus.make(args.seed)
    topic_texts = [corpus.text(90, t) for t in range(TOPICS)]
    embedder.encode(topic_texts[:8])  # warm the model before timing it
    t0 = time.perf_counter()
    centroids = embedder.encode(topic_texts)
    per_passage = (time.perf_counter() - t0) / TOPICS
    print(f"real embedding: {per_passage * 1000:.0f} ms per passage -> 1k in {per_passage * 1000:.0f} s, "
          f"100k in {per_passage * 100_000 / 3600:.1f} h; using synthetic vectors near real topic embeddings",
          flush=True)

    queries = [corpus.query(int(corpus.rng.integers(TOPICS))) for _ in range(args.queries + args.warmup)]
    warm, queries = queries[: args.warmup], queries[args.warmup :]
    print(f"example queries: {queries[:4]}")
    probe_ms = embed_probe(embedder, encoder, queries[:40])
    print("query embedding p50: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in probe_ms.items()), flush=True)
    qvecs = embedder.encode(queries)
    probe = SearchIndex(index_dir, embedder=encoder)

    latency_rows: list[tuple[int, str, dict[str, list[float]]]] = []
    summary: list[str] = []
    for size in sorted(args.sizes):
        print(f"\n== {size:,} passages ==", flush=True)
        load_s = bulk_load(probe, corpus, centroids, size, embedder.name)
        n = probe.passage_count()
        text_bytes = probe.db.execute("SELECT AVG(LENGTH(text)) FROM passages").fetchone()[0]
        print(f"  bulk load {load_s:.0f} s; {n:,} passages, avg text {text_bytes:.0f} B, sqlite "
              f"{(index_dir / 'index.sqlite').stat().st_size / n:.0f} B/passage", flush=True)
        built: dict[str, tuple[object, dict, dict]] = {}
        for kind in ("flat", "hnsw"):
            ix, fig = build(index_dir, encoder, kind, n)
            print(f"  {kind}: rebuild {fig.seconds:.1f} s (of which FAISS build+save {fig.faiss_seconds:.1f} s), "
                  f"file {fig.file_bytes:.0f} B/passage, RSS held {fig.held_bytes:.0f} B/passage, "
                  f"peak {fig.peak_bytes:.0f} B/passage, load-from-file {fig.load_bytes:.0f} B/passage", flush=True)
            time_searches(ix, warm)
            times, results = time_searches(ix, queries)
            latency_rows.append((n, kind, times))
            cached = times["hybrid, query cached"]
            print(f"  {kind}: hybrid with its query already embedded (an app rerun) p50 {pct(cached, 50):.1f} ms "
                  f"p95 {pct(cached, 95):.1f} ms")
            print(f"  {kind}: hybrid p50 {pct(times['hybrid'], 50):.1f} ms p95 {pct(times['hybrid'], 95):.1f} ms "
                  f"(load {load_average()})", flush=True)
            built[kind] = (ix.faiss_index(), times, results)
            summary.append(
                f"{n:9,d} {kind:>5}: hybrid p50 {pct(times['hybrid'], 50):.1f} ms "
                f"[{'ok' if pct(times['hybrid'], 50) < TARGET_P50_MS else 'MISS'} <{TARGET_P50_MS:.0f}], "
                f"p95 {pct(times['hybrid'], 95):.1f} ms "
                f"[{'ok' if pct(times['hybrid'], 95) < TARGET_P95_MS else 'MISS'} <{TARGET_P95_MS:.0f}], "
                f"memory {fig.load_bytes:.0f} B/passage "
                f"[{'ok' if fig.load_bytes < TARGET_BYTES else 'MISS'} <{TARGET_BYTES}]"
            )
            if kind == "hnsw":
                stages = stage_breakdown(ix, queries[: args.profile_queries])
                print("  hybrid stage breakdown (hnsw), ms p50/mean: " + ", ".join(
                    f"{s} {pct(v, 50):.1f}/{np.mean(v):.1f}" for s, v in stages.items()), flush=True)
                print("  " + fts5_whatif(ix, queries[: args.profile_queries]), flush=True)
            ix.close()
        flat_index, flat_t, flat_r = built["flat"]
        hnsw_index, hnsw_t, hnsw_r = built["hnsw"]
        in_dist = unit(centroids[corpus.rng.integers(TOPICS, size=200)]
                       + corpus.rng.normal(size=(200, centroids.shape[1])) / np.sqrt(centroids.shape[1]))
        print(f"  HNSW recall@10 vs flat (dense): real queries {dense_recall(hnsw_index, flat_index, qvecs):.3f}, "
              f"in-distribution {dense_recall(hnsw_index, flat_index, in_dist):.3f}; "
              f"hybrid top-10 clips shared {hits_agreement(hnsw_r['hybrid'], flat_r['hybrid']):.3f}")
        print("  HNSW efSearch sweep (real queries): " + "; ".join(ef_sweep(hnsw_index, flat_index, qvecs)))
        print("  ratios HNSW/flat p50: " + ", ".join(
            f"{m} {pct(hnsw_t[m], 50) / pct(flat_t[m], 50):.2f}" for m in MODES)
              + f"; hybrid/dense p50: flat {pct(flat_t['hybrid'], 50) / pct(flat_t['dense'], 50):.2f},"
              f" hnsw {pct(hnsw_t['hybrid'], 50) / pct(hnsw_t['dense'], 50):.2f}", flush=True)
        del built, flat_index, hnsw_index

    print_latency_table(latency_rows)
    print(f"\ndefault index type: flat below {vectors.APPROX_THRESHOLD:,} passages, HNSW (M={vectors.HNSW_M}, "
          f"efSearch={vectors.HNSW_EF_SEARCH}) above; RRF k={RRF_K}, {CANDIDATES} candidates per side")
    print("targets (hybrid incl. query embedding; memory = RSS to load the saved index):")
    print("\n".join(summary))
    print(f"total {time.perf_counter() - started:.0f} s, load {load_average()}")
    probe.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
