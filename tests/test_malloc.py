"""Transcription keeps its freed buffers: a block freed and allocated again costs no new page faults."""

from __future__ import annotations

import resource
import subprocess
import sys

from podsearch.core.config import load_settings

CHILD = r"""
import ctypes, ctypes.util, resource, sys
from podsearch.ingest.malloc import keep_freed_memory

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def faults_for_block():
    # malloc, write, free: what the engine does with a window's buffers (numpy would add huge-page advice)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    size = 96 << 20  # a window's attention scores are this order of size
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

tuned = sys.argv[1] == "1" and keep_freed_memory()
faults_for_block()  # the first time, the heap grows
print(tuned, faults_for_block())
"""


def _second_block_faults(tune: bool) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, "1" if tune else "0"], check=True, capture_output=True,
                         text=True).stdout.split()
    return out[0] == "True", int(out[1])


def test_a_freed_block_is_reused_without_faulting_its_pages_in_again() -> None:
    tuned, faults = _second_block_faults(True)
    assert tuned  # Linux with glibc, as this machine is
    untuned, default_faults = _second_block_faults(False)
    assert not untuned
    pages = (96 << 20) // resource.getpagesize()
    assert default_faults > pages // 2  # glibc's default hands the block back, so it faults in again
    assert faults < pages // 20


def test_the_tuning_can_be_switched_off(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    assert load_settings(tmp_path).keep_freed_memory
    monkeypatch.setenv("PODSEARCH_KEEP_FREED_MEMORY", "0")
    assert not load_settings(tmp_path).keep_freed_memory
