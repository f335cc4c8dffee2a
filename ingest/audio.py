"""Audio in: recognise audio bytes and decode files to 16 kHz mono float32.

Decoding uses PyAV (FFmpeg's libraries bundled in a wheel), so neither
Whisper engine needs a system ffmpeg, and Whisper is only ever handed samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from podsearch.core.errors import AudioError

_REMEDY = "check the enclosure URL or download the episode again"

# A file decoding to less than this share of its declared length, and at least
# _TRUNCATION_SECONDS short, was cut off (typically a partial download).
_TRUNCATION_RATIO = 0.85
_TRUNCATION_SECONDS = 2.0

# What both Whisper engines take: mono float32 samples at 16 kHz.
SAMPLE_RATE = 16000

# Samples per block a streamed decode yields: a minute at 16 kHz (3.8 MB as float32).
BLOCK_SECONDS = 60.0


def decode_audio(path: Path, sampling_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any audio file PyAV can read to mono float32 samples at `sampling_rate`.

    Holds the whole episode in memory (~0.23 GB per hour): long episodes go
    through `stream_audio` instead. Raises AudioError for a missing, corrupt,
    truncated or non-audio file, or one that decodes to no samples.
    """
    blocks = list(stream_audio(path, sampling_rate))
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def stream_audio(path: Path, sampling_rate: int = 16000, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Mono float32 samples of `path` at `sampling_rate`, in blocks of `block_seconds` (the last shorter).

    Memory stays at one block whatever the episode's length. The checks of
    `decode_audio` hold; a truncated file is reported after its last block.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file; {_REMEDY}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: not decodable audio (empty file); {_REMEDY}")
    size = max(1, int(block_seconds * sampling_rate))
    pending: list[np.ndarray] = []
    held = 0
    total = 0
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: not decodable audio (no audio stream); {_REMEDY}")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream)
            for piece in _pcm(container, stream, sampling_rate):
                pending.append(piece)
                held += piece.size
                while held >= size:
                    joined = np.concatenate(pending)
                    block, rest = joined[:size], joined[size:]
                    pending, held = ([rest] if rest.size else []), rest.size
                    total += block.size
                    yield block.astype(np.float32) / 32768.0
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not decodable audio ({_short(exc)}); {_REMEDY}") from exc
    last = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int16)
    total += last.size
    if total == 0:
        raise AudioError(f"{path}: not decodable audio (no audio samples); {_REMEDY}")
    decoded = total / sampling_rate
    if declared is not None and decoded < declared * _TRUNCATION_RATIO and declared - decoded > _TRUNCATION_SECONDS:
        raise AudioError(
            f"{path}: not decodable audio (truncated: {decoded:.1f} s of "
            f"{declared:.1f} s decoded); {_REMEDY}"
        )
    if last.size:
        yield last.astype(np.float32) / 32768.0


def audio_seconds(path: Path) -> float | None:
    """The length the file's headers declare, without decoding (None when unknown or unreadable)."""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
            return _declared_seconds(container, container.streams.audio[0])
    except (av.error.FFmpegError, ValueError, OSError):
        return None


def _pcm(container: av.container.InputContainer, stream: av.AudioStream, sampling_rate: int) -> Iterator[np.ndarray]:
    """Mono s16 samples of `stream`, frame by frame."""
    # s16 as faster-whisper does: FFmpeg then normalises the downmix so
    # loud stereo cannot clip, and both engines see the same samples.
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sampling_rate)
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # One damaged packet should not cost the whole episode.
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    yield _flat(out)
    except av.error.InvalidDataError:
        # The demuxer gave up mid-file; what decoded so far is judged by the caller.
        pass
    for out in resampler.resample(None):
        yield _flat(out)


def _flat(frame: av.AudioFrame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1)


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """Length in seconds the file's headers claim, if they claim one."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _short(exc: BaseException) -> str:
    """FFmpeg's reason without errno numbers or the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


# --- sniffing ---------------------------------------------------------------

_TEXT_TYPES = ("text/", "application/xml", "application/json", "application/xhtml", "application/rss")
_MEDIA_TYPES = ("audio/", "video/")


def sniff_audio(first_bytes: bytes, content_type: str | None) -> bool:
    """True when the first bytes of a download look like audio.

    Magic bytes decide when they match a known container or stream; text
    (HTML error pages, XML, JSON) is rejected whatever the Content-Type says;
    otherwise an audio/* or video/* Content-Type is trusted.
    """
    head = first_bytes[:64]
    if _has_audio_magic(head):
        return True
    if not head or _looks_like_text(first_bytes[:512]):
        return False
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype.startswith(_TEXT_TYPES):
        return False
    return ctype.startswith(_MEDIA_TYPES)


def _has_audio_magic(head: bytes) -> bool:
    if head.startswith((b"ID3", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"caff", b"#!AMR")):
        return True
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return True
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    if head[4:8] == b"ftyp":  # ISO base media: m4a, mp4, 3gp, mov
        return True
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF / WMA
        return True
    return _is_adts(head) or _is_mpeg_frame(head)


def _is_adts(head: bytes) -> bool:
    """AAC in ADTS framing: 12-bit sync, layer bits 00."""
    return len(head) >= 7 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


def _is_mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header (MP3 without ID3): 11-bit sync and valid fields."""
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version = (head[1] >> 3) & 0x3
    layer = (head[1] >> 1) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    return version != 0b01 and layer != 0b00 and bitrate not in (0x0, 0xF) and rate != 0x3


def _looks_like_text(data: bytes) -> bool:
    """Markup, JSON or plain text rather than binary media."""
    body = data.removeprefix(b"\xef\xbb\xbf")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOM: text, never media
        return True
    stripped = body.lstrip()
    if stripped[:1] in (b"<", b"{", b"["):
        return True
    if not stripped:
        return bool(body)
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the end is still text.
        if exc.start < len(stripped) - 3:
            return False
        text = stripped[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)
