"""An ingest started on behalf of a server, in its own process: the server stays a reader of the home."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass

from podsearch.core.config import Settings


@dataclass(frozen=True)
class IngestStatus:
    """What the last ingest started here is doing or did."""

    running: bool
    pid: int | None = None
    exit_code: int | None = None
    output: tuple[str, ...] = ()  # its last lines (progress bars excluded)


class IngestProcess:
    """At most one `podsearch ingest` child per home; its output is kept for a status endpoint."""

    def __init__(self, settings: Settings, tail: int = 50) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._lines: deque[str] = deque(maxlen=tail)

    def start(self, limit: int | None = None) -> bool:
        """Start an ingest; False when one started here is still running."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return False
            cmd = [sys.executable, "-m", "podsearch.cli", "--home", str(self.settings.home)]
            if self.settings.allow_private:
                cmd.append("--allow-private")
            cmd.append("ingest")
            if limit:
                cmd += ["--limit", str(limit)]
            self._lines.clear()
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          env={**os.environ, "PODSEARCH_HOME": str(self.settings.home)})
            threading.Thread(target=self._collect, args=(self._proc,), daemon=True,
                             name="podsearch-ingest-output").start()
            return True

    def _collect(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            # tqdm redraws bars with carriage returns; keep only the finished lines.
            text = line.rsplit("\r", 1)[-1].strip()
            if text:
                self._lines.append(text)
        proc.wait()

    def status(self) -> IngestStatus:
        """The running or last ingest's state."""
        with self._lock:
            proc = self._proc
        if proc is None:
            return IngestStatus(running=False)
        code = proc.poll()
        return IngestStatus(running=code is None, pid=proc.pid, exit_code=code, output=tuple(self._lines))

    def wait(self, timeout: float | None = None) -> IngestStatus:
        """Wait for the running ingest to finish (tests, shutdown)."""
        with self._lock:
            proc = self._proc
        if proc is not None:
            proc.wait(timeout)
        return self.status()

    def stop(self) -> None:
        """Stop a running ingest (it resumes next time)."""
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
