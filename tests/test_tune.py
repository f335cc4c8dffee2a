"""`podsearch tune`: the sentence model adapted to a home's own transcripts, used by reindex and search, and
`--reset` back to the bundled model (docs/tuning.md).

The home holds four conversations of the conversations dev set as publisher transcripts (WebVTT with voices:
the sentences each speaker said, tests/data/conversations/scripts), ingested by the real pipeline with the
real sentence model; tuning trains the real model for two steps (two batches of 32 pairs).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_app import write_feed
from test_chapters import sentences, vtt

from podsearch.core.config import DEFAULT_EMBED_MODEL, TUNED_POINTER, TUNED_PREFIX, load_settings
from podsearch.core.records import Segment, Transcript
from podsearch.index.query_encoder import export_dir
from podsearch.index.tune import mine_pairs
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.pipeline import add_feed, ingest

STEMS = ("bm1-breaking-bad-news", "sh1-lost-scan-results", "sr1-calm-classrooms", "sr2-feedback-that-works")
DAMAGED = "tuned sentence model is missing or damaged"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    root = tmp_path_factory.mktemp("tune")
    settings = load_settings(root / "home")
    items = []
    for n, stem in enumerate(STEMS):
        rows, _ = sentences((stem,))
        items.append({"title": stem, "guid": stem, "date": f"Tue, 0{n + 3} Mar 2026 09:00:00 GMT", "vtt": vtt(rows)})
    add_feed(settings, str(write_feed(root / "feed", "Care Conversations", items)))
    report = ingest(settings, models=models)
    assert not report.episode_errors and len(report.indexed) == len(STEMS)
    return settings.home


def index_model(home: Path) -> str:
    with sqlite3.connect(load_settings(home).index_dir / "index.sqlite") as db:
        return db.execute("SELECT value FROM meta WHERE key = 'embed_model'").fetchone()[0]


def one_line_error(result, *words: str) -> None:  # noqa: ANN001 - click's Result
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert all(w in result.output for w in words), result.output


def fresh(home: Path, *args: str):  # noqa: ANN201 - click's Result
    """`podsearch --home HOME ARGS…` as a new process runs it: with no model loaded yet."""
    from click.testing import CliRunner

    from podsearch.cli import cli

    return CliRunner().invoke(cli, ["--home", str(home), *args], obj=Models())


@pytest.mark.slow
def test_tune_keeps_its_model_in_the_home_reindex_and_search_use_it_and_reset_restores_the_bundled_one(
        built: Path, tmp_path: Path, run, models: Models, models_dir: Path) -> None:  # noqa: ANN001
    home = Path(shutil.copytree(built, tmp_path / "home"))
    query = "what do you say when the scan results are lost"

    # Two steps: the first one's learning rate is 0 (it warms up).
    result = run(home, "tune", "--max-pairs", "64")
    assert "tuned the sentence model on 64 pairs" in result.output and "in 2 steps" in result.output
    assert f"re-indexed {len(STEMS)} transcript(s)" in result.output
    settings = load_settings(home)
    info = json.loads((settings.tuned_dir / TUNED_POINTER).read_text(encoding="utf-8"))
    assert (info["base"], info["pairs"], info["steps"]) == (DEFAULT_EMBED_MODEL, 64, 2) and info["date"]
    folder = settings.tuned_dir / info["model"]
    assert (folder / "model.safetensors").is_file()
    name = TUNED_PREFIX + str(folder)
    assert settings.embed_model == name and index_model(home) == name

    # Queries are embedded by the tuned model (its own ONNX export, not the bundled one's), passages too.
    from sentence_transformers import SentenceTransformer

    tuned = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    with Home(settings, Models()).index(queries=lambda line: None) as index:
        vector = index.embedder.encode_query(query)
        assert index.embedder.name == name
        stored = index.db.execute("SELECT text, embedding FROM segments LIMIT 1").fetchone()
    assert np.allclose(vector, tuned.encode(query, normalize_embeddings=True), atol=1e-4)
    assert not np.allclose(vector, models.embedder(DEFAULT_EMBED_MODEL).encode([query])[0], atol=1e-3)
    assert np.allclose(np.frombuffer(stored[1], dtype=np.float16),
                       tuned.encode(stored[0], normalize_embeddings=True), atol=2e-3)
    assert export_dir(models_dir, name, str(folder)).is_dir()
    assert json.loads(run(home, "search", query, "--json").output)

    # A damaged tuned model: one line saying what to do, for search and reindex alike.
    pointer = (settings.tuned_dir / TUNED_POINTER).read_text(encoding="utf-8")
    (settings.tuned_dir / TUNED_POINTER).write_text("{not json", encoding="utf-8")
    one_line_error(fresh(home, "search", query), DAMAGED, "podsearch tune --reset")
    (settings.tuned_dir / TUNED_POINTER).write_text(pointer, encoding="utf-8")
    (folder / "model.safetensors").unlink()
    one_line_error(fresh(home, "search", query), DAMAGED, "podsearch tune --reset")
    one_line_error(fresh(home, "reindex"), DAMAGED)

    result = run(home, "tune", "--reset")
    assert f"back to the bundled sentence model; re-indexed {len(STEMS)} transcript(s)" in result.output
    assert not settings.tuned_dir.exists() and not export_dir(models_dir, name, str(folder)).exists()
    assert load_settings(home).embed_model == DEFAULT_EMBED_MODEL and index_model(home) == DEFAULT_EMBED_MODEL
    with Home(load_settings(home), models).index(queries=lambda line: None) as index:
        assert index.embedder.name == DEFAULT_EMBED_MODEL
        assert np.allclose(index.embedder.encode_query(query), models.embedder(DEFAULT_EMBED_MODEL).encode([query])[0],
                           atol=1e-4)
    assert json.loads(run(home, "search", query, "--json").output)
    assert "has no tuned sentence model" in run(home, "tune", "--reset").output


def test_tune_on_a_home_without_transcripts_says_so_in_one_line(tmp_path: Path, run) -> None:  # noqa: ANN001
    one_line_error(run(tmp_path / "empty", "tune", ok=False), "no transcripts to tune", "podsearch ingest")
    assert not (tmp_path / "empty" / "models").exists()


def test_a_model_named_by_the_environment_is_not_tuned_over(built: Path, run, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PODSEARCH_EMBED_MODEL", DEFAULT_EMBED_MODEL)
    one_line_error(run(built, "tune", ok=False), "PODSEARCH_EMBED_MODEL")
    assert not load_settings(built).tuned_dir.exists()


def segment(start: float, speaker: str, text: str, kind: str = "speech") -> Segment:
    return Segment(start=start, end=start + 2, text=text, speaker=speaker, kind=kind)


def test_pairs_are_questions_and_the_answer_of_the_other_voice_then_neighbouring_sentences() -> None:
    transcript = Transcript(show="s", episode="e", guid="g", key="k", source="publisher", segments=(
        segment(0, "Host", "Thanks to our sponsor for keeping this show on the air today.", kind="sponsor"),
        segment(2, "Host", "How do you open a conversation about bad news?"),
        segment(4, "Host", "I mean in the first minute."),
        segment(6, "Guest", "I sit down, I use their name and I ask what they already know."),
        segment(8, "Guest", "Then I give a warning shot before the news itself."),
        segment(10, "Host", "Right?"),
        segment(12, "Guest", "Silence after the news is not a failure, it is the person taking it in."),
    ))
    pairs = mine_pairs([transcript])
    questions = [p for p in pairs if p.source == "question"]
    assert [(p.anchor, p.positive) for p in questions] == [
        ("How do you open a conversation about bad news?",
         "I sit down, I use their name and I ask what they already know. "
         "Then I give a warning shot before the news itself.")]
    assert all("sponsor" not in p.anchor + p.positive for p in pairs)
    assert {p.source for p in pairs} == {"question", "neighbour"}
    assert mine_pairs([transcript], limit=1) == mine_pairs([transcript], limit=1) and len(mine_pairs([transcript], limit=1)) == 1
