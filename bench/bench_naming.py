"""Who is named on the conversations dev set, by the feed evidence name_speakers is given:

- words only: the episode's own words (self-introductions, the host's introductions), no feed;
- persons: plus the feed's `podcast:person` tags (on five of the eight episodes; a lone guest is the
  other voice, so those tags all but give the guest away);
- notes: plus the names in the episode's description and show notes, but no `podcast:person`;
- both: persons and notes, as ingest does;
- control: the next episode's persons and notes instead of the episode's own (the same show's host, the
  wrong guests): a name the audio does not back must not stick, so "someone else's" must stay 0.

Ingests tests/data/conversations/feed.xml into --home DIR once (skipped when the home already holds
it), keeps a copy of each transcript's segments with their speakers reset to "Speaker N" (numbered in
order of first appearance; DIR/naming-labelled/<guid>.json, written once), then re-runs `name_speakers`
on those copies offline. Truth from the timings files: a speaker's label is the one whose segments
overlap most with their sentences; they are named right when that label gets their name (titles such
as "Dr" aside). A name on a label whose speech is mostly someone else's counts as "someone else's";
the right person's name misspelt (as Whisper heard it) as "misspelt".

Then, on real published transcripts (tests/data/sponsors, Changelog Media's own, CC BY-SA 4.0) with every
speaker reset to "Speaker N" and no feed at all, how many voices get a name and how many of those are
wrong (`--real` prints only this; it needs no home).

    .venv/bin/python -m bench.bench_naming --home DIR
    .venv/bin/python -m bench.bench_naming --real
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.bench_conversations import DATA, self_introduced, timings

from podsearch.core.config import load_settings
from podsearch.core.records import Segment, Transcript, to_dict, transcript_from_dict
from podsearch.service.library import INDEXED
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed
from podsearch.transcripts.speakers import UNNAMED, feed_candidates, name_speakers
from podsearch.transcripts.store import load_transcript

_TITLES = {"dr", "dr.", "doctor", "professor", "prof", "prof."}


def same_name(a: str | None, b: str) -> bool:
    """True when `a` and `b` are the same name, titles aside."""
    def words(name: str) -> list[str]:
        return [w for w in name.lower().replace(",", " ").split() if w not in _TITLES]
    return a is not None and words(a) == words(b)


MODES = ("words only", "persons", "notes", "both", "control")


def close(heard: str, name: str) -> bool:
    """True when `heard` is `name` misspelt: same first name, or nearly the same full name."""
    from rapidfuzz import fuzz

    a, b = heard.lower().split(), [w for w in name.lower().split() if w not in _TITLES]
    a = [w for w in a if w not in _TITLES]
    return bool(a) and (a[0] == b[0] or fuzz.ratio(" ".join(a), " ".join(b)) >= 55)


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


def part_of_name(name: str | None, full: str) -> bool:
    """True when `name` is part of the person's full name (a first name alone: "Omar" for Omar Siddiqui)."""
    words = {w.lower() for w in (name or "").split()}
    return bool(words) and words <= {w.lower() for w in full.split() if w != "Dr"}


def real_report() -> None:
    """Words-only naming on real published transcripts: voices named, and names that are wrong."""
    from bench.bench_kinds import excerpts

    voices = named = wrong = 0
    for source, pairs in excerpts():
        segs = [seg for seg, _ in pairs]
        order: dict[str | None, str] = {}
        for s in segs:
            order.setdefault(s.speaker, UNNAMED.format(n=len(order) + 1))
        truth = {label: name for name, label in order.items()}
        out = name_speakers([replace(s, speaker=order[s.speaker]) for s in segs])
        given = {order[s.speaker]: o.speaker for s, o in zip(segs, out)}
        for label, name in given.items():
            voices += 1
            if name != label:
                named += 1
                right = same_name(name, truth[label] or "") or close(name, truth[label] or "")
                wrong += not right
                print(f"  {'ok' if right else 'WRONG':<6}{source[:45]:<46}{label} -> {name!r} (speaks: {truth[label]})")
    print(f"real transcripts, words only: {voices} voices, {named} named, {wrong} wrong")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--real", action="store_true", help="Only the real transcripts (no home needed).")
    args = parser.parse_args()
    if args.real or args.home is None:
        real_report()
        return
    home = args.home.resolve()
    settings = load_settings(home)
    with Home(settings).catalog() as library:
        rows = {r.episode.guid: r for r in library.episodes(status=INDEXED)}
    if not all(t["guid"] in rows for t in timings()):
        add_feed(settings, str(DATA / "feed.xml"))
        if ingest(settings).episode_errors:
            raise SystemExit("ingest failed: `podsearch status` says why")
        return main()
    totals: Counter[str] = Counter()
    print(f"{'episode':<30}{'speaker':<16}{'label':<11}" + "".join(f"{m:<17}" for m in MODES))
    items = timings()
    for n, item in enumerate(items):
        ep = rows[item["guid"]].episode
        other = rows[items[(n + 1) % len(items)]["guid"]].episode
        segs = labelled(home, item["guid"], load_transcript(Path(rows[item["guid"]].transcript_path)))
        given = {
            "words only": {},
            "persons": {"persons": ep.persons},
            "notes": {"candidates": feed_candidates((), ep.description)},
            "both": {"persons": ep.persons, "candidates": feed_candidates(ep.persons, ep.description)},
            "control": {"persons": other.persons, "candidates": feed_candidates(other.persons, other.description)},
        }
        named = {m: dict(zip((s.speaker for s in segs), (s.speaker for s in name_speakers(segs, **given[m]))))
                 for m in MODES}
        stem = Path(item["audio"]).stem
        introduced = {spk["id"] for spk in self_introduced(item)}
        for spk in item["speakers"]:
            label = overlap_by_label(segs, [s for s in item["sentences"] if s["speaker"] == spk["id"]]).most_common(1)
            label = label[0][0] if label else None
            roles = [spk["role"]] + (["self-introduced guest"] if spk["id"] in introduced else [])
            cells = []
            for m in MODES:
                ok = same_name(named[m].get(label), spk["name"])
                for role in roles:
                    totals[(m, role)] += ok
                if spk["role"] == "guest":  # named at all: in full, or by the part of the name that was heard
                    totals[(m, "guest named")] += ok or part_of_name(named[m].get(label), spk["name"])
                cells.append(f"{('ok ' if ok else 'NO ') + str(named[m].get(label))[:13]:<17}")
            for role in roles:
                totals[role] += 1
            print(f"{stem[:29]:<30}{spk['name'][:15]:<16}{str(label):<11}" + "".join(cells))
        # Whose speech each label mostly carries.
        truth = {}
        for label in {s.speaker for s in segs if s.speaker}:
            mine = [s for s in segs if s.speaker == label]
            cover = Counter({spk["name"]: sum(overlap_by_label(mine, [x for x in item["sentences"]
                                                                       if x["speaker"] == spk["id"]]).values())
                             for spk in item["speakers"]})
            truth[label] = cover.most_common(1)[0][0] if cover and cover.most_common(1)[0][1] > 0 else None
        for m in MODES:
            for label, name in named[m].items():
                if not label or name == label or same_name(name, truth.get(label) or ""):
                    continue
                kind = "misspelt" if truth.get(label) and close(name, truth[label]) else "someone else's"
                totals[(m, kind)] += 1
                print(f"  {kind} ({m}): {label} -> {name!r} (speaks: {truth.get(label)})")
    print()
    print(f"{'named right':<30}" + "".join(f"{m:>12}" for m in MODES))
    for role in ("host", "guest", "self-introduced guest"):
        print(f"{role + 's':<30}" + "".join(f"{f'{totals[(m, role)]} of {totals[role]}':>12}" for m in MODES))
    named_at_all = [f"{totals[(m, 'guest named')]} of {totals['guest']}" for m in MODES]
    print(f"{'guests named (full or part)':<30}" + "".join(f"{cell:>12}" for cell in named_at_all))
    for kind in ("misspelt", "someone else's"):
        print(f"{'names ' + kind:<30}" + "".join(f"{totals[(m, kind)]:>12}" for m in MODES))
    print()
    real_report()


if __name__ == "__main__":
    main()
