"""The demo podcast as a new user meets it: what Whisper heard, who spoke, and the README's searches.

Ingests the demo the way `podsearch demo` does (its feed file, the terms of its vocabulary.txt, speakers
on) twice in one run: as it is in this tree, and as it was at git revision --baseline (default: main),
each into its own home under --home DIR (a temporary directory unless given; a home is reused when it
already holds that demo's feed). Prints, baseline against current:

- words: each episode's word error rate against its script (Whisper's EnglishTextNormalizer on both
  sides, jiwer, as bench_conversations), and the whole demo's;
- speakers: the share of script speech time whose segment carries the right speaker (best one-to-one
  mapping of labels to the script's host and guest, transcripts.speaker_eval), and the label each of
  them got (the names come from the current demo's timings, which list the cast);
- searches: the first hit of each of the README's example searches (hybrid, k 5, the home's floor):
  its kind ("speech" is advice; "intro"/"outro" are not), speaker, episode and text.

    .venv/bin/python -m bench.bench_demo [--home DIR] [--baseline REV] [--query Q ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jiwer
from whisper.normalizers import EnglishTextNormalizer

from podsearch.core.config import load_settings
from podsearch.index.search import search
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.models import Models
from podsearch.service.queries import search_options
from podsearch.service.subscriptions import add_feed
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score
from podsearch.transcripts.store import find_transcripts_by_guid, load_transcript

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
# The README's example searches on the demo (`grep -n 'podsearch search' README.md`).
README_QUERIES = ("calming an angry relative", "warfarin", "metformin", "breaking bad news")


def timings(demo: Path) -> list[dict]:
    """The demo's timings files, one per episode, in episode order."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((demo / "scripts").glob("*.timings.json"))]


def ensure_ingested(demo: Path, home: Path, models: Models) -> None:
    """Add the demo's feed and ingest it as `podsearch demo` does, unless `home` holds it already."""
    settings = load_settings(home)
    if all(find_transcripts_by_guid(settings.transcripts_dir, t["guid"]) for t in timings(demo)):
        return
    add_feed(settings, str(demo / "feed.xml"))
    lines = (demo / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    report = ingest(settings, vocabulary=tuple(t.strip() for t in lines if t.strip()), models=models)
    if report.feed_errors or report.episode_errors:
        raise SystemExit(f"ingest of {demo} failed: {report.feed_errors + report.episode_errors}")


def measure(demo: Path, home: Path, cast: dict[str, list[dict]], queries: tuple[str, ...],
            models: Models) -> dict:
    """Words, speakers and first hits of one demo, ingested into `home`."""
    ensure_ingested(demo, home, models)
    settings = load_settings(home)
    norm = EnglishTextNormalizer()
    out: dict = {"episodes": {}, "hits": {}}
    refs, hyps, right, speech = [], [], 0.0, 0.0
    for item in timings(demo):
        segments = load_transcript(find_transcripts_by_guid(settings.transcripts_dir, item["guid"])[0]).segments
        ref, hyp = norm(" ".join(s["text"] for s in item["sentences"])), norm(" ".join(s.text for s in segments))
        refs.append(ref)
        hyps.append(hyp)
        score = speaker_score(segments, [RefTurn(s["start"], s["end"], s["speaker"]) for s in item["sentences"]])
        right += score.right_s
        speech += score.speech_s
        names = {p["id"]: p["name"] for p in cast.get(item["guid"], [])}
        labels = ", ".join(f"{names.get(k, k)} -> {v}" for k, v in score.mapping.items())
        out["episodes"][Path(item["audio"]).stem] = (jiwer.wer(ref, hyp), score.share, labels)
    out["wer"] = jiwer.wer(refs, hyps)
    out["speakers"] = right / speech if speech else 0.0
    with Home(settings, models).index() as index:
        for q in queries:
            hits = search(index, q, search_options(settings, k=5))
            out["hits"][q] = hits[0] if hits else None
    return out


def extract(rev: str, into: Path) -> Path:
    """The demo/ folder as it is at git revision `rev`, written under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "demo"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="keep the homes here (reused when they hold the same demo)")
    parser.add_argument("--baseline", default="main", help="git revision of the baseline demo (default main)")
    parser.add_argument("--query", action="append", help="a search to try (default: the README's examples)")
    args = parser.parse_args()
    queries = tuple(args.query or README_QUERIES)
    work = args.home or Path(tempfile.mkdtemp(prefix="bench-demo-"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; homes under {work}")
    cast = {t["guid"]: t.get("speakers", []) for t in timings(DEMO)}
    demos = {f"baseline ({args.baseline})": extract(args.baseline, work / "baseline-src"), "current": DEMO}
    models = Models()  # one load of each model for the whole run
    results = {}
    try:
        for label, demo in demos.items():
            feed_hash = hashlib.sha256((demo / "feed.xml").read_bytes()).hexdigest()[:12]
            results[label] = measure(demo, work / f"home-{feed_hash}", cast, queries, models)
    finally:
        if args.home is None:
            shutil.rmtree(work, ignore_errors=True)
    base, cur = results.values()
    print(f"\n{'episode':<30}{'WER base':>10}{'WER now':>10}{'spk base':>10}{'spk now':>10}")
    for stem in cur["episodes"]:
        b, c = base["episodes"].get(stem, (float("nan"),) * 2), cur["episodes"][stem]
        print(f"{stem:<30}{b[0]:>10.3f}{c[0]:>10.3f}{b[1]:>10.1%}{c[1]:>10.1%}")
    print(f"{'whole demo':<30}{base['wer']:>10.3f}{cur['wer']:>10.3f}{base['speakers']:>10.1%}{cur['speakers']:>10.1%}")
    print(f"WER now / base: {cur['wer'] / base['wer']:.2f}")
    for label, res in results.items():
        print(f"\nspeaker labels, {label} (script speaker -> transcript label):")
        for stem, (_, _, labels) in res["episodes"].items():
            print(f"  {stem}: {labels}")
    for label, res in results.items():
        print(f"\nfirst hit of each README search, {label}:")
        for q, hit in res["hits"].items():
            if hit is None:
                print(f"  {q!r}: no hit")
                continue
            print(f"  {q!r}: {hit.kind} ({hit.guid}, {hit.speaker}, {hit.start:.1f}-{hit.end:.1f} s) {hit.text}")
    advice = sum(h is not None and h.kind == "speech" for h in cur["hits"].values())
    print(f"\ncurrent: {advice} of {len(queries)} README searches open with advice (kind speech)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
