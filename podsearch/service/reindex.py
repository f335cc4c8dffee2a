"""Reindex: the search index rebuilt from the transcript files alone, swapped in only when complete."""

from __future__ import annotations

from podsearch.core.config import Settings
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore
from podsearch.service.upgrades import upgrade_transcripts


def reindex(settings: Settings, progress: ProgressFn | None = None, wait: bool = True,
            models: Models | None = None) -> int:
    """Rebuild the search index from the transcript files alone; returns episodes indexed.

    Holds the home's writer lock (see `ingest`).
    """
    from podsearch.service.homelock import writing

    emit = progress or ignore
    with writing(settings, "reindex", wait=wait, on_wait=lambda m: emit(Progress(Stage.WAITING, "", message=m))):
        return _reindex(settings, emit, models)


def _reindex(settings: Settings, emit: ProgressFn, models: Models | None) -> int:
    import shutil

    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.store import (content_hash, iter_transcript_files, load_transcript, save_transcript,
                                             transcript_path)

    home = Home(settings, models)
    with home.catalog() as library:
        upgrade_transcripts(settings, library)
    tmp_dir = settings.index_dir.with_name(settings.index_dir.name + ".rebuild")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    files = list(iter_transcript_files(settings.transcripts_dir))
    with home.index(tmp_dir) as index:
        for i, path in enumerate(files):
            # Kinds and generated chapters are made anew (older files get them now), and the file keeps them.
            saved = load_transcript(path)
            transcript = annotate(saved, embed=home.models.encoder(settings.embed_model, settings.models_dir))
            if transcript != saved and transcript_path(settings.transcripts_dir, saved.show, saved.episode,
                                                       saved.id) == path:
                save_transcript(transcript, settings.transcripts_dir)
            emit(Progress(Stage.INDEX, transcript.episode, i, len(files)))
            index.add_transcript(transcript, content_hash(transcript), min_seconds=settings.min_passage_seconds,
                                 max_seconds=settings.max_passage_seconds, max_words=settings.max_passage_words)
        from podsearch.service.topics import refresh_topics

        refresh_topics(index, rebuild=True)
    # Swap directories only when the new index is complete.
    old = settings.index_dir.with_name(settings.index_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if settings.index_dir.exists():
        settings.index_dir.rename(old)
    tmp_dir.rename(settings.index_dir)
    shutil.rmtree(old, ignore_errors=True)
    return len(files)
