"""Query embedding: the exported (ONNX) encoder gives the model's own vectors, and queries are cached."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from podsearch.index.embed import Embedder
from podsearch.index.query_encoder import OnnxMeanPooling, QueryEncoder, load_query_encoder


@pytest.fixture(scope="module")
def embedder(models) -> Embedder:  # noqa: ANN001
    return models.embedder()  # the session's eager model


@pytest.fixture(scope="module")
def encoder(models, models_dir: Path) -> QueryEncoder:  # noqa: ANN001
    encoder = models.query_encoder(models.embedder().name, models_dir)  # exported once per session
    assert isinstance(encoder, QueryEncoder)  # the bundled model has the light path
    return encoder


@pytest.mark.slow
@pytest.mark.parametrize("query", ["MRSA", "how do I calm down someone who is shouting at reception",
                                   "warfarin " * 400])  # the last is truncated at the model's limit, like passages
def test_query_vectors_equal_the_models_own(embedder, encoder, query: str) -> None:  # noqa: ANN001
    assert isinstance(encoder._fast, OnnxMeanPooling)
    fast = encoder.encode_query(query)
    assert fast.shape == (embedder.dim,) and fast.dtype == np.float32
    assert np.allclose(fast, embedder.encode([query])[0], atol=1e-4)
    assert abs(float(np.linalg.norm(fast)) - 1.0) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("which", ["encoder", "embedder"])
def test_repeats_are_cached_and_read_only(request, which: str) -> None:  # noqa: ANN001
    model = request.getfixturevalue(which)
    first = model.encode_query("metformin with meals")
    assert model.encode_query("metformin with meals") is first  # an app rerun embeds nothing
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared through the cache, so nobody may change it


@pytest.mark.slow
def test_the_export_silences_the_exporters_warnings_for_itself_only(embedder, tmp_path: Path) -> None:  # noqa: ANN001
    filters = list(warnings.filters)
    assert embedder.export_queries(tmp_path)
    assert warnings.filters == filters
    assert load_query_encoder(embedder.name, embedder.path, tmp_path) is not None


@pytest.mark.slow
def test_queries_from_many_threads_get_their_own_vectors(embedder, encoder) -> None:  # noqa: ANN001
    texts = [f"question number {i} about dosage" for i in range(16)]
    results: dict[str, np.ndarray] = {}

    def run(text: str) -> None:
        results[text] = encoder._fast(text)

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = embedder.encode(texts)
    assert all(np.allclose(results[t], e, atol=1e-4) for t, e in zip(texts, expected))


@pytest.mark.slow
def test_concurrent_queries_share_one_run_and_each_gets_its_vector_bit_for_bit(encoder, monkeypatch) -> None:  # noqa: ANN001
    """A server's concurrent searches embed their queries together (one model run), padded to the longest:
    each vector must still be exactly the one the query gets alone, or served hits could differ."""
    fast = encoder._fast
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
def test_a_failed_run_fails_each_of_its_queries_and_the_next_run_works(encoder, monkeypatch) -> None:  # noqa: ANN001
    fast = encoder._fast
    embed = fast._embed
    monkeypatch.setattr(fast, "_embed", lambda batch: (_ for _ in ()).throw(MemoryError("injected")))
    with pytest.raises(MemoryError, match="injected"):
        fast("metformin at night")
    monkeypatch.setattr(fast, "_embed", embed)
    assert np.array_equal(fast("metformin at night"), embed(["metformin at night"])[0])
