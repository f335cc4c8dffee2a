"""Audio decoding and sniffing on real files, including ones PyAV encodes here."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from podsearch.ingest.audio import decode_audio, sniff_audio
from podsearch.core.errors import AudioError

DATA = Path(__file__).parent / "data"
JFK = DATA / "jfk.flac"
MP3 = DATA / "multilingual.mp3"


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return decode_audio(JFK)


def encode(samples: np.ndarray, path: Path, fmt: str, codec: str, rate: int = 48000, **options: str) -> Path:
    """Encode mono float samples (16 kHz) with PyAV's bundled FFmpeg."""
    resampled = np.interp(
        np.arange(int(len(samples) * rate / 16000)) * 16000 / rate, np.arange(len(samples)), samples
    ).astype(np.float32)
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        pts = 0
        for start in range(0, len(resampled), frame_size):
            chunk = resampled[start : start + frame_size]
            if len(chunk) < frame_size and stream.codec_context.frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
            pts += len(chunk)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_decodes_flac_to_16k_mono_float32(jfk: np.ndarray) -> None:
    assert jfk.dtype == np.float32 and jfk.ndim == 1
    assert len(jfk) == 11 * 16000  # the clip is exactly 11.0 s
    assert 0.1 < np.abs(jfk).max() <= 1.0


def test_resamples_to_the_requested_rate() -> None:
    assert len(decode_audio(JFK, sampling_rate=8000)) == 11 * 8000


def test_decodes_mp3() -> None:
    samples = decode_audio(MP3)
    assert samples.dtype == np.float32
    assert abs(len(samples) / 16000 - 59.9) < 0.1


def test_stereo_wav_is_downmixed(tmp_path: Path) -> None:
    t = np.arange(2 * 44100) / 44100
    left = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    right = np.zeros_like(left)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.column_stack([left, right]).tobytes())
    samples = decode_audio(path)
    assert len(samples) == 2 * 16000
    # One channel of a 0.5 sine mixed with silence: quieter than 0.5, far from 0.
    assert 0.15 < np.abs(samples).max() < 0.5


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "options"),
    [
        ("a.mp3", "mp3", "libmp3lame", {}),
        ("raw.mp3", "mp3", "libmp3lame", {"id3v2_version": "0", "write_xing": "0"}),
        ("a.m4a", "ipod", "aac", {}),
        ("a.aac", "adts", "aac", {}),
        ("a.opus", "ogg", "libopus", {}),
        ("a.webm", "webm", "libopus", {}),
        ("a.flac", "flac", "flac", {}),
        ("a.wav", "wav", "pcm_s16le", {}),
    ],
)
def test_encoded_formats_sniff_and_decode(
    jfk: np.ndarray, tmp_path: Path, name: str, fmt: str, codec: str, options: dict[str, str]
) -> None:
    path = encode(jfk[: 3 * 16000], tmp_path / name, fmt, codec, **options)
    assert sniff_audio(path.read_bytes()[:512], None), name
    samples = decode_audio(path)
    assert abs(len(samples) / 16000 - 3.0) < 0.1
    assert np.abs(samples).max() > 0.1


def test_sniff_real_files() -> None:
    assert sniff_audio(JFK.read_bytes()[:512], "audio/flac")
    assert sniff_audio(MP3.read_bytes()[:512], "application/octet-stream")


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>gone</body></html>",
        b"\xef\xbb\xbf  <html><body>Please log in</body></html>",
        b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
        b'{"error": "not found"}',
        b"[]",
        b"Service Unavailable\r\n",
        "Übergangsfehler – bitte später".encode("utf-8"),
    ],
)
def test_sniff_rejects_text_whatever_the_content_type(body: bytes) -> None:
    assert not sniff_audio(body, "audio/mpeg")
    assert not sniff_audio(body, None)


def test_sniff_unknown_binary_trusts_only_a_media_type() -> None:
    blob = bytes(range(256)) * 2
    assert sniff_audio(blob, "audio/x-something")
    assert not sniff_audio(blob, "application/octet-stream")
    assert not sniff_audio(blob, "text/html; charset=utf-8")
    assert not sniff_audio(b"", "audio/mpeg")


def test_random_bytes_raise(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(7).bytes(50_000))
    with pytest.raises(AudioError, match="noise.mp3: not decodable audio"):
        decode_audio(path)


def test_html_saved_as_mp3_raises(tmp_path: Path) -> None:
    path = tmp_path / "episode.mp3"
    path.write_bytes(b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n" * 50)
    with pytest.raises(AudioError, match="episode.mp3: not decodable audio"):
        decode_audio(path)


@pytest.mark.parametrize("source", [JFK, MP3])
def test_half_a_file_is_truncated(tmp_path: Path, source: Path) -> None:
    data = source.read_bytes()
    path = tmp_path / f"half{source.suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        decode_audio(path)


def test_a_few_bytes_of_flac_raise(tmp_path: Path) -> None:
    path = tmp_path / "stub.flac"
    path.write_bytes(JFK.read_bytes()[:1000])
    with pytest.raises(AudioError, match="not decodable audio"):
        decode_audio(path)


def test_empty_and_missing_files_raise(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        decode_audio(empty)
    with pytest.raises(AudioError, match="no such audio file"):
        decode_audio(tmp_path / "missing.mp3")


def test_zero_samples_raise(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")
    with pytest.raises(AudioError, match="no audio samples"):
        decode_audio(path)
