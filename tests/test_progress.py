"""Progress stages: every stage a run reports is a `Stage`, every `Stage` is reported somewhere, and no
consumer branches on a stage spelled as a string (they would drift apart again)."""

from __future__ import annotations

import re
from pathlib import Path

from podsearch.service.jobs import STAGES
from podsearch.service.progress import Progress, Stage

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for folder in ("podsearch", "ingest", "index", "transcripts") for p in (ROOT / folder).rglob("*.py")]


def source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)


def test_every_stage_is_emitted_and_nothing_else_is() -> None:
    text = source_text()
    emitted = set(re.findall(r"Progress\(\s*Stage\.([A-Z_]+)", text))
    assert emitted == {s.name for s in Stage}
    assert not re.findall(r"Progress\(\s*[\"']", text), "a Progress built from a string literal"


def test_no_consumer_compares_a_stage_with_a_string() -> None:
    text = source_text()
    assert not re.findall(r"stage\s*(?:==|!=)\s*[\"']|stage\s+(?:not\s+)?in\s*[({][\"']", text)


def test_the_app_words_every_stage() -> None:
    assert set(Stage) <= set(STAGES)


def test_a_stage_is_its_text() -> None:
    p = Progress(Stage.EPISODE_DONE, "t")
    assert p.stage == "episode-done" and f"{p.stage}" == "episode-done" and Stage("feed-failed") is Stage.FEED_FAILED
