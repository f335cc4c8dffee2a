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
from podsearch.transcripts.speakers import introduces_someone

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
    r"|joining me|with me (today|now) (is|are)|today'?s topic is|i have (two|three) guests|joining us"
    r"|let'?s start with introductions)",
    re.IGNORECASE,
)
# Asked, it hands the introduction to the guests ("Would you both introduce yourselves?"); said, it is
# advice ("use their name and introduce yourself").
_INTRODUCE = re.compile(r"\bintroduce (yourself|yourselves)\b", re.IGNORECASE)
# A reply that opens with a greeting ("Hi Rachel", "Thanks, Ian.") starts a guest's introduction.
_HELLO = re.compile(r"^\W*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b", re.IGNORECASE)
# A guest's reply to the welcome belongs to the introduction too.
_GREETING = re.compile(
    r"\b(thanks? (you )?(so much )?for having me|(great|good|glad|happy|lovely) to be (here|with you|on)"
    r"|my pleasure|thanks? for (the|inviting)|pleasure to be)",
    re.IGNORECASE,
)
_OUTRO = re.compile(
    r"\b(thanks? (you )?(so much )?for listening|that'?s all for|see you next (time|week)|until next time"
    r"|(please )?subscribe|leave (us )?a review|join us next|next time on|that'?s (it|our show) for"
    r"|thank you (both )?(so much|very much) for (coming|joining|being)|to sum up|so,? to recap"
    r"|this has been|you'?ve been listening|thank you both|have a (good|great|lovely) (week|day|weekend))"
    # "Dr Amara Okafor, thank you so much." closes the conversation with the guest.
    r"|,\s*thank you( both| so much| very much)?[.!]?\s*$",
    re.IGNORECASE,
)

INTRO_WITHIN = 90.0  # seconds: an introduction happens at the start
OUTRO_WITHIN = 90.0  # seconds before the end
RECAP_WITHIN = 30.0  # seconds: a host's summing-up before the closing thanks
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
        if kinds[n] == SPEECH and (_INTRO.search(seg.text) or introduces_someone(seg.text)
                                   or (_INTRODUCE.search(seg.text) and _is_question(seg.text))
                                   or (n == last + 1 and last >= 0 and _GREETING.search(seg.text))):
            last = n
    # The introduction runs on through the rest of the host's opening turn, until a question is asked.
    host = segments[last].speaker if last >= 0 else None
    while (host and last + 1 < len(segments) and segments[last + 1].speaker == host and kinds[last + 1] == SPEECH
           and segments[last + 1].start - t0 <= INTRO_WITHIN and not _is_question(segments[last + 1].text)):
        last += 1
    # Then each guest who answers it by greeting or saying who they are ("Hi Tom, I'm Helen Park, I run ...")
    # introduces themself: their whole turn, and the next guest's after it ("And I'm Noor Haddad").
    while host and last + 1 < len(segments) and kinds[last + 1] == SPEECH:
        first = last + 1
        guest = segments[first].speaker
        if not guest or guest == host or segments[first].start - t0 > INTRO_WITHIN:
            break
        end = first
        while end + 1 < len(segments) and segments[end + 1].speaker == guest and kinds[end + 1] == SPEECH:
            end += 1
        opening = " ".join(s.text for s in segments[first:min(end, first + 2) + 1])
        if not (_HELLO.search(segments[first].text) or introduces_someone(opening)):
            break
        last = end
    for n in range(last + 1):
        if kinds[n] == SPEECH:
            kinds[n] = INTRO


def _mark_outro(segments: Sequence[Segment], kinds: list[str]) -> None:
    if not segments:
        return
    end = segments[-1].end
    for n, seg in enumerate(segments):
        if end - seg.start <= OUTRO_WITHIN and _OUTRO.search(seg.text) and kinds[n] == SPEECH:
            # The host's summing-up in the same turn, just before the thanks, closes the show too: in a
            # conversation (another voice spoke before the turn), up to RECAP_WITHIN before the thanks.
            first = n
            while first > 0 and seg.speaker and segments[first - 1].speaker == seg.speaker:
                first -= 1
            if first > 0:
                while (n > first and kinds[n - 1] == SPEECH and seg.start - segments[n - 1].start <= RECAP_WITHIN
                       and not _is_question(segments[n - 1].text)):
                    n -= 1
            for m in range(n, len(segments)):
                if kinds[m] == SPEECH:
                    kinds[m] = OUTRO
            return
