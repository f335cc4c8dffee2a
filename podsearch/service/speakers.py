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
from podsearch.service.home import Home
from podsearch.service.library import INDEXED, EpisodeRow, Library
from podsearch.service.models import Models
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore
from podsearch.service.transcriber import Transcriber, episode_note


def _transcribed(home: Home, ident: str) -> EpisodeRow:
    """The episode `ident` names (see `Home.episode`), which must have its transcript file."""
    row = home.episode(ident)
    if not row.transcript_path or not Path(row.transcript_path).exists():
        raise PodsearchError(f"{row.show_title} / {row.episode.title} has no transcript yet ({row.status}); "
                             "run `podsearch ingest` first")
    return row


def _store(home: Home, library: Library, row: EpisodeRow, transcript: Transcript) -> None:
    from podsearch.transcripts.store import content_hash, save_transcript

    settings = home.settings
    path = save_transcript(transcript, settings.transcripts_dir)
    with home.index() as index:
        index.add_transcript(transcript, content_hash(transcript), min_seconds=settings.min_passage_seconds,
                             max_seconds=settings.max_passage_seconds, max_words=settings.max_passage_words)
    library.set_status(row.id, INDEXED, source=transcript.source, transcript_path=str(path),
                       error=episode_note(transcript))


def rename_speaker(settings: Settings, guid: str, shown: str, name: str, models: Models | None = None) -> int:
    """Call the speaker shown as `shown` in episode `guid` (its key, or a guid only it has) `name` from now on;
    returns segments renamed."""
    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.store import load_transcript

    name = " ".join(name.split())
    if not name:
        raise PodsearchError("the new speaker name is empty; give the name to show, e.g. \"Ward manager\"")
    home = Home(settings, models)
    row = _transcribed(home, guid)
    with home.catalog() as library:
        transcript = load_transcript(Path(row.transcript_path))
        speakers = {s.speaker for s in transcript.segments if s.speaker}
        if shown not in speakers:
            listed = ", ".join(sorted(speakers)) or "none are labelled"
            raise PodsearchError(f"no speaker {shown!r} in {row.episode.title!r}; its speakers: {listed}")
        if name in speakers - {shown}:
            raise PodsearchError(f"{name!r} already names another speaker of {row.episode.title!r}; choose another name")
        library.name_speaker(row.id, shown, name)
        _store(home, library, row, annotate(transcript, renames={shown: name}))
        return sum(s.speaker == shown for s in transcript.segments)


def diarize(settings: Settings, guids: tuple[str, ...] = (), progress: ProgressFn | None = None,
            models: Models | None = None) -> list[str]:
    """Label who speaks in already-ingested Whisper episodes (all, or those of `guids`) from their
    audio (the cache, or downloaded again), without transcribing again; returns the titles done."""
    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.store import load_transcript

    emit = progress or ignore
    home = Home(settings, models)
    rows = [_transcribed(home, g) for g in guids]
    with home.catalog() as library:
        rows = rows or [
            r for r in library.episodes(status=INDEXED) if r.transcript_path and Path(r.transcript_path).exists()]
        transcriber = Transcriber(settings, emit, models=home.models)
        local_feeds = {f.id for f in library.feeds() if f.local}
        done: list[str] = []
        for row in rows:
            transcript = load_transcript(Path(row.transcript_path))
            if transcript.source != "whisper":
                emit(Progress(Stage.WARNING, row.episode.title, message="publisher transcript: its own speaker labels are kept"))
                continue
            emit(Progress(Stage.SPEAKERS, row.episode.title))
            audio = transcriber.download_audio(row, local_ok=row.feed_id in local_feeds)
            unlabelled = tuple(replace(s, speaker=None) for s in transcript.segments)
            labelled = replace(transcript, segments=transcriber.speakers(audio, unlabelled))
            _store(home, library, row, annotate(labelled, row.episode, library.speaker_names(row.id),
                                                embed=home.models.encoder(settings.embed_model, settings.models_dir)))
            emit(Progress(Stage.EPISODE_DONE, row.episode.title))
            done.append(row.episode.title)
        return done
