"""A publisher transcript cannot hold the CPU: implausibly dense ones are refused, tiny cues merged,
long embeddings report progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpserver import LocalServer
from test_pipeline import DATA, FEED, Run, item

from podsearch.core.config import load_settings
from podsearch.core.errors import TranscriptError
from podsearch.core.records import Segment, Transcript
from podsearch.index import store
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.transcripts.limits import check_plausible, merge_tiny


def dense(n: int, seconds: float) -> tuple[Segment, ...]:
    step = seconds / n
    return tuple(Segment(i * step, (i + 1) * step, f"w{i}") for i in range(n))


def test_dense_transcript_is_refused_naming_the_episode() -> None:
    with pytest.raises(TranscriptError, match=r"^Ep 7: publisher transcript has 40000 segments for 60 s"):
        check_plausible(dense(40_000, 60.0), 60.0, "Ep 7")
    # Without a declared duration the transcript's own span counts: the same rate is refused.
    with pytest.raises(TranscriptError):
        check_plausible(dense(40_000, 60.0), None, "Ep 7")
    # Few segments carrying a wall of text are refused by the word rate.
    wall = (Segment(0.0, 30.0, "word " * 5000),)
    with pytest.raises(TranscriptError, match="5000 words for 30 s"):
        check_plausible(wall, 30.0, "Ep 8")


def test_ordinary_transcripts_pass() -> None:
    check_plausible(dense(1200, 3600.0), 3600.0, "an hour of 3 s cues")
    check_plausible(dense(20, 5.0), 5.0, "a trailer")
    check_plausible((), None, "empty")


def test_tiny_segments_are_merged_keeping_every_word_and_speaker_turn() -> None:
    segments = dense(600, 60.0) + (Segment(60.0, 60.2, "Yes", speaker="Guest"), Segment(60.2, 64.0, "indeed so"))
    merged = merge_tiny(segments, max_words=170)
    assert " ".join(s.text for s in merged).split() == " ".join(s.text for s in segments).split()
    assert len(merged) <= 125 and all(s.end - s.start >= 0.5 - 1e-9 for s in merged[:-3])
    assert [s.speaker for s in merged[-2:]] == ["Guest", None]  # no merge across speakers
    assert max(len(s.text.split()) for s in merge_tiny(dense(600, 1.0), max_words=25)) <= 25


def test_long_embedding_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models: Models) -> None:
    monkeypatch.setattr(store, "EMBED_BLOCK", 16)  # a long episode in miniature: 16 texts a block
    segments = tuple(Segment(i * 3.0, i * 3.0 + 3.0, f"sentence number {i} about the pharmacy") for i in range(60))
    transcript = Transcript(show="S", episode="E", guid="g1", segments=segments)
    seen: list[tuple[int, int]] = []
    with Home(load_settings(tmp_path), models).index() as index:
        passages = index.add_transcript(transcript, "h1", progress=lambda done, total: seen.append((done, total)))
    total = seen[-1][1]
    assert passages > 0 and total > 60 and len(seen) >= 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == total


def test_hostile_transcript_falls_back_to_whisper(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    # ~1.3 MB: 40,000 one-word cues for an 11 s episode (under the transcript size cap).
    cues = [{"startTime": i * 11 / 40_000, "endTime": (i + 1) * 11 / 40_000, "body": "spam"} for i in range(40_000)]
    http_server.route("/t/ep.json", json.dumps({"version": "1.0.0", "segments": cues}).encode(),
                      content_type="application/json")
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    extra = (f'<podcast:transcript url="{http_server.url("/t/ep.json")}" type="application/json"/>'
             "<itunes:duration>11</itunes:duration>")
    items = item("Inaugural address", "jfk-1961", "Fri, 20 Jan 1961 17:00:00 GMT", http_server.url("/audio/jfk.flac"),
                 extra=extra)
    http_server.route("/feed.xml", FEED.format(items=items).encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    assert run(home, "add", http_server.url("/feed.xml")).exit_code == 0
    result = run(home, "ingest")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.output.splitlines() if "40000 segments" in line)
    assert "Inaugural address" in warning and "Whisper" in warning
    hits = json.loads(run(home, "search", "ask not what your country can do", "--json").output)
    assert hits[0]["source"] == "whisper" and "country" in hits[0]["text"].lower()
