"""Audio clips cut from episode audio with PyAV (no ffmpeg binary needed).

A clip is re-encoded to MP3 (libmp3lame ships inside PyAV's wheel), the
format every browser, phone and media player plays.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np

from podsearch.service import exports
from podsearch.core.errors import AudioError, PodsearchError

# Sample rates MPEG audio layer 3 can carry (MPEG-1, -2 and -2.5).
MP3_RATES = (48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
# Seek this far before the clip: a seek lands on a packet boundary at or before the target.
SEEK_MARGIN = 2.0

ResolveAudio = Callable[[dict], "Path | None"]


def cut_clip(src: Path, start: float, end: float, *, bitrate: int = 96_000) -> bytes:
    """MP3 bytes of `src` from `start` to `end` seconds (clamped to the file's end)."""
    if start < 0 or end <= start:
        raise ValueError(f"a clip needs 0 <= start < end (got {start}..{end})")
    src = Path(src)
    if not src.is_file():
        raise AudioError(f"{src}: no such audio file; the episode audio is not downloaded")
    try:
        samples, rate, layout = _decode_span(src, start, end)
    except av.error.FFmpegError as exc:
        raise AudioError(f"{src}: cannot cut a clip ({exc}); the audio file may be damaged") from exc
    if samples.shape[1] == 0:
        raise AudioError(f"{src}: nothing to cut between {start:.1f} s and {end:.1f} s; the clip is past the audio's end")
    return _encode_mp3(samples, rate, layout, bitrate)


def _mp3_rate(rate: int) -> int:
    """The MP3 sample rate nearest to `rate` (never above it when possible)."""
    lower = [r for r in MP3_RATES if r <= rate]
    return lower[0] if lower else MP3_RATES[-1]


def _decode_span(src: Path, start: float, end: float) -> tuple[np.ndarray, int, str]:
    """Planar float samples (channels x n) of [start, end), their rate and layout."""
    with av.open(str(src), metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise AudioError(f"{src}: no audio stream to cut a clip from")
        stream = container.streams.audio[0]
        rate = _mp3_rate(stream.rate or 44100)
        layout = "mono" if (stream.channels or 1) == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        seek_to = max(0.0, start - SEEK_MARGIN)
        if seek_to > 0:
            container.seek(int(seek_to * av.time_base), any_frame=False, backward=True)
        chunks, origin = _decode_from(container, stream, resampler, end)
    pcm = np.concatenate(chunks, axis=1) if chunks else np.zeros((1 if layout == "mono" else 2, 0), np.float32)
    first = max(0, round((start - origin) * rate))
    last = max(first, round((end - origin) * rate))
    return np.ascontiguousarray(pcm[:, first:last]), rate, layout


def _decode_from(container, stream, resampler: av.AudioResampler, end: float) -> tuple[list[np.ndarray], float]:  # noqa: ANN001 - PyAV types
    """Decoded chunks from the current position up to `end`, and the time of the first sample."""
    chunks: list[np.ndarray] = []
    origin: float | None = None
    decoded = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue  # one damaged packet should not cost the clip
        for frame in frames:
            if origin is None:
                # Files without timestamps only occur unseeked, so they start at 0.
                origin = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            for out in resampler.resample(frame):
                chunk = out.to_ndarray()
                chunks.append(chunk)
                decoded += chunk.shape[1]
        if origin is not None and origin + decoded / resampler.rate >= end:
            break
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray())
    return chunks, origin or 0.0


def _encode_mp3(samples: np.ndarray, rate: int, layout: str, bitrate: int) -> bytes:
    """Planar float samples as an MP3 file in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout=layout)
        stream.bit_rate = bitrate
        size = stream.codec_context.frame_size or 1152
        for i in range(0, samples.shape[1], size):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i : i + size]), format="fltp", layout=layout)
            frame.rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


# -- a collection as a ZIP of clips --------------------------------------------------
def _safe(text: str, limit: int = 60) -> str:
    """A file-name-safe version of `text` on every OS."""
    cleaned = re.sub(r"[^\w .,'()-]+", " ", text, flags=re.UNICODE)
    return re.sub(r"\s+", " ", cleaned).strip()[:limit].strip() or "clip"


def clip_filename(n: int, hit: dict) -> str:
    """`NN - Show - Episode @ 1m15s.mp3`: sorts in collection order."""
    s = int(hit["start"])
    at = f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
    return f"{n:02d} - {_safe(hit['show'], 40)} - {_safe(hit['episode'])} @ {at}.mp3"


def clips_zip(items: Iterable[dict], resolve_audio: ResolveAudio, name: str = "clips") -> bytes:
    """A ZIP of the collection's clips as MP3, with an M3U playlist and a Markdown handout.

    `items` are collection items ({"hit", "note"}); `resolve_audio(hit)` gives
    the local audio file of a hit, or None / raises PodsearchError when there
    is none. Clips that cannot be cut are listed in `skipped.txt`.
    """
    items = list(items)
    buffer = io.BytesIO()
    playlist: list[tuple[str, float, str]] = []
    skipped: list[str] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:  # MP3 does not compress further
        for n, item in enumerate(items, 1):
            hit = item["hit"]
            filename = clip_filename(n, hit)
            try:
                src = resolve_audio(hit)
                if src is None:
                    raise AudioError("the episode audio is not available offline")
                zf.writestr(filename, cut_clip(Path(src), float(hit["start"]), float(hit["end"])))
            except (PodsearchError, ValueError) as exc:
                skipped.append(f"{filename}: {exc}")
                continue
            playlist.append((f"{hit['show']} - {hit['episode']}", hit["end"] - hit["start"], filename))
        zf.writestr("playlist.m3u", exports.m3u(name, playlist))
        zf.writestr("handout.md", exports.markdown_handout(name, items))
        if skipped:
            zf.writestr("skipped.txt", "Clips that could not be cut:\n" + "\n".join(skipped) + "\n")
    return buffer.getvalue()
