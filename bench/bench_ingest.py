"""End-to-end ingest throughput: audio-hours per wall-hour for `podsearch ingest`.

Ingests the bundled demo podcast (or --feed) into a fresh temporary home,
once per engine, and prints audio seconds, wall seconds, the real-time factor
and the throughput in audio-hours per wall-hour. Model loading is measured
apart (a warm-up run of the engine on one second of silence) so the figure
is what a long ingest sustains.

    .venv/bin/python bench/bench_ingest.py [--feed demo/feed.xml] [--engines faster-whisper openai-whisper]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.config import load_settings
from podsearch.pipeline import add_feed, ingest

ROOT = Path(__file__).resolve().parent.parent


def audio_seconds(home: Path) -> float:
    """Total duration of the transcribed episodes of `home`."""
    from transcripts.store import iter_transcript_files, load_transcript

    return sum(load_transcript(p).duration or 0.0 for p in iter_transcript_files(home / "transcripts"))


def run(engine: str, feed: Path) -> dict[str, float]:
    """Ingest `feed` into a fresh home with `engine`; returns the figures."""
    from index.embed import get_embedder
    from ingest.transcribe import TranscribeOptions, auto_workers, load_engine

    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        settings = load_settings(home, engine=engine)
        t0 = time.perf_counter()
        # The same engine the ingest will use (same workers), so its load is not timed twice.
        workers = settings.transcribe_workers or auto_workers(engine, settings.device)
        loaded = load_engine(engine, settings.whisper_model, device=settings.device, models_dir=settings.models_dir,
                             workers=workers)
        loaded.transcribe(np.zeros(16000, dtype=np.float32), TranscribeOptions())
        get_embedder(settings.embed_model).encode(["warm-up"])
        load_s = time.perf_counter() - t0
        add_feed(settings, str(feed))
        t1 = time.perf_counter()
        report = ingest(settings)
        wall = time.perf_counter() - t1
        audio = audio_seconds(home)
        if report.episode_errors:
            raise SystemExit(f"ingest failed: {report.episode_errors}")
        return {"episodes": len(report.indexed), "audio_s": audio, "wall_s": wall, "load_s": load_s,
                "rtf": wall / audio, "x_realtime": audio / wall}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=ROOT / "demo" / "feed.xml")
    parser.add_argument("--engines", nargs="+", default=["faster-whisper", "openai-whisper"])
    args = parser.parse_args()
    results = {engine: run(engine, args.feed) for engine in args.engines}
    print(f"{'engine':<16}{'episodes':>9}{'audio s':>9}{'wall s':>9}{'load s':>8}{'RTF':>8}{'x real time':>13}")
    for engine, r in results.items():
        print(f"{engine:<16}{r['episodes']:>9}{r['audio_s']:>9.1f}{r['wall_s']:>9.1f}{r['load_s']:>8.1f}"
              f"{r['rtf']:>8.3f}{r['x_realtime']:>13.1f}")
    if len(results) == 2:
        a, b = (results[e] for e in args.engines)
        print(f"end-to-end speed-up {args.engines[0]} vs {args.engines[1]}: {b['wall_s'] / a['wall_s']:.2f}x")
    first = results[args.engines[0]]
    print(f"throughput ({args.engines[0]}): {first['x_realtime']:.1f} audio-hours per wall-hour "
          f"(target >= 25); an hour of audio in {3600 / first['x_realtime'] / 60:.1f} min")


if __name__ == "__main__":
    main()
