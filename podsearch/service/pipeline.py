"""The pipeline: feed -> episode -> audio -> transcript -> passages -> index.

It is the only place that knows both `ingest` and `index`; they never import
each other. Every step records its result before the next starts, so a run
that is interrupted resumes where it stopped and repeats no finished episode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from podsearch.core.config import Settings, usable_cores
from podsearch.core.errors import AudioError, PodsearchError
from podsearch.service.library import FAILED, INDEXED, NEW, SKIPPED, TRANSCRIBED, EpisodeRow, FeedRow, Library
from podsearch.service.models import Models
from podsearch.core.records import Chapter, Episode, Segment, Show, Transcript

if TYPE_CHECKING:  # torch and friends load when speakers are first asked for
    from podsearch.ingest.diarize import SpeakerFeatures

# Publisher transcript types we can read, best first (JSON and VTT carry speakers).
TRANSCRIPT_TYPES = ("application/json", "text/vtt", "application/x-subrip", "application/srt", "text/html")


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units of the current step."""

    stage: str  # "feed", "download", "transcribe", "speakers", "index", "embed", "episode-done", "episode-failed"
    title: str
    done: float = 0.0
    total: float | None = None
    message: str | None = None


ProgressFn = Callable[[Progress], None]


@dataclass
class IngestReport:
    """What one `ingest` run did."""

    feeds_refreshed: int = 0
    feed_errors: list[tuple[str, str]] = field(default_factory=list)
    indexed: list[str] = field(default_factory=list)
    episode_errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_local_source(target: str) -> bool:
    """True for a path (or file:// URL) the user typed, which may be read from disk."""
    scheme = urlparse(target).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(target: str) -> Path:
    """The absolute path of a local feed argument."""
    parsed = urlparse(target)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else target).expanduser().resolve()


def open_library(settings: Settings) -> Library:
    """The catalog database of the home."""
    return Library(settings.library_db, settings.transcripts_dir)


def open_index(settings: Settings, index_dir: Path | None = None,
               models: Models | None = None):  # noqa: ANN201 - index.store.SearchIndex
    """The search index of the home (or `index_dir`), with the configured model and vector index.

    Its models come from `models` (the process's, loaded once); None: models of its own.
    """
    from podsearch.index.store import SearchIndex
    from podsearch.index.vectors import IndexConfig

    models = models or Models()
    return SearchIndex(
        index_dir or settings.index_dir,
        embedder=lambda: models.embedder(settings.embed_model),
        vector_config=IndexConfig(kind=settings.index_kind, approx_threshold=settings.approx_threshold),
        reranker=models.reranker,
    )


# -- feeds ------------------------------------------------------------------
def _fetch_feed(settings: Settings, feed: FeedRow):  # noqa: ANN202 - (bytes|None, FetchResult|None)
    from podsearch.ingest import net

    if feed.local:
        return net.read_local(feed.url, max_bytes=settings.max_feed_bytes), None
    result = net.fetch(feed.url, settings=settings, etag=feed.etag, last_modified=feed.last_modified)
    return (None if result.not_modified else result.content), result


def select_episodes(episodes: list[Episode], since: str | None, max_episodes: int | None) -> list[Episode]:
    """Apply a subscription's filters: published on/after `since`, newest `max_episodes`."""
    chosen = [e for e in episodes if not since or (e.published or "")[:10] >= since[:10]]
    chosen.sort(key=lambda e: e.published or "", reverse=True)
    return chosen[:max_episodes] if max_episodes else chosen


def refresh_feed(settings: Settings, library: Library, feed: FeedRow,
                 fetched: Future | None = None) -> tuple[Show | None, list[Episode]]:
    """Fetch (or take the `fetched` future of `_fetch_feed`) and parse one feed completely (moves, pages,
    archives), store new/changed episodes; (show, changed)."""
    from podsearch.ingest.feeds import parse_feed_page
    from podsearch.service.archives import page_fetcher, read_archives
    from podsearch.service.moves import follow_moves, same_url

    try:
        data, result = fetched.result() if fetched is not None else _fetch_feed(settings, feed)
        if data is None:
            library.record_not_modified(feed.id)
            return feed.show, []
        url = result.moved_permanently_to if result is not None and result.moved_permanently_to else feed.url
        url, page = follow_moves(settings, url, parse_feed_page(data, feed.url))
        local = feed.local and same_url(url, feed.url)
        archive = read_archives(library, feed, url, page, page_fetcher(settings, local), settings.max_feed_pages)
    except PodsearchError as exc:
        library.record_feed_error(feed.id, str(exc))
        raise
    show = page.show
    moved = not same_url(url, feed.url)
    if moved and not library.move_feed(feed.id, url):
        # The new address is subscribed already: its episodes are stored there, not twice.
        library.record_feed_error(feed.id, f"feed {feed.url} moved to {url}, which you already follow; "
                                           f"remove this subscription")
        return show, []
    # Validators belong to the address fetched; after an itunes:new-feed-url move the next refresh starts afresh.
    fresh = result is not None and not (moved and not result.moved_permanently_to)
    library.record_refresh(feed.id, show, result.etag if fresh else None, result.last_modified if fresh else None)
    if show.block:
        return show, []
    return show, library.upsert_episodes(feed.id, select_episodes(archive.episodes, feed.since, feed.max_episodes))


def add_feed(settings: Settings, target: str, *, since: str | None = None, limit: int | None = None,
             listed_in: str | None = None) -> tuple[Show, int]:
    """Subscribe to a feed URL or local path and read it once; (show, episode count).

    `listed_in` names the document (an OPML file) the target came from: only a path the user
    typed is trusted to read local files, so a listed feed must be http(s). A show already followed
    at another address (same `podcast:guid`) keeps its one subscription, moved to this address, so
    its episodes are not stored twice.
    """
    if listed_in is not None and urlparse(target).scheme.lower() not in ("http", "https"):
        raise PodsearchError(f"{target}: feeds listed in {listed_in} must be http(s) URLs; to add a local feed "
                             "file, name it yourself: podsearch add PATH")
    local = is_local_source(target)
    url = str(local_path(target)) if local else target
    if local and not Path(url).is_file():
        raise PodsearchError(f"{target}: no such feed file; give an http(s) URL or the path of an RSS/Atom file")
    library = open_library(settings)
    try:
        existed = library.feed_by_url(url) is not None
        feed = library.add_feed(url, local=local, since=since, max_episodes=limit)
        try:
            show, _ = refresh_feed(settings, library, feed)
            twin = library.feed_by_podcast_guid(show.podcast_guid, other_than=feed.id) \
                if show.podcast_guid and not existed else None
            if twin is not None:
                # This subscription's address now (a move may have changed it while refreshing).
                address = next(f.url for f in library.feeds() if f.id == feed.id)
                library.remove_feed(feed.id)
                library.move_feed(twin.id, address)
                feed = library.feed_by_url(address) or twin
                show, _ = refresh_feed(settings, library, feed)
        except BaseException:
            # Whatever went wrong (even a bug or Ctrl-C), no half-made subscription is left behind.
            if not existed:
                library.remove_feed(feed.id)
            raise
        count = len(library.episodes(feed_id=feed.id))
        return show, count
    finally:
        library.close()


# -- episodes -----------------------------------------------------------------
def _pick_transcript(episode: Episode):  # noqa: ANN202 - TranscriptLink | None
    ranked = [t for t in episode.transcripts if t.type.split(";")[0].strip().lower() in TRANSCRIPT_TYPES]
    ranked.sort(key=lambda t: TRANSCRIPT_TYPES.index(t.type.split(";")[0].strip().lower()))
    return ranked[0] if ranked else None


def publisher_segments(settings: Settings, episode: Episode, local_ok: bool) -> tuple[Segment, ...] | None:
    """The publisher's own transcript of the episode, or None if it has none we can read.

    Raises TranscriptError when it is denser than speech for the episode's length.
    """
    from podsearch.ingest.download import download
    from podsearch.transcripts.formats import parse_transcript
    from podsearch.transcripts.limits import check_plausible, merge_tiny

    link = _pick_transcript(episode)
    if link is None:
        return None
    path = download(link.url, settings.audio_dir, settings=settings, expected_type="transcript", local_ok=local_ok)
    segments = parse_transcript(path.read_bytes(), link.type)
    # Refuse a transcript denser than speech before any of it is embedded; join tiny cues.
    check_plausible(segments, episode.duration, episode.title)
    return merge_tiny(segments, max_words=settings.max_passage_words) or None


def episode_chapters(settings: Settings, episode: Episode, local_ok: bool) -> tuple[Chapter, ...]:
    """The episode's Podcasting 2.0 chapters, or () when absent or unreadable."""
    if not episode.chapters_url:
        return ()
    from podsearch.ingest.download import download
    from podsearch.ingest.feeds import parse_chapters

    try:
        path = download(episode.chapters_url, settings.audio_dir, settings=settings, expected_type="any", local_ok=local_ok)
        return parse_chapters(path.read_bytes())
    except (PodsearchError, ValueError):
        return ()  # chapters are a nicety; never fail an episode for them


class TranscriptSource(Protocol):
    """Where finished transcripts come from: this process, or a cluster (podsearch.distributed)."""

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


class Cancelled(Exception):
    """A transcription abandoned because the ingest is stopping; the episode stays pending."""


def _locked(progress: ProgressFn) -> ProgressFn:
    """`progress` callable from several threads at once (tqdm bars, job state)."""
    lock = threading.Lock()

    def report(p: Progress) -> None:
        with lock:
            progress(p)

    return report


def resumable(row: EpisodeRow) -> Path | None:
    """The transcript file of an episode transcribed before an interruption, if it is still there."""
    path = Path(row.transcript_path) if row.transcript_path else None
    return path if row.status == TRANSCRIBED and path is not None and path.exists() else None


class Transcriber:
    """Turns one episode into a Transcript in this process: publisher's, or Whisper's."""

    def __init__(self, settings: Settings, progress: ProgressFn | None = None, vocabulary: tuple[str, ...] = (),
                 workers: int = 1, threads: int | None = None, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models()  # the process's models (None: models of its own)
        self.progress = progress or (lambda p: None)
        self.vocabulary = vocabulary
        self.workers = workers  # threads that call transcribe() at once
        self.threads = threads  # CPU threads for each (None: the cores shared among workers)
        self._engine = None
        self._diarizer = None
        self._lock = threading.Lock()
        # Set to abandon transcriptions in flight (an interrupted ingest); they stop within a window.
        self.cancel = threading.Event()

    @property
    def engine(self):  # noqa: ANN201 - ingest.transcribe.Engine
        """The Whisper engine, loaded on first use (never for publisher transcripts)."""
        with self._lock:  # workers ask at once; load the model once
            if self._engine is None:
                self._engine = self.models.engine(
                    self.settings.engine, self.settings.whisper_model, device=self.settings.device,
                    models_dir=self.settings.models_dir, workers=self.workers, threads=self.threads,
                    keep_freed_memory=self.settings.keep_freed_memory,
                )
        return self._engine

    @property
    def diarizer(self):  # noqa: ANN201 - ingest.diarize.Diarizer
        """The speaker model, loaded on first use (never when speakers are off)."""
        with self._lock:
            if self._diarizer is None:
                from podsearch.ingest.diarize import Diarizer

                self._diarizer = Diarizer(encoder=self.models.speaker_encoder(), parallel=usable_cores())
        return self._diarizer

    def speakers(self, audio: Path | SpeakerFeatures, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
        """`segments` labelled by who speaks them, from the speaker features gathered while Whisper's decode
        streamed, or from an audio file decoded again a block at a time (memory stays bounded either way)."""
        from podsearch.ingest.diarize import SpeakerFeatures
        from podsearch.transcripts.speakers import label_segments

        speech = [(s.start, s.end) for s in segments if s.text.strip()]
        if isinstance(audio, SpeakerFeatures):
            turns = self.diarizer.run_features(audio, speech).turns
        else:
            from podsearch.ingest.audio import stream_audio

            turns = self.diarizer.diarize_stream(stream_audio(audio), speech)
        return label_segments(segments, turns)

    def options(self, row: EpisodeRow | None = None):  # noqa: ANN201 - ingest.transcribe.TranscribeOptions
        """The decoding settings of this home; for `row`, with the names and terms its feed gives."""
        from podsearch.ingest.transcribe import TranscribeOptions
        from podsearch.service.vocabulary import episode_vocabulary

        vocabulary = self.vocabulary if row is None else episode_vocabulary(
            self.vocabulary, row.show_title, row.episode, from_feed=self.settings.feed_vocabulary)
        return TranscribeOptions(vocabulary=vocabulary, beam_size=self.settings.beam_size,
                                 batch_size=self.settings.batch_size)

    def download_audio(self, row: EpisodeRow, local_ok: bool) -> Path:
        """The episode's audio file in the home's cache, downloaded if needed."""
        from podsearch.ingest.download import download

        return download(row.episode.audio_url, self.settings.audio_dir, settings=self.settings,
                        expected_type="audio", local_ok=local_ok)

    def transcribe(self, row: EpisodeRow, local_ok: bool, audio: Future | None = None) -> Transcript:
        """A Transcript for the episode: the publisher's if offered, else Whisper's."""
        ep = row.episode
        segments: tuple[Segment, ...] | None = None
        source, engine_name, model_name, language, duration = "publisher", None, None, None, ep.duration
        try:
            segments = publisher_segments(self.settings, ep, local_ok)
        except PodsearchError as exc:
            self.progress(Progress("warning", ep.title, message=(
                f"{row.show_title} / {ep.title}: publisher transcript unusable, using Whisper: {exc}")))
        if segments is None:
            from podsearch.ingest.audio import audio_seconds, stream_audio
            from podsearch.ingest.transcribe import transcribe_stream

            self.progress(Progress("download", ep.title))
            path = audio.result() if audio is not None else self.download_audio(row, local_ok)
            # The headers' length for the bar; the decoded length replaces it when done.
            expected = audio_seconds(path) or ep.duration
            self.progress(Progress("transcribe", ep.title, 0.0, expected))
            def on_progress(done: float) -> None:
                if self.cancel.is_set():
                    raise Cancelled(ep.title)
                self.progress(Progress("transcribe", ep.title, done, max(expected or 0.0, done) or None))

            # Decoded and transcribed a chunk at a time: memory does not grow with the episode. The speaker
            # encoder's features are taken from the same blocks on their way (the audio is decoded once).
            features = None
            blocks = stream_audio(path)
            if self.settings.speakers:
                from podsearch.ingest.diarize import SpeakerFeatures

                features = SpeakerFeatures()
                blocks = features.tee(blocks)
            try:
                result = transcribe_stream(self.engine, blocks, self.options(row), progress=on_progress)
            except AudioError:
                # A broken download must not be reused: the next ingest fetches the enclosure again.
                forget_cached(self.settings, path)
                raise
            duration = result.duration
            for warning in result.warnings:
                self.progress(Progress("warning", ep.title, message=warning))
            segments, source = result.segments, "whisper"
            engine_name, model_name, language = result.engine, result.model, result.language
            if self.settings.speakers and segments:
                self.progress(Progress("speakers", ep.title))
                segments = self.speakers(features, tuple(segments))
        from podsearch.transcripts.kinds import mark_kinds
        from podsearch.transcripts.speakers import feed_candidates, name_speakers

        return Transcript(
            show=row.show_title, episode=ep.title, guid=ep.guid, key=ep.key,
            segments=mark_kinds(name_speakers(segments, ep.persons,
                                                 candidates=feed_candidates(ep.persons, ep.description))),
            published=ep.published, audio_url=ep.audio_url, link=ep.link, source=source, language=language,
            engine=engine_name, model=model_name, duration=duration,
            # JSON chapters when the feed links them, else the ones it gives inline (Podlove Simple Chapters).
            chapters=episode_chapters(self.settings, ep, local_ok) or ep.chapters, persons=ep.persons,
            soundbites=ep.soundbites,
        )


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


class Ingester:
    """Writes down what a TranscriptSource produces: transcript files, statuses, the index.

    The one writer of the home: sources only compute, so transcripts made in
    threads or on other machines never write the home concurrently.
    """

    def __init__(self, settings: Settings, library: Library, index, progress: ProgressFn | None = None,
                 vocabulary: tuple[str, ...] = (), source: TranscriptSource | None = None,
                 models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models()
        self.library = library
        self.index = index
        self.progress = _locked(progress or (lambda p: None))
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
                renames = self.library.speaker_names(row.id)
                if renames and not item.saved:  # names a user gave before this episode was transcribed again
                    from podsearch.transcripts.speakers import name_speakers

                    transcript = replace(transcript, segments=name_speakers(transcript.segments, renames=renames))
                if not saved:
                    path = save_transcript(transcript, self.settings.transcripts_dir)
                    self.library.set_status(row.id, TRANSCRIBED, source=transcript.source, transcript_path=str(path))
                    old = Path(row.transcript_path) if row.transcript_path else path
                    if old != path and old.resolve().is_relative_to(self.settings.transcripts_dir.resolve()):
                        remove_transcript(old)  # the file from before keys; only ever inside this home
                self.progress(Progress("index", ep.title))
                self.index.add_transcript(
                    transcript, content_hash(transcript), min_seconds=self.settings.min_passage_seconds,
                    max_seconds=self.settings.max_passage_seconds, max_words=self.settings.max_passage_words,
                    progress=lambda done, total, title=ep.title: self.progress(Progress("embed", title, done, total)),
                )
                self.library.set_status(row.id, INDEXED, source=transcript.source)
                report.indexed.append(ep.title)
                self.progress(Progress("episode-done", ep.title))
            except PodsearchError as exc:
                message = f"{row.show_title} / {ep.title}: {exc}"
                self.library.set_status(row.id, FAILED, error=str(exc))
                report.episode_errors.append((ep.title, message))
                self.progress(Progress("episode-failed", ep.title, message=message))


def upgrade_transcripts(settings: Settings, library: Library) -> None:
    """Give transcript files written before episode keys their episode's key, saved again under it.

    Without it two shows' files that share a guid would collide again in the next `reindex`.
    Checking costs one stat per episode; only old files are read and rewritten, once.
    """
    from podsearch.transcripts.store import guid_tag, load_transcript, remove_transcript, save_transcript, transcript_path

    for row in library.episodes():
        ep = row.episode
        if row.transcript_path and row.transcript_path.endswith(f"-{guid_tag(ep.key)}.json"):
            continue  # already saved under its key
        # The recorded path may be from another machine or folder (a copied home): look where it would be here too.
        candidates = [Path(row.transcript_path)] if row.transcript_path else []
        candidates.append(transcript_path(settings.transcripts_dir, row.show_title, ep.title, ep.guid))
        for old in candidates:
            if not (old.is_file() and old.resolve().is_relative_to(settings.transcripts_dir.resolve())):
                continue  # never read or remove files outside this home
            transcript = load_transcript(old)
            if transcript.key or transcript.guid != ep.guid:
                continue
            new = save_transcript(replace(transcript, key=ep.key), settings.transcripts_dir)
            library.set_transcript_path(row.id, str(new))
            if new != old:
                remove_transcript(old)
            break


def reconcile(settings: Settings, library: Library, index) -> int:  # noqa: ANN001 - index.store.SearchIndex
    """Bring an index from before episode keys in line with the catalog; returns episodes queued again.

    Index rows keyed by a bare guid take their episode's key when the catalog has exactly one
    episode of that guid and show (no re-embedding). An episode the catalog calls indexed that the
    index lacks (the old index kept one of two shows sharing a guid) goes back to transcribed, with
    its transcript file, so the ingest indexes it again; without a file it is transcribed again.
    """
    from podsearch.transcripts.store import find_transcript

    upgrade_transcripts(settings, library)
    rows = library.episodes()
    keys = {r.episode.key for r in rows}
    for old in index.episodes():
        if old.key in keys:
            continue
        match = [r for r in rows if r.episode.guid == old.guid and r.show_title == old.show]
        if len(match) == 1:
            index.rekey_episode(old.key, match[0].episode.key)
    indexed = {e.key for e in index.episodes()}
    queued = 0
    for row in rows:
        if row.status == INDEXED and row.episode.key not in indexed:
            path = find_transcript(settings.transcripts_dir, row.episode.key)
            if path is not None:
                library.set_status(row.id, TRANSCRIBED, source=row.source, transcript_path=str(path))
            else:
                library.set_status(row.id, NEW)
            queued += 1
    return queued


def episode_transcript(settings: Settings, ident: str) -> Path:
    """The transcript file of the episode `ident` names: its key, or its guid when only one episode has it."""
    from podsearch.transcripts.store import find_transcript, find_transcripts_by_guid, load_transcript

    library = open_library(settings)
    try:
        rows = library.find_episodes(ident)
    finally:
        library.close()
    if len(rows) > 1:
        choices = "; ".join(f"{r.episode.key} ({r.show_title} / {r.episode.title})" for r in rows)
        raise PodsearchError(f"guid {ident!r} is used by {len(rows)} episodes; give one of their keys: {choices}")
    if rows:
        row = rows[0]
        path = Path(row.transcript_path) if row.transcript_path else None
        path = path if path is not None and path.is_file() else find_transcript(settings.transcripts_dir, row.episode.key)
        if path is None:
            raise PodsearchError(f"{row.show_title} / {row.episode.title} has no transcript yet ({row.status}); "
                                 "run `podsearch ingest` first")
        return path
    path = find_transcript(settings.transcripts_dir, ident)
    if path is not None:
        return path
    paths = find_transcripts_by_guid(settings.transcripts_dir, ident)
    if len(paths) > 1:
        choices = "; ".join(f"{(t := load_transcript(p)).id} ({t.show} / {t.episode})" for p in paths)
        raise PodsearchError(f"guid {ident!r} is used by {len(paths)} transcripts; give one of their keys: {choices}")
    if paths:
        return paths[0]
    raise PodsearchError(f"no episode or transcript has the key or guid {ident!r}; `podsearch status --keys` lists "
                         "episode keys, `podsearch search --json` shows them as \"key\"")


def forget_cached(settings: Settings, path: Path) -> None:
    """Delete a file from the home's download cache (never anything outside it)."""
    if path.resolve().parent == settings.audio_dir.resolve():
        path.unlink(missing_ok=True)


def redownload_episode(settings: Settings, ident: str) -> str:
    """Drop the cached downloads of the episode `ident` (key, or unambiguous guid) and queue it again.

    Returns "show / title". The next ingest downloads, transcribes and indexes it afresh.
    """
    from podsearch.ingest.download import cached_path

    library = open_library(settings)
    try:
        rows = library.find_episodes(ident)
        if not rows:
            raise PodsearchError(f"no episode has the key or guid {ident!r}; `podsearch status --keys` lists them")
        if len(rows) > 1:
            choices = "; ".join(f"{r.episode.key} ({r.show_title} / {r.episode.title})" for r in rows)
            raise PodsearchError(f"guid {ident!r} is used by {len(rows)} episodes; give one of their keys: {choices}")
        row = rows[0]
        for url in (row.episode.audio_url, *(t.url for t in row.episode.transcripts)):
            cached = cached_path(url, settings.audio_dir)
            if cached is not None:
                forget_cached(settings, cached)
        library.set_status(row.id, NEW)
        return f"{row.show_title} / {row.episode.title}"
    finally:
        library.close()


def pending_episodes(library: Library, limit: int | None = None) -> list[EpisodeRow]:
    """Episodes not yet indexed (failed ones are retried), newest first."""
    rows = [r for r in library.episodes() if r.status not in (INDEXED, SKIPPED)]
    return rows[:limit] if limit else rows


def refresh_feeds(settings: Settings, library: Library, feeds: list[FeedRow], report: IngestReport,
                  emit: ProgressFn) -> None:
    """Refresh `feeds`, fetching settings.feed_workers at once so one slow feed holds up no other.

    Only the fetches run in threads; the catalog is written here, one feed at a time.
    """
    if not feeds:
        return
    with ThreadPoolExecutor(max_workers=min(settings.feed_workers, len(feeds)),
                            thread_name_prefix="podsearch-feed") as pool:
        futures: dict[Future, FeedRow] = {}
        for feed in feeds:
            emit(Progress("feed", feed.title or feed.url))
            futures[pool.submit(_fetch_feed, settings, feed)] = feed
        for fetched in as_completed(futures):
            feed = futures[fetched]
            try:
                refresh_feed(settings, library, feed, fetched)
                report.feeds_refreshed += 1
            except Exception as exc:  # noqa: BLE001 - one bad feed never stops the others
                message = str(exc) if isinstance(exc, PodsearchError) else \
                    f"feed {feed.url} could not be refreshed ({type(exc).__name__}: {exc}); the other feeds went on"
                if not isinstance(exc, PodsearchError):
                    library.record_feed_error(feed.id, message)
                report.feed_errors.append((feed.url, message))
                emit(Progress("feed-failed", feed.title or feed.url, message=message))


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
    emit = progress or (lambda p: None)
    with writing(settings, "ingest", wait=wait, on_wait=lambda m: emit(Progress("waiting", "", message=m))):
        for ident in redownload:
            emit(Progress("redownload", redownload_episode(settings, ident)))
        return _ingest(settings, limit, refresh, emit, vocabulary, source, models or Models())


def _ingest(settings: Settings, limit: int | None, refresh: bool, emit: ProgressFn, vocabulary: tuple[str, ...],
            source: TranscriptSource | None, models: Models) -> IngestReport:
    report = IngestReport()
    library = open_library(settings)
    try:
        feeds = library.feeds()
        if refresh:
            refresh_feeds(settings, library, feeds, report, emit)
        index = open_index(settings, models=models)
        try:
            reconcile(settings, library, index)
            rows = pending_episodes(library, limit)
            if rows:
                local = {f.id for f in library.feeds() if f.local}
                Ingester(settings, library, index, emit, vocabulary, source, models).run(rows, local, report)
            from podsearch.service.watches import after_ingest  # saved searches: new clips, feeds, webhooks

            after_ingest(settings, index, lambda m: emit(Progress("warning", "watches", message=m)))
        finally:
            index.close()
        return report
    finally:
        library.close()


def reindex(settings: Settings, progress: ProgressFn | None = None, wait: bool = True,
            models: Models | None = None) -> int:
    """Rebuild the search index from the transcript files alone; returns episodes indexed.

    Holds the home's writer lock (see `ingest`).
    """
    from podsearch.service.homelock import writing

    emit = progress or (lambda p: None)
    with writing(settings, "reindex", wait=wait, on_wait=lambda m: emit(Progress("waiting", "", message=m))):
        return _reindex(settings, emit, models)


def _reindex(settings: Settings, emit: ProgressFn, models: Models | None) -> int:
    import shutil

    from podsearch.transcripts.kinds import mark_kinds
    from podsearch.transcripts.store import content_hash, iter_transcript_files, load_transcript

    library = open_library(settings)
    try:
        upgrade_transcripts(settings, library)
    finally:
        library.close()
    tmp_dir = settings.index_dir.with_name(settings.index_dir.name + ".rebuild")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    index = open_index(settings, tmp_dir, models)
    files = list(iter_transcript_files(settings.transcripts_dir))
    try:
        for i, path in enumerate(files):
            # Transcripts saved before segment kinds existed get them now.
            transcript = load_transcript(path)
            transcript = replace(transcript, segments=mark_kinds(transcript.segments))
            emit(Progress("index", transcript.episode, i, len(files)))
            index.add_transcript(transcript, content_hash(transcript), min_seconds=settings.min_passage_seconds,
                                 max_seconds=settings.max_passage_seconds, max_words=settings.max_passage_words)
    finally:
        index.close()
    # Swap directories only when the new index is complete.
    old = settings.index_dir.with_name(settings.index_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if settings.index_dir.exists():
        settings.index_dir.rename(old)
    tmp_dir.rename(settings.index_dir)
    shutil.rmtree(old, ignore_errors=True)
    return len(files)


def playable_audio(settings: Settings, audio_url: str | None) -> str | None:
    """What the app's player should load: the local copy if there is one, else the URL.

    A local copy keeps playback offline (nothing leaves the machine).
    """
    if not audio_url:
        return None
    if is_local_source(audio_url):
        path = local_path(audio_url)
        return str(path) if path.is_file() else None
    from podsearch.ingest.download import cached_path

    cached = cached_path(audio_url, settings.audio_dir)
    if cached is not None:
        return str(cached)
    return audio_url if urlparse(audio_url).scheme in ("http", "https") else None
