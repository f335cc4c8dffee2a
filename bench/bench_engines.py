"""Benchmark: faster-whisper against openai-whisper on the same audio and model.

Both engines get the same samples (the clip repeated to about --seconds), the
same settings (beam 5, word timestamps on, VAD off: the clip is speech
throughout and openai-whisper would otherwise also pay for the VAD pass), and
one warm-up run each (openai-whisper compiles its word-alignment code then).
Prints seconds, real-time factor (seconds of compute per second of audio),
the ratio openai/faster, and each engine's WER against the reference.

A second table does the same on one episode of the demo podcast (festival and flite
speech, ~95 s) with the ingest's own settings (VAD on, greedy), WER against
the episode's script: openai-whisper, faster-whisper one window at a time,
and faster-whisper batched (the default of `podsearch ingest`).

    .venv/bin/python -m bench.bench_engines [--audio FILE --reference TEXT] [--no-demo]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from pathlib import Path

import jiwer
import numpy as np

from bench.common import ROOT
from podsearch.ingest.audio import decode_audio
from podsearch.ingest.transcribe import TranscribeOptions, load_engine
from podsearch.core.config import DEFAULT_WHISPER_MODEL, ENGINES, load_settings

JFK = ROOT / "tests" / "data" / "jfk.flac"
DEMO_EPISODE = ROOT / "demo" / "episodes" / "ep1-angry-relative.mp3"
DEMO_SCRIPT = ROOT / "demo" / "scripts" / "ep1-angry-relative.txt"
JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def normalise(text: str) -> str:
    """Lower-case words only, so punctuation and casing do not count as errors."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def main() -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=JFK, help="audio file (default: the JFK clip)")
    parser.add_argument("--reference", help="what is said in --audio (default: the JFK text for the JFK clip)")
    parser.add_argument("--seconds", type=float, default=60.0, help="repeat the clip to at least this long")
    parser.add_argument("--model", default=DEFAULT_WHISPER_MODEL)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--no-demo", action="store_true", help="skip the demo-episode table")
    args = parser.parse_args()

    reference = args.reference or (JFK_REFERENCE if args.audio.resolve() == JFK else None)
    clip = decode_audio(args.audio)
    repeats = max(1, math.ceil(args.seconds * 16000 / len(clip)))
    samples = np.tile(clip, repeats)
    audio_seconds = len(samples) / 16000
    options = TranscribeOptions(vad=False, beam_size=args.beam)
    models_dir = load_settings().models_dir

    print(f"audio: {args.audio.name} x{repeats} = {audio_seconds:.1f} s; model {args.model}; "
          f"device {args.device}; {os.cpu_count()} CPU threads; beam {args.beam}, VAD off, word timestamps on")
    rows = {}
    for name in ENGINES:
        engine = load_engine(name, args.model, device=args.device, models_dir=models_dir)
        engine.transcribe(clip, options)  # warm-up
        start = time.perf_counter()
        result = engine.transcribe(samples, options)
        seconds = time.perf_counter() - start
        wer = jiwer.wer(normalise(" ".join([reference] * repeats)), normalise(result.text)) if reference else None
        rows[name] = (seconds, wer)

    print(f"{'engine':<16}{'seconds':>10}{'RTF':>10}{'WER':>10}")
    for name, (seconds, wer) in rows.items():
        wer_text = f"{wer:.3f}" if wer is not None else "n/a"
        print(f"{name:<16}{seconds:>10.2f}{seconds / audio_seconds:>10.3f}{wer_text:>10}")
    ratio = rows["openai-whisper"][0] / rows["faster-whisper"][0]
    print(f"openai-whisper / faster-whisper time: {ratio:.2f}x")
    if not args.no_demo:
        demo(args.model, args.device, models_dir)


def demo(model: str, device: str, models_dir: Path) -> None:
    """The second table: one demo episode with the ingest's settings."""
    samples = decode_audio(DEMO_EPISODE)
    audio_seconds = len(samples) / 16000
    reference = normalise(DEMO_SCRIPT.read_text(encoding="utf-8"))
    runs = [
        ("openai-whisper", "openai-whisper", TranscribeOptions(beam_size=1)),
        ("faster-whisper", "faster-whisper", TranscribeOptions(beam_size=1)),
        ("faster batched 8", "faster-whisper", TranscribeOptions(beam_size=1, batch_size=8)),
    ]
    print(f"\naudio: {DEMO_EPISODE.name} = {audio_seconds:.1f} s; VAD on, greedy (beam 1), word timestamps on")
    print(f"{'engine':<18}{'seconds':>10}{'RTF':>10}{'WER':>10}")
    times = {}
    for label, name, options in runs:
        engine = load_engine(name, model, device=device, models_dir=models_dir)
        engine.transcribe(samples[: 16000 * 5], options)  # warm-up
        start = time.perf_counter()
        result = engine.transcribe(samples, options)
        times[label] = time.perf_counter() - start
        wer = jiwer.wer(reference, normalise(result.text))
        print(f"{label:<18}{times[label]:>10.2f}{times[label] / audio_seconds:>10.3f}{wer:>10.3f}")
    print(f"openai-whisper / faster-whisper: {times['openai-whisper'] / times['faster-whisper']:.2f}x; "
          f"openai-whisper / faster batched: {times['openai-whisper'] / times['faster batched 8']:.2f}x")


if __name__ == "__main__":
    main()
