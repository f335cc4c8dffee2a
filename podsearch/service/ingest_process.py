"""An ingest started on behalf of a server, in its own process: the server stays a reader of the home.

The job's state lives in the home's data directory, not in the server's memory: `serve --workers N` runs N
processes behind one port, and whichever of them answers `GET /api/ingest` must report the job another one
started (and refuse to start a second). A file lock makes start-or-refuse atomic across them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from podsearch.core.config import Settings


@dataclass(frozen=True)
class IngestStatus:
    """What the last ingest started here is doing or did."""

    running: bool
    pid: int | None = None
    exit_code: int | None = None
    output: tuple[str, ...] = ()  # its last lines (progress bars excluded)


class IngestProcess:
    """At most one `podsearch ingest` child per home started through the API, whichever server process
    started it; its output goes to a log file in the home, read back for the status endpoint."""

    def __init__(self, settings: Settings, tail: int = 50) -> None:
        self.settings = settings
        self.tail = tail
        self._proc: subprocess.Popen[bytes] | None = None  # the child, when this process started it

    @property
    def _state(self) -> Path:
        return self.settings.data_dir / "api-ingest.json"

    @property
    def _log(self) -> Path:
        return self.settings.data_dir / "api-ingest.log"

    def _lock(self) -> FileLock:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.settings.data_dir / "api-ingest.lock"))

    def start(self, limit: int | None = None) -> bool:
        """Start an ingest; False when one started through the API is still running."""
        with self._lock():
            if self._read()[0]:
                return False
            cmd = [sys.executable, "-m", "podsearch.cli", "--home", str(self.settings.home)]
            if self.settings.allow_private:
                cmd.append("--allow-private")
            cmd.append("ingest")
            if limit:
                cmd += ["--limit", str(limit)]
            with open(self._log, "wb") as log:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PODSEARCH_HOME": str(self.settings.home)})
            self._proc = proc
            self._write({"pid": proc.pid, "exit_code": None})
        # This process is the child's parent: it reaps it and records how it ended, for every worker to read.
        threading.Thread(target=self._reap, args=(proc,), daemon=True, name="podsearch-ingest-reaper").start()
        return True

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self._lock():
            if self._load().get("pid") == proc.pid:
                self._write({"pid": proc.pid, "exit_code": code})

    def status(self) -> IngestStatus:
        """The running or last ingest's state."""
        running, state = self._read()
        if not state:
            return IngestStatus(running=False)
        return IngestStatus(running=running, pid=state.get("pid"), exit_code=None if running else state.get("exit_code"),
                            output=self._output())

    def wait(self, timeout: float | None = None) -> IngestStatus:
        """Wait for an ingest this process started to finish (tests, shutdown)."""
        if self._proc is not None:
            self._proc.wait(timeout)
        return self.status()

    def stop(self) -> None:
        """Stop a running ingest this process started (it resumes next time)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _read(self) -> tuple[bool, dict]:
        """(running, recorded state): running while the recorded child has not been reaped, is alive and
        is still a podsearch process (a pid reused after a server crash is not our ingest)."""
        state = self._load()
        pid = state.get("pid")
        if not isinstance(pid, int) or state.get("exit_code") is not None:
            return False, state
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None, state
        return _is_podsearch(pid), state

    def _load(self) -> dict:
        try:
            state = json.loads(self._state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write(self, state: dict) -> None:
        tmp = self._state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._state)

    def _output(self) -> tuple[str, ...]:
        lines: deque[str] = deque(maxlen=self.tail)
        try:
            with open(self._log, encoding="utf-8", errors="replace", newline="") as log:
                for line in log:
                    # tqdm redraws bars with carriage returns; keep only the finished lines.
                    text = line.rstrip("\r\n").rsplit("\r", 1)[-1].strip()
                    if text and line.endswith("\n"):
                        lines.append(text)
        except OSError:
            pass
        return tuple(lines)


def _is_podsearch(pid: int) -> bool:
    """True when process `pid` exists and runs podsearch (where /proc tells; else existence alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's: treat as running rather than start a second ingest
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        zombie = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except FileNotFoundError:
        return False  # gone since the signal check
    except (OSError, IndexError):
        return True  # no /proc here: existence is all we know
    return b"podsearch" in cmdline and not zombie  # a zombie has finished, waiting for its parent to reap it
