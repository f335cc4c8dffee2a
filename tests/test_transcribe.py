"""Both Whisper engines on real audio with the bundled tiny.en model."""

from __future__ import annotations

import re
from pathlib import Path

import jiwer
import numpy as np
import pytest

from podsearch.ingest.audio import decode_audio
from podsearch.ingest.transcribe import (
    Engine,
    TranscribeOptions,
    TranscriptionResult,
    flag_segment,
    load_engine,
)
from podsearch.core.config import DEFAULT_WHISPER_MODEL, ENGINES
from podsearch.core.errors import ModelError
from podsearch.core.records import Segment

DATA = Path(__file__).parent / "data"
REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return decode_audio(DATA / "jfk.flac")


@pytest.fixture(scope="module")
def engines(models_dir: Path, models) -> dict[str, Engine]:  # noqa: ANN001
    return {name: models.engine(name, DEFAULT_WHISPER_MODEL, device="cpu", models_dir=models_dir) for name in ENGINES}


@pytest.fixture(scope="module")
def jfk_results(engines: dict[str, Engine], jfk: np.ndarray) -> dict[str, tuple[TranscriptionResult, list[float]]]:
    """Each engine's default transcription of the JFK clip, with its progress reports."""
    out = {}
    for name, engine in engines.items():
        reports: list[float] = []
        out[name] = (engine.transcribe(jfk, TranscribeOptions(), progress=reports.append), reports)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_reference_words(jfk_results: dict, engine: str) -> None:
    result, _ = jfk_results[engine]
    hypothesis = " ".join(words(result.text))
    assert jiwer.wer(" ".join(words(REFERENCE)), hypothesis) <= 0.1, hypothesis
    assert result.engine == engine and result.model == DEFAULT_WHISPER_MODEL
    assert result.language == "en" and result.warnings == ()
    assert result.duration == pytest.approx(11.0)
    assert not any(s.flagged for s in result.segments)


@pytest.mark.slow
def test_engines_hear_the_same_words(jfk_results: dict) -> None:
    faster, openai = (words(jfk_results[name][0].text) for name in ENGINES)
    assert faster == openai


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_word_timestamps(jfk_results: dict, engine: str) -> None:
    result, _ = jfk_results[engine]
    stamps = [w for s in result.segments for w in s.words]
    assert [words(w.text)[0] for w in stamps if words(w.text)] == words(result.text)
    for w in stamps:
        assert 0.0 <= w.start <= w.end <= result.duration
        assert w.probability is not None and 0.0 <= w.probability <= 1.0
    starts = [w.start for w in stamps]
    assert starts == sorted(starts)
    for seg in result.segments:
        assert seg.start <= seg.words[0].start and seg.words[-1].end <= seg.end + 1e-6
    # Kennedy starts at once and ends "...for your country" near 10.5 s.
    assert stamps[0].start < 1.0 and stamps[-1].end > 9.5


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_progress_reports_seconds_up_to_the_duration(jfk_results: dict, engine: str) -> None:
    _, reports = jfk_results[engine]
    assert reports and reports == sorted(set(reports))
    assert reports[-1] == pytest.approx(11.0)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_vocabulary_steers_spelling(engines: dict[str, Engine], engine: str) -> None:
    samples = decode_audio(DATA / "hotwords.mp3")
    plain = engines[engine].transcribe(samples, TranscribeOptions())
    steered = engines[engine].transcribe(samples, TranscribeOptions(vocabulary=("ComfyUI",)))
    # tiny.en alone hears "comfy eye"; told the name, it spells it.
    assert "ComfyUI" not in plain.text
    assert "ComfyUI" in steered.text


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_noise_gives_no_text_or_flagged_text(engines: dict[str, Engine], engine: str) -> None:
    noise = (np.random.default_rng(0).standard_normal(20 * 16000) * 0.01).astype(np.float32)
    # With VAD (the default) nothing is speech, so nothing is decoded.
    assert engines[engine].transcribe(noise, TranscribeOptions()).segments == ()
    # Without it, at beam 5 tiny.en loops ("a little bit of a little bit of
    # ..."); one temperature keeps the run deterministic. openai-whisper runs
    # greedy here: its 224-token loop at beam 5 takes minutes on two cores.
    options = TranscribeOptions(
        vad=False, temperature=(0.0,), word_timestamps=False, beam_size=5 if engine == "faster-whisper" else 1
    )
    raw = engines[engine].transcribe(noise, options)
    assert all(s.flagged for s in raw.segments), [s.text for s in raw.segments]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_silence_gives_no_text_or_flagged_text(engines: dict[str, Engine], engine: str) -> None:
    silence = np.zeros(20 * 16000, dtype=np.float32)
    assert engines[engine].transcribe(silence, TranscribeOptions()).segments == ()
    # Without VAD tiny.en says its stock "you" into the silence.
    raw = engines[engine].transcribe(silence, TranscribeOptions(vad=False, temperature=(0.0,), word_timestamps=False))
    assert all(s.flagged for s in raw.segments), [s.text for s in raw.segments]


@pytest.mark.slow
def test_vad_keeps_original_times_across_a_cut_pause(engines: dict[str, Engine], jfk: np.ndarray) -> None:
    # Five seconds of silence after "...can do for you" (8.0 s).
    cut = 8 * 16000
    padded = np.concatenate([jfk[:cut], np.zeros(5 * 16000, np.float32), jfk[cut:]])
    result = engines["faster-whisper"].transcribe(padded, TranscribeOptions())
    stamps = [w for s in result.segments for w in s.words]
    second = next(i for i, w in enumerate(stamps) if words(w.text) == ["ask"] and w.start > 5)
    assert 12.5 < stamps[second].start < 14.0
    assert stamps[second - 1].end < 8.5
    assert stamps[-1].end == pytest.approx(15.5, abs=0.6)


@pytest.mark.slow
def test_english_only_model_warns_on_other_languages(engines: dict[str, Engine]) -> None:
    # English for 30 s, then another language until 56 s.
    samples = decode_audio(DATA / "multilingual.mp3")[20 * 16000 :]
    result = engines["faster-whisper"].transcribe(samples, TranscribeOptions())
    assert result.language == "en"
    assert any("may not be English" in w for w in result.warnings), result.warnings


@pytest.mark.slow
def test_english_only_model_ignores_another_language_request(engines: dict[str, Engine], jfk: np.ndarray) -> None:
    result = engines["faster-whisper"].transcribe(jfk[: 3 * 16000], TranscribeOptions(language="de"))
    assert result.language == "en"
    assert any("cannot transcribe 'de'" in w for w in result.warnings)


@pytest.mark.slow
def test_engines_are_loaded_once_per_models(models_dir: Path) -> None:
    from podsearch.service.models import Models

    models = Models()
    first = models.engine("faster-whisper", DEFAULT_WHISPER_MODEL, device="cpu", models_dir=models_dir)
    assert models.engine("faster-whisper", DEFAULT_WHISPER_MODEL, device="cpu", models_dir=models_dir) is first
    # Nothing is cached behind the caller's back: another owner loads its own.
    assert Models().engine("faster-whisper", DEFAULT_WHISPER_MODEL, device="cpu", models_dir=models_dir) is not first


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["tiny.xx", "bundled:large-v9", "whisper-huge"])
def test_unknown_model_raises(engine: str, model: str, models_dir: Path) -> None:
    with pytest.raises(ModelError, match=re.escape(model)) as info:
        load_engine(engine, model, device="cpu", models_dir=models_dir)
    assert "tiny.en" in str(info.value)  # the message lists valid choices


@pytest.mark.parametrize("engine", ENGINES)
def test_local_path_that_is_not_a_model_raises(engine: str, tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    with pytest.raises(ModelError, match="not-a-model"):
        load_engine(engine, str(folder), device="cpu", models_dir=tmp_path)


def test_unknown_engine_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="whisper.cpp"):
        load_engine("whisper.cpp", DEFAULT_WHISPER_MODEL, models_dir=tmp_path)


def seg(text: str, **kw: float) -> Segment:
    return Segment(start=0.0, end=5.0, text=text, **kw)


@pytest.mark.parametrize(
    ("segment", "flagged"),
    [
        (seg("ask not what your country can do for you", avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.3), False),
        (seg("no, no, no, I said", avg_logprob=-0.4, no_speech_prob=0.1, compression_ratio=1.2), False),
        (seg("anything", compression_ratio=2.6), True),
        (seg("mumbled words here", avg_logprob=-1.5, no_speech_prob=0.1), True),
        (seg("something quiet", avg_logprob=-1.1, no_speech_prob=0.8), True),
        (seg("Thank you.", avg_logprob=-0.5, no_speech_prob=0.9), True),
        (seg("a real sentence that started late in the window", avg_logprob=-0.3, no_speech_prob=0.7), False),
        (seg("I'm going to go. I'm going to go. I'm going to go."), True),
        (seg("you you you you"), True),
        (seg("one of the best, one of the worst"), False),
    ],
)
def test_flag_segment(segment: Segment, flagged: bool) -> None:
    assert flag_segment(segment) is flagged
