"""Batched faster-whisper: windows of whole speech chunks, word times on the original timeline, and the
temperature fallback for windows that fail, on a real ~95 s episode of the demo podcast."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import pytest

from ingest.audio import decode_audio
from ingest.transcribe import (
    SAMPLE_RATE,
    TranscribeOptions,
    _failed,
    _Speech,
    _windows,
    load_engine,
)
from podsearch.config import DEFAULT_WHISPER_MODEL
from podsearch.records import Segment

DEMO = Path(__file__).resolve().parent.parent / "demo"
EPISODE = DEMO / "episodes" / "ep3-pharmacy-counter.mp3"
SCRIPT = DEMO / "scripts" / "ep3-pharmacy-counter.txt"
TIMINGS = DEMO / "scripts" / "ep3-pharmacy-counter.timings.json"
BATCHED = TranscribeOptions(beam_size=1, batch_size=8)
SEQUENTIAL = TranscribeOptions(beam_size=1, batch_size=1)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - Engine
    return load_engine("faster-whisper", DEFAULT_WHISPER_MODEL, device="cpu",
                       models_dir=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return decode_audio(EPISODE)


@pytest.fixture(scope="module")
def batched(engine, samples):  # noqa: ANN001, ANN201
    return engine.transcribe(samples, BATCHED)


def seconds(*chunks: tuple[float, float]) -> _Speech:
    return _Speech(tuple((int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)) for a, b in chunks))


def test_windows_hold_whole_chunks_up_to_30_seconds() -> None:
    # Cut-audio lengths 12, 10, 9, 25, 4 s: 12+10 fits, +9 would be 31.
    speech = seconds((0, 12), (20, 30), (31, 40), (50, 75), (90, 94))
    assert _windows(speech) == [(0.0, 22.0), (22.0, 31.0), (31.0, 60.0)]
    assert _windows(seconds()) == []
    # A chunk of exactly 30 s is a window of its own.
    assert _windows(seconds((5, 35), (40, 41))) == [(0.0, 30.0), (30.0, 31.0)]


def test_failed_is_whispers_fallback_rule() -> None:
    def seg(**kw: float) -> Segment:
        return Segment(0.0, 1.0, "text", **kw)

    assert _failed(seg(compression_ratio=2.5), BATCHED)
    assert _failed(seg(avg_logprob=-1.1, no_speech_prob=0.1), BATCHED)
    # Low confidence where Whisper judged there is no speech: silence, not a failure.
    assert not _failed(seg(avg_logprob=-1.1, no_speech_prob=0.9), BATCHED)
    assert not _failed(seg(avg_logprob=-0.3, compression_ratio=1.6, no_speech_prob=0.0), BATCHED)


@pytest.mark.slow
def test_batched_hears_the_episode_as_well_as_one_window_at_a_time(engine, samples, batched) -> None:  # noqa: ANN001
    reference = " ".join(words(SCRIPT.read_text(encoding="utf-8")))
    sequential = engine.transcribe(samples, SEQUENTIAL)
    batched_wer = jiwer.wer(reference, " ".join(words(batched.text)))
    sequential_wer = jiwer.wer(reference, " ".join(words(sequential.text)))
    # tiny.en on espeak speech with drug names and no vocabulary: ~20% either way
    # (numbers written as digits count as errors too).
    assert batched_wer <= 0.25 and sequential_wer <= 0.25, (batched_wer, sequential_wer)
    assert abs(batched_wer - sequential_wer) <= 0.06
    # Timestamp tokens still split windows into sentence-sized segments for subtitles.
    assert len(batched.segments) >= 8 and max(s.end - s.start for s in batched.segments) <= 30.0


@pytest.mark.slow
def test_batched_word_times_are_on_the_original_timeline(batched) -> None:  # noqa: ANN001
    stamps = [w for s in batched.segments for w in s.words]
    starts = [w.start for w in stamps]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= batched.duration for w in stamps)
    heard = [(words(w.text), w.start) for w in stamps]
    heard = [(ws[0], t) for ws, t in heard if ws]
    # Each scripted sentence whose first three words were heard in order starts where the script put it.
    checked = 0
    for sentence in json.loads(TIMINGS.read_text())["sentences"]:
        first = words(sentence["text"])[:3]
        for i in range(len(heard) - 2):
            if [heard[i][0], heard[i + 1][0], heard[i + 2][0]] == first and abs(heard[i][1] - sentence["start"]) < 5:
                assert abs(heard[i][1] - sentence["start"]) <= 1.0, (sentence["text"], heard[i][1])
                checked += 1
                break
    assert checked >= 10


@pytest.mark.slow
def test_failing_windows_are_decoded_again_with_the_fallback(engine, samples) -> None:  # noqa: ANN001
    calls: list[int] = []
    model = engine._model
    original = model.transcribe

    def counting(audio, **kwargs):  # noqa: ANN001, ANN003, ANN202 - observes, does not change
        calls.append(len(kwargs["temperature"]))
        return original(audio, **kwargs)

    # Every text compresses better than ratio 0.5, so every window "fails".
    strict = TranscribeOptions(beam_size=1, batch_size=8, compression_ratio_threshold=0.5)
    model.transcribe = counting
    try:
        result = engine.transcribe(samples, strict)
    finally:
        model.transcribe = original
    assert len(calls) >= 3 and all(n == len(strict.temperature) for n in calls)  # one per window, full fallback
    stamps = [w.start for s in result.segments for w in s.words]
    assert stamps == sorted(stamps) and stamps[-1] <= result.duration
    reference = " ".join(words(SCRIPT.read_text(encoding="utf-8")))
    assert jiwer.wer(reference, " ".join(words(result.text))) <= 0.3
