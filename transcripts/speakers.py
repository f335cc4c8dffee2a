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
# Words that follow "I'm" with a capital letter but are not names ("Oh, I'm July." answers "I got married in
# August"; months and days are never a speaker's name).
_NOT_NAMES = frozenset("Sorry Sure Not Just So Here Going Glad Happy Really Very Also Still Afraid Back English "
                       "British American Canadian Australian Irish Scottish Welsh Catholic Christian Muslim Jewish "
                       "Okay OK Fine Good Great Well Dr Doctor Professor Prof Nurse Sister Mr Mrs Ms "
                       "January February March April May June July August September October November December "
                       "Monday Tuesday Wednesday Thursday Friday Saturday Sunday Today Tomorrow Yesterday "
                       "In On At From Not Only Always Never Now Then Done Ready Fine Right Wrong Like "
                       "Speaker Host Guest Everyone Everybody God It This That There He She They We You What "
                       "Which Who Everything Nothing Something Someone Anyone Tonight And But Or Our My "
                       "Your Their His Her The A An".split())
# The words leading to a name are matched case-blind ("My guest is" opens a sentence as often as not); the
# name itself must be capitalised.
_SELF = re.compile(r"\b(?i:I'?m|I am|my name is|my name's)\s+(?i:your host,?\s+|the host,?\s+)?" + _NAME)
_GUEST_LEAD = (r"(?:my|our) guests?(?: today| this week| tonight| on the show)?(?:'s| is| are)"
               r"|joining (?:me|us)(?: today| now| here)?(?: on the (?:line|phone)| in the studio| remotely"
               r"| on a video call| from [a-z ]{1,30}?)? (?:is|are)"
               r"|(?:I'?m|I am|we'?re|we are)(?: also)?(?: joined| here)(?: today| now| again)?(?: by| with)"
               r"|(?:I'?m|I am|we'?re|we are) (?:talking|speaking)(?: today| now)?(?: about [^.?!]{1,80}?)? (?:to|with)"
               r"|please welcome|with me (?:today |now |here )?(?:is|are)")
_GUEST = re.compile(r"\b(?i:" + _GUEST_LEAD + r")\s+" + _NAME)
# An introduction Whisper cut before the name ("... today I am joined by Dr." | "Amara Okafor, a ...").
_DANGLING = re.compile(r"\b(?i:" + _GUEST_LEAD + r")(?:\s+(?:Dr\.?|Doctor|Professor|Prof\.?|Nurse|Sister))?\s*$")
# "with Dr. NAME, a psychiatrist", "talking about burnout with NAME, who coordinates ...": a name set off
# by its role.
_WITH_ROLE = re.compile(r"\b(?i:with)\s+" + _NAME + r",\s+(?i:a|an|the|who|our|from|head|founder)\b")
# "my guests are NAME, a chaplain, and Dr. NAME from ...": every capitalised name of the list, in order.
_GUEST_LIST = re.compile(r"\b(?i:(?:my|our) guests(?: today| this week| tonight| on the show)? (?:are|include)"
                         r"|I have (?:two|three) guests(?: today)?(?::|,)?)\s+((?:(?:Dr|Prof|Mr|Mrs|Ms)\.|[^.?!])+)")
# "Marcus Lee is a ward pharmacist", "Claire is with me in the studio, and Omar is joining us ...".
_IS_ROLE = re.compile(r"(?:^|[.,;!?]\s+|\band\s+)" + _NAME + r"(?:\s+is|['’]s)\s+(?:a|an|our|with (?:me|us)"
                      r"|joining (?:me|us)|here with)\b")
_WELCOME = re.compile(r"\b(?i:welcome(?: to the (?:show|programme|program|podcast))?),\s+" + _NAME)


def introduces_someone(text: str) -> bool:
    """True when `text` introduces a person by name: the speaker themself ("I'm Helen Park") or a guest
    ("my guest is Priya", "joining us is Dr Peter Novak", "welcome, Tomasz")."""
    return any(_clean(m) for pattern in (_SELF, _GUEST, _WELCOME) for m in pattern.finditer(text)) \
        or bool(_introduced(text))


# What a show calls itself ("Welcome to Safety Huddle", "This is The Staff Room") is no guest.
_SHOW = re.compile(r"\b(?i:welcome to|welcome back to|this is|you'?re listening to)\s+(?:(?i:the)\s+)?"
                   r"([A-Z][A-Za-z'’-]+(?:\s+[A-Z][A-Za-z'’-]+){0,3})")


def _introduced(text: str, following: str = "") -> list[str]:
    """The people a host introduces in one turn, in the order they are named: "my guest is A", "joined by
    Dr B", "with C, a psychiatrist", "my guests are D, a chaplain, and Dr E", "F is a ward pharmacist".

    `following` is the next turn's text: a name Whisper cut off an introduction ("joined by Dr." |
    "Amara Okafor") is read on from it.
    """
    if following and _DANGLING.search(text):
        text = f"{text} {' '.join(following.split()[:4])}"
    shows = {m.group(1) for m in _SHOW.finditer(text)}
    found: list[tuple[int, str]] = []
    for pattern in (_GUEST, _WELCOME, _WITH_ROLE, _IS_ROLE):
        found.extend((m.start(2), name) for m in pattern.finditer(text) if (name := _clean(m)))
    for m in _GUEST_LIST.finditer(text):
        for piece in re.finditer(r"(?:^|,\s*(?:and\s+)?|\s+and\s+)" + _NAME, m.group(1)):
            name = _clean(piece)
            if name:
                found.append((m.start(1) + piece.start(2), name))
    out: list[str] = []
    for _, name in sorted(found):
        if not any(set(_key(name).split()) <= set(_key(show).split()) for show in shows) \
                and all(_key(name) != _key(o) for o in out):
            out.append(name)
    return out


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
    # No overlap (a segment in a gap the diarizer skipped, or a zero-length word): the turn it is in, else
    # the nearest one.
    middle = (start + end) / 2
    return min(turns, key=lambda t: 0.0 if t.start <= middle <= t.end
               else min(abs(t.start - middle), abs(t.end - middle))).speaker


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
    return [(seg.piece(w), label) for w, label in merged]


def name_speakers(segments: Sequence[Segment], persons: Sequence[Person] = (),
                  renames: Mapping[str, str] | None = None, candidates: Sequence[str] = ()) -> tuple[Segment, ...]:
    """"Speaker N" labels replaced by names the episode gives; `renames` (a user's) win over evidence.

    `candidates` (the feed's names for the episode, see `feed_candidates`; `persons` count too) lend
    their spelling to a name Whisper misheard, and name a voice the host introduces by a candidate's
    name when the introduction itself is garbled; a candidate nobody in the episode names stays unused.
    A label that introduces itself as two different people (two voices the diarizer merged) is named
    by nothing but a rename.
    """
    labels = [s.speaker for s in segments]
    unnamed = {label for label in labels if label and re.fullmatch(UNNAMED.format(n=r"\d+"), label)}
    turns = _turns(segments)
    # Whom each voice introduces; those names join the feed's as candidates (the feed's spelling first),
    # so a host's "my guests are A and B" names the new voices in the order they first speak.
    intro = [_introduced(text, turns[i + 1][1] if i + 1 < len(turns) else "") if label in unnamed else []
             for i, (label, text) in enumerate(turns)]
    pool = _pool([*(p.name for p in persons), *candidates, *(name for names in intro for name in names)])
    opens: dict[str | None, int] = {}  # each voice's first turn
    for i, (label, _) in enumerate(turns):
        opens.setdefault(label, i)
    names: dict[str, str] = {}
    # Self-introductions first: a voice's own word about its name beats anyone else's.
    said: dict[str, list[str]] = {}
    for label, text in turns:
        if label in unnamed:
            first = label not in said
            said.setdefault(label, []).extend(_self_names(text, pool, first_turn=first))
    addressed = _addressed(turns, unnamed)
    for label, heard in said.items():
        if heard and any(not _same_first(heard[0], other) for other in addressed.get(label, ())):
            # Called by another first name than the one it gave ("I'm Captain Chaos" ... "thanks, Tom"):
            # a joke sign-on, or two voices merged; either way no name is sure.
            names[label] = label
        elif any(not _same_person(heard[0], other) for other in heard[1:]):
            # One label introducing two people ("I'm Rachel Moreno" ... "I'm David Osei") is two voices
            # the diarizer merged: any one name would be wrong for the other's speech, so it keeps its
            # "Speaker N" (held in `names`, so no later rule names it).
            names[label] = label
        elif heard:
            names[label] = heard[0]
    for i, (label, text) in enumerate(turns):
        if label not in unnamed:
            continue
        own = [name for name in intro[i] if not _claimed(name, said.get(label, ()))]
        # Other candidates named in the same turn ("Marcus Lee ... and joining us is Dr Peter Novak") make
        # it several: the mentions below give them out in the order the voices first speak.
        also = [c for c in _mentions(text, pool) if not _claimed(c, said.get(label, ()))
                and not any(_same_person(c, o) for o in own)]
        if len(own) == 1 and not also:
            other = next((t[0] for t in turns[i + 1:] if t[0] != label), None)
            # Only a voice that has not spoken yet is being introduced ("Tom is a great listener" is not).
            name = _resolve(own[0], pool)
            if other in unnamed and other not in names and opens[other] > i \
                    and not any(_same_person(name, n) for n in names.values()):
                names[other] = name
        # A guest's "thanks, Tom" names the voice before it, when a candidate carries that name.
        address = _ADDRESS.match(text)
        if address and i > 0 and turns[i - 1][0] in unnamed and turns[i - 1][0] not in names:
            found = _by_first_name(address.group(1), pool)
            if found and found not in names.values():
                names[turns[i - 1][0]] = found
    _names_from_mentions(turns, unnamed, names, pool, said)
    if all(names.get(label) != label for label in unnamed):  # a merged voice: the roles can't be laid out
        _names_from_persons(segments, unnamed, names, persons)
    names.update({k: v for k, v in (renames or {}).items() if v.strip()})
    taken: set[str] = set()
    final: dict[str, str] = {}
    for label, name in names.items():
        if name != label and name not in taken:  # two voices never share one name
            final[label] = name
            taken.add(name)
    return tuple(replace(s, speaker=final[s.speaker]) if s.speaker in final else s for s in segments)


_TITLE_WORDS = frozenset("dr dr. doctor professor prof prof. nurse sister mr mr. mrs mrs. ms ms.".split())
# A heard name and a candidate at least this similar (rapidfuzz ratio, 0-100, lower case, titles
# aside) are the same name. On the dev set Whisper's mishearings of names score 58-96 against the
# right candidate ("Bracea Gany" / "Grace Adeyemi" 58, "not had that" / "Noor Haddad" 61) and at
# most 50 against any other name of the feed: 55 sits between.
MATCH = 55.0
# A name mentioned in passing is matched more strictly (it is searched for in every window of a
# turn): "Marcus Lees" / "Marcus Lee" 95, "Peter Novick" / "Peter Novak" 87.
MENTION = 80.0
# A first name alone ("Thanks, Tom"; "Omar is joining us") must be (nearly) exact.
FIRST = 90.0
_ADDRESS = re.compile(r"\s*(?i:thanks|thank you|hi|hello|hey)\s*,?\s+([A-Z][a-z'’-]+)\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SELF_AT = re.compile(r"\b(?:I'?m|I am|my name is|my name's)\s+")


def feed_candidates(persons: Sequence[Person] = (), description: str | None = None) -> tuple[str, ...]:
    """Names the feed gives for an episode: its `podcast:person` names (any role), then capitalised
    names (two to four words, a title such as "Dr" kept) in its description or show notes."""
    found = [p.name for p in persons]
    text = re.sub(r"<[^>]+>", " ", description or "")
    for sentence in re.split(r"(?<=[.!?;:])\s+", text):
        for match in re.finditer(r"(?:[A-Z][A-Za-z'’-]*\.?\s+){1,3}[A-Z][A-Za-z'’-]+", sentence):
            words = match.group(0).split()
            titled = [i for i, w in enumerate(words) if w.lower() in _TITLE_WORDS]
            if titled:
                words = words[titled[0]:]
            elif match.start() == 0 and len(words) > 2:
                words = words[1:]  # "Oncologist Amara Okafor": the sentence's first word is likely a job
            if len([w for w in words if w.lower() not in _TITLE_WORDS]) >= 2:
                found.append(" ".join(words))
    return tuple(_pool(found))


def _key(name: str) -> str:
    return " ".join(w for w in name.lower().replace(",", " ").split() if w not in _TITLE_WORDS)


def _pool(names: Sequence[str]) -> list[str]:
    """Candidates without repeats (the same name with or without a title is one; the first spelling wins)."""
    out: dict[str, str] = {}
    for name in names:
        name = " ".join(name.split())
        if _key(name):
            out.setdefault(_key(name), name)
    return list(out.values())


def _best(heard: str, pool: Sequence[str], threshold: float) -> str | None:
    from rapidfuzz import fuzz

    scored = [(fuzz.ratio(_key(heard), _key(c)), c) for c in pool]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= threshold else None


def _by_first_name(word: str, pool: Sequence[str]) -> str | None:
    from rapidfuzz import fuzz

    # Full names only: a first name heard alone (a candidate too, when a host gave just that) names no one new.
    hits = [c for c in pool if len(_key(c).split()) > 1 and fuzz.ratio(word.lower(), _key(c).split()[0]) >= FIRST]
    return hits[0] if len(hits) == 1 else None  # two candidates called Tom: no telling which


def _resolve(heard: str, pool: Sequence[str]) -> str:
    """The candidate's spelling of a heard name, else the name as heard (never a shorter one: a first
    name the host gave does not cut the surname the guest said)."""
    if len(_key(heard).split()) == 1:
        return _by_first_name(_key(heard), pool) or heard
    found = _best(heard, [c for c in pool if len(_key(c).split()) > 1], MATCH)
    return found or heard


def _same_first(a: str, b: str) -> bool:
    """True when names `a` and `b` share their first name (nearly: Whisper's spelling varies)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(_key(a).split()[0], _key(b).split()[0]) >= FIRST if _key(a) and _key(b) else True


def _addressed(turns: Sequence[tuple[str | None, str]], unnamed: set[str]) -> dict[str, list[str]]:
    """The first names each voice is called by at the start of the next voice's turn ("Thanks, Tom")."""
    out: dict[str, list[str]] = {}
    for i in range(1, len(turns)):
        match = _ADDRESS.match(turns[i][1])
        label = turns[i - 1][0]
        if match and label in unnamed and turns[i][0] != label and match.group(1) not in _NOT_NAMES \
                and not re.match(r"I['’]", match.group(1)):  # "Hello, I'm Claire" addresses no one
            out.setdefault(label, []).append(match.group(1))
    return out


def _same_person(a: str, b: str) -> bool:
    """Two heard names that may be one person's: equal, close, or one is the other's first name."""
    from rapidfuzz import fuzz

    ka, kb = _key(a).split(), _key(b).split()
    if min(len(ka), len(kb)) == 1:
        return fuzz.ratio(ka[0], kb[0]) >= FIRST
    return fuzz.ratio(" ".join(ka), " ".join(kb)) >= MATCH


# Words that open a phrase after "I'm" that is no name ("I'm a charge nurse", "I'm the host").
_NOT_A_NAME_START = frozenset("a an the my your our his her their this that so also just really very here "
                              "going afraid sure glad happy doing".split())
_CLAUSE_END = re.compile(r"\s*(?:[.,;!?]|$)")


def _self_names(text: str, pool: Sequence[str], first_turn: bool) -> list[str]:
    """The names a turn's speaker gives for themself, in order."""
    out = []
    for match in _SELF.finditer(text):
        name = _clean(match)
        if name:
            out.append(_resolve(name, pool))
    if out or not first_turn:
        return out
    # "And I'm not had that": no capital letters left, but the words after "I'm" may still sound like
    # a candidate. Only a candidate's name is ever given this way, and only where an introduction
    # sits: in the first sentence or two of the voice's first turn, the words ending the clause
    # ("I'm not that bad." later on, or "I'm not that bad at it", names nobody).
    for at in _SELF_AT.finditer(text):
        if len(_WORD.findall(text[:at.start()])) > 12:
            break
        words = list(_WORD.finditer(text, at.end()))[:3]
        if not words or words[0].group(0).lower() in _NOT_A_NAME_START:
            continue
        for n in (3, 2):
            if len(words) >= n and _CLAUSE_END.match(text, words[n - 1].end()):
                found = _best(" ".join(w.group(0) for w in words[:n]), pool, MATCH)
                if found:
                    return [found]
    return []


def _turns(segments: Sequence[Segment]) -> list[tuple[str | None, str]]:
    """Runs of one speaker's segments as (label, their text joined): a sentence Whisper cut after a
    title ("my guest today is Dr." | "Amara Okafor") reads on."""
    out: list[tuple[str | None, str]] = []
    for seg in segments:
        if out and out[-1][0] == seg.speaker:
            out[-1] = (seg.speaker, f"{out[-1][1]} {seg.text.strip()}")
        else:
            out.append((seg.speaker, seg.text.strip()))
    return out


def _mentions(text: str, pool: Sequence[str]) -> list[str]:
    """Candidates named in `text` (the full name, nearly, or the first name alone, capitalised), in order."""
    from rapidfuzz import fuzz

    words = list(_WORD.finditer(text))
    found: list[tuple[int, str]] = []
    for cand in pool:
        parts = _key(cand).split()
        at = None
        for i in range(len(words)):
            window = " ".join(w.group(0) for w in words[i:i + len(parts)])
            if len(parts) > 1 and fuzz.ratio(window.lower(), " ".join(parts)) >= MENTION:
                at = words[i].start()
                break
            word = words[i].group(0)
            if word[0].isupper() and fuzz.ratio(word.lower(), parts[0]) >= FIRST:
                at = words[i].start()
                break
        if at is not None:
            found.append((at, cand))
    # A first name the host gave ("Omar") and the feed's full name ("Omar Siddiqui") are one candidate.
    names = [c for _, c in sorted(found)]
    return [c for c in names if not any(d != c and _key(d).split()[:1] == _key(c).split() for d in names)]


def _claimed(name: str, own: Sequence[str]) -> bool:
    """True when `name` is one the speaker gave for themself (a merged label's own people included)."""
    return any(_same_person(name, mine) for mine in own)


def _names_from_mentions(turns: Sequence[tuple[str | None, str]], unnamed: set[str], names: dict[str, str],
                         pool: Sequence[str], said: Mapping[str, Sequence[str]]) -> None:
    # A turn that names candidates before new voices first speak ("Marcus Lee ... and joining us on
    # the line is Dr. | Peter Novick"; "Claire is with me ..., and Omar is joining us") introduces
    # them: the candidates not yet anyone's go to the voices not yet named, in the order those voices
    # first speak before the introducer speaks again.
    first: dict[str | None, int] = {}
    for i, (label, _) in enumerate(turns):
        first.setdefault(label, i)
    for i, (label, text) in enumerate(turns):
        if label not in unnamed:
            continue
        mentioned = [c for c in _mentions(text, pool) if not any(_same_person(c, n) for n in names.values())
                     and not _claimed(c, said.get(label, ()))]
        if not mentioned:
            continue
        new: list[str] = []
        for other, _ in turns[i + 1:]:
            if other == label:
                break
            if other in unnamed and first[other] > i and other not in names and other not in new:
                new.append(other)
        for other, cand in zip(new, mentioned):
            names[other] = cand


def _clean(match: re.Match[str]) -> str | None:
    title, name = match.group(1) or "", match.group(2)
    words = name.split()
    if words:
        words[-1] = re.sub(r"['’]s$", "", words[-1])  # "Marcus Lee's a ward pharmacist"
    while words and words[-1] in _NOT_NAMES:
        words.pop()
    if not words or words[0] in _NOT_NAMES:
        return None
    return (title.strip() + " " if title else "") + " ".join(words)


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
