"""Telling "not English" with and without the multilingual model (docs/languages.md).

For each clip: what tiny.en makes of it (the share of its speech left without a confident segment, which
decides `TranscriptionResult.likely_not_english`, and the time that takes: a whole transcription); the
ingest's probe (`languages.probe_not_english`: the first minute, greedy only); and the multilingual base
model's `detect_language` (language, probability, time), all in the same run.

    python -m bench.bench_languages [AUDIO ...]   # default: the Spanish, German and English test clips
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.ingest.audio import stream_audio
from podsearch.ingest.transcribe import TranscribeOptions, load_engine, transcribe_stream
from podsearch.service.languages import PROBE_SECONDS, probe_not_english, read_ahead

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIPS = [DATA / "languages" / "spanish-espeak.ogg", DATA / "languages" / "german-espeak.ogg", DATA / "jfk.flac"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", nargs="*", type=Path, default=CLIPS)
    args = parser.parse_args()
    models_dir = Path(tempfile.mkdtemp(prefix="bench-languages-"))
    tiny = load_engine("faster-whisper", "bundled:tiny.en", models_dir=models_dir, threads=2)
    base = load_engine("faster-whisper", "bundled:base", models_dir=models_dir, threads=2)
    options = TranscribeOptions(beam_size=1, batch_size=8)  # a home's defaults
    print(f"{'clip':<22} {'tiny.en unheard':>15} {'not English':>11} {'tiny.en s':>9} {'probe':>6} {'probe s':>7} "
          f"{'base says':>10} {'p':>5} {'base s':>7} {'tiny.en/base':>12}")
    for path in args.audio:
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


if __name__ == "__main__":
    main()
