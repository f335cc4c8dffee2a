"""Cut a transcript into passages on segment boundaries (pure functions)."""

from __future__ import annotations

from dataclasses import replace

from podsearch.core.records import SOUNDBITE, Passage, Segment, Transcript, Word


def split_long_segment(segment: Segment, max_words: int) -> list[Segment]:
    """Split a segment with more than `max_words` words into timed pieces.

    Publisher cues and long Whisper segments can exceed what the embedding
    model reads; word timings are used where known, else time is interpolated.
    """
    tokens = segment.text.split()
    if len(tokens) <= max_words:
        return [segment]
    words = list(segment.words) if len(segment.words) == len(tokens) else None
    pieces: list[Segment] = []
    span = max(segment.end - segment.start, 0.0)
    for i in range(0, len(tokens), max_words):
        chunk = tokens[i : i + max_words]
        if words:
            chunk_words: tuple[Word, ...] = tuple(words[i : i + max_words])
            # The first piece opens with the segment's lead, as sentence pieces do (`Segment.piece`).
            start = min(segment.start, chunk_words[0].start) if i == 0 else chunk_words[0].start
            end = chunk_words[-1].end
        else:
            chunk_words = ()
            start = segment.start + span * i / len(tokens)
            end = segment.start + span * min(i + max_words, len(tokens)) / len(tokens)
        pieces.append(replace(segment, start=start, end=end, text=" ".join(chunk), words=chunk_words))
    return pieces


def make_passages(
    transcript: Transcript,
    *,
    min_seconds: float = 20.0,
    max_seconds: float = 60.0,
    max_words: int = 170,
    overlap_segments: int = 1,
) -> list[Passage]:
    """Group consecutive segments into passages of about min..max seconds.

    Consecutive passages share `overlap_segments` segments so an answer that
    straddles a cut is still whole in one of them. A passage never exceeds
    `max_words` (the embedding model truncates past ~256 word pieces), and never
    mixes kinds: a sponsor read or the intro is a passage of its own.
    """
    segments = searchable_segments(transcript, max_words)
    if len({s.speaker for s in segments if s.speaker}) >= 2:
        return turn_passages(transcript, segments, min_seconds=min_seconds, max_seconds=max_seconds,
                             max_words=max_words, overlap_segments=overlap_segments)
    return window_passages(transcript, segments, min_seconds=min_seconds, max_seconds=max_seconds,
                           max_words=max_words, overlap_segments=overlap_segments)


def turn_passages(transcript: Transcript, segments: list[Segment], *, min_seconds: float, max_seconds: float,
                  max_words: int, overlap_segments: int) -> list[Passage]:
    """Passages that follow the conversation: each speaker's turn is one passage, opened by the
    question it answers (the other speaker's turn just before, when that ends with a question).

    A question is never a passage of its own, so it cannot outrank its answer; the question's words
    still help the answer's passage match a query phrased like it. A turn too long for one passage
    is cut into windows, the first of which keeps the question.
    """
    turns: list[tuple[int, int]] = []  # [first, last] segment index of each turn
    for n, seg in enumerate(segments):
        if turns and seg.speaker == segments[turns[-1][1]].speaker and seg.kind == segments[turns[-1][1]].kind:
            turns[-1] = (turns[-1][0], n)
        else:
            turns.append((n, n))
    # Where each turn's passage opens: at its own start, or earlier, at the question it answers.
    openings = [first for first, _ in turns]
    for t in range(1, len(turns)):
        (q_first, q_last), (first, last) = turns[t - 1], turns[t]
        if _is_question(segments[q_last].text) and segments[q_last].kind == segments[first].kind == "speech":
            opening = q_last  # the question's last sentences: as many as fit beside the answer's start
            while (opening > q_first and segments[min(last, first + 2)].end - segments[opening - 1].start <= max_seconds / 2
                   and _words(segments[opening - 1 : first + 1]) <= max_words // 3):
                opening -= 1
            openings[t] = opening
    passages: list[Passage] = []
    for t, (first, last) in enumerate(turns):
        # What the next turn's passage does not already carry of this one (all of it, for most turns).
        own_end = openings[t + 1] if t + 1 < len(turns) and openings[t + 1] <= last else last + 1
        begin = openings[t]
        if own_end <= first:
            continue  # a question carried whole by its answer's passage
        passages.extend(window_passages(transcript, segments, min_seconds=max_seconds, max_seconds=max_seconds,
                                        max_words=max_words, overlap_segments=overlap_segments,
                                        start=begin, stop=own_end))
    return passages


def _words(segments: list[Segment]) -> int:
    return sum(len(s.text.split()) for s in segments)


def _is_question(text: str) -> bool:
    return text.rstrip().rstrip('"”').endswith("?")


def window_passages(transcript: Transcript, segments: list[Segment], *, min_seconds: float, max_seconds: float,
                    max_words: int, overlap_segments: int, start: int = 0, stop: int | None = None,
                    merge_tail: bool = True) -> list[Passage]:
    """Consecutive segments [start, stop) in windows of about min..max seconds (see `make_passages`)."""
    stop = len(segments) if stop is None else stop
    passages: list[Passage] = []
    i = start
    while i < stop:
        j = i
        words = len(segments[i].text.split())
        while j + 1 < stop:
            nxt = segments[j + 1]
            duration = nxt.end - segments[i].start
            nxt_words = len(nxt.text.split())
            long_enough = segments[j].end - segments[i].start >= min_seconds
            if words + nxt_words > max_words or duration > max_seconds or long_enough or nxt.kind != segments[i].kind:
                break
            j += 1
            words += nxt_words
        passages.append(_passage(transcript, segments, i, j))
        if j + 1 >= stop:
            break
        # Step forward, keeping an overlap (not across a change of kind) but always making progress.
        i = j + 1 if segments[j + 1].kind != segments[j].kind else max(j + 1 - overlap_segments, i + 1)
    return _merge_short_tail(transcript, segments, passages, min_seconds, max_seconds, max_words) if merge_tail else passages


def _merge_short_tail(transcript: Transcript, segments: list[Segment], passages: list[Passage], min_seconds: float,
                      max_seconds: float, max_words: int) -> list[Passage]:
    # A last passage shorter than the minimum is folded into the one before when that still fits.
    if len(passages) < 2 or passages[-1].end - passages[-1].start >= min_seconds:
        return passages
    prev, tail = passages[-2], passages[-1]
    if prev.kind != tail.kind:
        return passages
    merged = _passage(transcript, segments, prev.first_segment, tail.last_segment)
    if merged.end - merged.start <= max_seconds and len(merged.text.split()) <= max_words:
        return passages[:-2] + [merged]
    return passages


def _passage(transcript: Transcript, segments: list[Segment], i: int, j: int) -> Passage:
    chosen = segments[i : j + 1]
    return Passage(
        guid=transcript.guid,
        key=transcript.id,
        show=transcript.show,
        episode=transcript.episode,
        start=chosen[0].start,
        end=chosen[-1].end,
        text=" ".join(s.text.strip() for s in chosen),
        source=transcript.source,
        published=transcript.published,
        audio_url=transcript.audio_url,
        link=transcript.link,
        first_segment=i,
        last_segment=j,
        flagged=all(s.flagged for s in chosen),
        kind=chosen[0].kind,
    )


def split_sentences(segment: Segment) -> list[Segment]:
    """Split a segment at sentence ends using its word timings.

    Whisper often returns 20-30 s segments of several sentences; cutting them
    lets a clip start at the sentence that answers, not at the segment's start.
    """
    words = segment.words
    if len(words) < 2 or " ".join(w.text.strip() for w in words).split() != segment.text.split():
        return [segment]
    pieces: list[Segment] = []
    current: list[Word] = []
    for word in words:
        current.append(word)
        if word.text.strip().endswith((".", "?", "!")):
            pieces.append(segment.piece(current))
            current = []
    if current:
        pieces.append(segment.piece(current))
    return pieces


# A segment of at most this many words that continues an unfinished sentence of the same voice joins it:
# Whisper sometimes gives a sentence one word per segment ("describe" "the" "behavior" ...), and a lone
# word embeds as noise, so no window of such fragments says the answer (issue 22, conversations set).
FRAGMENT_WORDS = 2


def ends_sentence(text: str) -> bool:
    """True when `text` ends a sentence (or a quotation that does)."""
    return text.rstrip().endswith((".", "?", "!", "…", '"', "”"))


def join_fragments(segments: list[Segment], max_words: int = 170) -> list[Segment]:
    """`segments` with each fragment (`FRAGMENT_WORDS` words or fewer) joined to the unfinished sentence
    it continues or that continues it: same speaker, kind and flag, never past `max_words`."""
    out: list[Segment] = []
    for seg in segments:
        prev = out[-1] if out else None
        n, m = len(seg.text.split()), len(prev.text.split()) if prev else 0
        if (prev is not None and not ends_sentence(prev.text) and min(n, m) <= FRAGMENT_WORDS and n + m <= max_words
                and (prev.speaker, prev.kind, prev.flagged) == (seg.speaker, seg.kind, seg.flagged)):
            words = prev.words + seg.words if prev.words and seg.words else ()
            out[-1] = replace(prev, end=max(prev.end, seg.end), text=f"{prev.text.strip()} {seg.text.strip()}",
                              words=words)
        else:
            out.append(seg)
    return out


def searchable_segments(transcript: Transcript, max_words: int = 170) -> list[Segment]:
    """The segments passages index into (non-empty, split into sentences, long ones cut, fragments joined)."""
    out: list[Segment] = []
    for s in transcript.segments:
        if s.text.strip():
            for sentence in split_sentences(s):
                out.extend(split_long_segment(sentence, max_words))
    return join_fragments(out, max_words)


def soundbite_passages(transcript: Transcript, segments: list[Segment]) -> list[Passage]:
    """One passage of kind "soundbite" per publisher-chosen clip, exactly as the publisher cut it.

    Its text is the soundbite's title and the words spoken inside it, so the clip is found by
    either; `segments` are the transcript's `searchable_segments` (the clip's sentence vectors).
    """
    passages = []
    for bite in transcript.soundbites:
        end = bite.start + bite.duration
        inside = [i for i, s in enumerate(segments) if s.start < end and s.end > bite.start]
        spoken = " ".join(segments[i].text.strip() for i in inside)
        text = " — ".join(t for t in (bite.title.strip(), spoken) if t)
        if not text:
            continue  # neither a title nor speech: nothing to find it by
        first, last = (inside[0], inside[-1]) if inside else (0, -1)  # -1: no sentence vectors
        passages.append(Passage(
            guid=transcript.guid, show=transcript.show, episode=transcript.episode, start=bite.start, end=end,
            text=text, source=transcript.source, published=transcript.published, audio_url=transcript.audio_url,
            link=transcript.link, first_segment=first, last_segment=last, kind=SOUNDBITE,
        ))
    return passages
