"""Background ingest jobs: the work runs in the server process, not in one page view.

A page that reloads (or a second browser tab) finds the same job and its
progress; only one ingest runs per home at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from podsearch.core.config import Settings
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import IngestReport, pending_episodes
from podsearch.service.progress import Progress, Stage

# A job's own states, before its first report and after its end.
STARTING, DONE = "starting", "done"
# Human wording of the job's states and the ingest's stages.
STAGES: dict[str, str] = {
    STARTING: "Starting",
    Stage.WAITING: "Waiting",
    Stage.REDOWNLOAD: "Redownload",
    Stage.FEED: "Refreshing feed",
    Stage.FEED_FAILED: "Feed failed",
    Stage.DOWNLOAD: "Downloading",
    Stage.TRANSCRIBE: "Transcribing",
    Stage.SPEAKERS: "Speakers",
    Stage.INDEX: "Indexing",
    Stage.TUNE: "Tuning the sentence model",
    Stage.EMBED: "Embedding",
    Stage.WARNING: "Warning",
    Stage.EPISODE_DONE: "Indexed",
    Stage.EPISODE_FAILED: "Failed",
    Stage.EPISODE_HELD: "Held",
    DONE: "Finished",
}
_EPISODE_STAGES = {Stage.DOWNLOAD, Stage.TRANSCRIBE, Stage.INDEX, Stage.EMBED, Stage.EPISODE_DONE,
                   Stage.EPISODE_FAILED, Stage.EPISODE_HELD, Stage.WARNING}


@dataclass
class JobState:
    """What a running or finished ingest job reports."""

    running: bool = False
    stage: str = ""
    title: str = ""
    fraction: float = 0.0  # of the whole job, 0..1
    episodes_done: int = 0
    episodes_total: int | None = None
    # Share transcribed of each episode in flight (several run at once).
    partial: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    report: IngestReport | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def text(self) -> str:
        """One line for a progress bar: stage, episode, and count."""
        words = STAGES.get(self.stage, self.stage.capitalize())
        if self.title:
            words += f": {self.title}"
        if self.episodes_total:
            words += f" ({min(self.episodes_done + 1, self.episodes_total)} of {self.episodes_total})"
        return words


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

    def start(self, settings: Settings, limit: int | None = None, models: Models | None = None) -> bool:
        """Start an ingest unless one is running; True when started. `models`: the process's (the app's)."""
        key = str(settings.home)
        with self._lock:
            thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                return False
            state = JobState(running=True, stage=STARTING, started_at=_now())
            self._states[key] = state
            thread = threading.Thread(target=self._run, args=(settings, limit, state, models), daemon=True, name=f"ingest:{key}")
            self._threads[key] = thread
        thread.start()
        return True

    def wait(self, settings: Settings, timeout: float | None = None) -> JobState:
        """Block until this home's job ends (tests, scripts); returns its state."""
        with self._lock:
            thread = self._threads.get(str(settings.home))
        if thread is not None:
            thread.join(timeout)
        return self.state(settings)

    @staticmethod
    def _run(settings: Settings, limit: int | None, state: JobState, models: Models | None) -> None:
        from podsearch.core.errors import PodsearchError
        from podsearch.service.ingest_run import ingest

        try:
            state.report = ingest(settings, limit=limit, progress=_tracker(settings, limit, state), models=models)
        except PodsearchError as exc:
            state.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a job must always end with a visible reason
            state.error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            state.fraction = 1.0
            state.stage, state.title = DONE, ""
            state.finished_at = _now()
            state.running = False  # last: readers that see False find everything else final


def _tracker(settings: Settings, limit: int | None, state: JobState):  # noqa: ANN202 - ProgressFn
    """A progress callback that keeps `state` current, whole-job fraction included."""

    def on_progress(p: Progress) -> None:
        if p.stage in _EPISODE_STAGES and state.episodes_total is None:
            # Feeds are refreshed by now, so the pending list is the one ingest works through.
            state.episodes_total = _pending_count(settings, limit)
        if p.stage == Stage.WARNING:
            state.log.append(f"warning: {p.title}: {p.message}")
            return
        state.stage, state.title = p.stage, p.title
        if p.stage in (Stage.EPISODE_DONE, Stage.EPISODE_FAILED, Stage.EPISODE_HELD):
            state.episodes_done += 1
            state.partial.pop(p.title, None)
            state.log.append(p.message or f"indexed: {p.title}")
        elif p.message:
            state.log.append(p.message)
        state.fraction = _fraction(state, p)

    return on_progress


def _fraction(state: JobState, p: Progress) -> float:
    """Finished episodes plus the transcribed share of those in flight, over all episodes."""
    if not state.episodes_total:
        return state.fraction
    if p.total and p.stage == Stage.TRANSCRIBE:
        state.partial[p.title] = max(0.0, min(1.0, p.done / p.total))
    done = state.episodes_done + sum(state.partial.values())
    # Never move backwards: a new episode starting must not undo the bar.
    return max(state.fraction, min(1.0, done / state.episodes_total))


def _pending_count(settings: Settings, limit: int | None) -> int:
    with Home(settings).catalog() as library:
        return len(pending_episodes(library, limit))


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


_SHARED = IngestJobs()


def shared_jobs() -> IngestJobs:
    """The jobs of this process: every page view and tab of one server sees the same ones."""
    return _SHARED
