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

    .venv/bin/python -m bench.bench_ingest [--feed demo/feed.xml] [--engines faster-whisper openai-whisper]
    .venv/bin/python -m bench.bench_ingest --speakers [--repeats 1] [--baseline-python ../main/.venv/bin/python]

With --naive it compares the default ingest (every stage on: speakers, kinds, chapters, topics, embedding,
indexing) with plain faster-whisper on the same audio files: the bundled tiny.en, int8, greedy, its own
VAD, 2 threads, transcription only. Each side runs in its own child process, alternating, --repeats
times; model loading is untimed on both sides. It prints both speeds and the ratio (target >= 1.4).
The default feed for --naive is the conversations dev set (tests/data/conversations/feed.xml).

    .venv/bin/python -m bench.bench_ingest --naive [--feed FEED] [--repeats 2] [--split]

`--split` first prints the CPU seconds of each stage on the same audio, one thread each (Whisper plain
and ours, speakers, chapters, embedding), beside the float32 and torch alternatives.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, audio_seconds, load_average, module_command, status_kb
from podsearch.core.config import load_settings
from podsearch.service.ingest_run import ingest
from podsearch.service.sources import whisper_workers
from podsearch.service.subscriptions import add_feed


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
        models.passage_encoder(settings.embed_model, settings.models_dir).encode(["warm-up"])
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
                "max_rss_mb": status_kb("VmHWM") / 1024}  # this process image's peak (ru_maxrss survives exec)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def default_malloc(engine: str, feed: Path) -> dict[str, float]:
    """The same run in a child process with glibc's default malloc behaviour."""
    env = {**os.environ, "PODSEARCH_KEEP_FREED_MEMORY": "0"}
    cmd, folder = module_command(sys.executable, __spec__.name, "--feed", str(feed), "--engines", engine, "--json")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=folder).stdout
    return json.loads(out.strip().splitlines()[-1])[engine]


def long_episodes_feed(folder: Path) -> Path:
    """A feed of two long episodes made by concatenating the conversations dev set (~10 and ~20 min)."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    from tests.audiofiles import write_flac  # the tests' PyAV FLAC writer
    from tests.rss import channel_head, item, rss

    parts = [decode_audio(p) for p in sorted((ROOT / "tests" / "data" / "conversations" / "episodes").glob("*.mp3"))]
    items = []
    for n, name in ((4, "ten"), (8, "twenty")):
        path = write_flac(folder / f"{name}.flac", np.concatenate(parts[:n]))
        seconds = sum(len(p) for p in parts[:n]) / SAMPLE_RATE
        items.append(item(f"{name} minutes ({seconds:.0f} s)", f"long-{name}", date=f"Mon, 0{n // 4} Jun 2026 06:00:00 +0000",
                          audio=path.name, length=path.stat().st_size, link=False))
    feed = folder / "feed.xml"
    feed.write_text(rss("Long conversations", *items, head=channel_head("https://example.org/long", "bench")),
                    encoding="utf-8")
    return feed


def one_run(python: str, engine: str, feed: Path, speakers: bool) -> dict[str, float]:
    """`run` in a child process of `python`, started outside the checkout so it imports its own install."""
    cmd, folder = module_command(python, __spec__.name, "--one-run", "on" if speakers else "off",
                                 "--feed", str(feed), "--engines", engine)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=folder).stdout
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


def feed_audio(feed: Path) -> list[Path]:
    """The local audio files a bench feed's enclosures name (relative to the feed's folder)."""
    import re

    urls = re.findall(r'<enclosure[^>]*url="([^"]+)"', feed.read_text(encoding="utf-8"))
    return [(feed.parent / url).resolve() for url in urls]


def naive_run(feed: Path, threads: int = 2) -> dict[str, float]:
    """Plain faster-whisper over `feed`'s audio: bundled tiny.en, int8, greedy, VAD, transcription only."""
    from faster_whisper import WhisperModel
    from podsearch.ingest.audio import decode_audio
    from podsearch.ingest.transcribe import _bundled_dir

    settings = load_settings(Path(tempfile.mkdtemp(prefix="bench-naive-")))
    model = WhisperModel(str(_bundled_dir("tiny.en", settings.models_dir)), device="cpu", compute_type="int8",
                         cpu_threads=threads)
    list(model.transcribe(np.zeros(16000, dtype=np.float32), beam_size=1, language="en")[0])  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    audio = 0.0
    for path in feed_audio(feed):
        samples = decode_audio(path)  # PyAV, as faster-whisper's own decode_audio
        audio += len(samples) / 16000
        segments, _ = model.transcribe(samples, beam_size=1, language="en", vad_filter=True)
        list(segments)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"episodes": len(feed_audio(feed)), "audio_s": audio, "wall_s": wall, "x_realtime": audio / wall,
            "user_s": after.ru_utime - before.ru_utime, "max_rss_mb": status_kb("VmHWM") / 1024}  # this process image's peak (ru_maxrss survives exec)


def naive_child(feed: Path, naive: bool) -> dict[str, float]:
    """`naive_run` or the default ingest (`run`) of `feed` in a fresh child process of this interpreter."""
    flag = ["--naive-run"] if naive else ["--one-run", "default"]
    cmd, folder = module_command(sys.executable, __spec__.name, *flag, "--feed", str(feed),
                                 "--engines", "faster-whisper")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=folder).stdout
    return json.loads(out.strip().splitlines()[-1])


def against_naive(feed: Path, repeats: int) -> None:
    """The default ingest against plain faster-whisper on the same files, alternating child processes."""
    from statistics import median

    print(f"load average at start: {load_average()}")
    runs: dict[str, list[dict[str, float]]] = {"plain faster-whisper": [], "podsearch ingest (defaults)": []}
    for _ in range(repeats):
        runs["plain faster-whisper"].append(naive_child(feed, True))
        runs["podsearch ingest (defaults)"].append(naive_child(feed, False))
    print(f"{'run':<30}{'episodes':>9}{'audio s':>9}{'wall s':>9}{'x real time':>13}{'CPU user s':>12}"
          f"{'max RSS MB':>12}")
    for name, rs in runs.items():
        for r in rs:
            print(f"{name:<30}{r['episodes']:>9}{r['audio_s']:>9.1f}{r['wall_s']:>9.1f}{r['x_realtime']:>13.1f}"
                  f"{r['user_s']:>12.1f}{r['max_rss_mb']:>12.0f}")
    naive, ours = (runs[k] for k in runs)
    print(f"ingest speed against plain faster-whisper ({repeats} run(s) each; target >= 1.40): "
          f"{min(r['wall_s'] for r in naive) / min(r['wall_s'] for r in ours):.2f}x best against best, "
          f"{median(r['wall_s'] for r in naive) / median(r['wall_s'] for r in ours):.2f}x median against median")
    print(f"load average at end: {load_average()}")


def stage_split(feed: Path) -> None:
    """CPU seconds of each ingest stage on `feed`'s audio, one thread each, in this process: where the time
    goes, and what the float32/torch alternatives would cost (CPU time is steadier than wall time on a
    shared machine)."""
    from dataclasses import replace

    from faster_whisper import WhisperModel
    from podsearch.index.passages import make_passages, searchable_segments, soundbite_passages
    from podsearch.ingest.audio import decode_audio
    from podsearch.ingest.diarize import Diarizer, ResemblyzerEncoder
    from podsearch.ingest.transcribe import _bundled_dir
    from podsearch.transcripts.chapters import generate_chapters

    from podsearch.core.records import Transcript
    from podsearch.service.models import Models
    from podsearch.service.transcriber import Transcriber

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def timed(label: str, work: Callable[[], Any]) -> Any:  # noqa: ANN401 - whatever `work` returns
        c0 = cpu()
        out = work()
        print(f"  {label:<58}{cpu() - c0:>8.1f} CPU s", flush=True)
        return out

    samples = [decode_audio(p) for p in feed_audio(feed)]
    settings = load_settings(Path(tempfile.mkdtemp(prefix="bench-split-")))
    models = Models()
    silence: np.ndarray = np.zeros(16000, dtype=np.float32)
    print(f"CPU per stage on {sum(len(x) for x in samples) / 16000:.0f} s of audio, one thread each "
          f"(load average {load_average()}):")
    plain = WhisperModel(str(_bundled_dir("tiny.en", settings.models_dir)), device="cpu", compute_type="int8",
                         cpu_threads=1)
    list(plain.transcribe(silence, beam_size=1, language="en")[0])
    timed("plain faster-whisper (greedy, VAD)", lambda: [
        list(plain.transcribe(x, beam_size=1, language="en", vad_filter=True)[0]) for x in samples])
    engine = models.engine("faster-whisper", settings.whisper_model, models_dir=settings.models_dir, threads=1)
    options = Transcriber(settings, models=models).options()
    engine.transcribe(silence, options)
    results = timed("podsearch Whisper (batched, word times, VAD)",
                    lambda: [engine.transcribe(x, options) for x in samples])
    timed("  the same without word times", lambda: [
        engine.transcribe(x, replace(options, word_timestamps=False)) for x in samples])
    Diarizer(encoder=ResemblyzerEncoder()).diarize(samples[0][: 60 * 16000], [(0.0, 60.0)])  # imports, warm-up
    for bf16 in (True, False):
        diarizer = Diarizer(encoder=ResemblyzerEncoder(bf16=bf16))
        timed(f"speakers ({'bfloat16' if bf16 else 'float32'} speaker encoder)", lambda: [
            diarizer.diarize(x, [(s.start, s.end) for s in r.segments]) for x, r in zip(samples, results)])
    encoder = models.passage_encoder(settings.embed_model, settings.models_dir)
    encoder.encode(["warm-up"])
    timed("generated chapters (ONNX sentence model)", lambda: [
        generate_chapters(r.segments, encoder.encode) for r in results])
    texts: list[str] = []
    for r in results:
        transcript = Transcript(show="s", episode="e", guid="g", segments=r.segments, duration=r.duration)
        segments = searchable_segments(transcript, 170)
        texts += [s.text for s in segments]
        texts += [p.text for p in make_passages(transcript) + soundbite_passages(transcript, segments)]
    timed(f"embedding {len(texts)} segments and passages (ONNX Runtime)", lambda: encoder.encode(texts))
    eager = models.embedder(settings.embed_model)
    eager.encode(["warm-up"])
    timed("  the same in eager torch", lambda: eager.encode(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, default=ROOT / "demo" / "feed.xml")
    parser.add_argument("--engines", nargs="+", default=["faster-whisper", "openai-whisper"])
    parser.add_argument("--no-malloc-baseline", action="store_true", help="skip the default-malloc child run")
    parser.add_argument("--no-single", action="store_true", help="skip the one-new-episode comparison")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the child run's output
    parser.add_argument("--speakers", action="store_true",
                        help="only the speakers on/off comparison on ~10 and ~20 minute episodes")
    parser.add_argument("--repeats", type=int, default=1, help="with --speakers or --naive: runs of each, alternating")
    parser.add_argument("--baseline-python", metavar="PYTHON",
                        help="with --speakers: also measure the checkout whose interpreter this is, in turn")
    parser.add_argument("--one-run", choices=("on", "off", "default"), help=argparse.SUPPRESS)  # a child's ingest
    parser.add_argument("--naive", action="store_true",
                        help="only the default ingest against plain faster-whisper on the same files")
    parser.add_argument("--naive-run", action="store_true", help=argparse.SUPPRESS)  # a child's plain run
    parser.add_argument("--split", action="store_true", help="with --naive: CPU per stage, one thread each")
    args = parser.parse_args()
    conversations = ROOT / "tests" / "data" / "conversations" / "feed.xml"
    feed = conversations if args.naive and "--feed" not in sys.argv else args.feed
    if args.one_run:
        speakers = None if args.one_run == "default" else args.one_run == "on"
        print(json.dumps(run(args.engines[0], args.feed, speakers=speakers)))
        return
    if args.naive_run:
        print(json.dumps(naive_run(args.feed)))
        return
    if args.naive:
        if args.split:
            stage_split(feed)
        if args.repeats > 0:  # --repeats 0 --split: the split alone
            against_naive(feed, args.repeats)
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
