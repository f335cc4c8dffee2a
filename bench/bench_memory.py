"""Peak memory of transcribing a long episode: 1 h against 3 h, in the same run.

Generates long MP3s from repeated real speech (tests/data/jfk.flac and the demo
episodes, with silences between) in a temporary directory with PyAV, then
transcribes each in a child process the way `ingest` does (streamed decode,
bounded chunks: ingest.audio.stream_audio + ingest.transcribe.transcribe_stream)
and reads the child's RSS high-water mark (ru_maxrss). Prints both figures and
their ratio: a ratio near 1.0 means memory does not grow with the episode.
`--whole` also measures the old way (decode everything, transcribe at once) for comparison;
`--speakers` labels speakers as ingest does (the encoder's features gathered from the same blocks,
~60 MB an hour held until the diarizer runs on Whisper's segments).

    .venv/bin/python -m bench.bench_memory [--hours 1 3] [--speech-share 0.3] [--engine faster-whisper] [--whole]
        [--speakers]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from bench.common import ROOT, module_command

RATE = 16000
SOURCES = [ROOT / "tests" / "data" / "jfk.flac", *sorted((ROOT / "demo" / "episodes").glob("*.mp3"))]


def make_audio(path: Path, seconds: float, speech_share: float) -> Path:
    """An MP3 of `seconds`: the speech sources in turn, each followed by silence to reach `speech_share`."""
    from podsearch.ingest.audio import decode_audio

    clips = [decode_audio(src) for src in SOURCES]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="mono")
        stream.bit_rate = 32_000
        written, n = 0, 0
        total = int(seconds * RATE)
        while written < total:
            clip = clips[n % len(clips)]
            n += 1
            silence = np.zeros(int(clip.size * (1 - speech_share) / speech_share), dtype=np.float32)
            for piece in (clip, silence):
                piece = piece[: total - written]
                for i in range(0, piece.size, 1152):
                    frame = av.AudioFrame.from_ndarray(piece[None, i : i + 1152], format="fltp", layout="mono")
                    frame.rate, frame.pts = RATE, written + i
                    for packet in stream.encode(frame):
                        out.mux(packet)
                written += piece.size
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def child(path: Path, engine_name: str, whole: bool, speakers: bool = False) -> None:
    """Transcribe `path` and print JSON figures, RSS high-water mark included."""
    from podsearch.core.config import load_settings
    from podsearch.ingest.audio import decode_audio, stream_audio
    from podsearch.ingest.transcribe import TranscribeOptions, load_engine, transcribe_stream

    settings = load_settings(tempfile.mkdtemp(prefix="bench-memory-"), engine=engine_name)
    engine = load_engine(engine_name, settings.whisper_model, device="cpu", models_dir=settings.models_dir,
                         keep_freed_memory=settings.keep_freed_memory)
    options = TranscribeOptions(beam_size=settings.beam_size, batch_size=settings.batch_size)
    t0 = time.perf_counter()
    if whole:
        result = engine.transcribe(decode_audio(path), options)
    elif speakers:
        from podsearch.ingest.diarize import Diarizer, SpeakerFeatures

        features = SpeakerFeatures()
        result = transcribe_stream(engine, features.tee(stream_audio(path)), options)
        Diarizer().run_features(features, [(s.start, s.end) for s in result.segments if s.text.strip()])
    else:
        result = transcribe_stream(engine, stream_audio(path), options)
    print(json.dumps({
        "audio_s": result.duration, "wall_s": time.perf_counter() - t0, "segments": len(result.segments),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    }))


def measure(path: Path, engine: str, whole: bool, speakers: bool = False) -> dict[str, float]:
    cmd, folder = module_command(sys.executable, __spec__.name, "--child", str(path), "--engine", engine,
                                 *(["--whole"] if whole else []), *(["--speakers"] if speakers else []))
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=folder)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs=2, default=[1.0, 3.0], metavar=("SHORT", "LONG"))
    parser.add_argument("--speech-share", type=float, default=0.3, help="share of the audio that is speech")
    parser.add_argument("--engine", default="faster-whisper")
    parser.add_argument("--whole", action="store_true", help="also measure decoding and transcribing all at once")
    parser.add_argument("--speakers", action="store_true", help="streamed with speakers, as ingest does")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.engine, args.whole, args.speakers)
        return
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        figures: dict[str, dict[float, dict[str, float]]] = {}
        for hours in args.hours:
            t0 = time.perf_counter()
            path = make_audio(Path(tmp) / f"{hours:g}h.mp3", hours * 3600, args.speech_share)
            print(f"made {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s",
                  flush=True)
            modes = [("streamed", False, False)] + ([("speakers", False, True)] if args.speakers else []) + (
                [("whole", True, False)] if args.whole else [])
            for mode, whole, speakers in modes:
                got = measure(path, args.engine, whole, speakers)
                figures.setdefault(mode, {})[hours] = got
                print(f"{mode:>8} {hours:g} h: peak RSS {got['maxrss_mb']:.0f} MB, {got['audio_s']:.0f} s audio in "
                      f"{got['wall_s']:.0f} s, {got['segments']} segments", flush=True)
        short, long = args.hours
        for mode, by_hours in figures.items():
            ratio = by_hours[long]["maxrss_mb"] / by_hours[short]["maxrss_mb"]
            print(f"{mode}: peak RSS {long:g} h / {short:g} h = {ratio:.2f} "
                  f"({by_hours[short]['maxrss_mb']:.0f} MB -> {by_hours[long]['maxrss_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
