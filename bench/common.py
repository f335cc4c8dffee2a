"""What the benchmark scripts share: the checkout's paths and the process and home figures they print."""

from __future__ import annotations

import ctypes
import gc
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside timings so a busy machine shows."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def status_kb(field: str) -> int:
    """A figure of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def rss_kb(settle: bool = True) -> int:
    """Resident set size in KiB; `settle` first returns freed heap to the OS.

    Without malloc_trim, RSS after a build still counts freed temporaries
    (the rows read from SQLite) that glibc keeps for reuse.
    """
    if settle:
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
    return status_kb("VmRSS")


def audio_seconds(home: Path) -> float:
    """Total duration of the transcribed episodes of `home`."""
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    return sum(load_transcript(p).duration or 0.0 for p in iter_transcript_files(home / "transcripts"))


def module_command(python: str, module: str, *args: str) -> tuple[list[str], Path]:
    """`python -m MODULE ARGS` and the folder to run it in, for a child that must import `python`'s own
    podsearch (a baseline checkout's, say): there the checkout's root, whose podsearch/ would shadow it, is
    not on the path, only a link to bench/."""
    folder = Path(tempfile.gettempdir()) / "podsearch-bench-modules"
    folder.mkdir(exist_ok=True)
    link = folder / "bench"
    if not link.is_symlink() or link.resolve() != ROOT / "bench":
        link.unlink(missing_ok=True)
        link.symlink_to(ROOT / "bench")
    return [python, "-m", module, *args], folder
