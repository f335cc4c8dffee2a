"""The words Whisper is told before it hears an episode: the user's terms, then the feed's own.

tiny.en spells names it has never seen by sound ("Omar Siddiqui" -> "I know my city, Queenie";
"The Staff Room" -> "Mustard Room"). The feed usually names the show, its host and guests and
its sponsor; given as the decoder's prompt, those spellings become likely.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from podsearch.core.records import Episode
from podsearch.index.keyword import STOPWORDS
from podsearch.transcripts.speakers import feed_candidates

# Whisper keeps at most 223 prompt tokens and a long prompt pulls the decoder towards reciting it;
# the feed's terms stop at this many characters (the user's own are never cut).
MAX_FEED_CHARS = 200
_TAG = re.compile(r"<[^>]+>")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'’-]{2,}\b")


def feed_terms(show_title: str | None, episode: Episode) -> tuple[str, ...]:
    """The show's title, the people the feed names for the episode, then other capitalised words of its
    description (a sponsor, a first name, a place) that open no sentence and are no stopword, without repeats."""
    description = episode.description or ""
    names = feed_candidates(episode.persons, description)
    terms = [show_title or "", *names]
    known = {w.lower() for t in terms for w in t.split()}
    for sentence in _SENTENCE.split(_TAG.sub(" ", description)):
        for match in _CAPITALISED.finditer(sentence):
            word = match.group(0)
            if match.start() > 0 and word.lower() not in known and word.lower() not in STOPWORDS:
                terms.append(word)
                known.add(word.lower())
    out: list[str] = []
    size = 0
    for term in (" ".join(_printable(t).split()) for t in terms):
        if term and size + len(term) + 2 <= MAX_FEED_CHARS:
            out.append(term)
            size += len(term) + 2
    return tuple(out)


def _printable(text: str) -> str:
    """`text` without control and format characters (feed text is hostile: nothing but words reaches Whisper)."""
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)


def episode_vocabulary(user_terms: Sequence[str], show_title: str | None, episode: Episode,
                       from_feed: bool = True) -> tuple[str, ...]:
    """What the recogniser is told for `episode`: the user's terms first, then (with `from_feed`) the
    feed's, each once."""
    first: dict[str, str] = {}
    for term in (*user_terms, *(feed_terms(show_title, episode) if from_feed else ())):
        first.setdefault(term.lower(), term)  # the first spelling of a term stands
    return tuple(first.values())
