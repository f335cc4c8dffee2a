"""End-to-end ingest throughput: audio-hours per wall-hour for `podsearch ingest`.

Ingests the bundled demo podcast (or --feed) into a fresh temporary home,
once per engine, and prints audio seconds, wall seconds, the real-time factor
and the throughput in audio-hours per wall-hour. Model loading is measured
apart (a warm-up run of the engine on one second of silence) so the figure
is what a long ingest sustains. The CPU columns split the ingest's CPU time
into user and kernel (sys) and count page faults.

The first engine is also run in a child process with glibc's default malloc
behaviour (PODSEARCH_KEEP_FREED_MEMORY=0), and the ratio printed; and on one
new episode alone, with every core against one core of the usual split.

    .venv/bin/python bench/bench_ingest.py [--feed demo/feed.xml] [--engines faster-whisper openai-whisper]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.core.config import load_settings
from podsearch.service.pipeline import add_feed, ingest, whisper_workers

ROOT = Path(__file__).resolve().parent.parent


def audio_seconds(home: Path) -> float:
    """Total duration of the transcribed episodes of `home`."""
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    return sum(load_transcript(p).duration or 0.0 for p in iter_transcript_files(home / "transcripts"))


def run(engine: str, feed: Path, limit: int | None = None, workers: int | None = None) -> dict[str, float]:
    """Ingest `feed` (its newest `limit` episodes) into a fresh home with `engine`; returns the figures."""
    from podsearch.index.embed import get_embedder
    from podsearch.ingest.transcribe import TranscribeOptions, load_engine

    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        settings = load_settings(home, engine=engine, transcribe_workers=workers)
        _, episodes = add_feed(settings, str(feed))
        t0 = time.perf_counter()
        # The same engine the ingest will use (same workers), so its load is not timed.
        workers = whisper_workers(settings, min(episodes, limit or episodes))
        loaded = load_engine(engine, settings.whisper_model, device=settings.device, models_dir=settings.models_dir,
                             workers=workers, keep_freed_memory=settings.keep_freed_memory)
        loaded.transcribe(np.zeros(16000, dtype=np.float32), TranscribeOptions())
        get_embedder(settings.embed_model).encode(["warm-up"])
        load_s = time.perf_counter() - t0
        before = resource.getrusage(resource.RUSAGE_SELF)
        t1 = time.perf_counter()
        report = ingest(settings, limit=limit)
        wall = time.perf_counter() - t1
        after = resource.getrusage(resource.RUSAGE_SELF)
        audio = audio_seconds(home)
        if report.episode_errors:
            raise SystemExit(f"ingest failed: {report.episode_errors}")
        return {"episodes": len(report.indexed), "audio_s": audio, "wall_s": wall, "load_s": load_s,
                "rtf": wall / audio, "x_realtime": audio / wall, "user_s": after.ru_utime - before.ru_utime,
                "sys_s": after.ru_stime - before.ru_stime, "faults": after.ru_minflt - before.ru_minflt,
                "max_rss_mb": after.ru_maxrss / 1024}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def default_malloc(engine: str, feed: Path) -> dict[str, float]:
    """The same run in a child process with glibc's default malloc behaviour."""
    env = {**os.environ, "PODSEARCH_KEEP_FREED_MEMORY": "0"}
    out = subprocess.run([sys.executable, __file__, "--feed", str(feed), "--engines", engine, "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])[engine]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=ROOT / "demo" / "feed.xml")
    parser.add_argument("--engines", nargs="+", default=["faster-whisper", "openai-whisper"])
    parser.add_argument("--no-malloc-baseline", action="store_true", help="skip the default-malloc child run")
    parser.add_argument("--no-single", action="store_true", help="skip the one-new-episode comparison")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the child run's output
    args = parser.parse_args()
    results = {engine: run(engine, args.feed) for engine in args.engines}
    if args.json:
        print(json.dumps(results))
        return
    rows = dict(results)
    first = args.engines[0]
    if not args.no_malloc_baseline:
        rows[f"{first}, default malloc"] = default_malloc(first, args.feed)
    print(f"{'run':<32}{'episodes':>9}{'audio s':>9}{'wall s':>9}{'load s':>8}{'RTF':>8}{'x real time':>13}"
          f"{'CPU user s':>12}{'CPU sys s':>11}{'page faults':>13}{'max RSS MB':>12}")
    for name, r in rows.items():
        print(f"{name:<32}{r['episodes']:>9}{r['audio_s']:>9.1f}{r['wall_s']:>9.1f}{r['load_s']:>8.1f}"
              f"{r['rtf']:>8.3f}{r['x_realtime']:>13.1f}{r['user_s']:>12.1f}{r['sys_s']:>11.1f}"
              f"{r['faults']:>13,}{r['max_rss_mb']:>12.0f}")
    if len(results) == 2:
        a, b = (results[e] for e in args.engines)
        print(f"end-to-end speed-up {args.engines[0]} vs {args.engines[1]}: {b['wall_s'] / a['wall_s']:.2f}x")
    if len(rows) > len(results):
        base = rows[f"{first}, default malloc"]
        print(f"keeping freed memory: {base['wall_s'] / results[first]['wall_s']:.2f}x faster than default malloc "
              f"({first})")
    print(f"throughput ({first}): {results[first]['x_realtime']:.1f} audio-hours per wall-hour "
          f"(target >= 25); an hour of audio in {3600 / results[first]['x_realtime'] / 60:.1f} min")
    if not args.no_single:
        # The common refresh: one new episode. It gets every core, against one core of several before.
        from podsearch.ingest.transcribe import auto_workers

        split = auto_workers(first)
        alone = run(first, args.feed, limit=1)
        shared = run(first, args.feed, limit=1, workers=split)
        print(f"one new episode ({alone['audio_s']:.1f} s of audio), {first}: every core {alone['wall_s']:.1f} s "
              f"({alone['x_realtime']:.1f}x real time); one core of {split} {shared['wall_s']:.1f} s "
              f"({shared['x_realtime']:.1f}x); {shared['wall_s'] / alone['wall_s']:.2f}x sooner")


if __name__ == "__main__":
    main()
