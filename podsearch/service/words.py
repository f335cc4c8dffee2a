"""A clip's recognised words and how sure Whisper was of each, read from the episode's transcript file.

The index keeps segments only; word timings and probabilities live in the transcript JSON (the source
of truth), so pages ask here instead of parsing files themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

from podsearch.core.config import Settings
from podsearch.core.errors import AmbiguousEpisodeError, PodsearchError, UnknownEpisodeError
from podsearch.core.records import Word
from podsearch.service.home import Home

# How many recognised words a quote's word may lie ahead of the last one matched (text trimmed or
# re-punctuated between Whisper's words and the passage).
LOOKAHEAD = 8
_CHUNKS = re.compile(r"\S+\s*|\s+")


def clip_words(settings: Settings, key: str, start: float, end: float) -> tuple[Word, ...]:
    """The recognised words of episode `key` (its key, or a guid only it has) said between `start` and `end`
    seconds, in order.

    Empty when the episode is not known here, has no transcript file or no word timings (publisher transcripts).
    """
    from podsearch.transcripts.store import load_transcript

    try:
        row = Home(settings).episode(key)
    except (UnknownEpisodeError, AmbiguousEpisodeError):
        return ()
    if not row.transcript_path or not Path(row.transcript_path).exists():
        return ()
    try:
        transcript = load_transcript(Path(row.transcript_path))
    except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise PodsearchError(f"the transcript file of {row.episode.title!r} cannot be read ({exc}); "
                             "`podsearch ingest` transcribes the episode again") from None
    return tuple(w for s in transcript.segments for w in s.words if w.end > start and w.start < end)


def is_unsure(word: Word, threshold: float) -> bool:
    """True when Whisper gave `word` a probability below `threshold` (never for words without one)."""
    return word.probability is not None and word.probability < threshold


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def unsure_chunks(text: str, words: tuple[Word, ...], threshold: float) -> list[tuple[str, bool]]:
    """`text` cut into words (each with the spaces after it) and whether Whisper was unsure of each.

    Quote words are matched to recognised words in order, ignoring case and punctuation; a quote word
    Whisper wrote as several pieces ("well-known" as "well" "-known") is unsure when any piece is.
    Words that match nothing are not marked. Joining the chunks gives `text` back.
    """
    keys = [_key(w.text) for w in words]
    out: list[tuple[str, bool]] = []
    j = 0
    for chunk in _CHUNKS.findall(text):
        key, unsure = _key(chunk), False
        for i in range(j, min(j + LOOKAHEAD, len(words))) if key else ():
            joined, last = "", i
            while last < len(words) and len(joined) < len(key) and key.startswith(joined + keys[last]):
                joined += keys[last]
                last += 1
            if joined == key:
                unsure = any(is_unsure(w, threshold) for w in words[i:last])
                j = last
                break
        out.append((chunk, unsure))
    return out
