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
    r"|thanks to (our|this week'?s|today'?s) sponsor|we have (a|one|two|three|four|\d+) sponsors?"
    r"|(mention|thank|thanks to) our (friends|partners) at|for sponsoring (this|the|our) (episode|show|podcast))",
    re.IGNORECASE,
)
# Said in jest as often as in earnest ("This episode brought to you by Open AI."): such a cue opens a read
# only when the read goes on to an offer, an address or a code.
_WEAK_START = re.compile(r"^(?!.*\bour (friends|partners) at\b).*\b(brought to you by|sponsored by)\b",
                         re.IGNORECASE | re.DOTALL)
# What an ad keeps saying: offers, codes, addresses.
_SPONSOR_SIGNAL = re.compile(
    r"(\bpromo(tion(al)?)? code\b|\buse (the )?code\b|\d+ ?(%|percent) off\b|\bfree trial\b|\bsign up\b|\bdot com\b"
    r"|\w\.(com|org|co|io)\b|\bvisit\b|\bgo to\b|\bdiscount\b|\boffer\b|\bsubscription\b|\bfirst (month|order)\b"
    r"|\bterms apply\b)",
    re.IGNORECASE,
)
_SPONSOR_END = re.compile(
    r"\b(back to (the|our|my) (show|conversation|interview|episode|guest)|now,? back to|and now,? back"
    r"|let'?s get back|on with the show)\b|^\W*(anyway|anyways)\b",
    re.IGNORECASE,
)
# The show resuming ("Alright, we're back with Max Howell."): the read ended before it.
_RESUME = re.compile(r"^\W*((alright|all right|ok(ay)?|so|and)\W+)?(we'?re|we are|i'?m) back\b", re.IGNORECASE)
# The shape of a read with no cue words: an address (site.com/show, "dot com slash") near an offer.
_ADDRESS = re.compile(r"\b[\w-]+(\.|\s+dot\s+)(com|org|net|io|co|fm|tv|ai|dev|app|example)\b"
                      r"(?:(/|\s+slash\s+)[\w+%-]+)?", re.IGNORECASE)
_OFFER = re.compile(
    r"(\$\s?\d|\b\d+ (bucks|dollars|euros|pounds)\b|\b(a|per) (month|year)\b|/\s?(month|year|mo|yr)\b"
    r"|\b\d+ ?(%|percent) off\b|\bfree (trial|month|shipping)\b|\bpromo(tion(al)?)? code\b|\buse (the )?code\b"
    r"|\bdiscount\b|\bad-free\b|\bsubscrib(ed|ers?)\b|\bmembership\b|\btell them\b.{0,30}\bsent you\b"
    r"|\b(months?|weeks?|days?) free\b|\b(try it|get it) free\b|\bfree for \w+ (days|weeks|months)\b"
    r"|\bfirst (month|order|box)\b|\bterms apply\b)",
    re.IGNORECASE,
)
# A read's other sentences keep to its vocabulary: offers, supporting, ads, bonuses, its product's name.
_AD_WORDS = re.compile(r"\b(support(ing)? (us|the show|these)|ads?|bonus|sponsor(s|ing|ed)?|sign up|check (it|them) out"
                       r"|members?|money|price|offer|deal)\b", re.IGNORECASE)
READ_WINDOW = 30.0  # seconds: an address and an offer this close make a read
READ_TAIL_WORDS = 6  # short closing words after the last ad-like sentence ("Dig in.") still belong to it
READ_TAIL = 6.0
READ_MERGE = 15.0  # seconds: two reads this close, banter between, are one
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
    _mark_shaped_reads(segments, kinds)
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
                          or _RESUME.search(seg.text)
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
        # A cue said in jest opens no read: nothing after it offers, addresses or codes anything.
        if _WEAK_START.search(segments[i].text) and not any(
                _SPONSOR_SIGNAL.search(t) or _OFFER.search(t) or _ADDRESS.search(t)
                for t in (segments[k].text for k in range(i, j))):
            for k in range(i, j):
                kinds[k] = SPEECH
        i = max(j, i + 1)


def _mark_shaped_reads(segments: Sequence[Segment], kinds: list[str]) -> None:
    """Reads with no cue words, found by their shape: an offer said by one voice within READ_WINDOW of an
    address. A read runs back over that voice's sentences in its vocabulary (the product's name
    included) and on over a few short closing words, to a question or a return ("anyway"); reads a few
    seconds apart are one read with banter inside."""
    address = [bool(_ADDRESS.search(s.text)) for s in segments]
    offer = [bool(_OFFER.search(s.text)) for s in segments]
    reads: list[tuple[int, int]] = []
    for n in range(len(segments)):
        if not (address[n] or offer[n]) or kinds[n] != SPEECH or (reads and reads[-1][1] >= n):
            continue
        first, last = _extend(segments, kinds, n, address, offer)
        if _near(segments, range(first, last + 1), address, offer) or _near(segments, range(first, last + 1),
                                                                            offer, address):
            reads.append((first, last))
    merged: list[tuple[int, int]] = []
    for first, last in reads:
        if merged and segments[first].start - segments[merged[-1][1]].end <= READ_MERGE:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    for first, last in merged:
        for k in range(first, last + 1):
            if kinds[k] == SPEECH:
                kinds[k] = SPONSOR


def _near(segments: Sequence[Segment], read: range, has: list[bool], wanted: list[bool]) -> bool:
    """True when a sentence of `read` with `has` is within READ_WINDOW of one with `wanted`, one voice."""
    return any(has[i] and wanted[k] and segments[k].speaker == segments[i].speaker
               and abs(segments[k].start - segments[i].start) <= READ_WINDOW
               for i in read for k in range(len(segments)))


def _extend(segments: Sequence[Segment], kinds: list[str], n: int, address: list[bool],
            offer: list[bool]) -> tuple[int, int]:
    """The sentences around `n` that belong to its read (same voice, its vocabulary, no question)."""
    products = [p for k in range(max(0, n - 3), min(len(segments), n + 4)) if address[k]
                for p in _products(segments[k].text)]
    speaker = segments[n].speaker

    def in_read(k: int) -> bool:
        text = segments[k].text
        return (address[k] or offer[k] or bool(_AD_WORDS.search(text)) or bool(_SPONSOR_SIGNAL.search(text))
                or any(p.search(text) for p in products))

    def joins(k: int) -> bool:
        return segments[k].speaker == speaker and kinds[k] == SPEECH and not _is_question(segments[k].text)

    first = last = n
    while first > 0 and joins(first - 1) and in_read(first - 1):
        first -= 1
    while (last + 1 < len(segments) and joins(last + 1) and not _SPONSOR_END.search(segments[last + 1].text)
           and (in_read(last + 1) or (len(segments[last + 1].text.split()) <= READ_TAIL_WORDS
                                      and segments[last + 1].start - segments[last].end <= READ_TAIL))):
        last += 1
    return first, last


def _products(text: str) -> list[re.Pattern[str]]:
    """What the read sells, from its address: the path ("changelog.com/++" -> "++", "plus plus"), else
    the site ("fastly.com" -> "fastly")."""
    out = []
    for m in _ADDRESS.finditer(text):
        name = m.group(0)
        path = re.split(r"/|\s+slash\s+", name, maxsplit=1)
        word = path[1] if len(path) > 1 else re.split(r"\.|\s+dot\s+", name)[0]
        if word == "++":
            out.append(re.compile(r"\+\+|plus[ -]plus", re.IGNORECASE))
        elif len(word) > 2:
            out.append(re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE))
    return out


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
