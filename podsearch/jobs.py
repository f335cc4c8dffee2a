"""Background ingest jobs: the work runs in the server process, not in one page view.

A page that reloads (or a second browser tab) finds the same job and its
progress; only one ingest runs per home at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from podsearch.config import Settings
from podsearch.pipeline import IngestReport, Progress


@dataclass
class JobState:
    """What a running or finished ingest job reports."""

    running: bool = False
    stage: str = ""
    title: str = ""
    fraction: float = 0.0
    log: list[str] = field(default_factory=list)
    report: IngestReport | None = None
    error: str | None = None


class IngestJobs:
    """At most one ingest thread per home, with its last known state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, JobState] = {}
        self._threads: dict[str, threading.Thread] = {}

    def state(self, settings: Settings) -> JobState:
        """The job state of this home (an idle one when nothing ran yet)."""
        with self._lock:
            return self._states.setdefault(str(settings.home), JobState())

    def start(self, settings: Settings, limit: int | None = None) -> bool:
        """Start an ingest unless one is running; True when started."""
        key = str(settings.home)
        with self._lock:
            thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                return False
            state = JobState(running=True, stage="starting")
            self._states[key] = state
            thread = threading.Thread(target=self._run, args=(settings, limit, state), daemon=True, name=f"ingest:{key}")
            self._threads[key] = thread
        thread.start()
        return True

    def wait(self, settings: Settings, timeout: float | None = None) -> JobState:
        """Block until this home's job ends (tests, scripts); returns its state."""
        thread = self._threads.get(str(settings.home))
        if thread is not None:
            thread.join(timeout)
        return self.state(settings)

    @staticmethod
    def _run(settings: Settings, limit: int | None, state: JobState) -> None:
        from podsearch.errors import PodsearchError
        from podsearch.pipeline import ingest

        def on_progress(p: Progress) -> None:
            state.stage, state.title = p.stage, p.title
            if p.total:
                state.fraction = max(0.0, min(1.0, p.done / p.total))
            if p.message:
                state.log.append(p.message)
            elif p.stage == "episode-done":
                state.log.append(f"indexed: {p.title}")

        try:
            state.report = ingest(settings, limit=limit, progress=on_progress)
        except PodsearchError as exc:
            state.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a job must always end with a visible reason
            state.error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            state.running = False
            state.stage = "done"
