"""Ingest throughput on this machine: local vs a Ray cluster with 1 and 2 workers.

Ingests the demo podcast (or --feed) into a fresh home per run and prints
audio seconds per wall second, with the ratio to the local run measured in
the same process. Model loading is timed apart: the local engine and every
Ray worker transcribe one second of silence before the clock starts, so the
figures are what a long ingest sustains. The Ray runs share one local
cluster (`ray.init`), started once and not counted.

    .venv/bin/python bench/bench_ray.py [--feed demo/feed.xml] [--workers 1 2] [--cpus N]

One run on a 2-core, GPU-less machine (with another benchmark running, so noisy):

    run              episodes  audio s   wall s  load s  x real time  vs local
    local                   4    370.5     33.0    10.4         11.2     1.00x
    ray, 1 worker           4    370.5     31.7     3.6         11.7     1.04x
    ray, 2 workers          4    370.5     38.4     4.7          9.7     0.86x

One worker costs nothing against a local run (it overlaps transcription and
indexing just as well); two workers on two cores only compete for them, as
each engine already uses every core. Ray pays off with more machines or GPUs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.core.config import load_settings
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed

ROOT = Path(__file__).resolve().parent.parent


def audio_seconds(home: Path) -> float:
    """Total duration of the transcribed episodes of `home`."""
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    return sum(load_transcript(p).duration or 0.0 for p in iter_transcript_files(home / "transcripts"))


def run(feed: Path, workers: int | None) -> dict[str, float]:
    """Ingest `feed` into a fresh home, locally (workers=None) or on Ray; the figures."""
    from podsearch.ingest.transcribe import TranscribeOptions
    from podsearch.service.distributed import RaySource
    from podsearch.service.models import Models

    home = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    source = None
    try:
        settings = load_settings(home)
        add_feed(settings, str(feed))
        models = Models()  # loaded here, untimed, and handed to the ingest
        t0 = time.perf_counter()
        models.embedder(settings.embed_model).encode(["warm-up"])  # the driver indexes in both cases
        if workers is None:
            engine = models.engine(settings.engine, settings.whisper_model, device=settings.device,
                                   models_dir=settings.models_dir)
            engine.transcribe(np.zeros(16000, dtype=np.float32), TranscribeOptions())
        else:
            source = RaySource(settings, address="auto", workers=workers)
            source.warm()  # starts the actors and loads one model in each
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = ingest(settings, source=source, models=models)
        wall = time.perf_counter() - t1
        if report.episode_errors:
            raise SystemExit(f"ingest failed: {report.episode_errors}")
        audio = audio_seconds(home)
        return {"episodes": len(report.indexed), "audio_s": audio, "wall_s": wall, "load_s": load_s,
                "x_realtime": audio / wall}
    finally:
        if source is not None:
            source.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=ROOT / "demo" / "feed.xml")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    import ray

    results = {"local": run(args.feed, None)}
    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - t0
    try:
        for n in args.workers:
            results[f"ray, {n} worker{'s' if n > 1 else ''}"] = run(args.feed, n)
    finally:
        ray.shutdown()
    base = results["local"]["x_realtime"]
    print(f"{os.cpu_count()} cores; local Ray cluster with {args.cpus} CPUs started in {start_s:.1f} s (not counted)")
    print(f"{'run':<16}{'episodes':>9}{'audio s':>9}{'wall s':>9}{'load s':>8}{'x real time':>13}{'vs local':>10}")
    for name, r in results.items():
        print(f"{name:<16}{r['episodes']:>9}{r['audio_s']:>9.1f}{r['wall_s']:>9.1f}{r['load_s']:>8.1f}"
              f"{r['x_realtime']:>13.1f}{r['x_realtime'] / base:>9.2f}x")


if __name__ == "__main__":
    main()
