"""One writer per home: `ingest`, `reindex` and other writers hold the home's lock while they run.

Readers (search, status, export, the app's pages) never take it: SQLite's WAL lets them read while
the writer works. The lock is an OS file lock (filelock), so it is released when its holder exits or
is killed; a small note beside it says who holds it, for the message the next writer shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from podsearch.core.config import Settings
from podsearch.core.errors import HomeBusyError


@contextmanager
def writing(settings: Settings, what: str, *, wait: bool = True,
            on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the home's writer lock for `what` (e.g. "ingest"); wait for it, or raise HomeBusyError."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "home.lock"
    note = path.with_name("home.lock.holder")
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder(note)
        if not wait:
            raise HomeBusyError(f"{settings.home} is busy: {holder} is writing to it; try again when it has "
                                "finished (or leave out --no-wait to wait for it)") from None
        (on_wait or (lambda message: None))(f"waiting for {holder} to finish writing to {settings.home} ...")
        lock.acquire()
    try:
        note.write_text(f"{what} (pid {os.getpid()})", encoding="utf-8")
        yield
    finally:
        note.unlink(missing_ok=True)
        lock.release()


def _holder(note: os.PathLike[str]) -> str:
    try:
        return f"another podsearch {open(note, encoding='utf-8').read().strip()}"
    except OSError:
        return "another podsearch"


__all__ = ["writing"]
