"""Search quality on the spoken evaluation set: real speech, real Whisper, real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from podsearch.index.evaluate import evaluate, load_queries
from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed

EVAL = Path(__file__).parent / "data" / "eval"


@pytest.mark.slow
def test_hybrid_is_at_least_as_good_as_either_mode_alone(tmp_path: Path, models: Models) -> None:
    settings = load_settings(tmp_path)
    add_feed(settings, str(EVAL / "feed.xml"))
    report = ingest(settings, models=models)
    assert len(report.indexed) == 3 and not report.episode_errors
    queries = load_queries(EVAL / "queries.json")
    with Home(settings, models).index() as index:
        results = evaluate(index, queries)
    hybrid, dense, keyword = results["hybrid"], results["dense"], results["keyword"]
    assert hybrid["MRR"] >= max(dense["MRR"], keyword["MRR"]) - 1e-9, results
    assert hybrid["R@5"] >= max(dense["R@5"], keyword["R@5"]) - 1e-9, results
    # Paraphrases need meaning, not words: keyword search alone misses most of them.
    assert hybrid["R@5"] >= 0.75 and keyword["R@5"] < hybrid["R@5"], results
