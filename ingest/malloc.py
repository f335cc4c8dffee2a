"""Make glibc keep freed memory for reuse during transcription.

A Whisper window allocates and frees the same few hundred MB of activations
(attention scores alone are ~200 MB for a batch of 4). By default glibc hands
blocks that large back to the kernel on free (mmap'd allocations, trimmed
per-thread arenas), so every window page-faults them in again: a quarter of
transcription's CPU time was spent in the kernel zeroing pages
(bench/bench_ingest.py prints both). Keeping them costs resident memory at the
high-water mark, which the next window needs anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def keep_freed_memory() -> bool:
    """Tune glibc malloc for this process; False where there is no glibc (macOS, musl, Windows).

    Call it before the threads that transcribe exist: a thread keeps the arena it first used.
    Calling it again (each engine load does) sets the same values: nothing to remember between calls.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    # One arena: per-thread arenas shrink their heaps with madvise(DONTNEED) and fault them back.
    ok = libc.mallopt(_M_ARENA_MAX, 1) == 1
    # Never return the top of the heap, and serve large blocks from the heap rather than mmap.
    ok = libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1 and ok
    return libc.mallopt(_M_MMAP_MAX, 0) == 1 and ok
