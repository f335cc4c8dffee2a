"""Telling "not English" with and without the multilingual model (docs/languages.md).

For each clip: what tiny.en makes of it (the share of its speech left without a confident segment, which
decides `TranscriptionResult.likely_not_english`, and the time that takes: a whole transcription); the
ingest's probe (`languages.probe_not_english`: the first minute, greedy only); and the multilingual base
model's `detect_language` (language, probability, time), all in the same run.

Then, with the multilingual model installed, what settling the language of an episode that declares none
costs, both ways in the same run: before, Whisper base's `detect_language` on the first 90 s; now, tiny.en's
reading of the first 30 s of speech (`english_logprob`, 40 tokens greedy, one window) and base's detection only
when that reading is not sure (`languages.surely_english`). The language each way settles on, and whether
base is needed now; base's one load per run is timed apart (now it is never loaded for an English library).

    python -m bench.bench_languages [AUDIO ...] [--detection-only]
    # default: the Spanish and German clips and every English recording in tests/data
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.ingest.audio import stream_audio
from podsearch.ingest.transcribe import TranscribeOptions, first_speech, load_engine, transcribe_stream
from podsearch.service.languages import (PROBE_SECONDS, SURE_ENGLISH_LOGPROB, probe_not_english, read_ahead,
                                         surely_english)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIPS = [DATA / "languages" / "spanish-espeak.ogg", DATA / "languages" / "german-espeak.ogg", DATA / "jfk.flac",
         DATA / "multilingual.mp3", DATA / "hotwords.mp3", *sorted((DATA / "realspeech" / "audio").glob("*.mp3")),
         *sorted(p for p in (DATA / "realspeech" / "diarization").iterdir() if p.suffix != ".rttm"), *sorted((DATA / "eval" / "episodes").glob("*.mp3")),
         *sorted((DATA / "conversations" / "episodes").glob("*.mp3"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", nargs="*", type=Path, default=CLIPS)
    parser.add_argument("--detection-only", action="store_true", help="only the second table (no whole transcriptions)")
    args = parser.parse_args()
    models_dir = Path(tempfile.mkdtemp(prefix="bench-languages-"))
    tiny = load_engine("faster-whisper", "bundled:tiny.en", models_dir=models_dir, threads=2)
    started = time.perf_counter()
    base = load_engine("faster-whisper", "bundled:base", models_dir=models_dir, threads=2)
    base_load_s = time.perf_counter() - started
    options = TranscribeOptions(beam_size=1, batch_size=8)  # a home's defaults
    if not args.detection_only:
        whole_table(args.audio, tiny, base, options)
    detection_table(args.audio, tiny, base, base_load_s)


def whole_table(clips: list[Path], tiny, base, options: TranscribeOptions) -> None:  # noqa: ANN001 - engines
    """tiny.en's whole transcription and probe beside base's detection, per clip."""
    print(f"{'clip':<22} {'tiny.en unheard':>15} {'not English':>11} {'tiny.en s':>9} {'probe':>6} {'probe s':>7} "
          f"{'base says':>10} {'p':>5} {'base s':>7} {'tiny.en/base':>12}")
    for path in clips:
        started = time.perf_counter()
        result = transcribe_stream(tiny, stream_audio(path), options)
        tiny_s = time.perf_counter() - started
        share = result.unheard_seconds / result.speech_seconds if result.speech_seconds else float("nan")
        started = time.perf_counter()
        probe = probe_not_english(tiny, read_ahead(stream_audio(path), PROBE_SECONDS)[0], options)
        probe_s = time.perf_counter() - started
        started = time.perf_counter()
        head, _ = read_ahead(stream_audio(path))
        language, probability = base.detect_language(np.asarray(head))
        base_s = time.perf_counter() - started
        print(f"{path.name:<22} {share:>15.0%} {str(result.likely_not_english):>11} {tiny_s:>9.1f} {str(probe):>6} "
              f"{probe_s:>7.1f} {language:>10} {probability:>5.2f} {base_s:>7.1f} {tiny_s / base_s:>11.1f}x")


def detection_table(clips: list[Path], tiny, base, base_load_s: float) -> None:  # noqa: ANN001 - engines
    """Settling an undeclared episode's language before (base's detection) and now (tiny.en's reading first)."""
    print(f"\nsettling an undeclared episode's language with the multilingual model (base loads once per run: "
          f"{base_load_s:.1f} s; sure English from {SURE_ENGLISH_LOGPROB})")
    print(f"{'clip':<34} {'before: base s':>14} {'says':>5} {'tiny.en reading':>15} {'s':>5} {'base needed':>11} "
          f"{'now s':>6} {'says':>5} {'now/before':>10}")
    for path in clips:
        head, _ = read_ahead(stream_audio(path))
        started = time.perf_counter()
        before = base.detect_language(head)[0]
        before_s = time.perf_counter() - started
        started = time.perf_counter()
        reading = tiny.english_logprob(first_speech(head))
        reading_s = time.perf_counter() - started
        started = time.perf_counter()
        start = first_speech(head)  # as the transcriber does: silences cut once, for both models
        doubt = not surely_english(tiny, start)
        now = base.detect_language(start)[0] if doubt else "en"
        now_s = time.perf_counter() - started
        shown = "-" if reading is None else f"{reading:.3f}"
        print(f"{path.name[:33]:<34} {before_s:>14.2f} {before:>5} {shown:>15} {reading_s:>5.2f} {str(doubt):>11} "
              f"{now_s:>6.2f} {now:>5} {now_s / before_s:>9.2f}x")


if __name__ == "__main__":
    main()
