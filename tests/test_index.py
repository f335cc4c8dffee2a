"""The index on real FAISS, real SQLite FTS5 and the bundled sentence model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from podsearch.index import vectors
from podsearch.index.passages import make_passages, split_long_segment
from podsearch.index.search import Filters, SearchOptions, rrf, search, window_clip
from podsearch.index.store import SearchIndex
from podsearch.core.errors import QueryError
from podsearch.core.records import Segment, Transcript, Word

CARE = [
    "Welcome back to the programme about working on a hospital ward.",
    "Today we talk about families who arrive upset at the front desk.",
    "When a relative is shouting, lower your own voice and offer them a seat.",
    "Name the feeling you see, and explain clearly what happens next.",
    "Never argue about who is right while emotions are running high.",
    "Our next topic is the pharmacy counter.",
    "Metformin is best taken with meals to avoid an upset stomach.",
    "Patients on warfarin need regular blood tests called INR checks.",
    "Thank you for listening and see you next week.",
]
GARDEN = [
    "This is the gardening hour.",
    "Tomatoes need full sun and plenty of water in July.",
    "Prune roses in late winter before new growth starts.",
    "Compost improves clay soil over a few seasons.",
]


def transcript(guid: str, lines: list[str], show: str = "Calm Care", published: str = "2026-03-01T09:00:00+00:00",
               source: str = "whisper", step: float = 7.0) -> Transcript:
    segs = tuple(Segment(start=i * step, end=i * step + step - 0.5, text=t) for i, t in enumerate(lines))
    return Transcript(show=show, episode=f"Episode {guid}", guid=guid, segments=segs, published=published,
                      audio_url=f"https://example.org/{guid}.mp3", source=source)


@pytest.fixture(scope="module")
def embedder(models):  # noqa: ANN001
    return models.embedder()


@pytest.fixture()
def index(tmp_path, embedder):
    ix = SearchIndex(tmp_path / "index", embedder=embedder)
    ix.add_transcript(transcript("care", CARE), "h-care", min_seconds=20)
    ix.add_transcript(transcript("garden", GARDEN, show="Green Hour", published="2025-06-01T09:00:00+00:00",
                                 source="publisher"), "h-garden", min_seconds=20)
    yield ix
    ix.close()


# -- passages (pure) ---------------------------------------------------------------
def test_passages_cut_on_segment_boundaries_with_overlap():
    t = transcript("x", [f"sentence number {i} is here" for i in range(30)], step=5.0)
    passages = make_passages(t, min_seconds=20, max_seconds=60)
    starts = {s.start for s in t.segments}
    ends = {s.end for s in t.segments}
    assert len(passages) > 3
    for p in passages:
        assert p.start in starts and p.end in ends
        assert 20 <= p.end - p.start + 0.5 <= 60
    # Consecutive passages share a segment, and together they cover everything.
    for a, b in zip(passages, passages[1:]):
        assert b.first_segment == a.last_segment
    assert passages[0].first_segment == 0 and passages[-1].last_segment == len(t.segments) - 1


def test_passages_stay_under_the_word_limit():
    long_text = " ".join(f"w{i}" for i in range(500))
    t = Transcript(show="s", episode="e", guid="g", segments=(Segment(0.0, 200.0, long_text),))
    passages = make_passages(t, max_words=170)
    assert all(len(p.text.split()) <= 170 for p in passages)
    assert " ".join(p.text for p in passages).split()[:170] == long_text.split()[:170]
    assert passages[-1].end == pytest.approx(200.0)


def test_split_long_segment_uses_word_timings():
    words = tuple(Word(start=i, end=i + 0.5, text=f"w{i}") for i in range(10))
    seg = Segment(0.0, 10.0, " ".join(w.text for w in words), words=words)
    pieces = split_long_segment(seg, 4)
    assert [p.start for p in pieces] == [0, 4, 8]
    assert [p.end for p in pieces] == [3.5, 7.5, 9.5]


def test_rrf_rewards_agreement():
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] < fused[2]


def test_window_clip_starts_at_the_window_with_lead_in():
    segs = [Segment(i * 5.0, i * 5.0 + 5.0, f"Sentence {i}.") for i in range(6)]
    start, end, first, last = window_clip(segs, 3, 4)
    assert (first, last) == (3, 4)
    assert start == pytest.approx(15.0 - 0.5) and end == pytest.approx(25.0)


def test_window_clip_completes_sentences_and_a_minimum_length():
    texts = ["Earlier topic.", "If they are shouting", "lower your voice.", "Then", "offer a seat.", "Next."]
    segs = [Segment(i * 3.0, i * 3.0 + 3.0, t) for i, t in enumerate(texts)]
    # The window is a sentence's tail: the clip starts at the sentence's head.
    start, end, first, last = window_clip(segs, 2, 2)
    assert (first, last) == (1, 4)  # on to 8 s and the end of the sentence "Then offer a seat."
    assert start == pytest.approx(2.5) and end == pytest.approx(15.0)


def test_window_clip_never_runs_past_its_limit():
    segs = [Segment(i * 6.0, i * 6.0 + 6.0, f"words and more words {i}") for i in range(10)]  # no sentence ends
    start, end, first, last = window_clip(segs, 0, 0)
    assert end - segs[first].start <= 20.0 and last == 2


# -- search on real models ---------------------------------------------------------------
@pytest.mark.slow
def test_paraphrase_is_found_without_shared_words(index):
    hits = search(index, "calming down an aggressive family member", SearchOptions(k=3))
    assert hits and hits[0].guid == "care"
    assert "shouting" in hits[0].text or "feeling" in hits[0].text
    assert hits[0].start == pytest.approx(14.0 - 1.5, abs=7.1)


@pytest.mark.slow
def test_keyword_finds_rare_drug_name_and_clip_starts_there(index):
    hits = search(index, "warfarin", SearchOptions(k=3))
    assert hits[0].guid == "care"
    assert "warfarin" in hits[0].text
    # The warfarin sentence is segment 7: it starts at 49 s; 0.5 s of lead-in (search.LEAD_IN).
    assert hits[0].start == pytest.approx(49.0 - 0.5)
    assert hits[0].end >= 55.5


@pytest.mark.slow
def test_acronym_found_by_keyword_mode(index):
    hits = search(index, "INR", SearchOptions(k=3, mode="keyword"))
    assert hits and "INR" in hits[0].text


@pytest.mark.slow
def test_nothing_relevant_returns_empty(index):
    assert search(index, "quantum chromodynamics lattice gauge theory", SearchOptions(k=5)) == []


@pytest.mark.slow
def test_filters_apply_before_ranking(index):
    only_garden = SearchOptions(k=5, filters=Filters(shows=("Green Hour",)))
    hits = search(index, "when to prune roses", only_garden)
    assert hits and all(h.show == "Green Hour" for h in hits)
    # A care query restricted to the garden show finds nothing rather than care clips.
    assert search(index, "warfarin blood tests", only_garden) == []
    assert all(h.source == "publisher" for h in search(index, "tomatoes", SearchOptions(filters=Filters(sources=("publisher",)))))
    dated = SearchOptions(k=5, filters=Filters(date_from="2026-01-01"))
    assert all(h.guid == "care" for h in search(index, "tomatoes sun water", dated))


@pytest.mark.slow
def test_empty_query_is_a_clear_error(index):
    with pytest.raises(QueryError, match="empty"):
        search(index, "   ")


@pytest.mark.slow
def test_hits_carry_everything_a_clip_needs(index):
    hit = search(index, "metformin with meals", SearchOptions(k=1))[0]
    assert hit.show == "Calm Care" and hit.episode == "Episode care" and hit.published == "2026-03-01"
    assert hit.audio_url == "https://example.org/care.mp3" and hit.source == "whisper"
    assert 0 <= hit.start < hit.end and 0 < hit.score and hit.confidence in ("strong", "partial", "weak")


# -- incremental changes and persistence ----------------------------------------------------
@pytest.mark.slow
def test_reindex_same_content_is_skipped_and_remove_works(index, tmp_path, embedder):
    before = index.generation()
    index.add_transcript(transcript("care", CARE), "h-care")
    assert index.generation() == before  # same content hash: no work
    assert index.remove_episode("garden")
    assert search(index, "prune roses", SearchOptions(filters=Filters(shows=("Green Hour",)))) == []
    assert index.faiss_index().ntotal == index.passage_count()
    reopened = SearchIndex(tmp_path / "index", embedder=embedder)
    assert reopened.faiss_index().ntotal == index.passage_count()
    assert search(reopened, "warfarin", SearchOptions(k=1))[0].guid == "care"


@pytest.mark.slow
def test_stale_or_missing_faiss_copy_is_rebuilt_from_sqlite(index, tmp_path, embedder):
    for f in (tmp_path / "index").glob("vectors-*.faiss"):
        f.write_bytes(b"not a faiss file")  # as if a crash had left garbage
    reopened = SearchIndex(tmp_path / "index", embedder=embedder)
    assert reopened.faiss_index().ntotal == reopened.passage_count() > 0
    assert search(reopened, "metformin", SearchOptions(k=1))[0].guid == "care"


def test_save_index_is_atomic(tmp_path):
    path = tmp_path / "v.faiss"
    index = vectors.build_index(4, np.arange(3), np.eye(3, 4, dtype=np.float32))
    vectors.save_index(index, path)
    assert vectors.load_index(path).ntotal == 3
    assert [p.name for p in tmp_path.iterdir()] == ["v.faiss"]  # no temp file left behind


def test_approximate_index_past_threshold_keeps_recall(monkeypatch):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    ids = np.arange(3000)
    monkeypatch.setattr(vectors, "APPROX_THRESHOLD", 1000)
    approx = vectors.build_index(32, ids, data)
    exact = vectors.faiss.IndexIDMap2(vectors.faiss.IndexFlatIP(32))
    exact.add_with_ids(data, ids)
    assert vectors.is_approximate(approx)
    recall = []
    for q in data[:50]:
        _, a = vectors.search(approx, q, 10)
        _, e = vectors.search(exact, q, 10)
        recall.append(len(set(a) & set(e)) / 10)
    assert np.mean(recall) >= 0.9
    allowed = np.array([5, 6, 7])
    _, got = vectors.search(approx, data[5], 3, allowed)
    assert set(got) <= {5, 6, 7} and got[0] == 5


def test_term_coverage_matches_word_forms():
    from podsearch.index.keyword import term_coverage

    assert term_coverage(["relatives", "calming"], "An angry relative needs calm words.") == 1.0
    assert term_coverage(["pharmacies"], "the pharmacy counter") == 1.0
    assert term_coverage(["glass"], "a glas of water") == 0.0


@pytest.mark.slow
def test_per_episode_limit_and_grouping(index):
    from podsearch.index.search import group_by_episode

    hits = search(index, "patients medicines family voice", SearchOptions(k=10, floor=-1, min_coverage=0))
    assert len({h.guid for h in hits}) < len(hits)  # several clips of one episode...
    one_each = search(index, "patients medicines family voice", SearchOptions(k=10, floor=-1, min_coverage=0, per_episode=1))
    assert sorted(h.guid for h in one_each) == ["care", "garden"]  # ...or one per episode
    groups = group_by_episode(hits)
    assert [g for g, _ in groups] == list(dict.fromkeys(h.guid for h in hits))
    assert sum(len(g) for _, g in groups) == len(hits)


@pytest.mark.slow
def test_unknown_cross_encoder_is_a_clear_error(index, tmp_path):
    from podsearch.core.errors import ModelError

    with pytest.raises(ModelError, match="cross-encoder .* could not be loaded"):
        search(index, "warfarin", SearchOptions(rerank_model=str(tmp_path / "no-such-cross-encoder")))


def test_sentences_inside_a_segment_get_their_own_timing():
    from podsearch.index.passages import searchable_segments

    texts = ["Hello", "there.", "Take", "metformin", "with", "food.", "Thanks"]
    words = tuple(Word(start=i * 1.0, end=i * 1.0 + 0.8, text=(" " + t)) for i, t in enumerate(texts))
    seg = Segment(0.0, 7.0, " ".join(texts), words=words)
    pieces = searchable_segments(Transcript(show="s", episode="e", guid="g", segments=(seg,)))
    assert [p.text for p in pieces] == ["Hello there.", "Take metformin with food.", "Thanks"]
    assert [(p.start, p.end) for p in pieces] == [(0.0, 1.8), (2.0, 5.8), (6.0, 6.8)]
    # Without word timings (publisher cues) a segment is kept whole.
    plain = Segment(0.0, 7.0, "Hello there. Take metformin.")
    assert searchable_segments(Transcript(show="s", episode="e", guid="g", segments=(plain,))) == [plain]


def test_one_word_segments_join_the_sentence_they_continue():
    """Whisper sometimes gives a sentence one word per segment; each word alone embeds as noise."""
    from podsearch.index.passages import searchable_segments

    segs = (Segment(0.0, 2.0, "Be kind, but be clear,", speaker="Omar"),
            *(Segment(2.0 + i * 0.5, 2.5 + i * 0.5, w, speaker="Omar") for i, w in enumerate(["describe", "the", "behavior"])),
            Segment(3.5, 6.0, "not the person you blame.", speaker="Omar"),
            Segment(6.5, 7.0, "Photos.", speaker="Omar"),  # a sentence of its own stays one
            Segment(7.0, 7.5, "Right", speaker="Rachel"),  # another voice never joins
            Segment(7.5, 8.0, "so", speaker="Rachel"),
            Segment(8.0, 8.5, "Thanks", speaker="Rachel", kind="outro"))  # nor another kind
    pieces = searchable_segments(Transcript(show="s", episode="e", guid="g", segments=segs))
    assert [(p.text, p.start, p.end, p.speaker) for p in pieces] == [
        ("Be kind, but be clear, describe the behavior", 0.0, 3.5, "Omar"),
        ("not the person you blame.", 3.5, 6.0, "Omar"),
        ("Photos.", 6.5, 7.0, "Omar"),
        ("Right so", 7.0, 8.0, "Rachel"),
        ("Thanks", 8.0, 8.5, "Rachel"),
    ]


@pytest.mark.slow
def test_person_filter_matches_episode_people_and_transcript_speakers(tmp_path, embedder):
    from podsearch.core.records import Person

    ix = SearchIndex(tmp_path / "people", embedder=embedder)
    try:
        hosted = replace(transcript("p1", CARE), persons=(Person(name="Priya Shah", role="guest"),))
        spoken = transcript("p2", GARDEN * 4, show="Green Hour")
        spoken = replace(spoken, segments=tuple(replace(s, speaker="Dr. Okafor_1" if i < 4 else "Sam")
                                                for i, s in enumerate(spoken.segments)))
        ix.add_transcript(hosted, "h-p1", min_seconds=20)
        ix.add_transcript(spoken, "h-p2", min_seconds=20)
        assert ix.people() == ["Dr. Okafor_1", "Priya Shah", "Sam"]

        def guids(query: str, person: str) -> set[str]:
            return {h.guid for h in search(ix, query, SearchOptions(k=10, filters=Filters(person=person)))}

        assert guids("angry relative", "priya") == {"p1"}  # part of a name, any case
        assert guids("tomatoes", "priya") == set()  # filtered before ranking, not after

        def passages(person: str) -> set[int]:
            where, args = Filters(person=person).sql()
            return {r[0] for r in ix.db.execute(
                "SELECT p.id FROM passages p JOIN episodes e ON e.key = p.key WHERE " + where, args)}

        # A speaker selects the passages where they speak (segments 0-3), not the whole episode.
        spoken_by_okafor = {r[0] for r in ix.db.execute("SELECT id FROM passages WHERE key = 'p2' AND first_segment < 4")}
        all_p2 = {r[0] for r in ix.db.execute("SELECT id FROM passages WHERE key = 'p2'")}
        assert passages("okafor_1") == spoken_by_okafor and spoken_by_okafor < all_p2
        assert passages("SAM") == all_p2 - {r[0] for r in ix.db.execute(
            "SELECT id FROM passages WHERE key = 'p2' AND last_segment < 4")}
        assert passages("okafor%1") == set()  # LIKE wildcards in a name are literal
        assert {h.guid for h in search(ix, "tomatoes", SearchOptions(k=10, filters=Filters(person="okafor")))} == {"p2"}
    finally:
        ix.close()


def window_similarity(seg_vecs: np.ndarray, qvec: np.ndarray) -> tuple[float, int, int]:
    """The definition, one passage at a time: best cosine with the normalised sum of 1..3 adjacent segments."""
    best = (-1.0, 0, 0)
    for size in (1, 2, 3):
        for i in range(len(seg_vecs) - size + 1):
            v = seg_vecs[i : i + size].sum(axis=0)
            cos = float(v @ qvec / max(np.linalg.norm(v), 1e-9))
            if cos > best[0] + 1e-7:
                best = (cos, i, i + size - 1)
    return best


def test_window_similarities_match_one_passage_at_a_time():
    from podsearch.index.search import window_similarities

    rng = np.random.default_rng(3)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 16)).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)

    groups = [unit(3), unit(1), np.zeros((0, 16), dtype=np.float32), unit(5), unit(2), unit(7)]
    q = unit(1)[0]
    expected = [window_similarity(g, q) for g in groups]
    stacked, sizes = np.vstack(groups), np.array([len(g) for g in groups])
    got = window_similarities(stacked, sizes, q)
    assert np.allclose(got.similarity, [e[0] for e in expected], atol=1e-4)
    assert [(int(f), int(last)) for f, last, n in zip(got.first, got.last, sizes) if n] == \
        [(e[1], e[2]) for e, n in zip(expected, sizes) if n]
    empty = window_similarities(np.zeros((0, 16), dtype=np.float32), np.zeros(0, dtype=np.int64), q)
    assert list(empty.similarity) == []


def test_term_coverage_is_the_share_of_query_stems_among_the_texts_word_stems() -> None:
    """term_coverage finds stems through the spellings it has seen, not by stemming every word: the same
    answers as stemming each word of the text, for ASCII and other text, with sound-alike alternatives."""
    from podsearch.index.keyword import _TOKEN, fold, stem, term_coverage

    def by_stemming_every_word(terms, text, alternatives=None):  # noqa: ANN001, ANN202
        stems = {stem(fold(w)) for w in _TOKEN.findall(text)}
        return sum(1 for t in terms if stem(t) in stems or stems.intersection((alternatives or {}).get(t, ()))) / len(terms)

    texts = ["An angry relative needs calm words.", "Relatives' CALMING—words_and (nurses) at 3am; pharmacies!",
             "Crème brûlée at the café, naïve résumé", "metforman twice daily", "tabs\tand\nnewlines\x1fsplit",
             "", "under_score o'clock don't"]
    queries = [["relatives", "calming"], ["nurse", "pharmacy", "words"], ["creme", "cafe", "resume"],
               ["metformin", "daily"], ["tabs", "newlines", "split"], ["under", "score", "clock"]]
    alternatives = {"metformin": ("metforman",)}
    for text in texts:
        for terms in queries:
            assert term_coverage(terms, text, alternatives) == by_stemming_every_word(terms, text, alternatives)
    assert term_coverage(["cafe"], "Crème brûlée at the café") == 1.0


@pytest.mark.slow
def test_doc_frequency_is_remembered_per_generation(index, embedder):
    from podsearch.index.keyword import stem_frequency, stem

    assert index.doc_frequency("warfarin") == stem_frequency(index.db, stem("warfarin")) == 1
    assert index.doc_frequency("warfarin") == 1  # remembered
    more = [f"Warfarin interacts with vitamin K, said speaker {i}." for i in range(12)]
    index.add_transcript(transcript("pharmacy", more), "h-pharmacy", min_seconds=20)
    # A new generation counts afresh.
    assert index.doc_frequency("warfarin") == stem_frequency(index.db, stem("warfarin")) > 1


@pytest.mark.slow
def test_sound_alike_spellings_are_remembered_per_generation(index, embedder):
    """A misheard word's closest indexed spellings come from the index's vocabulary of this generation:
    remembered while it stands, looked up afresh once an episode adds new words."""
    assert index.spellings_like("zolpidemm") == ()  # nothing like it yet
    assert index.spellings_like("zolpidemm") == ()  # remembered, and still right
    more = [f"Zolpidem helps some patients sleep, said speaker {i}." for i in range(12)]
    index.add_transcript(transcript("sleep", more), "h-sleep", min_seconds=20)
    assert index.spellings_like("zolpidemm") == ("zolpidem",)


def test_an_acronym_counts_where_its_words_are_spelled_out() -> None:
    from podsearch.index.keyword import expands, spelled_out, term_coverages

    unknown = spelled_out("what do SBAR, ICU, DNR, GP and HANDOVERS mean in the icu", doc_frequency=lambda term: 0)
    assert set(unknown) == {"sbar", "icu", "dnr"}  # two letters are too few, nine too many
    assert spelled_out("sbar and icu", doc_frequency=lambda term: 0) == {}  # small letters: misheard, not acronyms
    assert spelled_out("ICU", doc_frequency=lambda term: 3) == {}  # a word the index holds is matched as it is
    sbar, icu = unknown["sbar"], unknown["icu"]
    assert expands(sbar, "We moved to a structured format: situation, background, assessment, recommendation.")
    assert expands(sbar, "Situation, background, assessment and recommendation.")
    assert expands(icu, "She spent a week in the intensive care unit.")
    assert not expands(icu, "so I can understand it")  # mostly small words: chance, not a spelling out
    assert not expands(sbar, "SBAR")  # the acronym itself is the index's business (a known word)
    texts = ["a structured format: situation, background, assessment, recommendation", "I cannot stand waiting"]
    assert term_coverages(["sbar", "stand"], texts, acronyms={"sbar": sbar}) == [0.5, 0.5]
    assert term_coverages(["sbar", "stand"], texts) == [0.0, 0.5]


@pytest.mark.slow
def test_a_search_for_an_acronym_finds_where_it_is_spelled_out(tmp_path, embedder) -> None:
    """The speakers never say "SBAR", only what it stands for: the search finds that, not nothing."""
    from podsearch.index.search import SearchOptions, search

    ix = SearchIndex(tmp_path / "index", embedder=embedder)
    ix.add_transcript(transcript("handover", [
        "Handovers went wrong when people talked in corridors while the phone rang.",
        "So we moved to a structured format: situation, background, assessment, recommendation.",
        "It makes you say what you think is wrong and what the next nurse should do.",
        "Medicines went missing between wards until pharmacy started counting them twice a day."]), "h-handover")
    ix.add_transcript(transcript("care", CARE), "h-care", min_seconds=20)
    hits = search(ix, "what does SBAR stand for", SearchOptions(k=3))
    assert hits and hits[0].guid == "handover" and "situation, background" in hits[0].text
