"""Upgrades of a home written by an earlier podsearch: transcript files and index rows from before episode keys.

Both run at the start of every `ingest` and `reindex`; checking a home that needs nothing costs one
stat per episode.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from podsearch.core.config import Settings
from podsearch.service.library import INDEXED, NEW, TRANSCRIBED, Library

if TYPE_CHECKING:
    from podsearch.index.store import SearchIndex


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


def reconcile(settings: Settings, library: Library, index: SearchIndex) -> int:
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
