"""Batched faster-whisper: windows of whole speech chunks, word times on the original timeline, and the
temperature fallback for windows that fail, on a real ~95 s episode of the demo podcast."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import pytest

from podsearch.ingest.audio import decode_audio
from podsearch.ingest.transcribe import (
    SAMPLE_RATE,
    TranscribeOptions,
    _failed,
    _lost_speech,
    _Speech,
    _windows,
    _placed,
    split_sentences,
)
from podsearch.core.config import DEFAULT_WHISPER_MODEL
from podsearch.core.records import Segment, Word

DEMO = Path(__file__).resolve().parent.parent / "demo"
EPISODE = DEMO / "episodes" / "ep3-pharmacy-counter.mp3"
SCRIPT = DEMO / "scripts" / "ep3-pharmacy-counter.txt"
TIMINGS = DEMO / "scripts" / "ep3-pharmacy-counter.timings.json"
BATCHED = TranscribeOptions(beam_size=1, batch_size=8)
SEQUENTIAL = TranscribeOptions(beam_size=1, batch_size=1)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture(scope="module")
def engine(models_dir: Path, models):  # noqa: ANN001, ANN201 - Engine
    return models.engine("faster-whisper", DEFAULT_WHISPER_MODEL, device="cpu", models_dir=models_dir)


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


def test_a_window_is_split_into_sentences_by_word_times() -> None:
    said = [(" Lower", 0.0), (" your", 0.4), (" voice.", 0.8), (" Offer", 2.0), (" a", 2.4), (" seat?", 2.6),
            (" Then", 4.0), (" listen", 4.3)]
    window = Segment(0.0, 5.0, "whole window text", avg_logprob=-0.2, compression_ratio=1.3,
                     words=tuple(Word(t, t + 0.3, w, 0.9) for w, t in said))
    parts = split_sentences(window)
    assert [p.text for p in parts] == ["Lower your voice.", "Offer a seat?", "Then listen"]
    assert [(p.start, p.end) for p in parts] == [(0.0, 1.1), (2.0, 2.9), (4.0, 4.6)]
    assert all(p.avg_logprob == -0.2 and p.compression_ratio == 1.3 for p in parts)  # the window's figures
    assert split_sentences(Segment(0.0, 5.0, "no words")) == [Segment(0.0, 5.0, "no words")]


def test_a_segments_first_word_stretched_back_over_an_intro_jingle_is_placed_before_the_second() -> None:
    # sh1 of the conversations set: "Welcome" aligned to 0.0-1.12 s over the jingle, "to Safety Huddle" from 8.35 s.
    words = (Word(0.0, 1.12, " Welcome", 0.45), Word(8.352, 8.712, " to", 0.99), Word(8.712, 9.072, " Safety", 0.19),
             Word(9.072, 9.392, " Huddle.", 0.45))
    placed = _placed(Segment(0.0, 9.392, "Welcome to Safety Huddle.", words=words))
    assert (placed.start, placed.words[0].start, placed.words[0].end) == (7.352, 7.352, 8.352)
    assert placed.words[1:] == words[1:] and placed.text == "Welcome to Safety Huddle."
    # A first word that is a whole sentence, or a short pause after it, stays where it was heard.
    yes = Segment(0.0, 3.6, "Yes. Then go.", words=(Word(0.0, 0.4, " Yes.", 0.9), Word(3.0, 3.3, " Then", 0.9)))
    well = Segment(0.0, 1.8, "Well, then.", words=(Word(0.0, 0.4, " Well,", 0.9), Word(1.5, 1.8, " then.", 0.9)))
    assert _placed(yes) == yes and _placed(well) == well


def test_a_pause_before_a_capital_ends_a_sentence_without_a_full_stop() -> None:
    said = [(" slow", 0.0), (" down", 0.4), (" If", 1.3), (" they", 1.6), (" shout", 1.9), (" I", 2.8), (" wait", 3.1)]
    window = Segment(0.0, 3.5, "", words=tuple(Word(t, t + 0.3, w, 0.9) for w, t in said))
    # "If" after a 0.6 s pause starts a sentence; "I" after one does not.
    assert [p.text for p in split_sentences(window)] == ["slow down", "If they shout I wait"]


def test_a_long_sentence_is_cut_at_its_longest_pause_or_comma() -> None:
    # 20 words, 1 s apart, no full stop; a comma after word 7 and a 2 s pause after word 14.
    said = [(f" w{i}" + ("," if i == 7 else ""), i + (2.0 if i > 14 else 0.0)) for i in range(20)]
    sentence = Segment(0.0, 22.0, "", words=tuple(Word(t, t + 0.5, w, 0.9) for w, t in said))
    parts = split_sentences(sentence, max_seconds=12.0)
    assert all(p.end - p.start <= 12.0 for p in parts)
    # First at the 2 s pause (0-21.5 s is too long), then at the comma (0-14.5 s still is).
    assert [p.words[-1].text for p in parts] == [" w7,", " w14", " w19"]
    assert " ".join(p.text for p in parts).split() == [w.strip() for w, _ in said]


def test_lost_speech_is_a_long_unheard_stretch_of_a_window() -> None:
    def seg(*spans: tuple[float, float]) -> Segment:
        return Segment(spans[0][0], spans[-1][1], "x", words=tuple(Word(a, b, " x", 0.9) for a, b in spans))

    assert not _lost_speech([seg((0.2, 4.0), (4.5, 9.0)), seg((10.0, 29.5))], 0.0, 30.0, BATCHED)
    assert _lost_speech([seg((0.2, 12.0))], 0.0, 30.0, BATCHED)  # the decoder stopped early
    assert _lost_speech([seg((0.0, 5.0)), seg((9.0, 20.0))], 0.0, 20.0, BATCHED)  # skipped 4 s in the middle
    assert _lost_speech([], 0.0, 10.0, BATCHED)


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
    # Word times split windows into sentence-sized segments for subtitles.
    assert len(batched.segments) >= 8 and max(s.end - s.start for s in batched.segments) <= 12.0


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
def test_a_failing_window_is_decoded_again_alone_in_place(engine, samples, batched) -> None:  # noqa: ANN001
    from podsearch.ingest.transcribe import _detect_speech

    speech = _detect_speech(samples, 30.0)
    audio, windows = speech.cut(samples), _windows(speech)
    assert len(windows) >= 3
    start, end = windows[1]
    looping = Segment(start, end, "the the the the the", compression_ratio=3.1, avg_logprob=-0.2,
                      words=(Word(start, end, " the", 0.9),))
    calls: list[int] = []
    original = engine._model.transcribe

    def counting(audio, **kwargs):  # noqa: ANN001, ANN003, ANN202 - observes, does not change
        calls.append(len(kwargs["temperature"]))
        return original(audio, **kwargs)

    engine._model.transcribe = counting
    try:
        again = engine._checked(audio, "en", BATCHED, windows[1], [looping])
        assert calls == [len(BATCHED.temperature)]  # decoded alone, with the whole temperature schedule
        # A clean episode: no window fails, so batching is not paid for twice.
        calls.clear()
        engine.transcribe(samples, BATCHED)
        assert calls == []
    finally:
        engine._model.transcribe = original
    assert "the the the" not in " ".join(s.text for s in again)
    # In place: the new segments lie inside the window, on the cut-audio timeline.
    assert all(start - 0.5 <= s.start and s.end <= end + 0.5 for s in again)
    reference = set(words(SCRIPT.read_text(encoding="utf-8")))
    heard = words(" ".join(s.text for s in again))
    assert len(heard) >= 20 and sum(w in reference for w in heard) / len(heard) >= 0.7
