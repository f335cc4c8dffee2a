"""Plausibility limits for publisher transcripts, and merging of tiny segments (pure functions).

A transcript is the publisher's word, and cheap to inflate: tens of thousands
of one-word cues (a couple of MB, under the size cap) would each be embedded,
holding the CPU for hours. Speech has a rate: people say about 2-3 words a
second and a captioner makes a cue every few seconds, so a transcript far past
that for the episode's length is refused (the episode is transcribed by
Whisper instead), and what is left is merged into segments of at least half a second
or so before anything is embedded.
"""

from __future__ import annotations

from dataclasses import replace

from podsearch.core.errors import TranscriptError
from podsearch.core.records import Segment

MAX_SEGMENTS_PER_SECOND = 4.0
MAX_WORDS_PER_SECOND = 8.0  # fast speech is ~4; leave room for run-together captions
# Slack for very short episodes (a 5 s trailer may still carry a dozen cues).
SEGMENT_SLACK = 50
WORD_SLACK = 200
# Shorter than any caption a person reads (the 4-per-second cap above allows 0.25 s).
MIN_SEGMENT_SECONDS = 0.5


def check_plausible(segments: tuple[Segment, ...], duration: float | None, episode: str) -> None:
    """Refuse (TranscriptError naming `episode`) a transcript denser than speech can be.

    `duration` is the episode's length in seconds when known; otherwise the
    transcript's own span is used, which a hostile file cannot stretch for free:
    every segment it adds must still fit the rate.
    """
    if not segments:
        return
    span = max(s.end for s in segments) - min(s.start for s in segments)
    seconds = duration if duration and duration > 0 else span
    seconds = max(seconds, 0.0)
    words = sum(len(s.text.split()) for s in segments)
    if len(segments) > MAX_SEGMENTS_PER_SECOND * seconds + SEGMENT_SLACK:
        raise TranscriptError(
            f"{episode}: publisher transcript has {len(segments)} segments for {seconds:.0f} s of audio "
            f"(more than {MAX_SEGMENTS_PER_SECOND:g} a second); ignoring it, Whisper transcribes the episode")
    if words > MAX_WORDS_PER_SECOND * seconds + WORD_SLACK:
        raise TranscriptError(
            f"{episode}: publisher transcript has {words} words for {seconds:.0f} s of audio "
            f"(more than {MAX_WORDS_PER_SECOND:g} a second, beyond any speech); ignoring it, Whisper transcribes the episode")


def merge_tiny(segments: tuple[Segment, ...], min_seconds: float = MIN_SEGMENT_SECONDS,
               max_words: int = 170) -> tuple[Segment, ...]:
    """Segments shorter than `min_seconds` joined to the next ones of the same speaker.

    A merged segment never exceeds `max_words` (what the embedding model reads)
    and keeps every word, in order (word timings are joined too; where a cue had
    none they no longer line up with the text, and passages ignore them).
    """
    merged: list[Segment] = []
    for segment in segments:
        if merged:
            last = merged[-1]
            short = last.end - last.start < min_seconds
            fits = len(last.text.split()) + len(segment.text.split()) <= max_words
            if short and fits and last.speaker == segment.speaker:
                merged[-1] = replace(last, end=max(last.end, segment.end),
                                     text=f"{last.text.strip()} {segment.text.strip()}".strip(),
                                     words=last.words + segment.words, flagged=last.flagged and segment.flagged)
                continue
        merged.append(segment)
    return tuple(merged)
