"""Where Whisper's segments start and end against where the speech really does (ingest.transcribe.SEGMENT_LEAD).

Three kinds of truth, each printed as the distribution (p10, quartiles, median, p90) of how late a segment
starts and how early it ends, for Whisper's own word bounds (a segment from its first word to its last, what
ingest stored before the lead) and for the segments as ingest now makes them:

- the conversations set (tests/data/conversations, synthetic voices placed by the generator, so every
  sentence's start and end are exact): each sentence against the segments that overlap it most, at a turn
  start (the voice changes) and inside a turn; read from a home's transcripts (--home, ingested if empty);
- the RTTM recordings (tests/data/realspeech/diarization, real speech, human or forced-alignment turns):
  each reference turn against its segments (Whisper run here);
- real recordings of one voice (tests/data/realspeech/audio): each segment that has a pause of at least
  0.3 s before (after) it against the first (last) 10 ms frame louder than the recording's floor + 15 dB
  (and its peak - 45 dB) inside the pause's far half and the segment.

With --leads it also re-opens the same segments by each lead (from their words) and prints the share of
speech on the right speaker and its ceiling (as bench_conversations does) for the RTTM recordings and the
conversations set, diarized again: the share only counts speech, so any lead raises it; the lead is set by
the median onset above, not by this table.

    .venv/bin/python -m bench.bench_onsets --home DIR [--leads 0 0.05 0.1 0.15 0.2]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.bench_conversations import DATA, RTTM_DIR, best_labels, ensure_ingested, read_rttm, timings, transcript_of
from podsearch.core.config import load_settings
from podsearch.core.records import Segment
from podsearch.ingest.audio import SAMPLE_RATE, decode_audio
from podsearch.ingest.transcribe import _opened
from podsearch.service.models import Models
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score
from podsearch.transcripts.store import load_transcript

REAL = DATA.parent / "realspeech" / "audio"
PAUSE = 0.3  # seconds of pause either side for an energy bound to be read
FRAME = 0.01


def tight(seg: Segment) -> Segment:
    """The segment from its first word to its last (Whisper's own bounds)."""
    return replace(seg, start=seg.words[0].start, end=seg.words[-1].end) if seg.words else seg


def spread(values: list[float]) -> str:
    if not values:
        return "n=0"
    p = np.percentile(values, [10, 25, 50, 75, 90])
    return f"n={len(values):4d}  p10 {p[0]:+.3f}  q1 {p[1]:+.3f}  median {p[2]:+.3f}  q3 {p[3]:+.3f}  p90 {p[4]:+.3f}"


def against_turns(segments: list[Segment], turns: list[tuple[float, float, str]]) -> dict[str, list[float]]:
    """Seconds each true turn/sentence's first segment starts late and its last segment ends early."""
    out: dict[str, list[float]] = {"start, turn": [], "start, inside": [], "end, turn": [], "end, inside": []}
    mine: dict[int, list[Segment]] = {}
    for seg in segments:
        shared = [min(seg.end, e) - max(seg.start, s) for s, e, _ in turns]
        if shared and max(shared) > 0:
            mine.setdefault(int(np.argmax(shared)), []).append(seg)
    for i, segs in mine.items():
        s, e, who = turns[i]
        opens = i == 0 or turns[i - 1][2] != who
        closes = i == len(turns) - 1 or turns[i + 1][2] != who
        out["start, turn" if opens else "start, inside"].append(min(g.start for g in segs) - s)
        out["end, turn" if closes else "end, inside"].append(e - max(g.end for g in segs))
    return out


def covered(segments: list[Segment], turns: list[tuple[float, float, str]], duration: float) -> float:
    n = int(duration / FRAME) + 1
    ref, cov = np.zeros(n, bool), np.zeros(n, bool)
    for s, e, _ in turns:
        ref[int(s / FRAME):int(e / FRAME)] = True
    for g in segments:
        cov[int(g.start / FRAME):int(g.end / FRAME)] = True
    return float((ref & cov).sum() / max(ref.sum(), 1))


def report(title: str, cases: list[tuple[list[Segment], list[tuple[float, float, str]], float]]) -> None:
    print(f"\n{title}: segment start late by (+) / segment end early by (+), seconds")
    for name, shape in (("Whisper's words", tight), ("segments", lambda s: s)):
        rows: dict[str, list[float]] = {}
        cover = speech = 0.0
        for segments, turns, duration in cases:
            segs = [shape(s) for s in segments]
            for k, v in against_turns(segs, turns).items():
                rows.setdefault(k, []).extend(v)
            length = sum(e - s for s, e, _ in turns)
            cover += covered(segs, turns, duration) * length
            speech += length
        print(f"  {name} (cover {cover / speech:.1%} of the true speech)")
        for k, v in rows.items():
            print(f"    {k:<14}{spread(v)}")
        print(f"    {'all starts':<14}{spread(rows['start, turn'] + rows['start, inside'])}")


def energy_report(transcriber) -> None:  # noqa: ANN001 - Transcriber
    """Segment bounds against the loudness of real one-voice recordings."""
    late: dict[str, list[float]] = {"Whisper's words": [], "segments": []}
    early: dict[str, list[float]] = {"Whisper's words": [], "segments": []}
    for path in sorted(REAL.iterdir()):
        samples = decode_audio(path)
        hop = int(FRAME * SAMPLE_RATE)
        n = len(samples) // hop
        db = 10 * np.log10(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
        loud = db > max(np.percentile(db, 10) + 15, db.max() - 45)
        segments = sorted(transcriber.engine.transcribe(samples, transcriber.options()).segments, key=lambda s: s.start)
        duration = len(samples) / SAMPLE_RATE
        for i, seg in enumerate(segments):
            prev_end = segments[i - 1].end if i else 0.0
            next_start = tight(segments[i + 1]).start if i + 1 < len(segments) else duration
            for name, s in (("Whisper's words", tight(seg)), ("segments", seg)):
                if i == 0 or tight(seg).start - prev_end >= PAUSE:
                    lo, hi = int((prev_end + tight(seg).start) / 2 / FRAME) if i else 0, int(s.end / FRAME)
                    on = np.nonzero(loud[lo:hi])[0]
                    if len(on):
                        late[name].append(s.start - (lo + on[0]) * FRAME)
                if i + 1 == len(segments) or next_start - s.end >= PAUSE:
                    lo = int(s.start / FRAME)
                    hi = int(((s.end + next_start) / 2 if i + 1 < len(segments) else duration) / FRAME)
                    on = np.nonzero(loud[lo:hi])[0]
                    if len(on):
                        early[name].append((lo + on[-1] + 1) * FRAME - s.end)
    print(f"\nreal one-voice recordings ({REAL.relative_to(DATA.parent.parent.parent)}), against loudness:")
    for name in late:
        print(f"  {name}\n    {'start late':<14}{spread(late[name])}\n    {'end early':<14}{spread(early[name])}")


def leads_report(transcriber, rttm_cases, conversation_cases, leads: list[float]) -> None:  # noqa: ANN001
    """Right speaker (ceiling) by lead, the same Whisper words re-opened and diarized again."""
    from podsearch.transcripts.speakers import label_segments

    print(f"\nright speaker (ceiling) by lead\n{'recording':<32}" + "".join(f"{'lead ' + str(x):>20}" for x in leads))
    groups = [(name, [case]) for name, case in rttm_cases] + [("conversations (all)", conversation_cases)]
    for name, cases in groups:
        row = f"{name[:31]:<32}"
        for lead in leads:
            right = ceiling = speech = 0.0
            for audio, segments, ref in cases:
                opened = _opened([replace(tight(s), speaker=None) for s in segments], lead)
                labelled = label_segments(opened, transcriber.diarizer.diarize(decode_audio(audio), [
                    (s.words[0].start, s.words[-1].end) if s.words else (s.start, s.end) for s in opened]))
                score = speaker_score(labelled, ref)
                right += score.right_s
                speech += score.speech_s
                ceiling += speaker_score(best_labels(opened, ref), ref).right_s
            row += f"{right / speech:>11.1%} ({ceiling / speech:.1%})"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a conversations home (ingested if empty)")
    parser.add_argument("--leads", type=float, nargs="*", help="also the right-speaker share by lead")
    args = parser.parse_args()
    from podsearch.service.transcriber import Transcriber

    models = Models()
    ensure_ingested(args.home, models)
    settings = load_settings(args.home)
    conversations, conversation_cases = [], []
    for item in timings():
        segments = list(load_transcript(transcript_of(settings, item["guid"])).segments)
        sentences = [(s["start"], s["end"], s["speaker"]) for s in item["sentences"]]
        conversations.append((segments, sentences, item["duration"]))
        conversation_cases.append((DATA / item["audio"], segments, [RefTurn(*s) for s in sentences]))
    report(f"conversations ({args.home})", conversations)
    with tempfile.TemporaryDirectory() as home:
        transcriber = Transcriber(load_settings(Path(home)), models=models)
        rttm, rttm_cases = [], []
        for path in sorted(RTTM_DIR.glob("*.rttm")):
            audio = next(p for p in RTTM_DIR.iterdir() if p.stem == path.stem and p.suffix != ".rttm")
            samples = decode_audio(audio)
            segments = list(transcriber.engine.transcribe(samples, transcriber.options()).segments)
            turns = sorted((s.start, s.end, str(label)) for s, _, label in read_rttm(path).itertracks(yield_label=True))
            rttm.append((segments, turns, len(samples) / SAMPLE_RATE))
            rttm_cases.append((path.stem, (audio, segments, [RefTurn(*t) for t in turns])))
        report("RTTM recordings", rttm)
        energy_report(transcriber)
        if args.leads:
            leads_report(transcriber, rttm_cases, conversation_cases, args.leads)


if __name__ == "__main__":
    main()
