"""The ingest run: refresh the feeds, then transcribe, save and index every pending episode.

It is the only place that knows both `ingest` and `index`; they never import each other. Every step
records its result before the next starts, so a run that is interrupted resumes where it stopped and
repeats no finished episode. Only this run writes the home; sources (this process, a Ray cluster) compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from podsearch.core.config import Settings
from podsearch.core.errors import LanguageUnavailable, PodsearchError
from podsearch.service.home import Home
from podsearch.service.library import FAILED, HELD, INDEXED, NEW, SKIPPED, TRANSCRIBED, EpisodeRow, Library
from podsearch.service.models import Models
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore, locked
from podsearch.service.sources import LocalSource, TranscriptSource, resumable, whisper_workers
from podsearch.service.subscriptions import refresh_feeds
from podsearch.service.transcriber import Transcriber, episode_note, forget_cached
from podsearch.service.upgrades import reconcile

if TYPE_CHECKING:
    from podsearch.index.store import SearchIndex


@dataclass
class IngestReport:
    """What one `ingest` run did."""

    feeds_refreshed: int = 0
    feed_errors: list[tuple[str, str]] = field(default_factory=list)
    indexed: list[str] = field(default_factory=list)
    episode_errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Episodes not indexed because no installed model transcribes their language: (title, message).
    held: list[tuple[str, str]] = field(default_factory=list)


class Ingester:
    """Writes down what a TranscriptSource produces: transcript files, statuses, the index.

    The one writer of the home: sources only compute, so transcripts made in
    threads or on other machines never write the home concurrently.
    """

    def __init__(self, settings: Settings, library: Library, index: SearchIndex, progress: ProgressFn | None = None,
                 vocabulary: tuple[str, ...] = (), source: TranscriptSource | None = None,
                 models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models()
        self.library = library
        self.index = index
        self.progress = locked(progress or ignore)
        self.vocabulary = vocabulary
        self.source = source  # None: this process (a LocalSource suited to the episodes at hand)

    def local_source(self, rows: list[EpisodeRow]) -> LocalSource:
        """Transcription in this process, as many episodes at once as suit the machine.

        Never more at once than episodes need Whisper: a lone new episode gets
        every core to itself instead of one of two (1.3x sooner on 2 cores; bench/bench_ingest.py).
        """
        need_whisper = sum(1 for r in rows if resumable(r) is None and not r.episode.transcripts)
        workers = whisper_workers(self.settings, need_whisper)
        return LocalSource(Transcriber(self.settings, self.progress, self.vocabulary, workers=workers,
                                       models=self.models), workers)

    def run(self, rows: list[EpisodeRow], local_feeds: set[int], report: IngestReport) -> None:
        """Transcribe, save and index `rows`; each finished episode is recorded at once."""
        from podsearch.transcripts.store import content_hash, remove_transcript, save_transcript

        source = self.source or self.local_source(rows)
        for item in source.transcripts(rows, local_feeds):
            row, ep = item.row, item.row.episode
            try:
                if item.error is not None:
                    raise item.error
                transcript, saved = item.transcript, item.saved
                if transcript.key != ep.key:
                    # A file from before episode keys: it is saved again, under its key, and the old one goes.
                    transcript, saved = replace(transcript, key=ep.key), False
                if not item.saved:  # new: named (with names a user gave before it was transcribed again), kinds, chapters
                    from podsearch.transcripts.annotate import annotate

                    transcript = annotate(transcript, ep, self.library.speaker_names(row.id),
                                          embed=self.models.encoder(self.settings.embed_model, self.settings.models_dir))
                if not saved:
                    path = save_transcript(transcript, self.settings.transcripts_dir)
                    self.library.set_status(row.id, TRANSCRIBED, source=transcript.source, transcript_path=str(path),
                                            error=episode_note(transcript))
                    old = Path(row.transcript_path) if row.transcript_path else path
                    if old != path and old.resolve().is_relative_to(self.settings.transcripts_dir.resolve()):
                        remove_transcript(old)  # the file from before keys; only ever inside this home
                self.progress(Progress(Stage.INDEX, ep.title))
                self.index.add_transcript(
                    transcript, content_hash(transcript), min_seconds=self.settings.min_passage_seconds,
                    max_seconds=self.settings.max_passage_seconds, max_words=self.settings.max_passage_words,
                    progress=lambda done, total, title=ep.title: self.progress(Progress(Stage.EMBED, title, done, total)),
                )
                self.library.set_status(row.id, INDEXED, source=transcript.source, error=episode_note(transcript))
                report.indexed.append(ep.title)
                self.progress(Progress(Stage.EPISODE_DONE, ep.title))
            except LanguageUnavailable as exc:
                message = f"{row.show_title} / {ep.title}: {exc}"
                self.library.set_status(row.id, HELD, error=str(exc))
                report.held.append((ep.title, message))
                self.progress(Progress(Stage.EPISODE_HELD, ep.title, message=message))
            except PodsearchError as exc:
                message = f"{row.show_title} / {ep.title}: {exc}"
                self.library.set_status(row.id, FAILED, error=str(exc))
                report.episode_errors.append((ep.title, message))
                self.progress(Progress(Stage.EPISODE_FAILED, ep.title, message=message))


def redownload_episode(settings: Settings, ident: str) -> str:
    """Drop the cached downloads of the episode `ident` (key, or unambiguous guid) and queue it again.

    Returns "show / title". The next ingest downloads, transcribes and indexes it afresh.
    """
    from podsearch.ingest.download import cached_path

    home = Home(settings)
    row = home.episode(ident)
    for url in (row.episode.audio_url, *(t.url for t in row.episode.transcripts)):
        cached = cached_path(url, settings.audio_dir)
        if cached is not None:
            forget_cached(settings, cached)
    with home.catalog() as library:
        library.set_status(row.id, NEW)
    return f"{row.show_title} / {row.episode.title}"


def pending_episodes(library: Library, limit: int | None = None) -> list[EpisodeRow]:
    """Episodes not yet indexed (failed ones are retried), newest first."""
    rows = [r for r in library.episodes() if r.status not in (INDEXED, SKIPPED)]
    return rows[:limit] if limit else rows


def ingest(settings: Settings, *, limit: int | None = None, refresh: bool = True, progress: ProgressFn | None = None,
           vocabulary: tuple[str, ...] = (), source: TranscriptSource | None = None, wait: bool = True,
           redownload: tuple[str, ...] = (), models: Models | None = None) -> IngestReport:
    """Refresh every feed, then transcribe and index what is new.

    `source` makes the transcripts (default: this process, one episode ahead
    of indexing); whatever makes them, only this call writes the home: it holds
    the home's writer lock, waiting for another writer (or, without `wait`,
    raising HomeBusyError). `redownload` names episodes (key or guid) whose
    cached downloads are dropped so they are fetched and transcribed again.
    `models`: the process's models (None: this run loads its own).
    """
    from podsearch.service.homelock import writing

    if settings.keep_freed_memory:
        from podsearch.ingest.transcribe import tune_for_transcription

        # Before this run's download and transcription threads exist: a thread that has allocated keeps its
        # own arena, and large blocks in such an arena are mmap'd and faulted in again every window (the
        # engine's load, the later call, came too late: 4.4M page faults and 8 s of kernel time for 30 min).
        tune_for_transcription(settings.engine, settings.device)
    emit = progress or ignore
    with writing(settings, "ingest", wait=wait, on_wait=lambda m: emit(Progress(Stage.WAITING, "", message=m))):
        for ident in redownload:
            emit(Progress(Stage.REDOWNLOAD, redownload_episode(settings, ident)))
        return _ingest(settings, limit, refresh, emit, vocabulary, source, models or Models())


def _ingest(settings: Settings, limit: int | None, refresh: bool, emit: ProgressFn, vocabulary: tuple[str, ...],
            source: TranscriptSource | None, models: Models) -> IngestReport:
    report = IngestReport()
    home = Home(settings, models)
    with home.catalog() as library:
        feeds = library.feeds()
        if refresh:
            report.feed_errors = refresh_feeds(settings, library, feeds, emit)
            report.feeds_refreshed = len(feeds) - len(report.feed_errors)
        with home.index() as index:
            reconcile(settings, library, index)
            rows = pending_episodes(library, limit)
            if rows:
                local = {f.id for f in library.feeds() if f.local}
                Ingester(settings, library, index, emit, vocabulary, source, models).run(rows, local, report)
                # The sentence model is loaded now: export its query side, so no later search pays for it.
                models.export_queries(settings.embed_model, settings.models_dir)
                from podsearch.service.topics import refresh_topics

                refresh_topics(index)  # the new episodes' passages join the topic map
            from podsearch.service.watches import after_ingest  # saved searches: new clips, feeds, webhooks

            after_ingest(settings, index, lambda m: emit(Progress(Stage.WARNING, "watches", message=m)))
        return report
