"""Clips cut with PyAV decode, last as long as asked, and start where asked."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from podsearch.service.clips import clip_filename, clips_zip, cut_clip
from podsearch.core.errors import AudioError, PodsearchError

DATA = Path(__file__).parent / "data"
RATE = 44100
BEEP_AT = 20.0  # seconds into the source


def _write(path: Path, codec: str, samples: np.ndarray, rate: int = RATE) -> Path:
    """Encode mono float samples into `path` with PyAV."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        fmt = "fltp" if codec == "libmp3lame" else "s16"
        data = samples if fmt == "fltp" else (samples * 32767).astype(np.int16)
        for i in range(0, len(data), 1152):
            frame = av.AudioFrame.from_ndarray(data[None, i : i + 1152], format=fmt, layout="mono")
            frame.rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module", params=["libmp3lame", "flac"])
def beep_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of near-silence with a 0.5 s tone at BEEP_AT: where the tone lands shows where a cut started."""
    t = np.arange(40 * RATE) / RATE
    samples = (0.001 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    tone = (t >= BEEP_AT) & (t < BEEP_AT + 0.5)
    samples[tone] = 0.8 * np.sin(2 * np.pi * 880 * t[tone])
    suffix = ".mp3" if request.param == "libmp3lame" else ".flac"
    return _write(tmp_path_factory.mktemp("beep") / f"beep{suffix}", request.param, samples)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float samples and rate of encoded bytes."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        mono = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        chunks = [out.to_ndarray().reshape(-1) for f in container.decode(stream) for out in mono.resample(f)]
        chunks += [out.to_ndarray().reshape(-1) for out in mono.resample(None)]
        return np.concatenate(chunks), stream.rate


def test_clip_has_the_asked_duration_and_is_mp3() -> None:
    data = cut_clip(DATA / "jfk.flac", 3.0, 8.5)
    with av.open(io.BytesIO(data)) as container:
        assert container.format.name == "mp3"
    samples, rate = decode(data)
    assert len(samples) / rate == pytest.approx(5.5, abs=0.3)


@pytest.mark.parametrize(("start", "end"), [(17.0, 23.0), (19.5, 30.25), (0.0, 21.0)])
def test_clip_starts_at_start(beep_file: Path, start: float, end: float) -> None:
    samples, rate = decode(cut_clip(beep_file, start, end))
    assert len(samples) / rate == pytest.approx(end - start, abs=0.3)
    loud = np.flatnonzero(np.abs(samples) > 0.3)
    assert len(loud), "the tone is missing from the clip"
    # Seeking lands on a packet boundary; the cut must still be sample-accurate to a few ms.
    assert loud[0] / rate == pytest.approx(BEEP_AT - start, abs=0.05)


def test_clip_past_the_end_is_clamped_or_refused() -> None:
    samples, rate = decode(cut_clip(DATA / "jfk.flac", 9.0, 40.0))
    assert len(samples) / rate == pytest.approx(2.0, abs=0.3)
    with pytest.raises(AudioError, match="past the audio's end"):
        cut_clip(DATA / "jfk.flac", 30.0, 40.0)
    with pytest.raises(ValueError):
        cut_clip(DATA / "jfk.flac", 5.0, 5.0)
    with pytest.raises(AudioError, match="no such audio file"):
        cut_clip(DATA / "missing.flac", 0.0, 1.0)


def test_clips_zip_has_clips_in_order_playlist_handout_and_skips(tmp_path: Path) -> None:
    hit = {"show": "Pharmacy Hour", "episode": "Blood thinners: part 1/2", "published": "2026-03-02",
           "start": 2.5, "end": 6.0, "text": "Clopidogrel before surgery.", "audio_url": "https://example.org/a.flac"}
    items = [{"hit": hit, "note": "ask first"},
             {"hit": {**hit, "start": 6.0, "end": 9.0, "episode": "Gone"}, "note": ""},
             {"hit": {**hit, "start": 0.0, "end": 2.0}, "note": ""}]

    def resolve(h: dict) -> Path | None:
        if h["episode"] == "Gone":
            raise PodsearchError("download failed: 404")
        return DATA / "jfk.flac"

    with zipfile.ZipFile(io.BytesIO(clips_zip(items, resolve, name="Week 1"))) as zf:
        names = zf.namelist()
        mp3s = [n for n in names if n.endswith(".mp3")]
        assert mp3s == [clip_filename(1, items[0]["hit"]), clip_filename(3, items[2]["hit"])]
        assert "/" not in mp3s[0] and ":" not in mp3s[0] and mp3s[0].startswith("01 - Pharmacy Hour - Blood thinners")
        samples, rate = decode(zf.read(mp3s[0]))
        assert len(samples) / rate == pytest.approx(3.5, abs=0.3)
        playlist = zf.read("playlist.m3u").decode().splitlines()
        assert playlist[0] == "#EXTM3U" and playlist[3] == mp3s[0] and playlist[5] == mp3s[1]
        handout = zf.read("handout.md").decode()
        assert handout.startswith("# Week 1") and "ask first" in handout
        assert "404" in zf.read("skipped.txt").decode()


def test_clips_zip_without_audio_says_why() -> None:
    items = [{"hit": {"show": "S", "episode": "E", "start": 1.0, "end": 2.0, "text": "t"}, "note": ""}]
    with zipfile.ZipFile(io.BytesIO(clips_zip(items, lambda h: None))) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".mp3")]
        assert "not available offline" in zf.read("skipped.txt").decode()


def test_clips_zip_playlist_titles_cannot_add_entries() -> None:
    hit = {"show": "S\r\n#EXTINF:1,x", "episode": "E\nhttps://evil.example/x.mp3", "start": 0.0, "end": 2.0,
           "text": "t", "audio_url": "https://example.org/a.flac"}
    with zipfile.ZipFile(io.BytesIO(clips_zip([{"hit": hit, "note": ""}], lambda h: DATA / "jfk.flac",
                                              name="W\nfile:///etc/passwd"))) as zf:
        lines = zf.read("playlist.m3u").decode().splitlines()
    assert [line for line in lines if not line.startswith("#")] == [clip_filename(1, hit)]
    assert len(lines) == 4 and lines[2].startswith("#EXTINF:2,S #EXTINF:1,x - E https://evil.example")
