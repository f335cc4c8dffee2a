"""Typed records that cross module boundaries.

Data flows one way: Show/Episode (feeds) -> Transcript of Segments (audio or
publisher) -> Passage (index) -> Hit (results). Every record is frozen so a
stage can never mutate what an earlier stage produced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

Source = Literal["whisper", "publisher"]


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing in seconds."""

    start: float
    end: float
    text: str
    probability: float | None = None


# What a stretch of an episode is (transcripts.kinds marks them); sponsor reads are left out of search
# unless asked for.
KINDS = ("speech", "sponsor", "intro", "outro")
# How far a hit can be trusted, the same across queries (index.search.confidence decides).
CONFIDENCES = ("strong", "partial", "weak")
# The kind of a passage or hit that is a `podcast:soundbite`: a clip the publisher chose, not a segment kind.
SOUNDBITE = "soundbite"


@dataclass(frozen=True)
class Segment:
    """A stretch of transcript with start/end in seconds and quality signals."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: tuple[Word, ...] = ()
    # True when the segment looks like a hallucination (repeats, silence).
    flagged: bool = False
    kind: str = "speech"  # one of KINDS: the conversation, a sponsor read, the intro or the outro

    def piece(self, words: Sequence[Word]) -> Segment:
        """The part of this segment made of `words` (a run of its own, in order): cut at the words, but the
        first piece opens where the segment does when that is earlier (the lead ingest gives a segment)."""
        start = min(self.start, words[0].start) if words[0] is self.words[0] else words[0].start
        return replace(self, start=start, end=words[-1].end, text=" ".join(w.text.strip() for w in words),
                       words=tuple(words))


@dataclass(frozen=True)
class Chapter:
    """A Podcasting 2.0 chapter: title from `start` seconds on."""

    start: float
    title: str
    end: float | None = None
    url: str | None = None
    generated: bool = False  # made by podsearch from what is said (transcripts.chapters), not the publisher's


def chapter_at(chapters: Iterable[Chapter], t: float) -> str | None:
    """Title of the chapter playing at `t` seconds (None before the first, or without chapters)."""
    title = None
    for chapter in sorted(chapters, key=lambda c: c.start):
        if chapter.start <= t + 0.01:  # a chapter starting within 10 ms counts: times are rounded to ms
            title = chapter.title or title
    return title


@dataclass(frozen=True)
class Person:
    """A `podcast:person` of a show or an episode."""

    name: str
    role: str = "host"
    group: str = "cast"
    href: str | None = None
    img: str | None = None


@dataclass(frozen=True)
class TranscriptLink:
    """A `podcast:transcript` the publisher offers for an episode."""

    url: str
    type: str
    language: str | None = None
    rel: str | None = None


@dataclass(frozen=True)
class Soundbite:
    """A `podcast:soundbite`: a clip of the episode the publisher chose to promote."""

    start: float
    duration: float
    title: str = ""


@dataclass(frozen=True)
class Funding:
    """A `podcast:funding` link: where listeners can support the show."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class License:
    """A `podcast:license`: an SPDX identifier or a name, and where its text lives."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class Show:
    """A podcast as its feed describes it."""

    url: str
    title: str
    link: str | None = None
    description: str | None = None
    image: str | None = None
    author: str | None = None
    language: str | None = None
    podcast_guid: str | None = None
    locked: bool = False
    block: bool = False
    persons: tuple[Person, ...] = ()
    # itunes:type: "serial" shows are listed oldest first, by season and episode number.
    kind: str = "episodic"
    funding: tuple[Funding, ...] = ()
    license: License | None = None
    # itunes:new-feed-url: the publisher moved the show to this address.
    new_feed_url: str | None = None


@dataclass(frozen=True)
class Episode:
    """One feed item with an audio enclosure."""

    guid: str
    title: str
    audio_url: str
    published: str | None = None  # ISO 8601, UTC
    audio_type: str | None = None
    audio_length: int | None = None
    duration: float | None = None  # seconds, from itunes:duration
    link: str | None = None
    description: str | None = None
    image: str | None = None
    season: int | None = None
    number: int | None = None
    transcripts: tuple[TranscriptLink, ...] = ()
    chapters_url: str | None = None
    persons: tuple[Person, ...] = ()
    block: bool = False
    # The episode's identity in this home, scoped by its feed (the catalog assigns it);
    # `guid` is the publisher's and may clash across shows.
    key: str = ""
    # Chapters given in the feed itself (Podlove Simple Chapters); JSON chapters come from chapters_url.
    chapters: tuple[Chapter, ...] = ()
    soundbites: tuple[Soundbite, ...] = ()
    funding: tuple[Funding, ...] = ()
    license: License | None = None
    # The language the feed declares for this item (its own `<language>`, else the channel's), as written.
    language: str | None = None


@dataclass(frozen=True)
class FeedPage:
    """One document of a feed: its show, its audio episodes, and where older episodes live.

    `older` holds RFC 5005 links to follow (paged `next`, archived `prev-archive`), nearest first;
    `complete` is `fh:complete` (the document holds every episode, follow nothing);
    `repaired` counts the characters XML 1.0 forbids that were removed before parsing.
    """

    show: Show
    episodes: tuple[Episode, ...]
    older: tuple[str, ...] = ()
    complete: bool = False
    repaired: int = 0


@dataclass(frozen=True)
class Transcript:
    """What was said in one episode, with enough metadata to index it alone.

    The index is rebuilt from these files, never from feeds.
    """

    show: str
    episode: str
    guid: str
    segments: tuple[Segment, ...]
    published: str | None = None
    audio_url: str | None = None
    link: str | None = None
    source: Source = "whisper"
    language: str | None = None
    engine: str | None = None
    model: str | None = None
    duration: float | None = None
    chapters: tuple[Chapter, ...] = ()
    persons: tuple[Person, ...] = ()
    # The episode key (see Episode.key); empty in transcripts written before keys existed.
    key: str = ""
    # Publisher-chosen clips; the index makes each a passage of kind "soundbite".
    soundbites: tuple[Soundbite, ...] = ()
    # The fallbacks taken while making it ("publisher transcript unusable, transcribed by Whisper: …").
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """What the index keys this episode by: its key, else (old files) its guid."""
        return self.key or self.guid



@dataclass(frozen=True)
class Passage:
    """A searchable stretch of one transcript cut on segment boundaries."""

    guid: str
    show: str
    episode: str
    start: float
    end: float
    text: str
    source: Source = "whisper"
    published: str | None = None
    audio_url: str | None = None
    link: str | None = None
    # Index range of the transcript's segments this passage covers [first, last].
    first_segment: int = 0
    last_segment: int = 0
    flagged: bool = False
    kind: str = "speech"  # the kind of all its segments (KINDS), or SOUNDBITE: a clip the publisher chose
    key: str = ""  # the episode key (Episode.key)
    language: str = "en"  # what is spoken in it (core.languages.primary): decides its keyword table


@dataclass(frozen=True)
class Hit:
    """A search result: a timestamped clip ready to play and cite."""

    show: str
    episode: str
    guid: str
    published: str | None  # ISO date (YYYY-MM-DD)
    start: float
    end: float
    text: str
    score: float
    audio_url: str | None
    source: Source
    link: str | None = None
    chapter: str | None = None
    flagged: bool = False
    key: str = ""  # the episode key (Episode.key): what links, exports and collections use
    kind: str = "speech"  # speech, sponsor, intro or outro (KINDS), or SOUNDBITE
    confidence: str = "partial"  # strong, partial or weak (CONFIDENCES): absolute, comparable across queries
    speaker: str | None = None  # who says the clip's answer, where known
    language: str = "en"  # what is spoken in the clip (core.languages.primary of its transcript's language)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for `--json` output and the app."""
        return asdict(self)


def episode_key(feed_url: str, guid: str) -> str:
    """The stable, feed-scoped key of an episode: a short hash of its feed's address and its guid."""
    return hashlib.sha256(f"{feed_url}\n{guid}".encode("utf-8")).hexdigest()[:12]


def to_dict(record: Any) -> dict[str, Any]:
    """A record (nested tuples of records included) as JSON-ready dicts."""
    return asdict(record)


def _build(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def transcript_from_dict(data: dict[str, Any]) -> Transcript:
    """Inverse of `to_dict` for a Transcript read back from JSON."""
    segments = tuple(
        _build(
            Segment,
            {**s, "words": tuple(_build(Word, w) for w in s.get("words") or ())},
        )
        for s in data.get("segments") or ()
    )
    chapters = tuple(_build(Chapter, c) for c in data.get("chapters") or ())
    persons = tuple(_build(Person, p) for p in data.get("persons") or ())
    soundbites = tuple(_build(Soundbite, b) for b in data.get("soundbites") or ())
    return _build(
        Transcript,
        {**data, "segments": segments, "chapters": chapters, "persons": persons, "soundbites": soundbites,
         "notes": tuple(data.get("notes") or ())},
    )


def show_from_dict(data: dict[str, Any]) -> Show:
    """Inverse of `to_dict` for a Show stored as JSON (unknown keys ignored, for older and newer homes)."""
    license_ = data.get("license")
    return _build(Show, {
        **data,
        "persons": tuple(_build(Person, p) for p in data.get("persons") or ()),
        "funding": tuple(_build(Funding, f) for f in data.get("funding") or ()),
        "license": _build(License, license_) if license_ else None,
    })


def episode_from_dict(data: dict[str, Any]) -> Episode:
    """Inverse of `to_dict` for an Episode stored as JSON (unknown keys ignored)."""
    license_ = data.get("license")
    return _build(Episode, {
        **data,
        "transcripts": tuple(_build(TranscriptLink, t) for t in data.get("transcripts") or ()),
        "persons": tuple(_build(Person, p) for p in data.get("persons") or ()),
        "chapters": tuple(_build(Chapter, c) for c in data.get("chapters") or ()),
        "soundbites": tuple(_build(Soundbite, b) for b in data.get("soundbites") or ()),
        "funding": tuple(_build(Funding, f) for f in data.get("funding") or ()),
        "license": _build(License, license_) if license_ else None,
    })


__all__ = [
    "CONFIDENCES",
    "KINDS",
    "SOUNDBITE",
    "Chapter",
    "Episode",
    "FeedPage",
    "Funding",
    "Hit",
    "License",
    "Passage",
    "Person",
    "Segment",
    "Show",
    "Soundbite",
    "Source",
    "Transcript",
    "TranscriptLink",
    "Word",
    "episode_key",
    "episode_from_dict",
    "show_from_dict",
    "to_dict",
    "transcript_from_dict",
]
