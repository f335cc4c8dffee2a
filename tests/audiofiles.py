"""Test audio written on the fly: real speech (the JFK clip) repeated into longer FLAC files, with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def write_flac(path: Path, samples: np.ndarray) -> Path:
    """16 kHz mono float samples as a FLAC file."""
    import av

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        for i in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 4096], format="s16", layout="mono")
            frame.rate, frame.pts = 16000, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def repeated_jfk(path: Path, repeats: int) -> Path:
    """jfk.flac `repeats` times over, as one FLAC file."""
    from podsearch.ingest.audio import decode_audio

    return write_flac(path, np.tile(decode_audio(DATA / "jfk.flac"), repeats))
