"""The one chain that annotates a transcript: who speaks, what kind each stretch is, then its chapters.

Ingest, reindex, diarize and rename all run it, so an episode's annotations do not depend on which of
them wrote its file last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from podsearch.core.records import Episode, Segment, Transcript
from podsearch.transcripts.chapters import Embed, generate_chapters
from podsearch.transcripts.kinds import mark_kinds
from podsearch.transcripts.speakers import feed_candidates, name_speakers


def annotate(transcript: Transcript, episode: Episode | None = None, renames: Mapping[str, str] | None = None,
             embed: Embed | None = None) -> Transcript:
    """`transcript` with its speakers named, segment kinds marked and chapters set.

    Chapters: the publisher's always win; without them, `embed` (the sentence model) generates them
    from the text (`transcripts.chapters`); without `embed` the chapters the transcript has are kept.
    `episode`: its speaker labels are new (transcribed or diarized just now), so they are named from the
    evidence the episode gives (persons, description); None keeps the names the file has. `renames`
    (a user's names by shown label) win over any evidence.
    """
    segments = transcript.segments
    if episode is not None:
        segments = name_speakers(segments, episode.persons, renames=renames,
                                 candidates=feed_candidates(episode.persons, episode.description))
    segments = mark_kinds(apply_renames(segments, renames))
    chapters = transcript.chapters
    if embed is not None and all(c.generated for c in chapters):
        chapters = generate_chapters(segments, embed)
    return replace(transcript, segments=segments, chapters=chapters)


def apply_renames(segments: Sequence[Segment], renames: Mapping[str, str] | None) -> tuple[Segment, ...]:
    """Segments with a user's names for their shown labels (a label named by evidence included);
    a name another voice of the episode already has is not given twice."""
    names = {label: " ".join(name.split()) for label, name in (renames or {}).items() if name.strip()}
    present = {s.speaker for s in segments if s.speaker}
    kept = present - set(names)
    final = {label: name for label, name in names.items() if label in present and name not in kept}
    if not final:
        return tuple(segments)
    return tuple(replace(s, speaker=final[s.speaker]) if s.speaker in final else s for s in segments)
