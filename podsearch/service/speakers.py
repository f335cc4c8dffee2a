"""Speakers of episodes already ingested: label them from their audio, and let a user rename them.

Both change the episode's transcript file (the source every re-index reads) and re-index it, so
what they did survives `podsearch reindex`; renames are also kept in the catalog and applied again
whenever the episode's speakers are labelled anew.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Transcript
from podsearch.service.library import INDEXED, EpisodeRow, Library
from podsearch.service.models import Models
from podsearch.service.pipeline import Progress, ProgressFn, Transcriber, open_index, open_library


def _episode(library: Library, ident: str) -> EpisodeRow:
    """The episode whose key (or, when only one episode has it, publisher guid) is `ident`."""
    rows = library.find_episodes(ident)
    if len(rows) > 1:
        keys = ", ".join(r.episode.key for r in rows)
        raise PodsearchError(f"several episodes have the guid {ident!r}; name one by its key: {keys}")
    row = rows[0] if rows else None
    if row is None or not row.transcript_path or not Path(row.transcript_path).exists():
        raise PodsearchError(f"no transcribed episode with key or guid {ident!r}; `podsearch status` lists episodes")
    return row


def _store(settings: Settings, library: Library, row: EpisodeRow, transcript: Transcript,
           models: Models | None) -> None:
    from podsearch.transcripts.store import content_hash, save_transcript

    path = save_transcript(transcript, settings.transcripts_dir)
    index = open_index(settings, models=models)
    try:
        index.add_transcript(transcript, content_hash(transcript), min_seconds=settings.min_passage_seconds,
                             max_seconds=settings.max_passage_seconds, max_words=settings.max_passage_words)
    finally:
        index.close()
    library.set_status(row.id, INDEXED, source=transcript.source, transcript_path=str(path))


def rename_speaker(settings: Settings, guid: str, shown: str, name: str, models: Models | None = None) -> int:
    """Call the speaker shown as `shown` in episode `guid` (its key, or a guid only it has) `name` from now on;
    returns segments renamed."""
    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.store import load_transcript

    name = " ".join(name.split())
    if not name:
        raise PodsearchError("the new speaker name is empty; give the name to show, e.g. \"Ward manager\"")
    library = open_library(settings)
    try:
        row = _episode(library, guid)
        transcript = load_transcript(Path(row.transcript_path))
        speakers = {s.speaker for s in transcript.segments if s.speaker}
        if shown not in speakers:
            listed = ", ".join(sorted(speakers)) or "none are labelled"
            raise PodsearchError(f"no speaker {shown!r} in {row.episode.title!r}; its speakers: {listed}")
        if name in speakers - {shown}:
            raise PodsearchError(f"{name!r} already names another speaker of {row.episode.title!r}; choose another name")
        library.name_speaker(row.id, shown, name)
        _store(settings, library, row, annotate(transcript, renames={shown: name}), models)
        return sum(s.speaker == shown for s in transcript.segments)
    finally:
        library.close()


def diarize(settings: Settings, guids: tuple[str, ...] = (), progress: ProgressFn | None = None,
            models: Models | None = None) -> list[str]:
    """Label who speaks in already-ingested Whisper episodes (all, or those of `guids`) from their
    audio (the cache, or downloaded again), without transcribing again; returns the titles done."""
    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.store import load_transcript

    emit = progress or (lambda p: None)
    library = open_library(settings)
    try:
        rows = [_episode(library, g) for g in guids] if guids else [
            r for r in library.episodes(status=INDEXED) if r.transcript_path and Path(r.transcript_path).exists()]
        models = models or Models()
        transcriber = Transcriber(settings, emit, models=models)
        local_feeds = {f.id for f in library.feeds() if f.local}
        done: list[str] = []
        for row in rows:
            transcript = load_transcript(Path(row.transcript_path))
            if transcript.source != "whisper":
                emit(Progress("warning", row.episode.title, message="publisher transcript: its own speaker labels are kept"))
                continue
            emit(Progress("speakers", row.episode.title))
            audio = transcriber.download_audio(row, local_ok=row.feed_id in local_feeds)
            unlabelled = tuple(replace(s, speaker=None) for s in transcript.segments)
            labelled = replace(transcript, segments=transcriber.speakers(audio, unlabelled))
            _store(settings, library, row, annotate(labelled, row.episode, library.speaker_names(row.id),
                                                         embed=models.encoder(settings.embed_model)), models)
            emit(Progress("episode-done", row.episode.title))
            done.append(row.episode.title)
        return done
    finally:
        library.close()
