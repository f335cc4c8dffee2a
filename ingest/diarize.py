"""Offline speaker diarization: who spoke when, for audio already decoded for Whisper.

Self-contained on purpose (numpy, scipy, scikit-learn, torch and the weights file of the
``resemblyzer`` package; no imports of this project's own modules).

Pipeline
--------
1. A 40-band power mel spectrogram (25 ms window, 10 ms hop: the speaker encoder's own
   front end) and the energy of each 10 ms frame are computed block by block as the audio
   streams (``SpeakerFeatures``, which can ride along Whisper's decode), and the mel is
   volume-normalised on the speech only once Whisper has said where speech is.
2. Fixed-length windows (default 1.5 s, hop 0.75 s) are laid over the speech ranges and
   embedded in batches by resemblyzer's pretrained d-vector encoder (3-layer LSTM, 256-d,
   Apache-2.0, shipped inside the ``resemblyzer`` wheel: nothing is downloaded).
3. The windows are clustered by spectral clustering on the cosine affinity, with the number
   of speakers (1..max_speakers) estimated by the normalised maximum eigengap (NME-SC,
   Park et al. 2019); clusters whose centroids are too similar are merged (single-speaker
   check) and tiny clusters are folded into their nearest neighbour.
4. Labels are smoothed over time by a Viterbi pass over the window sequence (score = cosine
   to each speaker centroid, a fixed penalty per speaker change), which removes short flips.
5. Every speech range is cut where the label of the nearest window centre changes, giving
   ``Turn``s; :meth:`Diarizer.label_spans` maps Whisper segments or words onto them.

Only ``resemblyzer``'s weights file is used: the package's own ``__init__`` imports librosa and
webrtcvad (which needs ``pkg_resources``), so it is located with ``importlib.util.find_spec``
and never imported.
"""

from __future__ import annotations

import bisect
import importlib.util
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
FRAME_S = HOP / SAMPLE_RATE
TARGET_DBFS = -30.0

__all__ = [
    "SAMPLE_RATE",
    "Turn",
    "Window",
    "Diarization",
    "Diarizer",
    "ResemblyzerEncoder",
    "SpeakerFeatures",
    "label_spans",
    "mel_spectrogram",
]


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker (seconds; ``speaker`` is a 0-based label,
    numbered in order of first appearance)."""

    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class Window:
    """One embedded window: its extent in seconds, its centre, and its smoothed label.
    A window stands for the time between the midpoints to its neighbours' centres, which is
    how speech ranges are cut into turns (finer than a Whisper segment: label words with
    :func:`label_spans` to split a segment where the speaker changes)."""

    start: float
    end: float
    center: float
    speaker: int


@dataclass
class Diarization:
    turns: list[Turn]
    windows: list[Window]
    num_speakers: int
    # (n_windows, dim) L2-normalised embeddings and (num_speakers, dim) centroids
    embeddings: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), np.float32))
    centroids: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), np.float32))

    def label_spans(self, spans: Sequence[tuple[float, float]]) -> list[int]:
        return label_spans(self.turns, spans)

    def speaker_at(self, t: float) -> int:
        """Label of the window whose centre is nearest to time ``t`` (-1 if none)."""
        if not self.windows:
            return -1
        centers = [w.center for w in self.windows]
        i = bisect.bisect_left(centers, t)
        if i == len(centers) or (i > 0 and t - centers[i - 1] <= centers[i] - t):
            i -= 1
        return self.windows[i].speaker


# --------------------------------------------------------------------------- features


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
        f / f_sp,
    )


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def _mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style mel filterbank, identical to ``librosa.filters.mel`` defaults."""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


_FB = _mel_filterbank()
_WIN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def mel_spectrogram(samples: np.ndarray, chunk_frames: int = 6000) -> np.ndarray:
    """(n_frames, 40) float32 power mel spectrogram, frame t centred on sample t*160
    (librosa ``melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)``)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    n_frames = 1 + len(x) // HOP
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2 + HOP))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    out = np.empty((n_frames, N_MELS), np.float32)
    for a in range(0, n_frames, chunk_frames):
        spec = np.fft.rfft(frames[a : a + chunk_frames] * _WIN, axis=1)
        power = spec.real**2 + spec.imag**2
        out[a : a + chunk_frames] = power.astype(np.float32) @ _FB.T
    return out


class SpeakerFeatures:
    """What the diarizer needs of an episode, gathered block by block while it streams (for Whisper):
    per 10 ms frame the 40-band power mel and the energy of its samples, never the samples themselves
    (~60 MB an hour). Blocks must be whole 10 ms frames but the last."""

    def __init__(self, keep_samples: bool = True) -> None:
        self._mels: list[np.ndarray] = []
        self._energy: list[np.ndarray] = []
        self.samples = 0
        # The samples too, as 16-bit in an unlinked temporary file (~115 MB an hour on disk, not in memory), for
        # the segmentation model's look at short segments (ingest.segmentation).
        self._store = tempfile.TemporaryFile(prefix="podsearch-speech-") if keep_samples else None

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if not x.size:
            return
        n = -(-len(x) // HOP)
        # Frames of this block only, aligned to the episode's 10 ms grid (the edges see zero padding).
        self._mels.append(mel_spectrogram(x)[:n])
        padded = np.zeros(n * HOP, np.float32)
        padded[: len(x)] = x
        self._energy.append(np.square(padded.reshape(n, HOP), dtype=np.float64).sum(axis=1))
        if self._store is not None:
            self._store.seek(0, io.SEEK_END)
            self._store.write((np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
        self.samples += len(x)

    @property
    def keeps_samples(self) -> bool:
        return self._store is not None

    def read(self, start: int, n: int) -> np.ndarray:
        """Up to ``n`` float32 samples from sample ``start`` (fewer at the end); needs ``keep_samples``."""
        if self._store is None:
            raise ValueError("these speaker features were gathered without their samples")
        start = max(0, min(int(start), self.samples))
        self._store.seek(2 * start)
        raw = self._store.read(2 * max(0, min(int(n), self.samples - start)))
        return np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(32767.0)

    def close(self) -> None:
        """Let go of the kept samples (the temporary file is gone with its process in any case)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def tee(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`blocks` passed on unchanged, each added on its way."""
        for block in blocks:
            self.add(block)
            yield block

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_frames, 40) float32 mel and (n_frames,) float64 energy; not to be written to. The blocks'
        pieces are joined once and dropped, so the episode's spectrogram is held once."""
        if not self._mels:
            return np.zeros((0, N_MELS), np.float32), np.zeros(0)
        if len(self._mels) > 1:
            self._mels, self._energy = [np.concatenate(self._mels)], [np.concatenate(self._energy)]
        return self._mels[0], self._energy[0]


# --------------------------------------------------------------------------- encoder


def _resemblyzer_weights() -> Path:
    spec = importlib.util.find_spec("resemblyzer")  # locates without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "speaker diarization needs the 'resemblyzer' package (pip install resemblyzer): "
            "its wheel ships the pretrained speaker encoder"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.exists():
        raise FileNotFoundError(f"resemblyzer's pretrained encoder is missing: {path}")
    return path


def _native_bf16(torch: Any) -> bool:  # noqa: ANN401 - the torch module
    """True when oneDNN runs bfloat16 natively on this CPU (AVX512-BF16, AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the check: float32, as before
        return False


class ResemblyzerEncoder:
    """Resemblyzer's d-vector LSTM (GE2E, 40 mel -> 3x256 LSTM -> 256, ReLU, L2 norm),
    rebuilt here from the checkpoint inside the ``resemblyzer`` wheel."""

    dim = 256

    def __init__(self, weights_path: Optional[str | Path] = None, batch_size: int = 128,
                 bf16: Optional[bool] = None):
        import torch
        from torch import nn

        self._torch = torch
        self.batch_size = batch_size
        # The LSTM is most of an ingest's speaker work. In bfloat16 (autocast: weights and activations
        # rounded, state and sums kept in float32 by oneDNN) it runs about twice as fast on CPUs with
        # native bf16, with vectors within cosine 0.999 of float32 and the same speakers on the dev sets
        # (docs/speed.md). Elsewhere bf16 is emulated and slower, so None asks the CPU.
        self.bf16 = _native_bf16(torch) if bf16 is None else bf16
        path = Path(weights_path) if weights_path else _resemblyzer_weights()
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, self.dim)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()

    def embed(self, mel: np.ndarray, starts: np.ndarray, length: int, gain: float = 1.0,
              parallel: int = 1) -> np.ndarray:
        """Embed windows ``gain * mel[s:s+length]`` for each ``s`` in ``starts`` -> (n, 256) float32.

        ``parallel`` > 1 embeds that many batches at once on Python threads (torch releases the GIL in
        the LSTM), each on one torch thread: unlike torch's own OpenMP threads, these never spin-wait
        for a core that Whisper holds, so they use an idle core and cost nothing when there is none.
        """
        torch = self._torch
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), self.dim), np.float32)
        idx = np.arange(length)

        def one(a: int) -> None:
            batch = mel[starts[a : a + self.batch_size, None] + idx]  # (B, T, 40), a copy
            if gain != 1.0:
                batch *= np.float32(gain)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                _, (hidden, _) = self.lstm(torch.from_numpy(np.ascontiguousarray(batch)))
                e = torch.relu(self.linear(hidden[-1])).float()
                e = e / e.norm(dim=1, keepdim=True).clamp_min(1e-9)
            out[a : a + len(batch)] = e.numpy()

        batches = range(0, len(starts), self.batch_size)
        if parallel > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(parallel, len(batches)), thread_name_prefix="podsearch-speakers") as pool:
                list(pool.map(one, batches))
        else:
            for a in batches:
                one(a)
        return out


# --------------------------------------------------------------------------- clustering


LONG_WINDOWS = 20  # windows (about 15 s of speech) from which a recording counts as long for clustering


def _merge_ranges(ranges: Sequence[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted((float(s), float(e)) for s, e in ranges if e > s):
        if out and s - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _laplacian_eigs(aff: np.ndarray, k: int, vectors: bool = False):
    from scipy.linalg import eigh

    lap = np.diag(aff.sum(axis=1)) - aff
    n = len(aff)
    if vectors:
        return eigh(lap, subset_by_index=[0, min(k, n - 1)])
    return eigh(lap, eigvals_only=True)


def _binarize(sim: np.ndarray, p: int) -> np.ndarray:
    n = len(sim)
    idx = np.argpartition(-sim, kth=min(p, n - 1), axis=1)[:, : p + 1]  # includes self
    a = np.zeros_like(sim)
    np.put_along_axis(a, idx, 1.0, axis=1)
    return (a + a.T) / 2


def estimate_clusters(sim: np.ndarray, max_speakers: int, n_p: int = 12, max_p_frac: float = 0.25):
    """NME-SC: pick the neighbour count p that maximises the normalised eigengap of the
    p-nearest-neighbour graph's Laplacian; the gap's position is the speaker count.
    Returns (k, laplacian eigenvectors for the best p)."""
    n = len(sim)
    p_min = 4  # 2- or 3-nearest-neighbour graphs fall apart into spurious components
    p_max = max(p_min, int(n * max_p_frac))
    ps = np.unique(np.linspace(p_min, p_max, n_p).astype(int))
    ps = ps[ps < n]
    best = None
    for p in ps:
        aff = _binarize(sim, int(p))
        lam = _laplacian_eigs(aff, max_speakers)
        gaps = np.diff(lam[: max_speakers + 1])
        g = gaps.max() / (lam[-1] + 1e-10)
        ratio = (p / n) / (g + 1e-10)
        if best is None or ratio < best[0]:
            best = (ratio, int(p), int(np.argmax(gaps)) + 1)
    _, p, k = best
    _, vecs = _laplacian_eigs(_binarize(sim, p), k, vectors=True)
    return k, vecs[:, :k]


def _viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """Best label path: sum of scores minus ``penalty`` per change."""
    n, k = scores.shape
    back = np.zeros((n, k), np.int64)
    acc = scores[0].copy()
    for i in range(1, n):
        stay = acc
        best_prev = int(np.argmax(acc))
        switch = acc[best_prev] - penalty
        choose_switch = switch > stay
        back[i] = np.where(choose_switch, best_prev, np.arange(k))
        acc = np.maximum(stay, switch) + scores[i]
    path = np.empty(n, np.int64)
    path[-1] = int(np.argmax(acc))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    c = np.stack([emb[labels == j].mean(axis=0) for j in range(k)])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-9)


# --------------------------------------------------------------------------- diarizer


class Diarizer:
    """Estimate who speaks when.

    >>> d = Diarizer()
    >>> turns = d.diarize(samples, [(seg.start, seg.end) for seg in segments])
    >>> speakers = d.label_spans(turns, [(w.start, w.end) for w in words])

    ``num_threads`` (default 1) is set on torch for the encoder while :meth:`run` works and
    restored after; None leaves torch's setting alone. One thread costs the same CPU time
    and does not stall when Whisper is busy on the other core (2 threads on a loaded
    2-core machine made the LSTM 10x slower). ``parallel`` batches of windows (the caller
    knows the cores; ingest gives one per core) are embedded at once on Python threads, each
    on that one torch thread: an idle core is used (the last episode's speakers, after its Whisper),
    a busy one costs nothing.
    """

    def __init__(
        self,
        max_speakers: int = 8,
        encoder: Optional[ResemblyzerEncoder] = None,
        *,
        window_s: float = 1.5,
        hop_s: float = 0.75,
        min_speech_s: float = 0.3,
        merge_gap_s: float = 0.3,
        max_cluster_windows: int = 400,
        same_speaker_sim: float = 0.95,
        min_cluster_windows: int = 3,
        # With LONG_WINDOWS or more a 3-window "voice" (about 3 s) is a split, not a person: on the two-voice
        # phone call the caller's own "Hello" became a third speaker. Short files keep 3 (every window counts).
        long_min_cluster_windows: int = 4,
        spectral_min_windows: int = 30,
        ahc_sim: float = 0.70,
        switch_penalty: float = 0.15,
        num_threads: Optional[int] = 1,
        parallel: int = 1,
    ):
        if not 1 <= max_speakers:
            raise ValueError("max_speakers must be >= 1")
        self.max_speakers = max_speakers
        self._encoder = encoder
        self.window_s = window_s
        self.hop_s = hop_s
        self.min_speech_s = min_speech_s
        self.merge_gap_s = merge_gap_s
        self.max_cluster_windows = max_cluster_windows
        self.same_speaker_sim = same_speaker_sim
        self.min_cluster_windows = min_cluster_windows
        self.long_min_cluster_windows = long_min_cluster_windows
        self.spectral_min_windows = spectral_min_windows
        self.ahc_sim = ahc_sim
        self.switch_penalty = switch_penalty
        self.num_threads = num_threads
        self.parallel = parallel  # batches embedded at once (see ResemblyzerEncoder.embed)

    @property
    def encoder(self) -> ResemblyzerEncoder:
        """The speaker encoder given, or one of this diarizer's own, loaded on first use (~0.1 s, 17 MB)."""
        if self._encoder is None:
            self._encoder = ResemblyzerEncoder()
        return self._encoder

    # ---- public API

    def diarize(self, samples: np.ndarray, speech: Sequence[tuple[float, float]]) -> list[Turn]:
        return self.run(samples, speech).turns

    @staticmethod
    def label_spans(turns: Sequence[Turn], spans: Sequence[tuple[float, float]]) -> list[int]:
        return label_spans(turns, spans)

    def run(self, samples: np.ndarray, speech: Sequence[tuple[float, float]]) -> Diarization:
        """Full result: turns, per-window labels with times, speaker count, embeddings."""
        return self.run_stream([np.asarray(samples, dtype=np.float32).reshape(-1)], speech)

    def diarize_stream(self, blocks: Iterable[np.ndarray], speech: Sequence[tuple[float, float]]) -> list[Turn]:
        """`diarize` on audio given as consecutive blocks of samples (a streamed decode): only the
        spectrogram of the whole episode is kept (41 floats per 10 ms), never its samples."""
        return self.run_stream(blocks, speech).turns

    def run_stream(self, blocks: Iterable[np.ndarray], speech: Sequence[tuple[float, float]]) -> Diarization:
        """`run` on consecutive blocks of samples (each a multiple of 10 ms but the last)."""
        features = SpeakerFeatures(keep_samples=False)
        for block in blocks:
            features.add(block)
        return self.run_features(features, speech)

    def run_features(self, features: "SpeakerFeatures", speech: Sequence[tuple[float, float]]) -> Diarization:
        """`run` on features gathered while the audio streamed elsewhere (for Whisper): decoded once."""
        if self.num_threads:
            import torch

            old = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)
            try:
                return self._run_features(features, speech)
            finally:
                torch.set_num_threads(old)
        return self._run_features(features, speech)

    def _run_features(self, features: "SpeakerFeatures", speech: Sequence[tuple[float, float]]) -> Diarization:
        dur = features.samples / SAMPLE_RATE
        regions = [(s, min(dur, e)) for s, e in _merge_ranges([(max(0.0, s), e) for s, e in speech
                                                               if e > max(0.0, s)], self.merge_gap_s)
                   if min(dur, e) > s]
        if not regions or features.samples < N_FFT:
            return Diarization([], [], 0)
        mel, energy = features.arrays()
        # Volume normalisation to -30 dBFS over the speech only, as resemblyzer's preprocessing does per
        # utterance; speech is known only after Whisper, so the loudness sums whole 10 ms frames.
        speech_frames = np.zeros(len(energy), bool)
        for s, e in regions:
            speech_frames[int(round(s / FRAME_S)) : int(round(e / FRAME_S))] = True
        sumsq, count = float(energy[speech_frames].sum()), int(speech_frames.sum()) * HOP
        # power mel scales with gain^2; applied per batch so the spectrogram is never copied whole
        gain = 10 ** (TARGET_DBFS / 10) / (sumsq / count) if count and sumsq > 0 else 1.0
        return self._run_mel(mel, regions, gain)

    # ---- internals

    def _windows(self, n_frames: int, regions: list[tuple[float, float]]) -> tuple[np.ndarray, int]:
        w = max(1, min(int(round(self.window_s / FRAME_S)), n_frames))
        h = max(1, int(round(self.hop_s / FRAME_S)))
        starts: list[int] = []
        for s, e in regions:
            a, b = int(round(s / FRAME_S)), min(int(round(e / FRAME_S)), n_frames)
            if b - a < self.min_speech_s / FRAME_S:
                continue
            if b - a <= w:
                starts.append((a + b) // 2 - w // 2)
            else:
                n = 1 + int(np.ceil((b - a - w) / h))
                # spread evenly so the first starts at a and the last ends at b
                starts.extend(np.round(np.linspace(a, b - w, n)).astype(int).tolist())
        st = np.clip(np.asarray(starts, dtype=np.int64), 0, n_frames - w)
        return np.unique(st), w

    def _run_mel(self, mel: np.ndarray, regions: list[tuple[float, float]], gain: float = 1.0) -> Diarization:
        starts, w = self._windows(len(mel), regions)
        if len(starts) == 0:  # speech too short to embed: one speaker
            turns = [Turn(s, e, 0) for s, e in regions]
            return Diarization(turns, [], 1)
        emb = self.encoder.embed(mel, starts, w, gain, parallel=self.parallel)
        labels, cents = self._cluster_limited(emb)
        centers = (starts + w / 2) * FRAME_S
        windows = [
            Window(float(s * FRAME_S), float((s + w) * FRAME_S), float(c), int(l))
            for s, c, l in zip(starts, centers, labels)
        ]
        turns = self._turns(regions, centers, labels)
        k = int(labels.max()) + 1
        return Diarization(turns, windows, k, emb, cents)

    def _cluster_limited(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cluster with BLAS/OpenMP pools at ``num_threads``: the matrices are small, and a
        multi-threaded eigensolver on a busy 2-core machine was 15x slower than one thread."""
        if not self.num_threads:
            return self._cluster(emb)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # comes with scikit-learn; without it, run as is
            return self._cluster(emb)
        with threadpool_limits(limits=self.num_threads):
            return self._cluster(emb)

    def _cluster(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(emb)
        if n < 4 or self.max_speakers == 1:
            return np.zeros(n, np.int64), _centroids(emb, np.zeros(n, np.int64), 1)
        # cluster a strided subset of long files, then assign everything to the centroids
        step = int(np.ceil(n / self.max_cluster_windows))
        sub = emb[::step]
        sim = sub @ sub.T
        if len(sub) < self.spectral_min_windows:
            # too few windows for a stable eigengap: average-linkage AHC with a threshold
            from scipy.cluster.hierarchy import fcluster, linkage

            z = linkage(sub, method="average", metric="cosine")
            lab = fcluster(z, t=1.0 - self.ahc_sim, criterion="distance") - 1
            if lab.max() + 1 > self.max_speakers:
                lab = fcluster(z, t=self.max_speakers, criterion="maxclust") - 1
            lab = self._compact(lab)
            k = int(lab.max()) + 1
        else:
            k, vecs = estimate_clusters(sim, min(self.max_speakers, len(sub) - 1))
            if k > 1:
                from sklearn.cluster import KMeans

                lab = KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(vecs)
            else:
                lab = np.zeros(len(sub), np.int64)
        cents = _centroids(sub, lab, k)
        cents = self._merge_similar(sub, lab, cents)
        # assign every window, smooth over time, re-estimate the centroids, smooth again
        labels = _viterbi(emb @ cents.T, self.switch_penalty)
        for _ in range(2):
            labels = self._compact(labels)
            cents = _centroids(emb, labels, int(labels.max()) + 1)
            cents = self._merge_similar(emb, labels, cents)
            labels = _viterbi(emb @ cents.T, self.switch_penalty)
        labels = self._compact(labels)
        # number speakers by first appearance
        order = {}
        for l in labels.tolist():
            order.setdefault(l, len(order))
        labels = np.array([order[l] for l in labels.tolist()], np.int64)
        return labels, _centroids(emb, labels, len(order))

    def _merge_similar(self, emb: np.ndarray, labels: np.ndarray, cents: np.ndarray) -> np.ndarray:
        """Drop tiny clusters and merge clusters whose centroids are nearly the same voice;
        returns the surviving centroids."""
        cents = list(cents)
        members = [labels == j for j in range(len(cents))]
        smallest = self.long_min_cluster_windows if len(emb) >= LONG_WINDOWS else self.min_cluster_windows
        while len(cents) > 1:
            sizes = [int(m.sum()) for m in members]
            c = np.stack(cents)
            s = c @ c.T
            np.fill_diagonal(s, -1)
            small = int(np.argmin(sizes))
            if sizes[small] < smallest:
                i, j = small, int(np.argmax(s[small]))
            else:
                i, j = np.unravel_index(int(np.argmax(s)), s.shape)
                if s[i, j] < self.same_speaker_sim:
                    break
            m = members[i] | members[j]
            new = emb[m].mean(axis=0)
            new /= max(float(np.linalg.norm(new)), 1e-9)
            for t in sorted((i, j), reverse=True):
                del cents[t]
                del members[t]
            cents.append(new)
            members.append(m)
        return np.stack(cents)

    @staticmethod
    def _compact(labels: np.ndarray) -> np.ndarray:
        _, inv = np.unique(labels, return_inverse=True)
        return inv.astype(np.int64)

    @staticmethod
    def _turns(regions, centers: np.ndarray, labels: np.ndarray) -> list[Turn]:
        """Cut each speech region where the nearest window centre's label changes."""
        mids = (centers[1:] + centers[:-1]) / 2
        turns: list[Turn] = []
        for s, e in regions:
            # label at s = nearest centre
            i = int(np.searchsorted(mids, s))  # window i owns [mids[i-1], mids[i])
            t0 = s
            while True:
                end = min(e, float(mids[i])) if i < len(mids) else e
                lab = int(labels[i])
                if turns and turns[-1].speaker == lab and abs(turns[-1].end - t0) < 1e-9:
                    turns[-1] = Turn(turns[-1].start, end, lab)
                elif end > t0:
                    turns.append(Turn(t0, end, lab))
                if end >= e:
                    break
                t0 = end
                i += 1
        return turns


def label_spans(turns: Sequence[Turn], spans: Sequence[tuple[float, float]]) -> list[int]:
    """Speaker label for each (start, end) span (a Whisper segment or word): the speaker
    with the most overlap, or of the nearest turn when none overlaps (-1 if no turns)."""
    if not turns:
        return [-1] * len(spans)
    ts = sorted(turns, key=lambda t: t.start)
    starts = [t.start for t in ts]
    ends = np.maximum.accumulate([t.end for t in ts])  # for the left bound of the scan
    out: list[int] = []
    for s, e in spans:
        s, e = float(s), float(e)
        lo = int(np.searchsorted(ends, s, side="right"))
        lo = max(0, lo - 1)
        hi = bisect.bisect_right(starts, e)
        overlap: dict[int, float] = {}
        for t in ts[lo:hi]:
            o = min(e, t.end) - max(s, t.start)
            if o > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
        if overlap:
            out.append(max(overlap.items(), key=lambda kv: (kv[1], -kv[0]))[0])
            continue
        mid = (s + e) / 2
        cand = ts[max(0, lo - 1) : min(len(ts), hi + 1)] or ts
        best = min(cand, key=lambda t: 0.0 if t.start <= mid <= t.end else min(abs(mid - t.start), abs(mid - t.end)))
        out.append(best.speaker)
    return out
