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

With --speakers it instead measures what telling speakers apart costs: the conversations dev set
(tests/data/conversations) is concatenated with PyAV into a ~10 and a ~20 minute episode (a feed of
two, in a temporary folder), ingested with speakers off and on in the same run (alternating, --repeats
times each), and the wall time, x real time and the on/off ratio printed (target: <= 1.20). With
--baseline-python another checkout's interpreter ingests them too, in turn, each in a child process.

    .venv/bin/python bench/bench_ingest.py [--feed demo/feed.xml] [--engines faster-whisper openai-whisper]
    .venv/bin/python bench/bench_ingest.py --speakers [--repeats 1] [--baseline-python ../main/.venv/bin/python]
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
from podsearch.service.ingest_run import ingest
from podsearch.service.sources import whisper_workers
from podsearch.service.subscriptions import add_feed

ROOT = Path(__file__).resolve().parent.parent


def audio_seconds(home: Path) -> float:
    """Total duration of the transcribed episodes of `home`."""
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    return sum(load_transcript(p).duration or 0.0 for p in iter_transcript_files(home / "transcripts"))


def run(engine: str, feed: Path, limit: int | None = None, workers: int | None = None,
        speakers: bool | None = None) -> dict[str, float]:
    """Ingest `feed` (its newest `limit` episodes) into a fresh home with `engine`; returns the figures."""
    from podsearch.ingest.transcribe import TranscribeOptions
    from podsearch.service.models import Models

    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        settings = load_settings(home, engine=engine, transcribe_workers=workers,
                                 **({} if speakers is None else {"speakers": speakers}))
        models = Models()  # loaded here, untimed, and handed to the ingest
        _, episodes = add_feed(settings, str(feed))
        t0 = time.perf_counter()
        # The same engine the ingest will use (same workers), so its load is not timed.
        workers = whisper_workers(settings, min(episodes, limit or episodes))
        loaded = models.engine(engine, settings.whisper_model, device=settings.device, models_dir=settings.models_dir,
                               workers=workers, keep_freed_memory=settings.keep_freed_memory)
        loaded.transcribe(np.zeros(16000, dtype=np.float32), TranscribeOptions())
        models.embedder(settings.embed_model).encode(["warm-up"])
        if settings.speakers:  # the speaker encoder's load is not timed either; after Whisper's, as in an
            models.speaker_encoder()  # ingest (its malloc tuning must come before any other thread's arena)
        load_s = time.perf_counter() - t0
        before = resource.getrusage(resource.RUSAGE_SELF)
        t1 = time.perf_counter()
        report = ingest(settings, limit=limit, models=models)
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


def long_episodes_feed(folder: Path) -> Path:
    """A feed of two long episodes made by concatenating the conversations dev set (~10 and ~20 min)."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    sys.path.insert(0, str(ROOT / "tests"))
    from audiofiles import write_flac  # the tests' PyAV FLAC writer

    parts = [decode_audio(p) for p in sorted((ROOT / "tests" / "data" / "conversations" / "episodes").glob("*.mp3"))]
    items = []
    for n, name in ((4, "ten"), (8, "twenty")):
        path = write_flac(folder / f"{name}.flac", np.concatenate(parts[:n]))
        seconds = sum(len(p) for p in parts[:n]) / SAMPLE_RATE
        items.append(f"<item><title>{name} minutes ({seconds:.0f} s)</title><guid>long-{name}</guid>"
                     f"<pubDate>Mon, 0{n // 4} Jun 2026 06:00:00 +0000</pubDate>"
                     f'<enclosure url="{path.name}" length="{path.stat().st_size}" type="audio/flac"/></item>')
    feed = folder / "feed.xml"
    feed.write_text('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Long conversations'
                    f"</title><link>https://example.org/long</link><description>bench</description>{''.join(items)}"
                    "</channel></rss>", encoding="utf-8")
    return feed


def one_run(python: str, engine: str, feed: Path, speakers: bool) -> dict[str, float]:
    """`run` in a child process of `python`, started outside the checkout so it imports its own install."""
    out = subprocess.run([python, str(Path(__file__).resolve()), "--one-run", "on" if speakers else "off",
                          "--feed", str(feed), "--engines", engine], check=True, capture_output=True, text=True,
                         cwd=tempfile.gettempdir()).stdout
    return json.loads(out.strip().splitlines()[-1])


def speakers_cost(engine: str, repeats: int, baseline_python: str | None = None) -> None:
    """Ingest the same two long episodes with speakers off and on, alternating; print the cost of speakers.
    With `baseline_python` every ingest runs in a child process, this checkout's and the baseline's in turn."""
    from statistics import median

    folder = Path(tempfile.mkdtemp(prefix="bench-speakers-"))
    try:
        feed = long_episodes_feed(folder)
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        pythons = {"this checkout": sys.executable, "baseline": baseline_python} if baseline_python else {"": None}
        runs: dict[tuple[str, bool], list[dict[str, float]]] = {(n, on): [] for n in pythons for on in (False, True)}
        for _ in range(repeats):
            for name, python in pythons.items():
                for on in (False, True):
                    runs[name, on].append(one_run(python, engine, feed, on) if python else run(engine, feed, speakers=on))
        print(f"{'run':<36}{'episodes':>9}{'audio s':>9}{'wall s':>9}{'x real time':>13}{'CPU user s':>12}"
              f"{'max RSS MB':>12}")
        for (name, on), rs in runs.items():
            label = f"{name + ', ' if name else ''}speakers {'on' if on else 'off'}"
            for r in rs:
                print(f"{label:<36}{r['episodes']:>9}{r['audio_s']:>9.1f}{r['wall_s']:>9.1f}{r['x_realtime']:>13.1f}"
                      f"{r['user_s']:>12.1f}{r['max_rss_mb']:>12.0f}")
        for name in pythons:
            def ratio(key: str, pick) -> float:  # noqa: ANN001 - min or median
                return pick([r[key] for r in runs[name, True]]) / pick([r[key] for r in runs[name, False]])

            print(f"{name + ': ' if name else ''}speakers cost ({engine}, {repeats} run(s) each; target <= 1.20): "
                  f"{ratio('wall_s', min):.2f}x the ingest wall time best against best, {ratio('wall_s', median):.2f}x "
                  f"median against median; CPU user time {ratio('user_s', min):.2f}x best, "
                  f"{ratio('user_s', median):.2f}x median")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=ROOT / "demo" / "feed.xml")
    parser.add_argument("--engines", nargs="+", default=["faster-whisper", "openai-whisper"])
    parser.add_argument("--no-malloc-baseline", action="store_true", help="skip the default-malloc child run")
    parser.add_argument("--no-single", action="store_true", help="skip the one-new-episode comparison")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the child run's output
    parser.add_argument("--speakers", action="store_true",
                        help="only the speakers on/off comparison on ~10 and ~20 minute episodes")
    parser.add_argument("--repeats", type=int, default=1, help="with --speakers: runs of each, alternating")
    parser.add_argument("--baseline-python", metavar="PYTHON",
                        help="with --speakers: also measure the checkout whose interpreter this is, in turn")
    parser.add_argument("--one-run", choices=("on", "off"), help=argparse.SUPPRESS)  # a child's ingest of --feed
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(run(args.engines[0], args.feed, speakers=args.one_run == "on")))
        return
    if args.speakers:
        speakers_cost(args.engines[0], args.repeats, args.baseline_python)
        return
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
