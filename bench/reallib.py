"""The real-transcript dev library: published human transcripts (Changelog Media, CC BY-SA 4.0; see
bench/data/reallib/PROVENANCE.md) loaded as publisher transcripts, so no Whisper is needed.

Each `*.md.gz` is one episode as published: `**Speaker:** text` paragraphs (a paragraph without a name continues the turn) with inline timestamps
(`\\[MM:SS\\]`, `\\[HH:MM:SS.cc\\]`, also inside `\\[unintelligible 00:01:03.12\\]`) every few minutes.
A segment is one sentence of one speaker. Its times are interpolated by word count between the
timestamps around it (piecewise linear); past the last timestamp at the episode's own mean speaking
rate (its last timestamp over the words before it). So a segment's time is right to within the
pace variation between two timestamps (typically 2-4 minutes apart).

    .venv/bin/python -m bench.reallib HOME      # index the library into HOME (idempotent)
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import numpy as np

from podsearch.core.records import Segment, Transcript

DATA = Path(__file__).resolve().parent / "data" / "reallib"
_PARA = re.compile(r"^\*\*(?P<who>[^*]+?)(?::\*\*|\*\*:)\s*(?P<text>.*)$")
_STAMP = re.compile(r"\\\[(?:unintelligible\s+)?(?P<t>\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)\\\]")
_NOTE = re.compile(r"\\\[[^\]]*?\\\]")  # [laughter], [unintelligible], [00:12:00]: not words
_SENTENCE = re.compile(r"(?<=[.?!…])[\"”]?\s+(?=[\"“A-Z0-9])")
SHOWS = {"practical-ai": "Practical AI", "brain-science": "Brain Science", "go-time": "Go Time",
         "js-party": "JS Party", "founders-talk": "Founders Talk", "ship-it": "Ship It",
         "the-changelog": "The Changelog", "changelog--friends": "Changelog & Friends"}


def _seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.split(":")]
    return sum(p * 60 ** (len(parts) - 1 - i) for i, p in enumerate(parts))


def parse_episode(markdown: str) -> list[tuple[str, str, float | None]]:
    """(speaker, sentence, anchored time or None) per sentence; a Break line anchors the next sentence."""
    out: list[tuple[str, str, float | None]] = []
    pending: float | None = None
    who = ""
    for line in markdown.splitlines():
        line = line.strip()
        m = _PARA.match(line)
        if m:
            who, text = m["who"].strip(), m["text"]
        elif line and who and not line.startswith(("#", "*", "-", ">", "|")):
            text = line  # a paragraph of its own inside the same speaker's turn
        else:
            continue
        first = _STAMP.search(text)
        if who.lower() == "break":
            pending = _seconds(first["t"]) if first else pending
            who = ""
            continue
        # A timestamp at a paragraph's start anchors its first sentence; one inside, the sentence holding it.
        stamps = {}
        for s in _STAMP.finditer(text):
            stamps[len(_NOTE.sub(" ", text[: s.start()]).split())] = _seconds(s["t"])
        clean = re.sub(r"\s+", " ", _NOTE.sub(" ", text)).strip()
        words_before = 0
        for sentence in _SENTENCE.split(clean):
            n = len(sentence.split())
            if not n:
                continue
            inside = [t for w, t in stamps.items() if words_before <= w < words_before + n]
            anchor = inside[0] if inside else pending
            pending = None
            out.append((who, sentence, anchor))
            words_before += n
    return out


def load_episode(path: Path) -> Transcript:
    """One library episode as a publisher Transcript with interpolated sentence times."""
    stem = path.name.removesuffix(".md.gz")
    sentences = parse_episode(gzip.decompress(path.read_bytes()).decode("utf-8"))
    counts = np.array([len(s.split()) for _, s, _ in sentences], dtype=float)
    starts_w = np.concatenate([[0.0], np.cumsum(counts)[:-1]])
    xs, ys = [0.0], [0.0]
    for w, (_, _, t) in zip(starts_w, sentences):
        if t is not None and t > ys[-1] and w > xs[-1]:
            xs.append(float(w))
            ys.append(t)
    rate = xs[-1] / ys[-1] if ys[-1] > 0 else 2.7  # words per second, the episode's own
    total = float(counts.sum())
    xs.append(total)
    ys.append(ys[-1] + (total - xs[-2]) / rate)
    starts = np.interp(starts_w, xs, ys)
    ends = np.interp(starts_w + counts, xs, ys)
    segments = tuple(Segment(start=round(float(a), 2), end=round(float(b), 2), text=s, speaker=who)
                     for (who, s, _), a, b in zip(sentences, starts, ends))
    show_slug = re.sub(r"-\d+$", "", stem)
    number = stem.rsplit("-", 1)[-1]
    return Transcript(show=SHOWS.get(show_slug, show_slug), episode=f"{SHOWS.get(show_slug, show_slug)} #{number}",
                      guid=stem, key=stem, segments=segments, source="publisher", language="en",
                      duration=float(ends[-1]) if len(ends) else None)


def episodes() -> list[Transcript]:
    """Every episode of the library."""
    return [load_episode(p) for p in sorted(DATA.glob("*.md.gz"))]


def index_reallib(home: Path, models) -> None:  # noqa: ANN001 - service.models.Models
    """Save the library's transcripts into `home` and index them (skipped when already indexed)."""
    from podsearch.core.config import load_settings
    from podsearch.service.reindex import reindex
    from podsearch.transcripts.store import find_transcript, save_transcript

    settings = load_settings(home)
    fresh = False
    for transcript in episodes():
        if find_transcript(settings.transcripts_dir, transcript.id) is None:
            save_transcript(transcript, settings.transcripts_dir)
            fresh = True
    if fresh or not (settings.index_dir / "index.sqlite").is_file():
        reindex(settings, models=models)


if __name__ == "__main__":
    from podsearch.service.models import Models

    index_reallib(Path(sys.argv[1]), Models())
