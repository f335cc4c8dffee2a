"""Failure classes of picking the moment (issue 22), on the real sentence model, SQLite and FAISS:
the answer next to a better-scoring neighbour, overlapping candidates, the floor against a strong
window, an intro announcing the topic above the answer."""

from __future__ import annotations

import pytest

from podsearch.core.records import Segment, Transcript
from podsearch.index import search as S
from podsearch.index.keyword import query_terms
from podsearch.index.passages import make_passages
from podsearch.index.store import SearchIndex

pytestmark = pytest.mark.slow

FILLER = [
    "The car park is being resurfaced next month.",
    "Our canteen now opens at seven in the morning.",
    "The staff choir meets on Thursdays in the chapel.",
    "Parking permits are renewed every April.",
    "The new lifts in the east wing are finally working.",
    "Lockers on the third floor have been repainted.",
]


def transcript(key: str, lines: list[str], kinds: list[str] | None = None, step: float = 6.0) -> Transcript:
    segs = tuple(Segment(start=i * step, end=i * step + step - 0.5, text=t, kind=(kinds or ["speech"] * len(lines))[i])
                 for i, t in enumerate(lines))
    return Transcript(show="Ward Talk", episode=f"Episode {key}", guid=key, key=key, segments=segs,
                      published="2026-03-01T09:00:00+00:00", audio_url=f"https://example.org/{key}.mp3")


@pytest.fixture()
def make_index(tmp_path, models):  # noqa: ANN001
    opened: list[SearchIndex] = []

    def make(*transcripts: Transcript) -> SearchIndex:
        ix = SearchIndex(tmp_path / f"index{len(opened)}", embedder=models.embedder())
        for t in transcripts:
            ix.add_transcript(t, f"h-{t.key}", min_seconds=20)
        opened.append(ix)
        return ix

    yield make
    for ix in opened:
        ix.close()


def scored(ix: SearchIndex, query: str) -> tuple:
    """The search's own stages up to scoring: terms, options, retrieved, candidate rows, scores, each candidate's window cosines."""
    terms, options = query_terms(query), S.SearchOptions()
    found = S.retrieve(ix, query, terms, options, None, ix.passage_count())
    rows = ix.passages_by_id(dict.fromkeys(found.dense_ids), episodes=False)
    scores, windows = S.score(ix, rows, found, terms, options)
    return terms, options, found, rows, scores, windows


def covers(hit, seg: Segment) -> bool:  # noqa: ANN001 - Hit
    return hit.start <= seg.start + 0.01 and hit.end >= seg.end - 0.01


def test_clip_holds_the_answer_sitting_next_to_a_better_scoring_neighbour(make_index) -> None:
    lines = FILLER[:3] + [
        "Today we talk about relatives who shout at nurses on the ward.",  # the topic, in the query's words
        "Lower your own voice, offer them a seat and name the feeling you see.",  # the answer
    ] + FILLER[3:]
    t = transcript("shout", lines)
    ix = make_index(t)
    hits = S.search(ix, "what to do when a relative shouts at a nurse", S.SearchOptions(k=3))
    assert hits and hits[0].key == "shout"
    assert covers(hits[0], t.segments[4]), (hits[0].start, hits[0].end, hits[0].text)
    assert hits[0].start >= t.segments[3].start - 3.0  # opens at most ~3 s before the window


def test_overlapping_candidates_keep_the_better_matching_clip(make_index) -> None:
    lines = FILLER + FILLER[:3]
    # Put the answer in a segment two passages share (they overlap by one segment).
    passages = make_passages(transcript("inr", lines), min_seconds=20)
    shared = passages[0].last_segment
    assert passages[1].first_segment == shared
    lines[shared] = "Warfarin patients need a regular INR blood test to check their clotting."
    lines[shared - 1] = "Warfarin thins the blood, and the dose is set by those test results."  # one side matches more
    ix = make_index(transcript("inr", lines))
    query = "blood tests for people on warfarin"
    terms, options, found, rows, scores, windows = scored(ix, query)
    holding = [pid for pid in rows if rows[pid]["first_segment"] <= shared <= rows[pid]["last_segment"]]
    assert len(holding) == 2, "the answer should sit in the segment two passages share"
    def first_clip(pid: int) -> S.Clip:
        row = rows[pid]
        segs = ix.span_segments([(row["key"], row["first_segment"], row["last_segment"])])[0]
        words = S._segment_coverages(ix, [row], [segs], found, terms)[0]
        return S._clips(ix, scores[pid], row, windows[pid], segs, words, found, options)[0]

    clips = {pid: first_clip(pid) for pid in holding}
    worse, better = sorted(holding, key=lambda pid: clips[pid].match)
    assert clips[worse].match < clips[better].match and clips[worse].said[1] > clips[better].said[0]
    # The worse-matching one ranks first: the first-seen rule would keep it.
    ranked = [scores[worse].with_fused(1.0), scores[better].with_fused(0.5)]
    hits = S.to_hits(ix, ranked, rows, windows, found, terms, options)
    assert (hits[0].start, hits[0].end) == (clips[better].start, clips[better].end)
    assert all(h.start >= clips[better].said[1] or h.end <= clips[better].said[0] + 0.5 for h in hits[1:])
    assert hits[0].score > 0.5  # in the better-ranked (worse-matching) one's place, with its rank


def test_floor_never_hides_a_window_that_clears_it_alone(make_index) -> None:
    long_turn = FILLER * 2
    long_turn.insert(5, "Patients on warfarin need regular INR blood tests.")
    ix = make_index(transcript("long", long_turn, step=4.0))
    query = "blood tests for warfarin patients"
    _, options, _, rows, scores, _ = scored(ix, query)
    holder = next(s for s in scores.values() if "warfarin" in rows[s.pid]["text"])
    assert holder.window - S.WINDOW_FLOOR_MARGIN >= options.floor
    hits = S.search(ix, query, S.SearchOptions(mode="dense"))
    assert any("warfarin" in h.text for h in hits[:1])


def test_an_intro_announcing_the_topic_never_outranks_its_episodes_answer(make_index) -> None:
    lines = ["Welcome to Ward Talk.", "Today we talk about calming an angry relative at the bedside.",
             "Stay with us.", *FILLER[:3],
             "When a family member is angry, speak slowly, keep your distance and let them finish before you answer.",
             *FILLER[3:]]
    kinds = ["intro"] * 3 + ["speech"] * (len(lines) - 3)
    ix = make_index(transcript("calm", lines, kinds))
    hits = S.search(ix, "calming an angry relative", S.SearchOptions(k=5))
    assert hits and hits[0].kind == "speech", [(h.kind, h.text[:40]) for h in hits]
    assert "speak slowly" in hits[0].text


def test_a_clip_is_the_shortest_window_that_matches_as_well():
    """Two sentences that add nothing to the third's match are not heard: the clip is the third alone."""
    import numpy as np

    from podsearch.index.search import TIGHT_MARGIN, _tightest

    # rows: first segment; columns: windows of 1, 2, 3 segments (as window_cosines gives them)
    scored = np.array([[0.28, 0.38, 0.503], [0.32, 0.495, -np.inf], [0.493, -np.inf, -np.inf]], dtype=np.float32)
    assert _tightest(scored, 0, 2) == (2, 0)  # 0.493 is within TIGHT_MARGIN of 0.503
    scored[2, 0] = 0.503 - 2 * TIGHT_MARGIN  # the third alone no longer says it as well...
    assert _tightest(scored, 0, 2) == (1, 1)  # ...the last two do
    scored[1, 1] = 0.40
    assert _tightest(scored, 0, 2) == (0, 2)  # nothing shorter matches: the whole window stays


def test_a_question_the_host_goes_on_explaining_is_answered_by_the_next_voice():
    from podsearch.core.records import Segment
    from podsearch.index.search import answer_after

    host, guest = "Justin", "Veronica"
    question = Segment(0.0, 10.0, "How much does that cadence burn out the maintainers?", speaker=host)
    more = Segment(10.0, 17.0, "Like, we batch things up for the date release.", speaker=host)
    reply = Segment(17.5, 25.0, "A lot, and back-porting is not the answer.", speaker=guest)
    again = Segment(25.5, 28.0, "Interesting.", speaker=host)
    # The host's own continuation belongs to the question; the answer is the guest's turn; the host again ends it.
    assert answer_after([question, more, reply, again]) == [more, reply]
    # The host going on alone, nobody answering, is no answer.
    assert answer_after([question, Segment(10.0, 13.0, "Let's leave that one for next week.", speaker=host)]) == []


def test_span_segments_reads_each_range_as_segments_does(make_index) -> None:
    ix = make_index(transcript("spans", FILLER + FILLER[:3]))
    spans = [("spans", 0, 2), ("spans", 3, 3), ("spans", 5, 9), ("missing", 0, 4), ("spans", 1, 4)]
    assert ix.span_segments(spans) == [ix.segments(key, first, last) for key, first, last in spans]
    assert ix.span_segments([]) == []
