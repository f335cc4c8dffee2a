"""The evaluation harness: exact metric values, relevance edges, query-file errors, one real run."""

from __future__ import annotations

import json
import math

import pytest

from podsearch.index.evaluate import (
    EvalQuery,
    by_kind,
    evaluate,
    format_table,
    inside_sponsor,
    is_relevant,
    is_strictly_right,
    load_offtopic,
    load_queries,
    load_sponsor_ranges,
    metric_names,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    relevance_lists,
    summarize,
)
from podsearch.index.store import SearchIndex
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Hit, Segment, Transcript


def hit(guid: str, start: float, end: float) -> Hit:
    return Hit(show="s", episode="e", guid=guid, published=None, start=start, end=end, text="t", score=1.0,
               audio_url=None, source="whisper")


# -- metrics (pure) ----------------------------------------------------------------
def test_recall_at_counts_any_relevant_within_k():
    rel = [False, False, True, False]
    assert recall_at(rel, 1) == 0.0
    assert recall_at(rel, 2) == 0.0
    assert recall_at(rel, 3) == 1.0
    assert recall_at(rel, 10) == 1.0
    assert recall_at([], 10) == 0.0


def test_reciprocal_rank_is_one_over_first_relevant_rank():
    assert reciprocal_rank([True, True]) == 1.0
    assert reciprocal_rank([False, False, False, True]) == 0.25
    assert reciprocal_rank([False] * 5) == 0.0
    assert reciprocal_rank([]) == 0.0


def test_ndcg_counts_only_the_first_relevant_hit():
    assert ndcg_at([True], 10) == 1.0
    assert ndcg_at([False, True], 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at([False, False, True], 10) == pytest.approx(0.5)
    # Two clips of the one answer never score above the ideal.
    assert ndcg_at([True, True, True], 10) == 1.0
    assert ndcg_at([False, True, True], 10) == pytest.approx(1 / math.log2(3))
    # Beyond the cutoff is a miss.
    assert ndcg_at([False, False, True], 2) == 0.0


def test_summarize_averages_over_queries_with_exact_values():
    rels = [[True], [False, True], [False] * 5 + [True], []]
    got = summarize(rels, k=10)
    assert list(got) == ["R@1", "R@5", "R@10", "MRR", "nDCG@10"]
    assert got["R@1"] == 0.25
    assert got["R@5"] == 0.5
    assert got["R@10"] == 0.75
    assert got["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 6 + 0) / 4)
    assert got["nDCG@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7)) / 4)


def test_mrr_is_cut_at_k_and_names_follow_k():
    assert metric_names(3) == ["R@1", "R@3", "MRR", "nDCG@3"]
    assert summarize([[False, False, False, True]], k=3)["MRR"] == 0.0
    with pytest.raises(PodsearchError):
        summarize([], k=10)


# -- relevance -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (hit("g", 100.0, 110.0), True),  # inside
        (hit("g", 90.0, 101.0), True),  # overlaps the start
        (hit("g", 115.0, 125.0), True),  # starts exactly at end + tolerance
        (hit("g", 85.0, 95.0), True),  # ends exactly at start - tolerance
        (hit("g", 115.01, 125.0), False),  # just past the tolerance
        (hit("g", 80.0, 94.99), False),  # ends just before it
        (hit("other", 100.0, 110.0), False),  # right time, wrong episode
        (hit("g", 0.0, 500.0), True),  # a long clip containing the answer
    ],
)
def test_is_relevant_edges(h, expected):
    q = EvalQuery(query="q", guid="g", start=100.0, end=110.0)
    assert is_relevant(h, q) is expected


def test_is_relevant_tolerance_zero_is_strict_overlap():
    q = EvalQuery(query="q", guid="g", start=100.0, end=110.0)
    assert not is_relevant(hit("g", 111.0, 112.0), q, tolerance=0.0)
    assert is_relevant(hit("g", 110.0, 112.0), q, tolerance=0.0)


# -- loading ---------------------------------------------------------------------------
def test_load_queries_reads_a_valid_file(tmp_path):
    path = tmp_path / "q.json"
    path.write_text(json.dumps([
        {"query": " calm an angry relative ", "guid": "care", "start": 14, "end": 20.5, "kind": "paraphrase"},
        {"query": "warfarin", "guid": "care", "start": 49.0, "end": 55.5},
    ]))
    assert load_queries(path) == [
        EvalQuery("calm an angry relative", "care", 14.0, 20.5, "paraphrase"),
        EvalQuery("warfarin", "care", 49.0, 55.5, ""),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        ('{"query": "x"}', "JSON list"),
        ("[]", "no queries"),
        ('["just a string"]', "item 1 is not an object"),
        ('[{"guid": "g", "start": 0, "end": 1}]', "item 1 needs a non-empty string 'query'"),
        ('[{"query": "q", "guid": "", "start": 0, "end": 1}]', "'guid'"),
        ('[{"query": "q", "guid": "g", "start": "0", "end": 1}]', "numeric 'start' and 'end'"),
        ('[{"query": "q", "guid": "g", "start": true, "end": 1}]', "numeric"),
        ('[{"query": "q", "guid": "g", "start": 0, "end": 1}, {"query": "q", "guid": "g", "start": 5, "end": 1}]',
         "item 2 has start 5.0 and end 1.0"),
        ('[{"query": "q", "guid": "g", "start": 0, "end": 1, "kind": 3}]', "'kind'"),
    ],
)
def test_load_queries_errors_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PodsearchError) as err:
        load_queries(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_load_queries_missing_file(tmp_path):
    with pytest.raises(PodsearchError, match="does not exist"):
        load_queries(tmp_path / "nope.json")


def test_format_table_has_modes_as_rows():
    table = format_table({"dense": {"R@1": 0.5, "MRR": 0.75}, "hybrid": {"R@1": 1.0, "MRR": 1.0}}, title="all")
    lines = table.splitlines()
    assert lines[0] == "all"
    assert lines[1].split() == ["mode", "R@1", "MRR"]
    assert lines[3].split() == ["dense", "0.500", "0.750"]
    assert lines[4].split() == ["hybrid", "1.000", "1.000"]
    assert len({len(line) for line in lines[1:]}) == 1  # fixed width


# -- one real run: bundled model, real FAISS and FTS5 -------------------------------------
KITCHEN = [
    "Welcome to the kitchen show, where we cook simple dinners.",
    "Tonight we make a quick tomato sauce with garlic and olive oil.",
    "Salt the pasta water generously before the noodles go in.",
    "Sharpen your knife often; a dull blade slips and cuts fingers.",
    "Rest the steak for five minutes so the juices settle.",
    "That is all for tonight, happy cooking.",
]
SKY = [
    "This is the night sky hour for amateur astronomers.",
    "Jupiter rises in the east after sunset this month.",
    "Use a red torch so your eyes stay adapted to the dark.",
    "The Perseid meteor shower peaks in the middle of August.",
    "Binoculars reveal the moons of Jupiter as tiny points.",
    "Clear skies and goodnight.",
]
MONEY = [
    "Welcome to the money podcast about household budgets.",
    "Pay off the credit card with the highest interest first.",
    "An emergency fund should cover three to six months of expenses.",
    "Index funds have low fees compared to actively managed funds.",
    "Check your bank statement every week for strange charges.",
    "Thanks for listening and spend wisely.",
]
STEP = 7.0


def _transcript(guid: str, lines: list[str]) -> Transcript:
    segs = tuple(Segment(start=i * STEP, end=i * STEP + STEP - 0.5, text=t) for i, t in enumerate(lines))
    return Transcript(show=guid.title(), episode=f"Episode {guid}", guid=guid, segments=segs)


def _at(guid: str, line: int) -> tuple[str, float, float]:
    return guid, line * STEP, line * STEP + STEP - 0.5


QUERIES = [
    # Only one passage has this word.
    EvalQuery("Perseid", *_at("sky", 3), kind="rare"),
    # No query word occurs anywhere in the corpus: only meaning can find it.
    EvalQuery("savings for unexpected costs", *_at("money", 2), kind="paraphrase"),
    EvalQuery("pay off credit card interest", *_at("money", 1), kind="keyword"),
    EvalQuery("keeping your eyes used to darkness while stargazing", *_at("sky", 2), kind="mixed"),
]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, models):  # noqa: ANN001

    ix = SearchIndex(tmp_path_factory.mktemp("eval") / "index", embedder=models.embedder())
    for guid, lines in (("kitchen", KITCHEN), ("sky", SKY), ("money", MONEY)):
        ix.add_transcript(_transcript(guid, lines), f"h-{guid}", min_seconds=20)
    yield ix
    ix.close()


@pytest.mark.slow
def test_evaluate_on_a_real_index(small_index):
    lists = relevance_lists(small_index, QUERIES)
    results = {mode: summarize(rels) for mode, rels in lists.items()}
    assert results == evaluate(small_index, QUERIES)
    assert set(results) == {"dense", "keyword", "hybrid"}
    assert results["hybrid"]["MRR"] >= max(results["dense"]["MRR"], results["keyword"]["MRR"]) - 1e-9

    paraphrase = QUERIES.index(next(q for q in QUERIES if q.kind == "paraphrase"))
    assert not any(lists["keyword"][paraphrase])
    assert lists["dense"][paraphrase][:1] == [True]

    rare = QUERIES.index(next(q for q in QUERIES if q.kind == "rare"))
    assert lists["keyword"][rare][:1] == [True]

    kinds = by_kind(QUERIES, lists)
    assert set(kinds) == {"rare", "paraphrase", "keyword", "mixed"}
    assert kinds["paraphrase"]["keyword"]["R@10"] == 0.0
    assert kinds["paraphrase"]["dense"]["R@1"] == 1.0
    assert "hybrid" in format_table(results)


@pytest.mark.slow
def test_wrong_label_scores_zero(small_index):
    # The harness must be able to say "miss": same query, answer labelled in another episode.
    wrong = [EvalQuery("Perseid", *_at("kitchen", 3))]
    assert evaluate(small_index, wrong, modes=("keyword",))["keyword"]["R@10"] == 0.0


# -- strict judge (pure, on synthetic hits) ------------------------------------------
ANSWER = EvalQuery(query="q", guid="g", start=100.0, end=120.0, question_start=96.0)


def kinded(guid: str, start: float, end: float, kind: str) -> Hit:
    return Hit(show="s", episode="e", guid=guid, published=None, start=start, end=end, text="t", score=1.0,
               audio_url=None, source="whisper", kind=kind)


@pytest.mark.parametrize("h, expected", [
    (hit("g", 100, 120), True),  # the answer exactly
    (hit("g", 96, 118), True),  # starts at its question
    (hit("g", 94.5, 118), True),  # at the question, within the 2 s slack
    (hit("g", 95.1, 112), True),  # less than 5 s before the answer
    (hit("g", 93, 118), False),  # before the question and more than 5 s before the answer
    (hit("h", 100, 120), False),  # wrong episode
    (hit("g", 105, 109), True),  # short clip wholly inside the answer
    (hit("g", 115, 140), False),  # overlap 5 s of the shorter 20 s: not more than half
    (hit("g", 110, 135), False),  # overlap exactly half of the shorter: not more than half
    (hit("g", 109, 135), True),  # overlap 11 of 20
    (hit("g", 60, 180), False),  # three minutes around the answer: starts far too early
    (hit("g", 121, 130), False),  # just after the answer
])
def test_strict_judge_edges(h, expected):
    assert is_strictly_right(h, ANSWER) is expected
    # The lenient judge takes every one of these that is the right episode and near the answer.
    assert is_relevant(h, ANSWER) is (h.guid == "g")


def test_strict_judge_without_a_question_allows_only_the_lead():
    q = EvalQuery(query="q", guid="g", start=100.0, end=120.0)
    assert is_strictly_right(hit("g", 95.0, 118), q)
    assert not is_strictly_right(hit("g", 94.0, 118), q)


def test_a_top_clip_inside_a_sponsor_read_counts_by_its_mark_or_by_the_truth():
    sponsors = {"g": [(30.0, 50.0)]}
    assert inside_sponsor(kinded("g", 0, 5, "sponsor"))  # the index marked it
    assert inside_sponsor(kinded("g", 32, 48, "speech"), sponsors)  # the index missed it
    assert inside_sponsor(kinded("g", 40, 55, "speech"), sponsors)  # 10 of 15 s inside
    assert not inside_sponsor(kinded("g", 45, 60, "speech"), sponsors)  # 5 of 15 s inside
    assert not inside_sponsor(kinded("h", 32, 48, "speech"), sponsors)  # another episode
    assert not inside_sponsor(kinded("g", 32, 48, "speech"))


def test_question_start_is_read_and_checked(tmp_path):
    good = tmp_path / "q.json"
    good.write_text(json.dumps([{"query": "a", "guid": "g", "start": 10, "end": 20, "question_start": 7.5}]))
    assert load_queries(good)[0].question_start == 7.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"query": "a", "guid": "g", "start": 10, "end": 20, "question_start": 12}]))
    with pytest.raises(PodsearchError, match="question_start"):
        load_queries(bad)


def test_offtopic_and_timings_files_are_read_or_refused_in_one_line(tmp_path):
    f = tmp_path / "off.json"
    f.write_text('["pizza dough", "guitar tuning"]')
    assert load_offtopic(f) == ["pizza dough", "guitar tuning"]
    f.write_text('{"q": 1}')
    with pytest.raises(PodsearchError, match="list of non-empty query strings"):
        load_offtopic(f)
    (tmp_path / "a.timings.json").write_text(json.dumps(
        {"guid": "g", "regions": [{"kind": "sponsor", "start": 1, "end": 2}, {"kind": "speech", "start": 2, "end": 9}]}))
    assert load_sponsor_ranges(tmp_path) == {"g": [(1.0, 2.0)]}
    (tmp_path / "b.timings.json").write_text("{}")
    with pytest.raises(PodsearchError, match="b.timings.json"):
        load_sponsor_ranges(tmp_path)


def test_the_conversation_queries_carry_their_questions():
    from pathlib import Path

    data = Path(__file__).parent / "data" / "conversations"
    queries = load_queries(data / "queries.json")
    assert all(q.question_start is not None and q.start - 6 < q.question_start < q.start for q in queries)


@pytest.mark.slow
def test_cli_eval_strict_prints_the_strict_table_and_the_offtopic_line(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path / "home"
    shutil.copytree(Path(__file__).parent / "data" / "homes" / "v0", home)
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps([{"query": "warfarin doses and INR checks", "guid": "2", "start": 0.0, "end": 5.0,
                                    "question_start": 0.0}]))
    (tmp_path / "offtopic.json").write_text('["sourdough starter feeding schedule"]')
    done = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), "eval", str(queries), "--strict"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("strict: 1 queries") and "lenient" in out
    hybrid = next(line for line in out.splitlines() if line.startswith("hybrid"))
    assert hybrid.split()[1:] == ["1.000", "1.000", "1.000"]  # R@1, R@5, MRR: the first clip is the answer
    assert "top clip inside a sponsor read (hybrid): 0 of 1" in out
    assert "off-topic queries with no clip (hybrid): 1 of 1" in out
    bad = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), "eval", str(queries), "--strict",
                          "--timings", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--timings" in bad.stderr
