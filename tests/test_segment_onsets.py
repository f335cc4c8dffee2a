"""Segments open a little before Whisper's late first word (SEGMENT_LEAD), on the real two-voice phone call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from podsearch.core.config import load_settings
from podsearch.core.records import Segment, Word
from podsearch.index.passages import split_long_segment, split_sentences
from podsearch.ingest.audio import decode_audio
from podsearch.ingest.transcribe import SEGMENT_LEAD, _opened
from podsearch.service.transcriber import Transcriber
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score
from podsearch.transcripts.speakers import label_segments

CALL = Path(__file__).parent / "data" / "realspeech" / "diarization" / "pyannote_sample"


def words_seg(*spans: tuple[float, float, str], start: float | None = None) -> Segment:
    words = tuple(Word(s, e, t) for s, e, t in spans)
    return Segment(start=words[0].start if start is None else start, end=words[-1].end,
                   text=" ".join(w.text for w in words), words=words)


def test_a_segment_opens_by_the_lead_into_a_pause_and_never_into_its_neighbour_or_before_zero() -> None:
    segments = [words_seg((0.05, 0.5, "Hello.")), words_seg((0.52, 0.9, "Hi.")), words_seg((2.0, 2.4, "Well.")),
                words_seg((2.45, 2.45, "Okay."))]  # tiny.en's zero-length "Okay."
    opened = _opened(segments)
    assert [s.start for s in opened] == [0.0, 0.5, round(2.0 - SEGMENT_LEAD, 3), 2.4]
    assert [s.words for s in opened] == [s.words for s in segments]  # word times as Whisper placed them
    assert [s.end for s in opened] == [s.end for s in segments]
    assert opened[-1].end > opened[-1].start  # the zero-length one has a length now
    # One already overlapping the segment before keeps its start.
    overlapping = [words_seg((1.0, 2.0, "One.")), words_seg((1.8, 2.5, "Two."))]
    assert _opened(overlapping)[1].start == 1.8


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int


def test_pieces_cut_at_words_keep_the_segments_outer_bounds() -> None:
    seg = words_seg((1.0, 1.1, "Yes,"), (1.15, 1.25, "I"), (1.3, 1.4, "agree."), (1.5, 1.7, "Right"),
                    (1.75, 1.9, "so"), (2.1, 2.6, "then."), start=0.9)  # opened by the lead
    assert [(p.start, p.end) for p in split_sentences(seg)] == [(0.9, 1.4), (1.5, 2.6)]
    assert [(p.start, p.end) for p in split_long_segment(seg, 2)] == [(0.9, 1.25), (1.3, 1.7), (1.75, 2.6)]
    labelled = label_segments([seg], [Turn(0.0, 1.45, 0), Turn(1.45, 3.0, 1)])
    assert [(p.start, p.end, p.speaker) for p in labelled] == [(0.9, 1.4, "Speaker 1"), (1.5, 2.6, "Speaker 2")]


@pytest.fixture(scope="module")
def call(models, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201 - Models; (segments, labelled, turns)
    transcriber = Transcriber(load_settings(tmp_path_factory.mktemp("home")), models=models)
    samples = decode_audio(CALL.with_suffix(".flac"))
    segments = transcriber.engine.transcribe(samples, transcriber.options()).segments
    reference = []
    for line in CALL.with_suffix(".rttm").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        reference.append(RefTurn(float(parts[3]), float(parts[3]) + float(parts[4]), parts[7]))
    return segments, transcriber.speakers(CALL.with_suffix(".flac"), segments), reference


def covered(segments: tuple[Segment, ...], reference: list[RefTurn]) -> float:
    """Share of the reference's speech time (overlapped speech counted once per voice) inside some segment."""
    spans = sorted((s.start, s.end) for s in segments)
    total = inside = 0.0
    for turn in reference:
        total += turn.end - turn.start
        at = turn.start
        for start, end in spans:
            if end > at and start < turn.end:
                inside += min(end, turn.end) - max(start, at)
                at = min(end, turn.end)
    return inside / total


@pytest.mark.slow
def test_the_phone_calls_segments_open_before_their_first_word_without_overlapping(call) -> None:  # noqa: ANN001
    segments, _, _ = call
    ordered = sorted(segments, key=lambda s: s.start)
    assert ordered[0].start >= 0.0
    for before, seg in zip(ordered, ordered[1:]):
        assert seg.start >= before.end - 1e-9  # never into the segment before
    leads = [s.words[0].start - s.start for s in segments if s.words]
    assert all(-1e-9 <= lead <= SEGMENT_LEAD + 1e-3 for lead in leads)
    assert sum(lead > SEGMENT_LEAD - 1e-3 for lead in leads) >= len(leads) // 2  # most have a pause to open into


@pytest.mark.slow
def test_the_phone_calls_segments_cover_more_of_its_speech_and_more_is_on_the_right_voice(call) -> None:  # noqa: ANN001
    segments, labelled, reference = call
    # Whisper's words alone (each segment from its first word to its last) cover less of the reference speech.
    tight = tuple(Segment(start=s.words[0].start, end=s.words[-1].end, text=s.text) for s in segments if s.words)
    assert covered(segments, reference) >= covered(tight, reference) + 0.03
    assert speaker_score(labelled, reference).share >= 0.78
