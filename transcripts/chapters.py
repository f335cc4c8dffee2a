"""Chapters made from what is said, for episodes whose publisher gives none.

Boundaries are where the topic shifts: the speech is cut into blocks of about BLOCK seconds, each block
embedded (the caller's sentence model), and the similarity of the WINDOW blocks before each gap with the
WINDOW after it computed (TextTiling with vectors instead of word counts); a gap whose similarity dips
deeper than its neighbours' (the depth score) is a boundary, moved to the nearest speaker turn or pause.
The introduction and the outro (segment kinds, `transcripts.kinds`) are chapters of their own, and
sponsor reads take no part in the comparison (they would shift the topic twice).

Titles are 2-6 words said in the chapter, the phrase whose words are most particular to it among the
episode's chapters (class-based TF-IDF, scikit-learn), never Whisper's filler, and no two alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from podsearch.core.records import Chapter, Segment

Embed = Callable[[list[str]], np.ndarray]

BLOCK = 20.0  # seconds of speech compared as one unit (shorter in a short episode: LENGTH_BLOCKS of them)
LENGTH_BLOCKS = 20
WINDOW = 4  # blocks either side of a gap
MIN_CHAPTER = 35.0  # seconds: no body chapter is shorter (longer episodes: MIN_SHARE of them)
MIN_SHARE = 1 / 40
DEPTH = 0.25  # the least dip in similarity that counts as a topic shift (cosine, 0-2)
SNAP = 12.0  # seconds: a boundary moves to the best speaker turn or pause this close
TURN = 0.3  # a speaker turn's worth against a pause of 3 s (1.0) when placing a boundary
LONG_PAUSE = 4.0  # seconds without speech
LEAD = 0.5  # seconds after the last words before a long pause
TITLE_MAX = 60
NAME_WEIGHT = 0.4
INTRO_TITLE = "Welcome and introductions"
OUTRO_TITLE = "Closing words and thanks"

# What Whisper writes for hesitation and talk that carries no topic; never part of a title.
FILLER = frozenset(
    """um umm uh uhh er erm ah hmm mm mhm huh oh yeah yes yep okay ok like well so right actually basically
    really just gonna wanna kinda sorta thing things stuff lot lots bit way kind sort mean know think guess
    yes no sure thanks thank welcome today podcast episode show""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
_APOSTROPHE = re.compile(r"['’]")
_SENTENCE = re.compile(r"(?<=[.!?;:,])\s+")


def stopwords() -> frozenset[str]:
    """Words no title or label starts or ends with: English stopwords and Whisper's filler."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | FILLER


@dataclass(frozen=True)
class _Span:
    """A stretch of the episode that becomes one chapter (or is cut into several)."""

    start: float
    kind: str  # "intro", "body" or "outro"
    segments: tuple[Segment, ...]


def generate_chapters(segments: Sequence[Segment], embed: Embed) -> tuple[Chapter, ...]:
    """Chapters for an episode from its (kind-marked) segments, each `generated`; () without speech."""
    spoken = [s for s in segments if s.text.strip()]
    if not spoken:
        return ()
    spans = _spans(spoken)
    length = spoken[-1].end - spoken[0].start
    shortest = max(MIN_CHAPTER, length * MIN_SHARE)
    pieces: list[_Span] = []
    for span in spans:
        if span.kind == "body":
            pieces.extend(_cut(span, embed, shortest))
        else:
            pieces.append(span)
    titles = _titles(pieces)
    chapters = [Chapter(start=round(p.start, 3), title=t, generated=True) for p, t in zip(pieces, titles)]
    ends = [c.start for c in chapters[1:]] + [round(spoken[-1].end, 3)]
    return tuple(Chapter(start=c.start, title=c.title, end=e, generated=True) for c, e in zip(chapters, ends))


def _spans(spoken: list[Segment]) -> list[_Span]:
    """The leading intro, the body and the trailing outro (an intro or outro too short to stand alone joins the body)."""
    first = 0
    while first < len(spoken) and spoken[first].kind == "intro":
        first += 1
    last = len(spoken)
    while last > first and spoken[last - 1].kind == "outro":
        last -= 1
    out: list[_Span] = []
    body = spoken[first:last]
    if first and (not body or spoken[first - 1].end - spoken[0].start >= 5.0):
        out.append(_Span(spoken[0].start, "intro", tuple(spoken[:first])))
    else:
        body = spoken[:last]
    outro = spoken[last:]
    if outro and outro[-1].end - outro[0].start < 5.0:
        body, outro = body + outro, []
    if body:
        out.append(_Span(body[0].start, "body", tuple(body)))
    if outro:
        out.append(_Span(outro[0].start, "outro", tuple(outro)))
    return out


def _cut(span: _Span, embed: Embed, shortest: float) -> list[_Span]:
    """A body span cut where its topic shifts."""
    segs = span.segments
    topical = [i for i, s in enumerate(segs) if s.kind != "sponsor" and not s.flagged]
    if not topical or segs[-1].end - segs[0].start < 2 * shortest:
        return [span]
    # Blocks of about BLOCK seconds of topical speech, by segment index.
    block = min(BLOCK, max(5.0, (segs[-1].end - segs[0].start) / LENGTH_BLOCKS))
    blocks: list[list[int]] = [[]]
    for i in topical:
        if blocks[-1] and segs[i].end - segs[blocks[-1][0]].start > block:
            blocks.append([])
        blocks[-1].append(i)
    if len(blocks) < 2 * WINDOW:
        return [span]
    vecs = np.asarray(embed([" ".join(segs[i].text.strip() for i in b) for b in blocks]), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    sims = []
    for g in range(1, len(blocks)):  # the gap before block g
        left = vecs[max(0, g - WINDOW):g].mean(axis=0)
        right = vecs[g:g + WINDOW].mean(axis=0)
        sims.append(float(left @ right / max(np.linalg.norm(left) * np.linalg.norm(right), 1e-9)))
    depths = []
    for n, s in enumerate(sims):
        lpeak = max(sims[:n + 1][::-1][:_climb(sims[:n + 1][::-1])], default=s)
        rpeak = max(sims[n:][:_climb(sims[n:])], default=s)
        depths.append(lpeak + rpeak - 2 * s)
    # Deepest first; each kept only if it leaves every chapter at least `shortest` long.
    cuts: list[float] = []
    start, end = segs[0].start, segs[-1].end
    for n in sorted(range(len(sims)), key=lambda n: -depths[n]):
        if depths[n] < DEPTH:
            break
        at = _snap(segs, segs[blocks[n + 1][0]].start)
        if all(abs(at - c) >= shortest for c in [start, end, *cuts]):
            cuts.append(at)
    bounds = [start, *sorted(cuts), end + 1]
    return [_Span(a, "body", tuple(s for s in segs if a <= s.start < b)) for a, b in zip(bounds, bounds[1:])]


def _climb(values: list[float]) -> int:
    """How many values from the first keep rising (the first included)."""
    n = 1
    while n < len(values) and values[n] >= values[n - 1]:
        n += 1
    return n


def _snap(segs: Sequence[Segment], t: float) -> float:
    """The segment start near `t` that best suits a chapter: a speaker turn, a longer pause, the nearest."""
    best, score = t, -math.inf
    for prev, seg in zip(segs, segs[1:]):
        if abs(seg.start - t) > SNAP:
            continue
        s = (TURN if seg.speaker and prev.speaker and seg.speaker != prev.speaker else 0.0)
        pause = max(seg.start - prev.end, 0.0)
        s += min(pause, 3.0) / 3.0 - abs(seg.start - t) / SNAP
        if _SENTENCE_END.search(prev.text):
            s += 0.3
        if s > score:
            # After a long pause (music, a stretch Whisper heard nothing in) the chapter starts with it.
            best, score = (prev.end + LEAD if pause > LONG_PAUSE else seg.start), s
    return best


_SENTENCE_END = re.compile(r"[.!?]['\"”]?\s*$")


def phrases(text: str, stop: frozenset[str], longest: int = 4) -> list[str]:
    """Candidate title phrases of `text`: 1 to `longest` words within a clause, not starting or ending
    with a stopword (`stopwords()`), with no filler inside."""
    out = []
    for clause in _SENTENCE.split(text):
        words = _WORD.findall(clause)
        for n in range(1, longest + 1):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                low = [w.lower() for w in gram]
                if (low[0] in stop or low[-1] in stop or len(low[0]) < 3 or len(low[-1]) < 3
                        or _APOSTROPHE.search(low[0] + low[-1])):  # "I'm ...", "... isn't"
                    continue
                if any(w in FILLER for w in low):
                    continue
                out.append(" ".join(gram))
    return out


def phrase_weights(docs: list[str]) -> tuple[Any, np.ndarray, dict[str, str]] | None:
    """How particular each candidate phrase (`phrases`) is to each of `docs` among them (class-based
    TF-IDF, scikit-learn): (a sparse row of weights per doc, the phrases lowercased, each one's surface
    form); None when no doc has any phrase."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    if not any(docs):
        return None
    stop = stopwords()
    surface: dict[str, str] = {}

    def analyse(doc: str) -> list[str]:
        found = phrases(doc, stop)
        for f in found:
            surface.setdefault(f.lower(), f)
        return [f.lower() for f in found]

    try:
        vectorizer = CountVectorizer(analyzer=analyse)
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # no phrase anywhere
        return None
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr(), vectorizer.get_feature_names_out(), surface


def _titles(pieces: list[_Span]) -> list[str]:
    """One distinct, readable title per piece."""
    stop = stopwords()
    docs = [" ".join(s.text.strip() for s in p.segments if s.kind != "sponsor" and not s.flagged) for p in pieces]
    titles: list[str] = []
    taken: set[str] = set()
    weights = phrase_weights(docs)
    for n, piece in enumerate(pieces):
        if piece.kind == "intro":
            title = INTRO_TITLE
        elif piece.kind == "outro":
            title = OUTRO_TITLE
        else:
            best = None
            if weights is not None:
                best = best_title(weights[0][n].toarray().ravel(), weights[1], weights[2], taken)
            title = best or _first_words(docs[n], stop, taken) or f"Part {n + 1}"
        while title.lower() in taken:
            title = f"{title} ({n + 1})"
        taken.add(title.lower())
        titles.append(title)
    return titles


def best_title(row: np.ndarray, vocab: np.ndarray, surface: dict[str, str], taken: set[str]) -> str | None:
    """The phrase of 2-6 words that scores best in `row` (of `phrase_weights`), not one of `taken`: its own
    weight plus its words' weights."""
    weight = {vocab[i]: float(row[i]) for i in np.flatnonzero(row)}
    best, best_score = None, 0.0
    for phrase, w in weight.items():
        words = phrase.split()
        if not 2 <= len(words) <= 6 or phrase in taken:
            continue
        title = surface.get(phrase, phrase)
        if not 3 <= len(title) <= TITLE_MAX:
            continue
        parts = sum(weight.get(x, 0.0) for x in words) / len(words)
        score = w + parts + 0.02 * len(words)
        if all(x[:1].isupper() for x in title.split()):
            score *= NAME_WEIGHT  # a name (a guest, the show) is particular to a chapter but says little of it
        if score > best_score:
            best, best_score = title, score
    return best[0].upper() + best[1:] if best else None


def _first_words(doc: str, stop: frozenset[str], taken: set[str]) -> str | None:
    """A fallback title: the chapter's first content words."""
    words = [w for w in _WORD.findall(doc) if w.lower() not in stop][:4]
    title = " ".join(words)
    if len(words) >= 2 and 3 <= len(title) <= TITLE_MAX and title.lower() not in taken:
        return title[0].upper() + title[1:]
    return None
