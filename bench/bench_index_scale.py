"""Index at scale: recall, latency and memory of exact vs approximate FAISS indexes.

    .venv/bin/python -m bench.bench_index_scale [--sizes 100000 1000000] [--queries 200] [--hnsw-budget 300]

Vectors are synthetic 384-d unit vectors shaped like sentence embeddings, not
uniform noise (on which every neighbour is equally far and recall means
nothing): a shared direction (unrelated passages have cosine ~0.1), a few
thousand topic centroids with Zipf-like popularity, and per-passage noise
(passages of one topic have cosine ~0.45). Queries are held-out vectors of the
same process, perturbed like a paraphrase (cosine ~0.9 to their source).

Every search goes through `index.vectors.search` with k=50 (the app's dense
candidate count) on one query at a time with 2 FAISS threads, as the app runs
it. recall@10 is against exact search over the same vectors: "raw" is the
index's own top 10; "rescored" re-ranks its 50 candidates by exact inner
product, which `index.search` does anyway with the float32 embeddings it reads
from SQLite, so a refine step costs no index memory. Memory per passage is the
serialized index / N and the RSS the build kept / N.

HNSW is built in chunks against a time budget; when the projected build does
not fit, it stops and reports the size it reached (recall then is against
exact search over those vectors). "ivfpq-grow" is the app's incremental path:
trained on the first APPROX_THRESHOLD vectors, the rest added 50k at a time,
retrained only when `vectors.fits` says the index has outgrown its training
(build s is the whole growth, retraining included); "ivfpq-stale" is the same
growth with retraining disabled, to show what retraining buys. Ratios compare
with the flat index of the same requested size.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.common import load_average, rss_kb
from podsearch.index import vectors
from podsearch.index.vectors import IndexConfig

DIM = 384
TOPICS = 4000
SHARED = 0.35  # weight of the direction all embeddings share
NOISE = 1.1  # norm of per-passage noise around its topic centroid
QUERY_NOISE = 0.45  # norm of the paraphrase perturbation of a held-out vector
CANDIDATES = 50  # index.search.CANDIDATES
K = 10
CHUNK = 50_000


# -- process figures ------------------------------------------------------------
def rss_bytes() -> int:
    """Resident set size after returning freed heap to the OS (glibc keeps it otherwise)."""
    return rss_kb() * 1024


def unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# -- synthetic embeddings ---------------------------------------------------------
@dataclass
class Space:
    """A seeded generator of embedding-like vectors."""

    rng: np.random.Generator
    shared: np.ndarray
    centroids: np.ndarray
    popularity: np.ndarray

    @classmethod
    def make(cls, seed: int) -> "Space":
        rng = np.random.default_rng(seed)
        shared = unit(rng.standard_normal((1, DIM), dtype=np.float32))[0]
        centroids = unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
        popularity = 1.0 / np.arange(1, TOPICS + 1) ** 0.7
        return cls(rng, shared, centroids, popularity / popularity.sum())

    def sample(self, n: int) -> np.ndarray:
        out = np.empty((n, DIM), dtype=np.float32)
        for lo in range(0, n, CHUNK):
            m = min(CHUNK, n - lo)
            topic = self.rng.choice(TOPICS, m, p=self.popularity)
            noise = self.rng.standard_normal((m, DIM), dtype=np.float32) * np.float32(NOISE / math.sqrt(DIM))
            out[lo:lo + m] = unit(SHARED * self.shared + self.centroids[topic] + noise)
        return out

    def queries(self, n: int) -> np.ndarray:
        held_out = self.sample(n)
        noise = self.rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(QUERY_NOISE / math.sqrt(DIM))
        return unit(held_out + noise)


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of the exact top-k by inner product, per query."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for lo in range(0, len(data), 200_000):
        scores = queries @ data[lo:lo + 200_000].T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], 1)
        cand_i = np.concatenate([best_i, part + lo], 1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return best_i


# -- measuring ----------------------------------------------------------------------
@dataclass
class Row:
    group: int  # the requested size; HNSW may measure fewer vectors
    kind: str
    param: str
    n: int
    build_s: float
    recall_raw: float
    recall_rescored: float
    p50_ms: float
    p95_ms: float
    file_bpp: float
    rss_bpp: float


def measure(index, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, warmup: int,
            **params: int) -> tuple[float, float, float, float]:
    """(raw recall@10, rescored recall@10, p50 ms, p95 ms) of single-query searches."""
    for q in queries[:warmup]:
        vectors.search(index, q, CANDIDATES, **params)
    times, raw, rescored = [], [], []
    for q, true in zip(queries, truth):
        t0 = time.perf_counter()
        _, ids = vectors.search(index, q, CANDIDATES, **params)
        times.append(time.perf_counter() - t0)
        want = set(true[:K].tolist())
        raw.append(len(want & set(ids[:K].tolist())) / K)
        exact = data[ids] @ q
        rescored.append(len(want & set(ids[np.argsort(-exact)[:K]].tolist())) / K)
    ms = np.asarray(times) * 1000
    return float(np.mean(raw)), float(np.mean(rescored)), float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def file_bytes(index) -> int:
    return int(vectors.faiss.serialize_index(index).nbytes)


def timed_build(build: Callable[[], object]) -> tuple[object, float, int]:
    """(index, seconds, RSS bytes the build kept)."""
    before = rss_bytes()
    t0 = time.perf_counter()
    index = build()
    seconds = time.perf_counter() - t0
    return index, seconds, rss_bytes() - before


def build_hnsw_budgeted(data: np.ndarray, budget_s: float) -> tuple[object, float, int]:
    """HNSW over as many rows of `data` as fit in `budget_s` (whole chunks); (index, s, n)."""
    index = vectors.new_index(DIM, len(data), IndexConfig(kind="hnsw", approx_threshold=0))
    t0 = time.perf_counter()
    n = 0
    while n < len(data):
        m = min(CHUNK, len(data) - n)
        index.add_with_ids(data[n:n + m], np.arange(n, n + m, dtype=np.int64))
        n += m
        elapsed = time.perf_counter() - t0
        # Insertion slows as the graph deepens; assume the next chunk is 10% slower.
        if n < len(data) and elapsed + 1.1 * elapsed / n * min(CHUNK, len(data) - n) > budget_s:
            break
    return index, time.perf_counter() - t0, n


def bench_size(space: Space, n: int, queries: np.ndarray, args: argparse.Namespace) -> list[Row]:
    """Every index kind over `n` passages."""
    print(f"\n== {n:,} passages ({DIM}-d, {TOPICS} topics), load {load_average()} ==", flush=True)
    t0 = time.perf_counter()
    data = space.sample(n)
    ids = np.arange(n, dtype=np.int64)
    truth = exact_top(data, queries, K)
    sims = data[:2000] @ data[2000:4000].T
    print(f"  data {time.perf_counter() - t0:.0f} s; cosine of random pairs mean {sims.mean():.2f}, "
          f"query to its true top-1 mean {np.mean(np.sum(data[truth[:, 0]] * queries, 1)):.2f}, "
          f"to its 10th {np.mean(np.sum(data[truth[:, 9]] * queries, 1)):.2f}", flush=True)
    rows: list[Row] = []

    def run(kind: str, index, seconds: float, held: int, size: int, sweep: list[tuple[str, dict]]) -> None:
        fb = file_bytes(index) / size
        for label, params in sweep:
            raw, res, p50, p95 = measure(index, data[:size], queries, truth_for[size], args.warmup, **params)
            rows.append(Row(n, kind, label, size, seconds, raw, res, p50, p95, fb, held / size))
            print(f"  {kind:11} {label:12} n={size:,} build {seconds:6.1f} s recall@10 raw {raw:.3f} "
                  f"rescored {res:.3f} p50 {p50:6.2f} ms p95 {p95:6.2f} ms {fb:6.0f} B/passage file, "
                  f"{held / size:6.0f} B/passage RSS (load {load_average()})", flush=True)

    truth_for = {n: truth}
    flat, s, held = timed_build(lambda: vectors.build_index(DIM, ids, data, IndexConfig(kind="flat")))
    run("flat", flat, s, held, n, [("exact", {})])
    del flat

    before = rss_bytes()
    hnsw, s, reached = build_hnsw_budgeted(data, args.hnsw_budget)
    held = rss_bytes() - before
    if reached < n:
        print(f"  HNSW build too slow for {n:,} in the {args.hnsw_budget:.0f} s budget: {reached:,} vectors in "
              f"{s:.0f} s ({reached / s:,.0f}/s); at that rate {n:,} would take >= {n / reached * s / 60:.0f} min. "
              f"Measuring HNSW at {reached:,} (exact top-10 recomputed over those vectors).", flush=True)
        truth_for[reached] = exact_top(data[:reached], queries, K)
    run("hnsw", hnsw, s, held, reached, [(f"efSearch={ef}", {"ef_search": ef}) for ef in (64, 128, 256)])
    del hnsw

    cfg = IndexConfig(kind="ivfpq", approx_threshold=0)
    ivf, s, held = timed_build(lambda: vectors.build_index(DIM, ids, data, cfg))
    _, m, nbits = vectors.ivf_shape(n, DIM)
    trained = vectors.faiss.extract_index_ivf(ivf)
    print(f"  ivfpq: nlist {trained.nlist}, PQ {m}x{nbits} bits, trained on {min(n, vectors.IVF_MAX_TRAIN):,}, "
          f"default nprobe {trained.nprobe}", flush=True)
    run("ivfpq", ivf, s, held, n, [(f"nprobe={p}", {"nprobe": p}) for p in args.nprobe])
    del ivf, trained

    start = vectors.APPROX_THRESHOLD
    for kind, retrain in (("ivfpq-grow", True), ("ivfpq-stale", False)):
        if n <= start:
            break
        trained_at: list[int] = []

        def grow() -> object:
            index = vectors.build_index(DIM, ids[:start], data[:start], cfg)
            trained_at.append(start)
            for lo in range(start, n, CHUNK):
                hi = min(n, lo + CHUNK)
                if retrain and not vectors.fits(index, cfg, hi):
                    index = vectors.build_index(DIM, ids[:hi], data[:hi], cfg)
                    trained_at.append(hi)
                else:
                    index.add_with_ids(data[lo:hi], ids[lo:hi])
            return index

        grown, s, held = timed_build(grow)
        ivf = vectors.faiss.extract_index_ivf(grown)
        print(f"  {kind}: trained at {', '.join(f'{t:,}' for t in trained_at)} vectors (nlist now {ivf.nlist}, "
              f"default nprobe {ivf.nprobe}), grown to {n:,} in steps of {CHUNK:,}", flush=True)
        run(kind, grown, s, held, n, [(f"nprobe={p}", {"nprobe": p}) for p in args.nprobe])
        del grown, ivf
    return rows


def print_table(rows: list[Row]) -> None:
    print("\nkind        param          passages  build s  recall@10 raw/rescored  p50 ms  p95 ms  "
          "B/passage file  RSS   p50 x flat  file x flat")
    flat = {r.group: r for r in rows if r.kind == "flat"}
    for r in rows:
        base = flat[r.group]
        print(f"{r.kind:11} {r.param:13} {r.n:9,d} {r.build_s:8.1f}  {r.recall_raw:9.3f} / {r.recall_rescored:.3f}"
              f"    {r.p50_ms:6.2f}  {r.p95_ms:6.2f}  {r.file_bpp:14.0f} {r.rss_bpp:5.0f}   "
              f"{r.p50_ms / base.p50_ms:9.2f}  {r.file_bpp / base.file_bpp:10.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20, help="untimed searches before each timed run")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--hnsw-budget", type=float, default=300.0, help="seconds allowed for one HNSW build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    vectors.faiss.omp_set_num_threads(args.threads)
    print(f"faiss {vectors.faiss.__version__}, threads {args.threads}, {args.queries} queries ({args.warmup} warm-up),"
          f" k={CANDIDATES}, HNSW M={vectors.HNSW_M} efConstruction={vectors.HNSW_EF_CONSTRUCTION}, "
          f"load {load_average()}", flush=True)
    started = time.perf_counter()
    space = Space.make(args.seed)
    queries = space.queries(args.queries)
    rows: list[Row] = []
    for n in sorted(args.sizes):
        rows += bench_size(space, n, queries, args)
    print_table(rows)
    print(f"total {time.perf_counter() - started:.0f} s, load {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
