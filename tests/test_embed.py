"""Query embedding: the ONNX fast path gives the model's own vectors, and queries are cached."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from podsearch.index.embed import Embedder
from podsearch.index.query_encoder import OnnxMeanPooling


@pytest.fixture(scope="module")
def embedder(models):  # noqa: ANN001, ANN201
    embedder = models.embedder()  # the session's: the export below is done once for every test that asks
    assert embedder.prepare_queries()  # the bundled model gets the fast path
    return embedder


@pytest.mark.slow
@pytest.mark.parametrize("query", ["MRSA", "how do I calm down someone who is shouting at reception",
                                   "warfarin " * 400])  # the last is truncated at the model's limit, like passages
def test_query_vectors_equal_the_models_own(embedder, query: str) -> None:  # noqa: ANN001
    assert isinstance(embedder._fast, OnnxMeanPooling)
    fast = embedder.encode_query(query)
    assert fast.shape == (embedder.dim,) and fast.dtype == np.float32
    assert np.allclose(fast, embedder.encode([query])[0], atol=1e-4)
    assert abs(float(np.linalg.norm(fast)) - 1.0) < 1e-4


@pytest.mark.slow
def test_repeats_are_cached_and_read_only(embedder) -> None:  # noqa: ANN001
    first = embedder.encode_query("metformin with meals")
    assert embedder.encode_query("metformin with meals") is first  # an app rerun embeds nothing
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared through the cache, so nobody may change it


@pytest.mark.slow
def test_a_one_off_search_stays_eager_and_the_app_builds_the_fast_path_beside_its_queries() -> None:
    fresh = Embedder()
    fresh.encode_query("insulin in the fridge")
    fresh.encode_query("metformin with meals")
    assert fresh._fast is None and fresh._fast_thread is None  # never worth a 2 s export
    filters = list(warnings.filters)
    fresh.prepare_queries(background=True)  # returns at once
    eager = fresh.encode_query("warfarin and aspirin")  # answered meanwhile by the eager model
    fresh._fast_thread.join(timeout=120)
    assert isinstance(fresh._fast, OnnxMeanPooling)
    assert warnings.filters == filters  # the exporter's warnings were silenced for the export only
    assert np.allclose(fresh.encode_query("metformin with meals!"), fresh.encode(["metformin with meals!"])[0], atol=1e-4)
    assert np.allclose(eager, fresh._fast("warfarin and aspirin"), atol=1e-4)


@pytest.mark.slow
def test_queries_from_many_threads_get_their_own_vectors(embedder) -> None:  # noqa: ANN001
    texts = [f"question number {i} about dosage" for i in range(16)]
    results: dict[str, np.ndarray] = {}

    def run(text: str) -> None:
        results[text] = embedder._fast(text)

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = embedder.encode(texts)
    assert all(np.allclose(results[t], e, atol=1e-4) for t, e in zip(texts, expected))


@pytest.mark.slow
def test_concurrent_queries_share_one_run_and_each_gets_its_vector_bit_for_bit(embedder, monkeypatch) -> None:  # noqa: ANN001
    """A server's concurrent searches embed their queries together (one model run), padded to the longest:
    each vector must still be exactly the one the query gets alone, or served hits could differ."""
    fast = embedder._fast
    texts = [f"question {i} about " + "warfarin dosage and bleeding " * (i % 5) for i in range(24)]
    alone = {t: fast(t) for t in texts}  # one at a time: runs of one
    runs: list[int] = []
    busy, first_started = threading.Event(), threading.Event()
    embed = fast._embed

    def counted(batch: list[str]) -> list[np.ndarray]:
        runs.append(len(batch))
        if len(runs) == 1:  # the first run holds the model until every other query waits for it
            first_started.set()
            busy.wait(60)
        return embed(batch)

    monkeypatch.setattr(fast, "_embed", counted)
    results: dict[str, np.ndarray] = {}
    threads = [threading.Thread(target=lambda t=t: results.__setitem__(t, fast(t))) for t in texts]
    threads[0].start()
    assert first_started.wait(60)
    for t in threads[1:]:
        t.start()
    while len(fast._waiting) < len(texts) - 1:
        threading.Event().wait(0.01)
    busy.set()
    for t in threads:
        t.join(60)
    assert runs == [1, fast.MAX_BATCH, len(texts) - 1 - fast.MAX_BATCH]
    assert all(np.array_equal(results[t], alone[t]) for t in texts)


@pytest.mark.slow
def test_a_failed_run_fails_each_of_its_queries_and_the_next_run_works(embedder, monkeypatch) -> None:  # noqa: ANN001
    fast = embedder._fast
    embed = fast._embed
    monkeypatch.setattr(fast, "_embed", lambda batch: (_ for _ in ()).throw(MemoryError("injected")))
    with pytest.raises(MemoryError, match="injected"):
        fast("metformin at night")
    monkeypatch.setattr(fast, "_embed", embed)
    assert np.array_equal(fast("metformin at night"), embed(["metformin at night"])[0])
