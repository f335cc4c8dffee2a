"""The light query path: the sentence model's ONNX export, loaded without torch by one-off searches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from apiserver import make_home

from podsearch.index.embed import Embedder, resolve_embed_model
from podsearch.index.query_encoder import export_dir, load_query_encoder
from podsearch.index.search import search
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.queries import hit_json, search_options

pytestmark = pytest.mark.slow

TEXTS = ["how do I calm down a relative who is shouting at the front desk?", "a", "Warfarin & vitamin K — café",
         "long " * 400]  # past the model's 256 word pieces: truncated as the eager model truncates

# A cold `podsearch search` in a fresh interpreter, reporting on stderr whether torch was imported.
COLD_SEARCH = """
import sys
from podsearch.cli import cli
try:
    cli(sys.argv[1:], prog_name="podsearch")
except SystemExit:
    pass
print("torch loaded" if "torch" in sys.modules else "no torch", file=sys.stderr)
"""


def test_the_exported_encoder_gives_the_eager_models_vectors(models: Models, tmp_path: Path) -> None:
    embedder = models.embedder()
    assert load_query_encoder(embedder.name, embedder.path, tmp_path) is None  # nothing exported yet
    assert embedder.export_queries(tmp_path)
    encoder = load_query_encoder(embedder.name, embedder.path, tmp_path)
    assert encoder is not None and encoder.dim == embedder.dim and encoder.name == embedder.name
    eager = embedder.encode(TEXTS)
    for text, expected in zip(TEXTS, eager):
        np.testing.assert_allclose(encoder.encode_query(text), expected, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=3), eager, atol=1e-5)


def test_passages_are_embedded_by_the_export_with_the_eager_vectors(models: Models, tmp_path: Path) -> None:
    # What an ingest embeds passages, segments and chapter blocks with: the export (made on first use),
    # not torch, giving the eager vectors in the caller's order whatever the batching.
    embedder = models.embedder()
    bulk = Models().passage_encoder(embedder.name, tmp_path)
    assert not isinstance(bulk, Embedder)
    assert (export_dir(tmp_path, embedder.name, embedder.path) / "export.json").is_file()
    texts = TEXTS * 3 + [f"segment {n}: " + "words " * n for n in range(0, 300, 7)]
    np.testing.assert_allclose(bulk.encode(texts, batch_size=8), embedder.encode(texts), atol=1e-5)


def test_a_changed_model_is_exported_again(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(resolve_embed_model("bundled:all-MiniLM-L6-v2"), model)
    embedder = Embedder(str(model))
    assert embedder.export_queries(tmp_path / "cache")
    assert load_query_encoder(str(model), str(model), tmp_path / "cache") is not None
    config = model / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))  # the model was replaced
    assert load_query_encoder(str(model), str(model), tmp_path / "cache") is None
    assert export_dir(tmp_path / "cache", str(model), str(model)).parent.is_dir()


def _cold_search(home: Path, models_dir: Path, query: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PODSEARCH_MODELS_DIR": str(models_dir)}
    return subprocess.run([sys.executable, "-c", COLD_SEARCH, "--home", str(home), "search", query, "--json", "-k", "3"],
                          capture_output=True, text=True, env=env, timeout=300, check=True)


def test_a_cold_search_exports_once_then_runs_without_torch(models: Models, tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", models)
    query = "what to do when a relative shouts"
    first = _cold_search(home, tmp_path / "cache", query)
    assert "preparing the query encoder" in first.stderr  # one line says why this search is slow
    second = _cold_search(home, tmp_path / "cache", query)
    assert "preparing" not in second.stderr and "no torch" in second.stderr, second.stderr
    assert second.stdout == first.stdout
    # The same clips as the eager model in this process finds.
    place = Home.load(home, models)
    with place.index() as index:
        expected = [hit_json(h) for h in search(index, query, search_options(place.settings, k=3))]
    assert expected and json.loads(second.stdout) == expected
