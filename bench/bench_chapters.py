"""Generated chapters and the topic map, measured on the dev sets.

Chapters: the episodes of a set (tests/data/conversations, and the spoken set tests/data/eval) are cut to
their speech (the jingles before the first and after the last spoken region dropped, by the timings
files) and joined, with PyAV, into one long episode per set; it is ingested into a temporary home through
the real pipeline (Whisper tiny.en, speakers on) and its generated chapters are scored against the joins:
boundary precision, recall and F1 within +-15 s of a join (each join matched at most once), then Pk and
WindowDiff (nltk's, over 1-second units, k = half the mean reference segment). Every title is checked:
3-60 characters and distinct within the episode.

Topics: the same episodes ingested one by one (a library with one theme per episode); a topic's purity
is the share of its clips from its main episode; a theme "leads" a topic when it is the main episode of
a topic at least 80% pure (target: >= 75% of themes). Both sets.

Cost: the wall time of the joined ingest, and what the chapter step (annotate with chapters against
without) and the topic update take of it (target: <= 10% added), all in this run. And topics for
--passages synthetic passages (default 100,000) clustered from scratch (target: < 60 s).

    .venv/bin/python bench/bench_chapters.py [--home DIR] [--passages 100000] [--sets conversations eval]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service.pipeline import add_feed, ingest

ROOT = Path(__file__).resolve().parent.parent
SETS = {"conversations": ROOT / "tests" / "data" / "conversations", "eval": ROOT / "tests" / "data" / "eval"}
TOLERANCE = 15.0  # seconds either side of a join


def timings(folder: Path) -> list[dict]:
    """The timings files of a set, in file order."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "scripts").glob("*.timings.json"))]


def speech_span(t: dict) -> tuple[float, float]:
    """Where an episode's speech runs: the jingles before and after it are cut."""
    spoken = [r for r in t.get("regions") or t["sentences"] if r.get("kind") != "music"]
    return max(0.0, spoken[0]["start"] - 0.4), min(t["duration"], spoken[-1]["end"] + 0.4)


def _feed(folder: Path, title: str, items: list[tuple[str, str, Path]]) -> Path:
    body = "".join(f"<item><title>{name}</title><guid>{guid}</guid><pubDate>Mon, 0{n % 9 + 1} Jun 2026 06:00:00 +0000"
                   f'</pubDate><enclosure url="{path.name}" length="{path.stat().st_size}" type="audio/flac"/></item>'
                   for n, (guid, name, path) in enumerate(items))
    feed = folder / "feed.xml"
    feed.write_text(f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
                    f"<link>https://example.org/{title}</link><description>bench</description>{body}</channel></rss>",
                    encoding="utf-8")
    return feed


def joined_feed(name: str, folder: Path) -> tuple[Path, list[float]]:
    """A feed of one episode: the set's episodes cut to their speech and joined; and the join times."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    sys.path.insert(0, str(ROOT / "tests"))
    from audiofiles import write_flac  # the tests' PyAV FLAC writer

    parts, joins, at = [], [], 0.0
    for t in timings(SETS[name]):
        start, end = speech_span(t)
        samples = decode_audio(SETS[name] / t["audio"])[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        if parts:
            joins.append(at)
        parts.append(samples)
        at += len(samples) / SAMPLE_RATE
    folder.mkdir(parents=True, exist_ok=True)
    path = write_flac(folder / f"{name}-joined.flac", np.concatenate(parts))
    return _feed(folder, f"{name}-joined", [(f"{name}-joined", f"{name} joined", path)]), joins


def separate_feed(name: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """A feed of the set's episodes one by one (cut like the joined one); and each guid's theme (its stem)."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    sys.path.insert(0, str(ROOT / "tests"))
    from audiofiles import write_flac

    folder.mkdir(parents=True, exist_ok=True)
    items, themes = [], {}
    for t in timings(SETS[name]):
        start, end = speech_span(t)
        stem = Path(t["audio"]).stem
        samples = decode_audio(SETS[name] / t["audio"])[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        items.append((t["guid"], t["title"], write_flac(folder / f"{stem}.flac", samples)))
        themes[t["guid"]] = stem
    return _feed(folder, f"{name}-separate", items), themes


def boundary_scores(found: list[float], joins: list[float], length: float) -> dict[str, float]:
    """Precision, recall and F1 of `found` boundaries against `joins` (+-TOLERANCE), Pk and WindowDiff."""
    from nltk.metrics.segmentation import pk, windowdiff

    free = list(joins)
    hits = 0
    for b in sorted(found):
        near = [j for j in free if abs(j - b) <= TOLERANCE]
        if near:
            free.remove(min(near, key=lambda j: abs(j - b)))
            hits += 1
    precision = hits / len(found) if found else 0.0
    recall = hits / len(joins) if joins else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def units(bounds: list[float]) -> str:
        marks = ["0"] * int(length)
        for b in bounds:
            if 0 < int(b) < len(marks):
                marks[int(b)] = "1"
        return "".join(marks)

    ref, hyp = units(joins), units(found)
    k = max(2, int(round(length / (len(joins) + 1) / 2)))
    return {"precision": precision, "recall": recall, "f1": f1, "pk": pk(ref, hyp, k=k),
            "windowdiff": windowdiff(ref, hyp, k)}
