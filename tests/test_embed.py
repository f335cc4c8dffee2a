"""Query embedding: the frozen fast path gives the model's own vectors, and queries are cached."""

from __future__ import annotations

import numpy as np
import pytest

from index.embed import _FrozenMeanPooling, get_embedder


@pytest.fixture(scope="module")
def embedder():  # noqa: ANN201
    return get_embedder()


@pytest.mark.parametrize("query", ["MRSA", "how do I calm down someone who is shouting at reception",
                                   "warfarin " * 400])  # the last is truncated at the model's limit, like passages
def test_query_vectors_equal_the_models_own(embedder, query: str) -> None:  # noqa: ANN001
    fast = embedder.encode_query(query)
    assert fast.shape == (embedder.dim,) and fast.dtype == np.float32
    assert np.allclose(fast, embedder.encode([query])[0], atol=1e-4)
    assert abs(float(np.linalg.norm(fast)) - 1.0) < 1e-4


def test_the_bundled_model_gets_the_frozen_path_and_repeats_are_cached(embedder) -> None:  # noqa: ANN001
    embedder.encode_query("insulin in the fridge")
    embedder.encode_query("metformin with meals")  # a second query: the session is worth freezing for
    assert isinstance(embedder._fast, _FrozenMeanPooling)
    first = embedder.encode_query("metformin with meals")
    assert embedder.encode_query("metformin with meals") is first  # an app rerun embeds nothing
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared through the cache, so nobody may change it
