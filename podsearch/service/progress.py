"""Progress of long work (ingest, reindex, diarize): what is reported, and the stages it names.

Every stage a run can report is a member of `Stage`; consumers (the CLI's bars, the app's jobs) compare
with its members, never with spelled-out strings. `Stage` is a `StrEnum`, so a stage still prints, logs
and compares as its text ("transcribe").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """Where a run is; the only values `Progress.stage` takes."""

    WAITING = "waiting"  # for another writer of the home to finish (message: who)
    REDOWNLOAD = "redownload"  # cached downloads of an episode dropped (title: "show / episode")
    FEED = "feed"  # a feed is being refreshed
    FEED_FAILED = "feed-failed"  # a feed could not be refreshed (message: why)
    DOWNLOAD = "download"  # an episode's audio is being fetched
    TRANSCRIBE = "transcribe"  # Whisper at `done` of `total` seconds of audio
    SPEAKERS = "speakers"  # telling who speaks when
    INDEX = "index"  # an episode's passages go into the index (reindex: `done` of `total` files)
    TUNE = "tune"  # `podsearch tune` trains the sentence model: `done` of `total` steps
    EMBED = "embed"  # `done` of `total` passages embedded (long episodes only)
    WARNING = "warning"  # something worth telling that did not stop the episode (message)
    EPISODE_DONE = "episode-done"  # an episode is indexed (or, diarizing, labelled)
    EPISODE_FAILED = "episode-failed"  # an episode failed (message: the one line why)
    EPISODE_HELD = "episode-held"  # not indexed: no installed model transcribes its language (message: the line)


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units of the current step."""

    stage: Stage
    title: str
    done: float = 0.0
    total: float | None = None
    message: str | None = None


ProgressFn = Callable[[Progress], None]


def ignore(_: Progress) -> None:
    """A ProgressFn for callers that want no reports."""


def locked(progress: ProgressFn) -> ProgressFn:
    """`progress` callable from several threads at once (tqdm bars, job state)."""
    lock = threading.Lock()

    def report(p: Progress) -> None:
        with lock:
            progress(p)

    return report
