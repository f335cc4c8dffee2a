"""Every vector index kind on real FAISS: nearest neighbours, filters, growth, deletes, files, settings."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import pytest

from podsearch.index import vectors
from podsearch.index.store import SearchIndex
from podsearch.index.vectors import IndexConfig
from podsearch.core.config import Settings, load_settings
from podsearch.core.errors import ConfigError, PodsearchError
from podsearch.core.records import Segment, Transcript

DIM = 32
KINDS = ("flat", "hnsw", "ivfpq")


def clustered(n: int, seed: int = 0, topics: int = 40) -> np.ndarray:
    """Unit vectors around a few centroids, like sentence embeddings (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(topics, DIM))
    data = centroids[rng.integers(topics, size=n)] + rng.normal(scale=0.6, size=(n, DIM))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered(2000)


def built(kind: str, data: np.ndarray, ids: np.ndarray | None = None) -> faiss.Index:
    ids = np.arange(100, 100 + len(data)) if ids is None else ids
    index = vectors.build_index(DIM, ids, data, IndexConfig(kind=kind, approx_threshold=200))
    assert vectors.index_kind(index) == kind
    return index


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_returns_the_exact_nearest_neighbour_of_an_easy_query(kind, data):
    index = built(kind, data)
    exact = data @ data[7]
    _, got = vectors.search(index, data[7] + 0.01, 10)
    assert got[0] == 100 + int(np.argmax(exact)) == 107
    assert len(got) == 10 and len(set(got)) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_filters_are_applied_inside_every_kind(kind, data):
    index = built(kind, data)
    allowed = np.random.default_rng(1).choice(np.arange(100, 2100), 30, replace=False)
    target = int(allowed[0])
    _, got = vectors.search(index, data[target - 100], 10, allowed)
    assert set(got.tolist()) <= set(allowed.tolist())
    assert got[0] == target
    if kind != "hnsw":  # a narrow filter widens IVF's probe, so it still fills k
        assert len(got) == 10
    assert len(vectors.search(index, data[0], 10, np.array([], dtype=np.int64))[1]) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_saved_index_loads_as_the_same_kind_with_the_same_answers(kind, data, tmp_path):
    index = built(kind, data)
    path = tmp_path / f"{kind}.faiss"
    vectors.save_index(index, path)
    loaded = vectors.load_index(path)
    assert vectors.index_kind(loaded) == kind and loaded.ntotal == len(data)
    for q in data[:5]:
        assert np.array_equal(vectors.search(index, q, 5)[1], vectors.search(loaded, q, 5)[1])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_ivfpq_deletes_in_place_and_grows_without_retraining(data):
    index = built("ivfpq", data[:1000])
    ivf = faiss.extract_index_ivf(index)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist).copy()
    index.remove_ids(np.array([107, 108], dtype=np.int64))
    index.add_with_ids(data[1000:], np.arange(1100, 2100))
    assert index.ntotal == 1998
    assert np.array_equal(ivf.quantizer.reconstruct_n(0, ivf.nlist), centroids)
    _, got = vectors.search(index, data[1500], 10)
    # Codes trained on 1000 points are coarse: the app re-scores candidates exactly.
    assert 1600 in got and not {107, 108} & set(got.tolist())
    _, got = vectors.search(index, data[7], 50)
    assert 107 not in got


def test_ivfpq_is_retrained_only_after_it_has_outgrown_its_training(data):
    index = built("ivfpq", data)
    config = IndexConfig(kind="ivfpq", approx_threshold=200)
    assert vectors.fits(index, config, 2000) and vectors.fits(index, config, 2500)
    assert not vectors.fits(index, config, 50_000)  # lists trained for 2000 would be far too long
    assert not vectors.fits(index, config, 100)  # back below the threshold: exact again


def test_kind_for_keeps_exact_search_below_the_threshold():
    auto = IndexConfig(approx_threshold=200)
    assert [vectors.kind_for(auto, n) for n in (0, 199, 200)] == ["flat", "flat", "hnsw"]
    ivf = IndexConfig(kind="ivfpq", approx_threshold=0)
    assert vectors.kind_for(ivf, 10) == "flat"  # too few vectors to train on
    assert vectors.kind_for(IndexConfig(kind="flat", approx_threshold=0), 10**7) == "flat"
    assert vectors.kind_for(IndexConfig(), vectors.APPROX_THRESHOLD) == "hnsw"  # today's default


def test_ivf_shape_has_enough_training_points_per_list():
    for n in (200, 5000, 50_000, 1_000_000):
        nlist, m, nbits = vectors.ivf_shape(n, 384)
        assert n >= 39 * nlist and nlist <= vectors.IVF_MAX_NLIST
        assert 384 % m == 0 and n >= 39 * 2**nbits
    assert vectors.ivf_shape(50_000, 384) == (894, 96, 8)


# -- through SearchIndex --------------------------------------------------------------
class HashEmbedder:
    """Deterministic clustered vectors from text, so tests need no model."""

    name = "test-hash"
    dim = DIM

    def __init__(self) -> None:
        self.centroids = clustered(8, seed=3)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            rng = np.random.default_rng(seed)
            v = self.centroids[seed % 8] + rng.normal(scale=0.5, size=DIM)
            out[i] = v / np.linalg.norm(v)
        return out


def episode(n: int, segments: int = 60) -> Transcript:
    segs = tuple(Segment(start=i * 7.0, end=i * 7.0 + 6.5, text=f"episode {n} line {i} about topic {i % 5}.")
                 for i in range(segments))
    return Transcript(show="Show", episode=f"Episode {n}", guid=f"g{n}", segments=segs,
                      published="2026-01-01T00:00:00+00:00", source="whisper")


def fill(ix: SearchIndex, start: int, until: int) -> int:
    n = start
    while ix.passage_count() < until:
        ix.add_transcript(episode(n), f"h{n}")
        n += 1
    return n


def stored_vector(ix: SearchIndex, pid: int) -> np.ndarray:
    blob = ix.db.execute("SELECT embedding FROM passages WHERE id = ?", (pid,)).fetchone()[0]
    return np.frombuffer(blob, dtype=np.float32)


def test_search_index_trains_ivfpq_once_when_the_threshold_is_crossed(tmp_path):
    config = IndexConfig(kind="ivfpq", approx_threshold=200)
    ix = SearchIndex(tmp_path / "index", embedder=HashEmbedder(), vector_config=config)
    n = fill(ix, 0, 150)
    assert vectors.index_kind(ix.faiss_index()) == "flat"
    n = fill(ix, n, 200)
    trained = ix.faiss_index()
    assert vectors.index_kind(trained) == "ivfpq" and trained.ntotal == ix.passage_count()
    centroids = faiss.extract_index_ivf(trained).quantizer.reconstruct_n(0, faiss.extract_index_ivf(trained).nlist)

    n = fill(ix, n, ix.passage_count() + 60)  # later episodes are added, not retrained
    assert ix.faiss_index() is trained and trained.ntotal == ix.passage_count()
    again = faiss.extract_index_ivf(trained).quantizer.reconstruct_n(0, faiss.extract_index_ivf(trained).nlist)
    assert np.array_equal(again, centroids)

    gone = [r[0] for r in ix.db.execute("SELECT id FROM passages WHERE key = 'g1'")]
    assert ix.remove_episode("g1")  # IVF deletes in place
    assert ix.faiss_index() is trained and trained.ntotal == ix.passage_count()
    kept = int(ix.db.execute("SELECT MAX(id) FROM passages").fetchone()[0])
    _, got = vectors.search(trained, stored_vector(ix, kept), 10)
    assert got[0] == kept and not set(gone) & set(got.tolist())

    reopened = SearchIndex(tmp_path / "index", embedder=HashEmbedder(), vector_config=config)
    loaded = reopened.faiss_index()
    assert vectors.index_kind(loaded) == "ivfpq" and loaded.ntotal == ix.passage_count()
    assert len(list((tmp_path / "index").glob("vectors-*.faiss"))) == 1
    reopened.close()
    ix.close()


def test_search_index_switches_auto_to_hnsw_past_a_small_threshold_and_back(tmp_path):
    ix = SearchIndex(tmp_path / "index", embedder=HashEmbedder(), vector_config=IndexConfig(approx_threshold=200))
    n = fill(ix, 0, 200)
    assert vectors.index_kind(ix.faiss_index()) == "hnsw"
    while ix.passage_count() >= 200:
        n -= 1
        assert ix.remove_episode(f"g{n}")  # HNSW cannot delete: rebuilt from SQLite
    assert vectors.index_kind(ix.faiss_index()) == "flat"
    assert ix.faiss_index().ntotal == ix.passage_count()
    ix.close()


def test_a_changed_index_kind_rebuilds_the_saved_copy(tmp_path):
    ix = SearchIndex(tmp_path / "index", embedder=HashEmbedder(), vector_config=IndexConfig(kind="flat"))
    fill(ix, 0, 250)
    assert vectors.index_kind(ix.faiss_index()) == "flat"
    ix.close()
    ivf = SearchIndex(tmp_path / "index", embedder=HashEmbedder(),
                      vector_config=IndexConfig(kind="ivfpq", approx_threshold=200))
    assert vectors.index_kind(ivf.faiss_index()) == "ivfpq"
    assert ivf.faiss_index().ntotal == ivf.passage_count()
    ivf.close()


# -- settings ---------------------------------------------------------------------------
def test_unknown_index_kind_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"'annoy'.*auto, flat, hnsw, ivfpq"):
        IndexConfig(kind="annoy")
    with pytest.raises(ValueError, match="PODSEARCH_INDEX_KIND"):
        Settings(home=tmp_path, index_kind="annoy")
    monkeypatch.setenv("PODSEARCH_INDEX_KIND", "annoy")
    with pytest.raises(PodsearchError, match="annoy"):
        load_settings(tmp_path)
    monkeypatch.setenv("PODSEARCH_INDEX_KIND", "ivfpq")
    monkeypatch.setenv("PODSEARCH_APPROX_THRESHOLD", "lots")
    with pytest.raises(ConfigError, match="PODSEARCH_APPROX_THRESHOLD"):
        load_settings(tmp_path)


def test_index_settings_reach_the_search_index(tmp_path, monkeypatch):
    from podsearch.service.home import Home

    assert (Settings(home=tmp_path).approx_threshold, Settings(home=tmp_path).index_kind) == (50_000, "auto")
    monkeypatch.setenv("PODSEARCH_INDEX_KIND", "IVFPQ")
    monkeypatch.setenv("PODSEARCH_APPROX_THRESHOLD", "1_000")
    settings = load_settings(tmp_path)
    with Home(settings).index() as ix:
        assert ix.vector_config == IndexConfig(kind="ivfpq", approx_threshold=1000)
    assert load_settings(tmp_path, index_kind="flat").index_kind == "flat"  # explicit beats env
