"""Guests named on the conversations dev set, before (the feed's `podcast:person` roles only) and after
(with the feed's candidate names: persons of any role and names in the episode's description).

Ingests tests/data/conversations/feed.xml into --home DIR once (skipped when the home already holds
it), keeps a copy of each transcript's segments with their speakers reset to "Speaker N" (numbered in
order of first appearance; DIR/naming-labelled/<guid>.json, written once), then re-runs `name_speakers`
on those copies offline. Truth from the timings files: a guest's label is the one whose segments
overlap most with the guest's sentences; the guest is named right when that label gets the guest's name
(titles such as "Dr" aside). Every name given to a label whose speech is mostly someone else's is
counted as wrong.

    .venv/bin/python bench/bench_naming.py --home DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench_conversations import DATA, timings

from podsearch.core.config import load_settings
from podsearch.core.records import Segment, Transcript, to_dict, transcript_from_dict
from podsearch.service.library import INDEXED
from podsearch.service.pipeline import add_feed, ingest, open_library
from podsearch.transcripts.speakers import UNNAMED, feed_candidates, name_speakers
from podsearch.transcripts.store import load_transcript

_TITLES = {"dr", "dr.", "doctor", "professor", "prof", "prof."}


def same_name(a: str | None, b: str) -> bool:
    """True when `a` and `b` are the same name, titles aside."""
    def words(name: str) -> list[str]:
        return [w for w in name.lower().replace(",", " ").split() if w not in _TITLES]
    return a is not None and words(a) == words(b)


def labelled(home: Path, guid: str, transcript: Transcript) -> tuple[Segment, ...]:
    """The segments with their speakers as "Speaker N" (kept in a copy, written the first time)."""
    copy = home / "naming-labelled" / f"{guid}.json"
    if copy.exists():
        return transcript_from_dict(json.loads(copy.read_text(encoding="utf-8"))).segments
    segments = transcript.segments
    order: dict[str, str] = {}
    for s in segments:
        if s.speaker:
            order.setdefault(s.speaker, UNNAMED.format(n=len(order) + 1))
    reset = tuple(replace(s, speaker=order.get(s.speaker) if s.speaker else None) for s in segments)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(json.dumps(to_dict(replace(transcript, segments=reset))), encoding="utf-8")
    return reset


def overlap_by_label(segments: tuple[Segment, ...], sentences: list[dict]) -> Counter[str]:
    """Seconds of `sentences` each label's segments cover."""
    out: Counter[str] = Counter()
    for sent in sentences:
        for s in segments:
            both = min(s.end, sent["end"]) - max(s.start, sent["start"])
            if both > 0 and s.speaker:
                out[s.speaker] += both
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    home = args.home.resolve()
    settings = load_settings(home)
    library = open_library(settings)
    try:
        rows = {r.episode.guid: r for r in library.episodes(status=INDEXED)}
    finally:
        library.close()
    if not all(t["guid"] in rows for t in timings()):
        add_feed(settings, str(DATA / "feed.xml"))
        if ingest(settings).episode_errors:
            raise SystemExit("ingest failed: `podsearch status` says why")
        return main()
    totals = Counter()
    print(f"{'episode':<30}{'guest':<18}{'label':<11}{'before':<22}{'after':<22}")
    for item in timings():
        ep = rows[item["guid"]].episode
        segs = labelled(home, item["guid"], load_transcript(Path(rows[item["guid"]].transcript_path)))
        before = dict(zip((s.speaker for s in segs), (s.speaker for s in name_speakers(segs, ep.persons))))
        candidates = feed_candidates(ep.persons, ep.description)
        after = dict(zip((s.speaker for s in segs),
                         (s.speaker for s in name_speakers(segs, ep.persons, candidates=candidates))))
        stem = Path(item["audio"]).stem
        for spk in item["speakers"]:
            label = overlap_by_label(segs, [s for s in item["sentences"] if s["speaker"] == spk["id"]]).most_common(1)
            label = label[0][0] if label else None
            b, a = before.get(label), after.get(label)
            ok_b, ok_a = same_name(b, spk["name"]), same_name(a, spk["name"])
            role = spk["role"]
            totals[f"{role} before"] += ok_b
            totals[f"{role} after"] += ok_a
            totals[role] += 1
            print(f"{stem[:29]:<30}{spk['name'][:17]:<18}{str(label):<11}{('ok ' if ok_b else 'NO ') + str(b):<22}"
                  f"{('ok ' if ok_a else 'NO ') + str(a):<22}")
        # A name on a label whose speech is mostly someone else's is a wrong name.
        truth = {}
        for label in {s.speaker for s in segs if s.speaker}:
            cover = Counter()
            for spk in item["speakers"]:
                mine = [s for s in segs if s.speaker == label]
                cover[spk["name"]] = sum(overlap_by_label(mine, [x for x in item["sentences"]
                                                                  if x["speaker"] == spk["id"]]).values())
            truth[label] = cover.most_common(1)[0][0] if cover and cover.most_common(1)[0][1] > 0 else None
        for which, named in (("before", before), ("after", after)):
            for label, name in named.items():
                if label and name != label and (truth.get(label) is None or not same_name(name, truth[label])):
                    totals[f"wrong {which}"] += 1
                    print(f"  wrong name {which}: {label} -> {name!r} (speaks: {truth.get(label)})")
        print(f"  candidates: {', '.join(candidates)}")
    for role in ("host", "guest"):
        print(f"{role}s named right: before {totals[role + ' before']} of {totals[role]}, "
              f"after {totals[role + ' after']} of {totals[role]}")
    print(f"wrong names: before {totals['wrong before']}, after {totals['wrong after']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
