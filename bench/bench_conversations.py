"""Conversations, measured honestly: strict search figures, sponsor reads, off-topic queries, speakers, DER.

Ingests tests/data/conversations/feed.xml (Whisper tiny.en, speakers on) into a temporary home, or
reuses one with --home DIR (ingested first if it has no episodes), then prints:

- the strict table (R@1, R@5, MRR per mode: right episode, clip and answer overlap by more than half
  of the shorter, the clip starts <= 5 s before the answer or at its question) and the lenient one,
  both ranking alone (no relevance floor); then hybrid strict as a user is shown it (default floor);
- top clips inside a (true) sponsor read, off-topic queries that got a clip, and every strict miss
  of hybrid with its top clip, so the failure causes can be read off;
- words: the whole set's word error rate (Whisper's EnglishTextNormalizer, jiwer), the people whose
  full name the transcript writes right, and words transcribed inside music;
- speakers: per episode the share of speech time whose segment carries the right speaker under the
  best one-to-one mapping of labels to true speakers (sentence times and speaker ids of the timings
  against the transcript's segments), overall, and whether each self-introduced guest got its name;
- DER on each RTTM in tests/data/realspeech/diarization/ with pyannote.metrics (collar 0.25 s either
  side of each reference boundary, i.e. pyannote's collar=0.5; overlapped speech scored), twice: with
  Whisper's segments as the speech ranges (what the pipeline does) and with the reference speech
  (oracle speech: speaker confusion alone); beside them the share of reference speech time on the right
  speaker (as the conversations set is scored), the same with the diarizer's windows alone (the same
  segments, no second look at short ones by the segmentation model), and its ceiling with Whisper's segments: every segment given
  the true speaker it overlaps most (a perfect diarizer can do no better, since speech no segment covers and
  the second voice of overlapped speech are lost whatever the labels).

    .venv/bin/python -m bench.bench_conversations [--home DIR] [--no-der] [--der-only] [--no-feed-vocabulary]

`--der-only` skips the conversations set (no ingest): the RTTM recordings alone, about a minute.

With --precision it prints only the speaker encoder in float32 against bfloat16 (the default on CPUs with
native bf16): the same Whisper segments of every conversation and real-speech recording labelled by
each, their right-speaker shares and the diarization time, in one run.

    .venv/bin/python -m bench.bench_conversations --precision [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import ROOT
from podsearch.core.config import load_settings
from podsearch.index.evaluate import (MODES, STRICT_LEAD, format_strict, load_offtopic,
                                      load_queries, load_sponsor_ranges, strict_report)
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score
from podsearch.transcripts.store import find_transcripts_by_guid, load_transcript

DATA = ROOT / "tests" / "data" / "conversations"
RTTM_DIR = ROOT / "tests" / "data" / "realspeech" / "diarization"


def ensure_ingested(home: Path, models: Models) -> float:
    """Ingest the dev set into `home` unless it already holds it; returns the wall seconds spent."""
    settings = load_settings(home)
    if all(transcript_of(settings, t["guid"]) for t in timings()):
        return 0.0
    add_feed(settings, str(DATA / "feed.xml"))
    t0 = time.perf_counter()
    report = ingest(settings, models=models)
    if report.episode_errors:
        raise SystemExit(f"ingest failed: {report.episode_errors}")
    return time.perf_counter() - t0


def transcript_of(settings, guid: str) -> Path | None:  # noqa: ANN001 - Settings
    """The dev-set episode's transcript file (transcripts are filed by episode key, the set knows guids)."""
    found = find_transcripts_by_guid(settings.transcripts_dir, guid)
    return found[0] if found else None


def timings() -> list[dict]:
    """The dev set's timings files, one per episode."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((DATA / "scripts").glob("*.timings.json"))]


def self_introduced(item: dict) -> list[dict]:
    """Guests who say their own name ("I'm Helen Park") in one of their sentences."""
    out = []
    for spk in item["speakers"]:
        if spk["role"] != "guest":
            continue
        first = [w for w in spk["name"].split() if w != "Dr"][0]
        said = " ".join(s["text"] for s in item["sentences"] if s["speaker"] == spk["id"])
        if re.search(rf"\b(I'm|I am|my name is) (Dr )?{re.escape(first)}\b", said):
            out.append(spk)
    return out


def named_right(label: str | None, name: str) -> bool:
    """True when `label` carries the guest's first or last name (Whisper may misspell the other one)."""
    words = {w.lower() for w in name.split() if w != "Dr"}
    return label is not None and bool(words & {w.lower().strip(".,") for w in label.split()})


def speakers_report(home: Path) -> tuple[float, list[tuple[str, str, bool]]]:
    """Prints the per-episode speaker shares; returns the overall share and (episode, guest, named?)."""
    settings = load_settings(home)
    right = speech = 0.0
    guests: list[tuple[str, str, bool]] = []
    print(f"\n{'episode':<34}{'speakers':>9}{'labels':>8}{'speech s':>10}{'right':>8}  mapping (true -> label)")
    for item in timings():
        path = transcript_of(settings, item["guid"])
        segments = load_transcript(path).segments
        reference = [RefTurn(s["start"], s["end"], s["speaker"]) for s in item["sentences"]]
        score = speaker_score(segments, reference)
        right += score.right_s
        speech += score.speech_s
        labels = {s.speaker for s in segments if s.speaker}
        stem = Path(item["audio"]).stem
        print(f"{stem:<34}{len(item['speakers']):>9}{len(labels):>8}{score.speech_s:>10.1f}{score.share:>8.1%}  "
              + ", ".join(f"{k} -> {v}" for k, v in score.mapping.items()))
        for spk in self_introduced(item):
            label = score.mapping.get(spk["id"])
            guests.append((stem, f"{spk['name']} (labelled {label!r})", named_right(label, spk["name"])))
    overall = right / speech if speech else 0.0
    print(f"overall: {overall:.1%} of {speech:.0f} s of speech on the right speaker (target >= 90%)")
    print(f"self-introduced guests named: {sum(ok for *_, ok in guests)} of {len(guests)}")
    for stem, who, ok in guests:
        print(f"  {'yes' if ok else 'NO '} {stem}: {who}")
    return overall, guests


def words_report(home: Path) -> tuple[float, int, int]:
    """Prints and returns the dev set's word error rate (every transcript against its script, Whisper's
    EnglishTextNormalizer on both sides, jiwer), how many of the episodes' people have their full name
    written right somewhere in their episode's transcript, and the words transcribed inside music."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    settings = load_settings(home)
    refs, hyps, names_right, names, music_words = [], [], 0, 0, 0
    for item in timings():
        segments = load_transcript(transcript_of(settings, item["guid"])).segments
        refs.append(norm(" ".join(s["text"] for s in item["sentences"])))
        heard = " ".join(s.text for s in segments)
        hyps.append(norm(heard))
        text = heard.lower()
        for spk in item["speakers"]:
            names += 1
            names_right += " ".join(w for w in spk["name"].split() if w != "Dr").lower() in text
        for region in (r for r in item["regions"] if r["kind"] == "music"):
            music_words += sum(len(s.text.split()) for s in segments
                               if min(s.end, region["end"]) - max(s.start, region["start"]) > 0.5 * (s.end - s.start))
    wer = jiwer.wer(refs, hyps)
    print(f"\nwords: WER {wer:.3f} over the whole set; people's full names written right {names_right} of {names}; "
          f"words transcribed inside music {music_words}")
    return wer, names_right, music_words


def kinds_report(home: Path) -> None:
    """Per true region kind (speech, intro, sponsor, outro): the share of its sentence time whose
    transcript segment carries that kind (what ranking relies on to leave reads out and weigh intros down)."""
    settings = load_settings(home)
    time_by: dict[str, dict[str, float]] = {}
    for item in timings():
        segments = load_transcript(transcript_of(settings, item["guid"])).segments
        for sent in item["sentences"]:
            row = time_by.setdefault(sent["kind"], {})
            covered = 0.0
            for seg in segments:
                both = min(seg.end, sent["end"]) - max(seg.start, sent["start"])
                if both > 0:
                    row[seg.kind] = row.get(seg.kind, 0.0) + both
                    covered += both
            row["(no segment)"] = row.get("(no segment)", 0.0) + max(0.0, sent["end"] - sent["start"] - covered)
    print("\nsegment kinds against the true regions (share of each true kind's sentence time marked as ...)")
    for kind, row in sorted(time_by.items()):
        total = sum(row.values())
        print(f"  true {kind:<8} {total:6.0f} s: " + ", ".join(f"{k} {v / total:.0%}" for k, v in
                                                             sorted(row.items(), key=lambda kv: -kv[1])))


def read_rttm(path: Path):  # noqa: ANN201 - pyannote.core.Annotation
    """The reference of one RTTM file as a pyannote Annotation."""
    from pyannote.core import Annotation, Segment

    ref = Annotation(uri=path.stem)
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if parts and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            ref[Segment(start, start + dur), i] = parts[7]
    return ref


def best_labels(segments, turns: list[RefTurn]) -> list:  # noqa: ANN001 - Segment sequences
    """`segments` each labelled with the true speaker it overlaps most (None: it overlaps no reference turn)."""
    from dataclasses import replace

    def truth(seg) -> str | None:  # noqa: ANN001 - Segment
        shared: dict[str, float] = {}
        for t in turns:
            both = min(seg.end, t.end) - max(seg.start, t.start)
            if both > 0:
                shared[t.speaker] = shared.get(t.speaker, 0.0) + both
        return max(shared, key=shared.get) if shared else None

    return [replace(seg, speaker=truth(seg)) for seg in segments]


def der_report(models: Models) -> None:
    """DER of the pipeline's diarization on each RTTM-labelled real recording."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from podsearch.ingest.audio import decode_audio
    from podsearch.service.transcriber import Transcriber

    home = Path(tempfile.mkdtemp(prefix="bench-der-"))
    transcriber = Transcriber(load_settings(home), models=models)
    # The same Whisper segments labelled by the diarizer's windows alone (no second look at short segments).
    windows_only = Transcriber(load_settings(home, segmentation_model="off"), models=models)
    print(f"\nDER (pyannote.metrics, collar 0.25 s each side, overlap scored){'':>4}"
          f"{'speakers':>9}{'found':>7}{'DER whisper speech':>20}{'DER oracle speech':>19}{'right speaker':>15}"
          f"{'windows only':>14}{'ceiling':>9}")
    try:
        for rttm in sorted(RTTM_DIR.glob("*.rttm")):
            audio = next(p for p in RTTM_DIR.iterdir() if p.stem == rttm.stem and p.suffix != ".rttm")
            samples = decode_audio(audio)
            ref = read_rttm(rttm)
            # What the pipeline does: Whisper's segments are the speech, labelled per segment / word.
            segments = transcriber.engine.transcribe(samples, transcriber.options()).segments
            labelled = transcriber.speakers(audio, segments)  # the audio file: diarization streams it again
            hyp = Annotation(uri=rttm.stem)
            for i, s in enumerate(labelled):
                if s.speaker and s.end > s.start:
                    hyp[Segment(s.start, s.end), i] = s.speaker
            # Oracle speech: the reference's own speech regions, so only who-is-who is measured.
            speech = [(seg.start, seg.end) for seg in ref.get_timeline().support()]
            oracle = Annotation(uri=rttm.stem)
            for i, t in enumerate(transcriber.diarizer.diarize(samples, speech)):
                oracle[Segment(t.start, t.end), i] = t.speaker
            # The whole recording is scored (speech found in a silence is a false alarm).
            uem = Timeline([Segment(0.0, len(samples) / 16000)])
            der = DiarizationErrorRate(collar=0.5)
            # As the conversations set is scored: reference speech time whose segment carries the right speaker.
            turns = [RefTurn(seg.start, seg.end, str(label)) for seg, _, label in ref.itertracks(yield_label=True)]
            print(f"{rttm.stem:<70}{len(ref.labels()):>9}{len(hyp.labels()):>7}"
                  f"{der(ref, hyp, uem=uem):>20.1%}{der(ref, oracle, uem=uem):>19.1%}"
                  f"{speaker_score(labelled, turns).share:>15.1%}"
                  f"{speaker_score(windows_only.speakers(audio, segments), turns).share:>14.1%}"
                  f"{speaker_score(best_labels(segments, turns), turns).share:>9.1%}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def precision_report(home: Path, models: Models) -> None:
    """Right-speaker shares and diarization time with the speaker encoder in float32 and in bfloat16."""
    from podsearch.ingest.audio import decode_audio
    from podsearch.ingest.diarize import Diarizer, ResemblyzerEncoder
    from podsearch.service.transcriber import Transcriber
    from podsearch.transcripts.speakers import label_segments

    settings = load_settings(home)
    transcriber = Transcriber(settings, models=models)
    cases = []  # (name, samples, unlabelled Whisper segments, reference turns)
    for item in timings():
        segments = load_transcript(transcript_of(settings, item["guid"])).segments
        cases.append((Path(item["audio"]).stem, decode_audio(DATA / item["audio"]), segments,
                      [RefTurn(s["start"], s["end"], s["speaker"]) for s in item["sentences"]]))
    for rttm in sorted(RTTM_DIR.glob("*.rttm")):
        audio = next(p for p in RTTM_DIR.iterdir() if p.stem == rttm.stem and p.suffix != ".rttm")
        samples = decode_audio(audio)
        segments = transcriber.engine.transcribe(samples, transcriber.options()).segments
        turns = [RefTurn(seg.start, seg.end, str(label)) for seg, _, label in read_rttm(rttm).itertracks(yield_label=True)]
        cases.append((rttm.stem[:40], samples, segments, turns))
    encoders = {"float32": ResemblyzerEncoder(bf16=False), "bfloat16": ResemblyzerEncoder(bf16=True)}
    print(f"\n{'recording':<42}" + "".join(f"{name + ' right':>16}{name + ' s':>12}" for name in encoders))
    totals = {name: [0.0, 0.0, 0.0] for name in encoders}  # right s, speech s, seconds spent
    for name, samples, segments, reference in cases:
        row = f"{name:<42}"
        for label, encoder in encoders.items():
            diarizer = Diarizer(encoder=encoder)
            t0 = time.perf_counter()
            turns = diarizer.diarize(samples, [(s.start, s.end) for s in segments if s.text.strip()])
            spent = time.perf_counter() - t0
            score = speaker_score(label_segments(segments, turns), reference)
            totals[label][0] += score.right_s
            totals[label][1] += score.speech_s
            totals[label][2] += spent
            row += f"{score.share:>16.1%}{spent:>12.2f}"
        print(row)
    print(f"{'all':<42}" + "".join(f"{r / max(sp, 1e-9):>16.1%}{t:>12.2f}" for r, sp, t in totals.values()))
    (_, _, t32), (_, _, t16) = totals.values()
    print(f"diarization {t32 / max(t16, 1e-9):.2f}x faster in bfloat16")


def search_report(home: Path, models: Models) -> None:
    """Strict and lenient tables, sponsor reads, off-topic clips and hybrid's strict misses."""
    queries = load_queries(DATA / "queries.json")
    offtopic = load_offtopic(DATA / "offtopic.json")
    sponsors = load_sponsor_ranges(DATA / "scripts")
    settings = load_settings(home)
    with Home(settings, models).index() as index:
        report = strict_report(index, queries, offtopic, sponsors, MODES, 10)
        print(format_strict(report, len(queries)))
        from podsearch.index.search import SearchOptions

        shown = strict_report(index, queries, (), sponsors, ("hybrid",), 10, SearchOptions().floor,
                              SearchOptions().min_coverage)
        s = shown.strict["hybrid"]
        print(f"hybrid strict as shown to a user (floor {SearchOptions().floor}, coverage "
              f"{SearchOptions().min_coverage}): R@1 {s['R@1']:.3f}  R@5 {s['R@5']:.3f}  MRR {s['MRR']:.3f}")
    paragraphs = {t["guid"]: t["paragraphs"] for t in timings()}
    heard = {t["guid"]: load_transcript(transcript_of(settings, t["guid"])).segments
             for t in timings()}

    def where(guid: str, start: float, end: float) -> str:
        """The true paragraphs a clip spans: index, speaker, kind."""
        inside = [p for p in paragraphs.get(guid, []) if p["end"] > start and p["start"] < end]
        return ", ".join(f"p{p['index']} {p['speaker']} {p['kind']}" for p in inside) or "no speech"

    def recognised(q) -> float:  # noqa: ANN001 - EvalQuery
        """Share of the answer's words that Whisper got (a bag of words over the answer's time span)."""
        words = lambda text: re.findall(r"[a-z']+", text.lower())  # noqa: E731
        said = [p for p in paragraphs[q.guid] if abs(p["start"] - q.start) < 0.01][0]["text"]
        got = set(words(" ".join(seg.text for seg in heard[q.guid] if seg.end > q.start and seg.start < q.end)))
        ref = words(said)
        return sum(w in got for w in ref) / max(len(ref), 1)

    def cause(q, top) -> str:  # noqa: ANN001 - EvalQuery, Hit | None
        """Why the top clip is not strictly right, from the true paragraphs it spans."""
        if top is None:
            return "no clip"
        if top.guid != q.guid:
            return "wrong episode"
        first = [p for p in paragraphs[q.guid] if p["end"] > top.start and p["start"] < top.end][:1]
        overlap = min(top.end, q.end) - max(top.start, q.start)
        if first and first[0]["kind"] in ("intro", "outro", "sponsor"):
            return f"starts in the {first[0]['kind']}"
        if overlap <= 0:
            return "another turn of the right episode"
        if top.start < min(q.start - STRICT_LEAD, (q.question_start or q.start) - 2):
            return "starts in an earlier turn (before the question)"
        return "too little of the answer (clip ends early or runs on)"

    misses = report.misses["hybrid"]
    print(f"\nhybrid strict misses at rank 1: {len(misses)} of {len(queries)}")
    tally: dict[str, int] = {}
    rank_of = dict(zip((q.query for q in queries), report.first_right["hybrid"]))
    for q, top in misses:
        why = cause(q, top)
        tally[why] = tally.get(why, 0) + 1
        print(f"- {q.query!r}: answer {q.guid} {q.start:.1f}-{q.end:.1f} (question {q.question_start}; "
              f"{recognised(q):.0%} of its words recognised; first right clip at rank {rank_of[q.query] or '> 10'})")
        if top is not None:
            print(f"    top: {top.guid} {top.start:.1f}-{top.end:.1f} kind={top.kind} conf={top.confidence} "
                  f"[{where(top.guid, top.start, top.end)}] -> {why}; text: {top.text[:110]!r}")
        else:
            print("    no clip")
    print("hybrid miss causes: " + "; ".join(f"{k}: {v}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1])))
    ranks = [rank_of[q.query] for q, _ in misses]
    print(f"hybrid misses whose right clip is at rank 2-5: {sum(1 for r in ranks if r and r <= 5)}, 6-10: "
          f"{sum(1 for r in ranks if r and r > 5)}, not in the top 10: {sum(1 for r in ranks if r is None)}")
    poor = [q for q, _ in misses if recognised(q) < 0.8]
    print(f"misses whose answer Whisper recognised < 80% of: {len(poor)} of {len(misses)}; over all queries the "
          f"mean is {sum(recognised(q) for q in queries) / len(queries):.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="reuse (or fill) this home instead of a temporary one")
    parser.add_argument("--no-der", action="store_true", help="skip the DER of the real-speech recordings")
    parser.add_argument("--der-only", action="store_true",
                        help="only the DER and speaker shares of the real-speech recordings (no ingest)")
    parser.add_argument("--no-feed-vocabulary", action="store_true",
                        help="ingest without giving Whisper the feed's names and terms (to compare)")
    parser.add_argument("--precision", action="store_true",
                        help="only the speaker encoder in float32 against bfloat16 (speakers and time)")
    args = parser.parse_args()
    if args.no_feed_vocabulary:
        os.environ["PODSEARCH_FEED_VOCABULARY"] = "0"  # load_settings reads it for every settings object
    if args.der_only:
        der_report(Models())
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-conversations-"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; home {home}")
    try:
        models = Models()  # one load of each model for the whole run
        spent = ensure_ingested(home, models)
        if spent:
            print(f"ingested the dev set in {spent:.0f} s")
        if args.precision:
            precision_report(home, models)
            return
        search_report(home, models)
        words_report(home)
        kinds_report(home)
        speakers_report(home)
        if not args.no_der:
            der_report(models)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
