"""The FAISS vector index: exact while small, approximate past a threshold; saved atomically.

Which approximate index is used past `approx_threshold` vectors is a setting
(`IndexConfig.kind`): HNSW (default) keeps full vectors plus a graph (~1.8 KB
per passage) and cannot delete; IVF-PQ keeps 96-byte codes (~0.13 KB per
passage), is trained on the vectors present when the threshold is crossed,
then grows with `add_with_ids` (retrained only after 4x growth) and deletes
in place. SQLite keeps the
exact vectors, and `index.search` re-scores candidates with them, which
recovers most of what the codes lose (bench/bench_index_scale.py).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from podsearch.core.config import INDEX_KINDS
from podsearch.core.errors import ConfigError

# Below this many vectors an exact (flat) search is fast and perfect.
APPROX_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# bench/bench_search.py at 100k passages clustered like real topics: recall@10
# against exact search 0.64 at 128, 0.76 at 256, for 0.4 -> 0.65 ms.
HNSW_EF_SEARCH = 256
# IVF-PQ: nlist ~ 4*sqrt(N), with enough training points per list for k-means.
IVF_MAX_NLIST = 4096
IVF_TRAIN_PER_LIST = 39  # FAISS warns below 39 points per centroid
IVF_MAX_TRAIN = 200_000  # k-means cost grows with points x lists; a sample suffices
IVF_MIN_VECTORS = 128  # fewer cannot train a useful product quantiser
# 384-d -> 96 one-byte codes per vector: 48 codes lost ~5 points of recall (bench).
PQ_DIMS_PER_CODE = 4
# Rescored recall@10 at 100k: nprobe 32 -> 0.94, 64 -> 0.96, 128 -> 0.97 (~1 ms); at 1M
# it levels off at ~0.97 by nprobe 32: there the codes, not the lists, limit it.
IVF_MIN_NPROBE = 32
IVF_MAX_NPROBE = 128
# Retrain once the index holds this many times the vectors it was trained for:
# trained at 50k and grown to 1M, recall@10 is 0.934 at 18 ms vs 0.956 at 9 ms (bench).
IVF_RETRAIN_GROWTH = 4


@dataclass(frozen=True)
class IndexConfig:
    """Which index to keep: `kind` past `approx_threshold` vectors, exact below.

    kind: "auto" (currently HNSW), "hnsw", "ivfpq", or "flat" (never approximate).
    approx_threshold None means the module's APPROX_THRESHOLD, read when used.
    """

    kind: str = "auto"
    approx_threshold: int | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind)

    @property
    def threshold(self) -> int:
        return APPROX_THRESHOLD if self.approx_threshold is None else int(self.approx_threshold)


def check_kind(kind: str) -> str:
    """`kind` if it names a known index kind, else a ConfigError listing the choices."""
    if kind not in INDEX_KINDS:
        raise ConfigError(f"unknown index kind {kind!r}; choose one of: {', '.join(INDEX_KINDS)}")
    return kind


def kind_for(config: IndexConfig, n: int) -> str:
    """The concrete kind ("flat", "hnsw" or "ivfpq") that suits `n` vectors."""
    if config.kind == "flat" or n < config.threshold:
        return "flat"
    if config.kind == "ivfpq":
        return "ivfpq" if n >= IVF_MIN_VECTORS else "flat"
    return "hnsw"


def index_kind(index: faiss.Index) -> str:
    """The concrete kind of a built index: "flat", "hnsw" or "ivfpq"."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexIVF):
        return "ivfpq"
    return "flat"


def is_approximate(index: faiss.Index) -> bool:
    """True for an HNSW or IVF-PQ index."""
    return index_kind(index) != "flat"


def can_remove(index: faiss.Index) -> bool:
    """False for HNSW, whose graph cannot drop vectors (the caller rebuilds)."""
    return index_kind(index) != "hnsw"


def fits(index: faiss.Index, config: IndexConfig, n: int) -> bool:
    """True when `index` suits `n` vectors under `config`; False means rebuild.

    An IVF index also stops fitting once it has outgrown its training
    IVF_RETRAIN_GROWTH times over (nlist grows with sqrt(N)), so an index
    that grows one episode at a time retrains a handful of times, not per add.
    """
    kind = index_kind(index)
    if kind != kind_for(config, n):
        return False
    if kind == "ivfpq":
        nlist = faiss.extract_index_ivf(index).nlist
        return nlist * math.sqrt(IVF_RETRAIN_GROWTH) >= ivf_shape(n, index.d)[0]
    return True


def new_index(dim: int, expected_size: int = 0, config: IndexConfig | None = None) -> faiss.Index:
    """An empty id-mapped flat or HNSW index suiting `expected_size` vectors.

    IVF-PQ needs training data, so it is made by `build_index` only.
    """
    if kind_for(config or IndexConfig(), expected_size) == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return faiss.IndexIDMap2(base)


def ivf_shape(n: int, dim: int) -> tuple[int, int, int]:
    """(nlist, pq_m, pq_nbits) for training IVF-PQ on `n` vectors of `dim`."""
    nlist = max(1, min(int(4 * math.sqrt(n)), n // IVF_TRAIN_PER_LIST, IVF_MAX_NLIST))
    m = max(d for d in range(1, max(1, dim // PQ_DIMS_PER_CODE) + 1) if dim % d == 0)
    # Each sub-quantiser runs k-means with 2**nbits centroids on the same n points.
    nbits = max(1, min(8, int(math.log2(n / IVF_TRAIN_PER_LIST))))
    return nlist, m, nbits


def default_nprobe(nlist: int) -> int:
    """Lists to scan per query: ~1/16 of them, within [32, 128] (bench/bench_index_scale.py)."""
    return min(nlist, max(IVF_MIN_NPROBE, min(IVF_MAX_NPROBE, nlist // 16)))


def train_ivfpq(dim: int, train: np.ndarray, seed: int = 1234) -> faiss.Index:
    """An empty IVF-PQ index trained on `train` (a sample of the corpus).

    Not wrapped in IndexIDMap: IVF stores external ids itself, and IDMap's
    position-based id map goes wrong after IVF's in-place remove_ids.
    """
    nlist, m, nbits = ivf_shape(len(train), dim)
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed = seed
    ivf.pq.cp.seed = seed
    if len(train) > IVF_MAX_TRAIN:
        train = train[np.random.default_rng(seed).choice(len(train), IVF_MAX_TRAIN, replace=False)]
    ivf.train(np.ascontiguousarray(train, dtype=np.float32))
    ivf.nprobe = default_nprobe(nlist)  # saved with the index
    return ivf


def build_index(dim: int, ids: np.ndarray, vectors: np.ndarray, config: IndexConfig | None = None) -> faiss.Index:
    """A fresh index holding `vectors` under `ids`, of the kind `config` wants."""
    kind = kind_for(config or IndexConfig(), len(ids))
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "ivfpq":
        index = train_ivfpq(dim, data)
    else:
        index = new_index(dim, len(ids), config)
    if len(ids):
        index.add_with_ids(data, np.asarray(ids, dtype=np.int64))
    return index


def one_thread_per_search() -> None:
    """Run FAISS and the BLAS behind numpy on one thread per call, for this whole process.

    For a server answering many searches at once: they are the parallelism, and OpenMP or BLAS
    pools of their own per call would only oversubscribe the cores (and spin while waiting).
    """
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    threadpool_limits(limits=1)


def search(index: faiss.Index, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, *,
           ef_search: int | None = None, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for one query vector, optionally only among `allowed_ids`.

    Filtering happens inside FAISS (an ID selector), so filters apply before
    ranking rather than after it. `ef_search` (HNSW) and `nprobe` (IVF)
    override the index's defaults.
    """
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    k = min(k, index.ntotal)
    selector = None
    if allowed_ids is not None:
        if len(allowed_ids) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
    kind = index_kind(index)
    if kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=max(ef_search or HNSW_EF_SEARCH, k))
    elif kind == "ivfpq":
        ivf = faiss.extract_index_ivf(index)
        probe = nprobe or ivf.nprobe
        if allowed_ids is not None:
            # Allowed vectors sit in all lists; scan proportionally more lists so
            # a narrow filter still meets about as many candidates as no filter.
            share = min(1.0, len(allowed_ids) / index.ntotal)
            probe = math.ceil(probe / share)
        params = faiss.SearchParametersIVF(nprobe=min(ivf.nlist, probe))
    else:
        params = faiss.SearchParameters() if selector is not None else None
    if selector is not None:
        params.sel = selector
    # One query is too little work to share: OpenMP's hand-off between 2 threads
    # costs more than it saves (flat at 60k: 10 ms on 1 thread, 40 ms on 2).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def save_index(index: faiss.Index, path: Path) -> None:
    """Write the index so a crash leaves the old file or the new one, never half.

    faiss.write_index truncates its target, so write a temp file, fsync, rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_index(path: Path) -> faiss.Index | None:
    """The saved index, or None when missing or unreadable (caller rebuilds)."""
    if not path.exists():
        return None
    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        return None
