"""A segment too short for the diarizer's windows is checked by pyannote segmentation-3.0 (ingest.segmentation),
on the real two-voice phone call and its reference turns (tests/data/realspeech/diarization)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podsearch.core.config import load_settings
from podsearch.core.errors import ModelError
from podsearch.ingest.audio import decode_audio
from podsearch.ingest.diarize import SAMPLE_RATE, SpeakerFeatures, Turn
from podsearch.ingest.segmentation import (CHUNK, FRAME_STEP, RECEPTIVE_FIELD, SpeakerSegmentation, bundled_model,
                                           recheck_short)
from podsearch.service.models import Models
from podsearch.service.transcriber import Transcriber
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score

CALL = Path(__file__).parent / "data" / "realspeech" / "diarization" / "pyannote_sample"
# From the call's RTTM: the caller's short reply spoken over the end of the host's turn, the host alone, the
# caller alone.
REPLY, HOST, CALLER = (10.1, 10.5), (11.5, 12.5), (15.0, 15.9)


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return decode_audio(CALL.with_suffix(".flac"))


@pytest.fixture(scope="module")
def segmentation(models: Models) -> SpeakerSegmentation:
    found = models.speaker_segmentation("bundled")
    assert found is not None
    return found


def reference() -> list[RefTurn]:
    turns = []
    for line in CALL.with_suffix(".rttm").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        turns.append(RefTurn(float(parts[3]), float(parts[3]) + float(parts[4]), parts[7]))
    return turns


def voice_in(times: np.ndarray, alone: np.ndarray, span: tuple[float, float]) -> int:
    """The local voice heard alone in most of `span`'s frames."""
    heard = alone[(times >= span[0]) & (times < span[1]) & (alone >= 0)]
    assert len(heard) >= 0.5 * (span[1] - span[0]) * SAMPLE_RATE / FRAME_STEP
    return int(np.bincount(heard).argmax())


@pytest.mark.slow
def test_the_derived_frame_constants_match_the_bundled_model(samples: np.ndarray,
                                                             segmentation: SpeakerSegmentation) -> None:
    assert bundled_model() is not None and bundled_model() == segmentation.path
    times, alone = segmentation.voices(samples[5 * SAMPLE_RATE: 5 * SAMPLE_RATE + CHUNK], 5.0)
    assert len(times) == (CHUNK - RECEPTIVE_FIELD) // FRAME_STEP + 1
    assert np.allclose(np.diff(times), FRAME_STEP / SAMPLE_RATE)
    assert times[0] == pytest.approx(5.0 + RECEPTIVE_FIELD / 2 / SAMPLE_RATE)
    assert set(np.unique(alone)) <= {-1, 0, 1, 2}
    # A piece shorter than 10 s is padded, and only its own frames come back.
    short_times, _ = segmentation.voices(samples[:3 * SAMPLE_RATE])
    assert 0 < short_times[-1] < 3.0 and len(short_times) < len(times)


@pytest.mark.slow
def test_the_model_hears_the_callers_short_reply_in_the_callers_voice(samples: np.ndarray,
                                                                      segmentation: SpeakerSegmentation) -> None:
    times, alone = segmentation.voices(samples[6 * SAMPLE_RATE: 6 * SAMPLE_RATE + CHUNK], 6.0)
    assert voice_in(times, alone, REPLY) == voice_in(times, alone, CALLER) != voice_in(times, alone, HOST)


def features_of(samples: np.ndarray) -> SpeakerFeatures:
    features = SpeakerFeatures()
    for a in range(0, len(samples), 7 * SAMPLE_RATE):  # blocks, as an ingest streams them
        features.add(samples[a: a + 7 * SAMPLE_RATE])
    return features


def test_speaker_features_keep_the_samples_for_a_later_look(samples: np.ndarray) -> None:
    features = features_of(samples)
    assert features.keeps_samples and features.samples == len(samples)
    piece = features.read(10 * SAMPLE_RATE, SAMPLE_RATE)
    assert piece.dtype == np.float32 and np.abs(piece - samples[10 * SAMPLE_RATE: 11 * SAMPLE_RATE]).max() < 1e-4
    assert len(features.read(len(samples) - 100, 1000)) == 100  # short at the end
    features.close()
    with pytest.raises(ValueError, match="without their samples"):
        features.read(0, 10)
    assert not SpeakerFeatures(keep_samples=False).keeps_samples


@pytest.mark.slow
def test_a_short_reply_between_the_hosts_turns_is_given_the_callers_voice(models: Models, samples: np.ndarray,
                                                                         tmp_path: Path) -> None:
    transcriber = Transcriber(load_settings(tmp_path), models=models)
    segments = transcriber.engine.transcribe(samples, transcriber.options()).segments
    labelled = transcriber.speakers(CALL.with_suffix(".flac"), segments)

    def speaker_at(t: float) -> str | None:
        return next(s.speaker for s in labelled if s.words and s.words[0].start <= t <= s.words[-1].end)

    reply = next(s for s in labelled if s.words and s.words[0].start <= 10.3 <= s.words[-1].end)
    assert reply.words[-1].end - reply.words[0].start < transcriber.diarizer.window_s  # too short for a window
    assert speaker_at(10.3) == speaker_at(16.0) != speaker_at(12.0)
    assert speaker_score(labelled, reference()).share >= 0.80


@pytest.mark.slow
def test_a_voice_heard_in_no_long_segment_leaves_the_short_one_as_it_was(samples: np.ndarray,
                                                                         segmentation: SpeakerSegmentation) -> None:
    features = features_of(samples)
    # The host's turns only, with the reply between them: the caller's voice is in no long span, so nothing
    # ties it to a speaker, and the reply keeps the (wrong) label the windows gave it.
    turns = [Turn(8.9, 14.1, 0)]
    spans = [(8.98, 9.98), (10.18, 10.80), (11.40, 12.52), (12.70, 14.10)]
    kept = recheck_short(turns, spans, features.read, features.samples / SAMPLE_RATE, segmentation, 0.9, Turn)
    assert kept == turns
    # With the caller's long turn in the spans (and in the turns), the reply is the caller's.
    turns2 = [*turns, Turn(14.4, 17.8, 1)]
    fixed = recheck_short(turns2, [*spans, (14.46, 17.70)], features.read, features.samples / SAMPLE_RATE,
                          segmentation, 1.5, Turn)
    assert [t for t in fixed if t.start <= 10.5 < t.end] == [Turn(10.18, 10.80, 1)]
    assert [t for t in fixed if t.start <= 12.0 < t.end][0].speaker == 0


def test_the_segmentation_model_setting_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    models = Models()
    assert models.speaker_segmentation("off") is None
    with pytest.raises(ModelError, match=r"no such speaker segmentation model"):
        models.speaker_segmentation(str(tmp_path / "missing.onnx"))
    broken = tmp_path / "broken.onnx"
    broken.write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        models.speaker_segmentation(str(broken))
    assert str(caught.value).count("\n") == 0 and str(broken) in str(caught.value)
