"""Sponsor reads on real published transcripts: how much of the read time `mark_kinds` marks, and how much
of the conversation it wrongly marks as sponsor.

Dev set: tests/data/sponsors/changelog.json (excerpts of Changelog Media's own transcripts, CC BY-SA 4.0,
each sentence marked by hand). Each sentence becomes one segment with its speaker; the transcripts carry
no times, so each lasts its word count / 2.6 s. The conversations set's sponsor reads (synthetic, exact
times) are scored the same way from their timings files, sentence by sentence.

    .venv/bin/python -m bench.bench_kinds
"""

from __future__ import annotations

import json
from pathlib import Path

from podsearch.core.records import Segment
from podsearch.transcripts.kinds import SPONSOR, mark_kinds

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
WORDS_PER_SECOND = 2.6


def excerpts() -> list[tuple[str, list[tuple[Segment, bool]]]]:
    """(name, [(segment, is a sponsor read)]) for every excerpt of the real dev set."""
    doc = json.loads((DATA / "sponsors" / "changelog.json").read_text(encoding="utf-8"))
    out = []
    for ex in doc["excerpts"]:
        t, pairs = 0.0, []
        for s in ex["sentences"]:
            length = max(1, len(s["text"].split())) / WORDS_PER_SECOND
            pairs.append((Segment(t, t + length, s["text"], s["speaker"]), s["sponsor"]))
            t += length
        out.append((ex["source"].rsplit(":", 1)[-1], pairs))
    return out


def conversations() -> list[tuple[str, list[tuple[Segment, bool]]]]:
    """The synthetic conversations set's sentences, sponsor reads marked by its generator."""
    out = []
    for path in sorted((DATA / "conversations" / "scripts").glob("*.timings.json")):
        t = json.loads(path.read_text(encoding="utf-8"))
        pairs = [(Segment(s["start"], s["end"], s["text"], s["speaker_name"]), s["kind"] == "sponsor")
                 for s in t["sentences"]]
        out.append((path.name.split(".")[0], pairs))
    return out


def score(name: str, sets: list[tuple[str, list[tuple[Segment, bool]]]]) -> None:
    read = read_marked = talk = talk_marked = 0.0
    for ex, pairs in sets:
        kinds = [s.kind for s in mark_kinds([seg for seg, _ in pairs])]
        for (seg, truth), kind in zip(pairs, kinds):
            length = seg.end - seg.start
            if truth:
                read += length
                read_marked += length * (kind == SPONSOR)
            else:
                talk += length
                talk_marked += length * (kind == SPONSOR)
            if truth != (kind == SPONSOR):
                what = "missed read" if truth else "conversation marked"
                print(f"  {what:<20} {ex[:40]:<40} {seg.text[:90]!r}")
    print(f"{name}: sponsor-read time marked {read_marked / read:.1%} of {read:.0f} s; conversation marked as "
          f"sponsor {talk_marked / talk:.2%} of {talk:.0f} s (targets >= 90% and < 2%)\n")


def main() -> None:
    score("real transcripts (tests/data/sponsors)", excerpts())
    score("conversations set (synthetic)", conversations())


if __name__ == "__main__":
    main()
