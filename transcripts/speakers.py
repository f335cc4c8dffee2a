"""Who says each segment: speaker turns laid onto segments, and names where the episode gives them.

The turns come from diarization (`podsearch.ingest.diarize`, anything with `start`, `end` and an
integer `speaker`); the names from evidence only, never guessed: a publisher transcript's own
labels, self-introductions ("I'm Jonas"), a host introducing a guest ("my guest today is Dr Ruth
Adeyemi", "welcome, Tomasz") and the feed's `podcast:person` roles. Unnamed speakers stay
"Speaker 1", "Speaker 2", numbered in order of first appearance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from podsearch.core.records import Person, Segment, Word


class TurnLike(Protocol):
    start: float
    end: float
    speaker: int


UNNAMED = "Speaker {n}"
_NAME = r"((?:Dr\.?|Doctor|Professor|Prof\.?|Nurse|Sister|Mr\.?|Mrs\.?|Ms\.?)\s+)?([A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){0,2})"
# Words that follow "I'm" with a capital letter but are not names.
_NOT_NAMES = frozenset("Sorry Sure Not Just So Here Going Glad Happy Really Very Also Still Afraid Back English "
                       "British American Canadian Australian Irish Scottish Welsh Catholic Christian Muslim Jewish "
                       "Okay OK Fine Good Great Well Dr Doctor Professor Prof Nurse Sister Mr Mrs Ms".split())
_SELF = re.compile(r"\b(?:I'?m|I am|my name is|my name's)\s+(?:your host,?\s+|the host,?\s+)?" + _NAME)
_GUEST = re.compile(r"\b(?:my guests? (?:today|this week|tonight) (?:is|are)|joining me (?:today |now )?(?:is|are)"
                    r"|I'?m joined by|I'?m here with|I'?m talking (?:to|with)|please welcome)\s+" + _NAME)
_WELCOME = re.compile(r"\bwelcome(?: to the (?:show|programme|program|podcast))?,\s+" + _NAME)


def label_segments(segments: Sequence[Segment], turns: Sequence[TurnLike]) -> tuple[Segment, ...]:
    """Each segment labelled "Speaker N" by the turn it overlaps most; a segment whose words fall in
    different turns is split there (word timings), so a reply inside one Whisper segment gets its own."""
    if not turns:
        return tuple(segments)
    order: dict[int, int] = {}
    for turn in sorted(turns, key=lambda t: t.start):
        order.setdefault(turn.speaker, len(order) + 1)
    out: list[Segment] = []
    for seg in segments:
        if seg.speaker:  # a publisher's own label wins
            out.append(seg)
            continue
        pieces = _split_by_turns(seg, turns) if seg.words else [(seg, _label(seg.start, seg.end, turns))]
        out.extend(replace(piece, speaker=UNNAMED.format(n=order[label]) if label is not None else None)
                   for piece, label in pieces)
    return tuple(out)


def _label(start: float, end: float, turns: Sequence[TurnLike]) -> int | None:
    overlap: Counter[int] = Counter()
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] += shared
    if overlap:
        return overlap.most_common(1)[0][0]
    # No overlap (a segment in a gap the diarizer skipped): the nearest turn.
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t.start - middle), abs(t.end - middle))).speaker


def _split_by_turns(seg: Segment, turns: Sequence[TurnLike]) -> list[tuple[Segment, int | None]]:
    labels = [_label(w.start, w.end, turns) for w in seg.words]
    runs: list[tuple[list[Word], int | None]] = []
    for word, label in zip(seg.words, labels):
        if runs and runs[-1][1] == label:
            runs[-1][0].append(word)
        else:
            runs.append(([word], label))
    # A run of one or two words is more likely a misplaced window than a reply: it joins its neighbour.
    merged: list[tuple[list[Word], int | None]] = []
    for words, label in runs:
        if merged and (len(words) <= 2 or len(merged[-1][0]) <= 2):
            merged[-1] = (merged[-1][0] + words, merged[-1][1] if len(merged[-1][0]) > 2 else label)
        else:
            merged.append((words, label))
    if len(merged) == 1:
        return [(seg, merged[0][1])]
    return [(replace(seg, start=w[0].start, end=w[-1].end, text=" ".join(x.text.strip() for x in w), words=tuple(w)),
             label) for w, label in merged]


def name_speakers(segments: Sequence[Segment], persons: Sequence[Person] = (),
                  renames: Mapping[str, str] | None = None) -> tuple[Segment, ...]:
    """"Speaker N" labels replaced by names the episode gives; `renames` (a user's) win over evidence."""
    labels = [s.speaker for s in segments]
    unnamed = {label for label in labels if label and re.fullmatch(UNNAMED.format(n=r"\d+"), label)}
    names: dict[str, str] = {}
    for i, seg in enumerate(segments):
        if seg.speaker not in unnamed:
            continue
        # Whisper often ends a sentence after a title ("my guest today is Dr." | "Amara Okafor, ..."):
        # read on into the same speaker's next segment.
        text = seg.text
        if i + 1 < len(segments) and segments[i + 1].speaker == seg.speaker:
            text = f"{text} {segments[i + 1].text}"
        for match in _SELF.finditer(text):
            name = _clean(match)
            if name and seg.speaker not in names:
                names[seg.speaker] = name
        for pattern in (_GUEST, _WELCOME):
            for match in pattern.finditer(text):
                name = _clean(match)
                other = _next_other(segments, i)
                if name and other in unnamed and other not in names:
                    names[other] = name
    _names_from_persons(segments, unnamed, names, persons)
    names.update({k: v for k, v in (renames or {}).items() if v.strip()})
    taken: set[str] = set()
    final: dict[str, str] = {}
    for label, name in names.items():
        if name not in taken:  # two voices never share one name
            final[label] = name
            taken.add(name)
    return tuple(replace(s, speaker=final[s.speaker]) if s.speaker in final else s for s in segments)


def _clean(match: re.Match[str]) -> str | None:
    title, name = match.group(1) or "", match.group(2)
    words = name.split()
    while words and words[-1] in _NOT_NAMES:
        words.pop()
    if not words or words[0] in _NOT_NAMES:
        return None
    return (title.strip() + " " if title else "") + " ".join(words)


def _next_other(segments: Sequence[Segment], i: int) -> str | None:
    for seg in segments[i + 1 :]:
        if seg.speaker and seg.speaker != segments[i].speaker:
            return seg.speaker
    return None


def _names_from_persons(segments: Sequence[Segment], unnamed: set[str], names: dict[str, str],
                        persons: Sequence[Person]) -> None:
    # The feed's roles: the host speaks first; a lone guest is the one other voice. Only where both
    # sides are unambiguous, and never over a name the episode itself gave.
    hosts = [p.name for p in persons if (p.role or "host").lower() == "host"]
    guests = [p.name for p in persons if (p.role or "").lower() == "guest"]
    order = list(dict.fromkeys(s.speaker for s in segments if s.speaker in unnamed))
    if len(hosts) == 1 and order and order[0] not in names and hosts[0] not in names.values():
        names[order[0]] = hosts[0]
    rest = [label for label in order[1:] if label not in names]
    if len(guests) == 1 and len(order) == 2 and rest and guests[0] not in names.values():
        names[rest[0]] = guests[0]
