"""Models are owned by whoever passes them in: each loaded once per owner, none cached by the process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.transcriber import Transcriber


@pytest.mark.slow
def test_each_model_is_loaded_once_even_when_asked_from_several_threads() -> None:
    models = Models()
    got: list[object] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        got.append(models.speaker_encoder())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert models.loaded() == [("speaker-encoder",)]
    assert Models().speaker_encoder() is not got[0]  # another owner, another load: no process-global cache


@pytest.mark.slow
def test_the_index_and_the_transcriber_use_the_models_passed_in(tmp_path: Path, models: Models) -> None:
    settings = load_settings(tmp_path)
    with Home(settings, models).index() as index:
        assert index.embedder is models.passage_encoder(settings.embed_model, settings.models_dir)
    transcriber = Transcriber(settings, models=models)
    assert transcriber.diarizer.encoder is models.speaker_encoder()


def test_an_index_without_models_asks_its_own_loader_once_per_reranker(tmp_path: Path) -> None:
    from podsearch.index.store import SearchIndex

    asked: list[str] = []
    index = SearchIndex(tmp_path / "index", embedder=object(), reranker=lambda name: asked.append(name) or name)
    try:
        assert index.reranker("a") == "a" and index.reranker("a") == "a" and index.reranker("b") == "b"
        assert asked == ["a", "b"]
    finally:
        index.close()
