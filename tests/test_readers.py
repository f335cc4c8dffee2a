"""Read-only index readers (the API's and MCP server's) beside a writer of the same home."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from test_index import CARE, GARDEN, transcript

from podsearch.core.config import load_settings
from podsearch.core.errors import PodsearchError
from podsearch.index.query_encoder import QueryEncoder
from podsearch.index.search import SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.service.readers import IndexReaders


@pytest.fixture(scope="module")
def embedder(models):  # noqa: ANN001
    return models.embedder()


def faiss_files(index_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in index_dir.glob("vectors-*.faiss")}


@pytest.mark.slow
def test_reader_never_writes_and_serves_the_last_copy_until_the_writer_saves(tmp_path: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    writer = SearchIndex(index_dir, embedder=embedder)
    writer.add_transcript(transcript("care", CARE), "h-care", min_seconds=20)
    reader = SearchIndex(index_dir, embedder=embedder, read_only=True)
    first = reader.faiss_index().ntotal
    assert first == writer.passage_count() > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.db.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")

    # The writer has committed a new episode but not saved its FAISS file yet (or crashed in between).
    writer.add_transcript(transcript("garden", GARDEN, show="Green Hour"), "h-garden", min_seconds=20)
    for f in index_dir.glob("vectors-*.faiss"):
        f.unlink()
    assert reader.faiss_index().ntotal == first  # the previous copy, not a rebuild
    assert faiss_files(index_dir) == {}  # and nothing written by the reader
    assert search(reader, "warfarin blood tests", SearchOptions(k=1))[0].guid == "care"

    SearchIndex(index_dir, embedder=embedder).faiss_index()  # a writer saves the file for this generation
    assert reader.faiss_index().ntotal == writer.passage_count() > first
    assert search(reader, "pruning roses in winter", SearchOptions(k=1))[0].guid == "garden"
    reader.close()
    writer.close()


def test_pool_shares_one_vector_copy_and_a_fresh_home_is_created(tmp_path: Path, models) -> None:  # noqa: ANN001
    settings = load_settings(tmp_path / "home")
    pool = IndexReaders(settings, size=2, models=models)  # a new home: the schema is created, the index is empty
    try:
        with pool.reader() as a, pool.reader() as b:
            assert a is not b and a.faiss_index() is b.faiss_index()
            assert a.passage_count() == 0
    finally:
        pool.close()


@pytest.mark.slow
def test_a_warm_pool_runs_each_search_on_one_thread(tmp_path: Path, embedder, models) -> None:  # noqa: ANN001
    """Concurrent requests are the server's parallelism: FAISS and BLAS pools per search only oversubscribe."""
    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits

    before = faiss.omp_get_max_threads()
    settings = load_settings(tmp_path / "home")
    pool = IndexReaders(settings, size=1, models=models)
    with threadpool_limits(limits=None):  # restores the BLAS pools for the tests after this one
        try:
            pool.warm()
            fast = pool._vectors.embedder
            # The server's models, shared: the light query encoder (no torch), one thread per search.
            assert fast is models.query_encoder(settings.embed_model, settings.models_dir, threads=1)
            assert isinstance(fast, QueryEncoder) and fast.name == embedder.name
            assert fast._fast.session.get_session_options().intra_op_num_threads == 1
            assert faiss.omp_get_max_threads() == 1
            assert {p["num_threads"] for p in threadpool_info()} == {1}
        finally:
            pool.close()
            faiss.omp_set_num_threads(before)


def test_reader_of_a_home_without_an_index_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(PodsearchError, match="no search index here yet; run `podsearch ingest`"):
        SearchIndex(tmp_path / "nothing", read_only=True)


@pytest.mark.slow
def test_a_busy_pool_looks_words_up_on_the_search_thread_with_the_same_hits(tmp_path: Path, models) -> None:  # noqa: ANN001
    """Searches beyond the cores run their keyword lookup inline (no second thread); the hits stay the same."""
    settings = load_settings(tmp_path / "home")
    writer = SearchIndex(settings.index_dir, embedder=models.embedder())
    writer.add_transcript(transcript("care", CARE), "h-care", min_seconds=20)
    writer.add_transcript(transcript("garden", GARDEN, show="Green Hour"), "h-garden", min_seconds=20)
    writer.close()
    pool = IndexReaders(settings, size=1, models=models)
    release = threading.Event()
    try:
        queries = ["warfarin blood tests", "pruning roses in winter", "calming a shouting relative"]
        alone = [pool.submit(lambda ix, q=q: (ix.overlap_keyword, search(ix, q, SearchOptions(k=2)))).result()
                 for q in queries]
        assert all(overlap for overlap, _ in alone)  # one search at a time: words looked up beside the embedding
        blocker = pool.submit(lambda ix: release.wait(30))  # holds the only reader while more are submitted
        busy = [pool.submit(lambda ix, q=q: (ix.overlap_keyword, search(ix, q, SearchOptions(k=2)))) for q in queries]
        release.set()
        blocker.result()
        results = [f.result() for f in busy]
        assert not any(overlap for overlap, _ in results[: -pool._cores])  # more submitted than cores
        assert [hits for _, hits in results] == [hits for _, hits in alone] and any(hits for _, hits in alone)
    finally:
        release.set()
        pool.close()
