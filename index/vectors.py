"""The FAISS vector index: exact while small, HNSW past a threshold; saved atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

# Below this many vectors an exact (flat) search is fast and perfect.
APPROX_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_SEARCH = 128


def new_index(dim: int, expected_size: int = 0) -> faiss.Index:
    """An empty id-mapped index of the type that suits `expected_size` vectors."""
    if expected_size >= APPROX_THRESHOLD:
        base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = 80
    else:
        base = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(base)


def is_approximate(index: faiss.Index) -> bool:
    """True for an HNSW index (which cannot delete in place)."""
    return isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat)


def build_index(dim: int, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """A fresh index holding `vectors` under `ids`."""
    index = new_index(dim, len(ids))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def search(index: faiss.Index, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for one query vector, optionally only among `allowed_ids`.

    Filtering happens inside FAISS (an ID selector), so filters apply before
    ranking rather than after it.
    """
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    k = min(k, index.ntotal)
    params = None
    if allowed_ids is not None:
        if len(allowed_ids) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        if is_approximate(index):
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
        else:
            params = faiss.SearchParameters(sel=selector)
    elif is_approximate(index):
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
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
