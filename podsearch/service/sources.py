"""Where transcripts come from: the `TranscriptSource` protocol, and this process as one.

A source only computes (downloads, transcribes); the ingest run (`ingest_run.Ingester`) writes down
what it produces. `podsearch.service.distributed.RaySource` is the other source, on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Transcript
from podsearch.service.library import TRANSCRIBED, EpisodeRow
from podsearch.service.transcriber import Cancelled, Transcriber


class TranscriptSource(Protocol):
    """Where finished transcripts come from: this process, or a cluster (podsearch.service.distributed)."""

    def transcripts(self, rows: list[EpisodeRow], local_feeds: set[int]) -> Iterator[Produced]:
        """One `Produced` per row, in any order; the caller writes them down."""
        ...


@dataclass(frozen=True)
class Produced:
    """One episode's transcript, or why there is none."""

    row: EpisodeRow
    transcript: Transcript | None = None
    error: PodsearchError | None = None
    saved: bool = False  # read back from the home: already written, nothing to save


def resumable(row: EpisodeRow) -> Path | None:
    """The transcript file of an episode transcribed before an interruption, if it is still there."""
    path = Path(row.transcript_path) if row.transcript_path else None
    return path if row.status == TRANSCRIBED and path is not None and path.exists() else None


class LocalSource:
    """Transcribes in background threads while the caller indexes.

    `workers` episodes are transcribed at once, each on its share of the
    cores; downloads run ahead in a small pool. Transcripts come out in the
    order they finish, at most `workers` waiting to be indexed.
    """

    def __init__(self, transcriber: Transcriber, workers: int = 1) -> None:
        self.transcriber = transcriber
        self.workers = max(1, workers)

    def transcripts(self, rows: list[EpisodeRow], local_feeds: set[int]) -> Iterator[Produced]:
        """One Produced per row, as each finishes."""
        from podsearch.service.producer import claim_in_order

        ahead = max(1, self.transcriber.settings.download_workers)
        horizon = prefetch_horizon(ahead, self.workers)
        pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="podsearch-download")
        futures: dict[int, Future] = {}  # touched only under the claim lock (on_claim), then in `finally`

        def claim(row: EpisodeRow, index: int) -> Future | None:
            for r in rows[: index + horizon + 1]:
                if r.id not in futures and resumable(r) is None and not r.episode.transcripts:
                    futures[r.id] = pool.submit(self.transcriber.download_audio, r, r.feed_id in local_feeds)
            return futures.pop(row.id, None)

        # At most `workers` finished transcripts wait to be indexed.
        feed = claim_in_order(rows, lambda row, audio: self._produce(row, audio, local_feeds), workers=self.workers,
                              capacity=self.workers, on_claim=claim, name="podsearch-transcribe",
                              quiet=(Cancelled,), on_stop=self.transcriber.cancel.set)
        try:
            yield from feed
        finally:
            feed.close()  # abandons transcriptions in flight (Cancelled) and waits for the workers
            self.transcriber.cancel.clear()
            for fut in futures.values():
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _produce(self, row: EpisodeRow, audio: Future | None, local_feeds: set[int]) -> Produced:
        from podsearch.transcripts.store import load_transcript

        try:
            path = resumable(row)
            if path is not None:
                return Produced(row, load_transcript(path), saved=True)
            return Produced(row, self.transcriber.transcribe(row, row.feed_id in local_feeds, audio))
        except PodsearchError as exc:
            return Produced(row, error=exc)


def prefetch_horizon(download_workers: int, workers: int) -> int:
    """How many rows past the one just claimed have their audio fetched ahead.

    The `workers - 1` rows after it are (or are about to be) claimed by the
    other transcribing workers, so their audio is wanted now; beyond them one
    row per download thread keeps every download thread busy, so a worker
    finishing an episode finds the next one's audio ready, without downloading
    the whole backlog (disk) before it is transcribed.
    """
    return download_workers + workers - 1


def whisper_workers(settings: Settings, episodes: int) -> int:
    """Episodes to transcribe at once: `--workers` when given, else as many as suit the
    machine but never more than the `episodes` that need Whisper (each then gets more cores)."""
    if settings.transcribe_workers:
        return settings.transcribe_workers
    from podsearch.ingest.transcribe import auto_workers

    return max(1, min(auto_workers(settings.engine, settings.device), episodes))
