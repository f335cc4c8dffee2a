"""Speaker diarization on real audio through the real speaker encoder (resemblyzer's weights).

The module is loaded from its file so that these tests do not depend on where the package
layout puts it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("resemblyzer") is None:  # weights only: never imported
    pytest.skip("resemblyzer (speaker encoder weights) is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
STEREO = DATA / "stereo_diarization.wav"  # left: one voice 0.26-5.0 s; right: another 0.35-2.62 s
JFK = DATA / "jfk.flac"


def _load_module():
    name = "_podsearch_diarize_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "ingest" / "diarize.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


dz = _load_module()


def _decode(path: Path, split_stereo: bool = False):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        layout = "stereo" if split_stereo else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=dz.SAMPLE_RATE)
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray() for f in resampler.resample(None)]
    audio = np.concatenate(chunks, axis=1).astype(np.float32)
    return audio if split_stereo else audio[0]


@pytest.fixture(scope="module")
def diarizer(models):  # noqa: ANN001, ANN201
    return dz.Diarizer(encoder=models.speaker_encoder(), num_threads=1)


@pytest.fixture(scope="module")
def stereo():
    left, right = _decode(STEREO, split_stereo=True)
    return left, right


@pytest.mark.slow
def test_two_voices_on_the_stereo_fixture(diarizer, stereo):
    left, right = stereo
    mono = (left + right) / 2
    res = diarizer.run(mono, [(0.25, 5.0)])
    assert res.num_speakers == 2
    # 0.35-2.62 s: both talk, the right voice is the louder; 2.7-5.0 s: the left voice alone
    assert res.speaker_at(1.2) != res.speaker_at(3.8)
    labels = {t.speaker for t in res.turns}
    assert labels == {0, 1}
    change = [t.start for t in res.turns[1:]]
    assert len(change) == 1 and 2.0 <= change[0] <= 3.0, res.turns
    # turns tile the speech range exactly
    assert res.turns[0].start == pytest.approx(0.25) and res.turns[-1].end == pytest.approx(5.0)
    # per-window labels with times, in order
    centers = [w.center for w in res.windows]
    assert centers == sorted(centers) and all(w.start < w.center < w.end for w in res.windows)
    # the same audio on one channel is one voice: each channel alone is one speaker
    alone = diarizer.diarize(left[int(2.7 * 16000):], [(0.0, 2.3)])
    assert {t.speaker for t in alone} == {0}


@pytest.mark.slow
def test_embeddings_separate_the_two_channels(diarizer, stereo):
    import torch

    left, right = stereo
    enc = diarizer.encoder
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_separation(enc, left, right)
    finally:
        torch.set_num_threads(threads)


def _check_separation(enc, left, right):
    # the left voice alone (2.7-4.8 s) against the right channel (0.35-2.6 s), 1.5 s windows
    mel_l = dz.mel_spectrogram(left)
    mel_r = dz.mel_spectrogram(right)
    el = enc.embed(mel_l, np.array([270, 320]), 150)
    er = enc.embed(mel_r, np.array([40, 100]), 150)
    assert el.shape == (2, 256) and np.allclose(np.linalg.norm(el, axis=1), 1, atol=1e-5)
    same = float(el[0] @ el[1])
    cross = float((el @ er.T).max())
    assert same > cross + 0.1, (same, cross)


@pytest.mark.slow
def test_single_speaker_file_gives_one_speaker(diarizer):
    audio = _decode(JFK)
    segments = [(0.0, 3.0), (3.3, 7.5), (7.8, 11.0)]
    res = diarizer.run(audio, segments)
    assert res.num_speakers == 1
    assert {t.speaker for t in res.turns} == {0}
    assert diarizer.label_spans(res.turns, segments) == [0, 0, 0]
    assert len(res.windows) >= 10


@pytest.mark.slow
def test_label_spans_maps_segments_and_words_to_turns(diarizer, stereo):
    T = dz.Turn
    turns = [T(0.0, 2.0, 0), T(2.0, 5.0, 1), T(6.0, 8.0, 0)]
    spans = [
        (0.1, 1.9),  # inside the first turn
        (1.5, 3.0),  # 0.5 s of speaker 0, 1.0 s of speaker 1: majority
        (5.2, 5.4),  # in a gap: the nearest turn (ends at 5.0)
        (5.7, 5.9),  # nearer the turn starting at 6.0
        (9.0, 9.5),  # after everything
    ]
    assert dz.label_spans(turns, spans) == [0, 1, 1, 0, 0]
    assert dz.label_spans([], spans) == [-1] * 5
    # on real audio: words inside each voice's stretch take that voice's label
    left, right = stereo
    res = diarizer.run((left + right) / 2, [(0.25, 5.0)])
    words = [(0.6, 0.9), (1.4, 1.8), (3.0, 3.3), (4.2, 4.6)]
    labels = res.label_spans(words)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]


def test_no_speech_and_tiny_input(diarizer):
    silence = np.zeros(16000 * 2, np.float32)
    assert diarizer.diarize(silence, []) == []
    short = _decode(JFK)[: 16000 // 5]  # 0.2 s: too short to embed, still labelled
    assert diarizer.diarize(short, [(0.0, 0.2)]) == [dz.Turn(0.0, 0.2, 0)]


def test_mel_front_end_puts_a_tone_in_its_band():
    # checked against librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160,
    # n_mels=40) when written (max relative difference 2e-7); librosa is slow to import
    t = np.arange(16000, dtype=np.float32) / 16000
    mel = dz.mel_spectrogram(0.1 * np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert mel.shape == (101, 40)
    centres = dz._mel_to_hz(np.linspace(dz._hz_to_mel(0), dz._hz_to_mel(8000), 42))[1:-1]
    band = int(np.argmax(mel[50]))
    assert abs(centres[band] - 1000) < (centres[band + 1] - centres[band - 1])
    # power spectrogram: amplitude x2 -> every band x4
    mel2 = dz.mel_spectrogram(0.2 * np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert np.allclose(mel2[50], 4 * mel[50], rtol=1e-4)


@pytest.mark.slow
def test_features_taken_from_a_streamed_decode_label_as_the_whole_audio_does(diarizer):
    """Ingest takes the encoder's features from the blocks it decodes for Whisper (one decode): bm3
    (three voices) streamed in 20 s blocks labels its windows as the whole decoded audio does."""
    import json

    from podsearch.ingest.audio import decode_audio, stream_audio

    conversations = DATA / "conversations"
    timings = json.loads((conversations / "scripts" / "bm3-interpreters.timings.json").read_text(encoding="utf-8"))
    speech = [(s["start"], s["end"]) for s in timings["sentences"]]
    path = conversations / "episodes" / "bm3-interpreters.mp3"
    features = dz.SpeakerFeatures()
    heard = np.concatenate(list(features.tee(stream_audio(path, block_seconds=20.0))))  # what Whisper is handed
    whole = decode_audio(path)
    assert np.array_equal(heard, whole) and features.samples == len(whole)
    mel, energy = features.arrays()
    assert len(mel) == len(energy) == -(-len(whole) // dz.HOP)
    assert energy.sum() == pytest.approx(float(np.square(whole, dtype=np.float64).sum()), rel=1e-6)
    streamed = diarizer.run_features(features, speech)
    once = diarizer.run(whole, speech)
    assert streamed.num_speakers == once.num_speakers == 3
    assert [round(w.center, 3) for w in streamed.windows] == [round(w.center, 3) for w in once.windows]
    # the mel frames at the 20 s block edges see zero padding: a few windows may differ, no more
    same = np.mean([a.speaker == b.speaker for a, b in zip(streamed.windows, once.windows)])
    assert same >= 0.97, same


@pytest.mark.slow
def test_batches_embedded_side_by_side_give_the_same_vectors(diarizer):
    samples = _decode(JFK)
    mel = dz.mel_spectrogram(samples)
    enc = diarizer.encoder
    width = 150  # 1.5 s windows
    starts = np.arange(0, len(mel) - width, 5)
    assert len(starts) > enc.batch_size  # more than one batch, so there is something to run side by side
    alone = enc.embed(mel, starts, width, gain=2.0)
    side_by_side = enc.embed(mel, starts, width, gain=2.0, parallel=2)
    np.testing.assert_array_equal(alone, side_by_side)
    assert np.allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-5)
