"""What each stretch of an episode is: the conversation itself, a sponsor read, the intro or the outro.

Marked on the transcript's segments (`Segment.kind`), so it is kept in every export and the index can
leave sponsor reads out of search and weigh introductions below answers. The cues are the phrases
hosts use to open and close these parts; they work on Whisper's text and on publisher transcripts
alike, and where speaker labels exist a change of speaker also ends a sponsor read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from podsearch.core.records import KINDS, Segment

SPEECH, SPONSOR, INTRO, OUTRO = KINDS

_SPONSOR_START = re.compile(
    r"\b(brought to you by|sponsored by|(today'?s|our|this week'?s) sponsors?\b|a word from (our|this week'?s) sponsors?"
    r"|(support|funding) for (this|the) (episode|show|podcast) comes from|this (episode|show|podcast) is supported by"
    r"|thanks to (our|this week'?s|today'?s) sponsor)",
    re.IGNORECASE,
)
# What an ad keeps saying: offers, codes, addresses.
_SPONSOR_SIGNAL = re.compile(
    r"(\bpromo(tion(al)?)? code\b|\buse (the )?code\b|\d+ ?(%|percent) off\b|\bfree trial\b|\bsign up\b|\bdot com\b"
    r"|\w\.(com|org|co|io)\b|\bvisit\b|\bgo to\b|\bdiscount\b|\boffer\b|\bsubscription\b|\bfirst (month|order)\b"
    r"|\bterms apply\b)",
    re.IGNORECASE,
)
_SPONSOR_END = re.compile(
    r"\b(back to (the|our|my) (show|conversation|interview|episode|guest)|now,? back to|and now,? back"
    r"|let'?s get back|on with the show)\b",
    re.IGNORECASE,
)
_INTRO = re.compile(
    r"\b(welcome (back )?to|i'?m your host|you'?re listening to|this is (episode|the)|my guests? (today|this week)"
    r"|on today'?s (episode|show)|today,? (we'?re|we are|i'?m|i am|we have|i have) (talking|joined|speaking|two|three|a guest)"
    r"|joining me|with me (today|now) (is|are))",
    re.IGNORECASE,
)
# A guest's reply to the welcome belongs to the introduction too.
_GREETING = re.compile(
    r"\b(thanks? (you )?(so much )?for having me|(great|good|glad|happy|lovely) to be (here|with you|on)"
    r"|my pleasure|thanks? for (the|inviting)|pleasure to be)",
    re.IGNORECASE,
)
_OUTRO = re.compile(
    r"\b(thanks? (you )?(so much )?for listening|that'?s all for|see you next (time|week)|until next time"
    r"|(please )?subscribe|leave (us )?a review|join us next|next time on|that'?s (it|our show) for"
    r"|thank you (both )?(so much|very much) for (coming|joining|being)|to sum up|so,? to recap)",
    re.IGNORECASE,
)

INTRO_WITHIN = 90.0  # seconds: an introduction happens at the start
OUTRO_WITHIN = 90.0  # seconds before the end
# A sponsor read without a closing cue ends this long after its last ad-like sentence, or at this length.
SPONSOR_QUIET_AFTER = 20.0
SPONSOR_MAX = 120.0
SPONSOR_TAIL = 8.0  # seconds after the last ad-like sentence that still count as the read's closing words


def mark_kinds(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """`segments` with `kind` set: sponsor reads, the introduction, the outro; the rest is speech."""
    kinds = [SPEECH] * len(segments)
    _mark_sponsors(segments, kinds)
    _mark_intro(segments, kinds)
    _mark_outro(segments, kinds)
    return tuple(s if s.kind == k else replace(s, kind=k) for s, k in zip(segments, kinds))


def _mark_sponsors(segments: Sequence[Segment], kinds: list[str]) -> None:
    i = 0
    while i < len(segments):
        if not _SPONSOR_START.search(segments[i].text):
            i += 1
            continue
        start, reader, last_signal = segments[i].start, segments[i].speaker, segments[i].end
        j = i
        while j < len(segments):
            seg = segments[j]
            if j > i and ((reader and seg.speaker and seg.speaker != reader) or seg.end - start > SPONSOR_MAX
                          or seg.start - last_signal > SPONSOR_QUIET_AFTER
                          # The host turning to the guest with a question is the show again.
                          or (_is_question(seg.text) and not _SPONSOR_SIGNAL.search(seg.text))):
                break
            kinds[j] = SPONSOR
            if _SPONSOR_SIGNAL.search(seg.text):
                last_signal = seg.end
            j += 1
            if _SPONSOR_END.search(seg.text):
                break
        # Sentences well after the last ad-like one belong to the show, unless a closing cue ended the read.
        if j > i + 1 and not _SPONSOR_END.search(segments[j - 1].text):
            while j - 1 > i and segments[j - 1].start >= last_signal + SPONSOR_TAIL:
                j -= 1
                kinds[j] = SPEECH
        i = max(j, i + 1)


def _is_question(text: str) -> bool:
    return text.rstrip().rstrip('"”').endswith("?")


def _mark_intro(segments: Sequence[Segment], kinds: list[str]) -> None:
    if not segments:
        return
    t0 = segments[0].start
    last = -1
    for n, seg in enumerate(segments):
        if seg.start - t0 > INTRO_WITHIN:
            break
        if kinds[n] == SPEECH and (_INTRO.search(seg.text) or (n == last + 1 and last >= 0 and _GREETING.search(seg.text))):
            last = n
    # The introduction runs on through the rest of the host's opening turn, until a question is asked.
    host = segments[last].speaker if last >= 0 else None
    while (host and last + 1 < len(segments) and segments[last + 1].speaker == host and kinds[last + 1] == SPEECH
           and segments[last + 1].start - t0 <= INTRO_WITHIN and not _is_question(segments[last + 1].text)):
        last += 1
    for n in range(last + 1):
        if kinds[n] == SPEECH:
            kinds[n] = INTRO


def _mark_outro(segments: Sequence[Segment], kinds: list[str]) -> None:
    if not segments:
        return
    end = segments[-1].end
    for n, seg in enumerate(segments):
        if end - seg.start <= OUTRO_WITHIN and _OUTRO.search(seg.text) and kinds[n] == SPEECH:
            for m in range(n, len(segments)):
                if kinds[m] == SPEECH:
                    kinds[m] = OUTRO
            return
