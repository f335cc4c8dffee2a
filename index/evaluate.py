"""Retrieval quality on a labelled query set: Recall@k, MRR and nDCG per search mode.

A query file is a JSON list of {"query", "guid", "start", "end", "kind"} (and
optionally "question_start"): one known answer per query (the moment of one
episode that answers it). Two judges:

- lenient (`is_relevant`): the hit comes from that episode and its clip overlaps
  the answer, give or take a few seconds (clips are trimmed, so exact edges never match);
- strict (`is_strictly_right`): right episode, the clip and the answer overlap by more
  than half of the shorter of the two, and the clip starts no more than 5 s before
  the answer or at the question it answers (a clip of three minutes around a
  twenty-second answer, or one starting in the previous answer, is wrong).

`strict_report` adds what a listener would notice: a top clip inside a sponsor read,
and clips shown for off-topic queries (which should get none).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from podsearch.index.search import Mode, SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Hit

MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
TOLERANCE = 5.0  # seconds either side of the labelled answer
# Strict judge: a clip may start this much before its answer (a lead-in breath, the end of the question)...
STRICT_LEAD = 5.0
# ...or at the question it answers, give or take this much (Whisper segment edges sit in the pauses).
QUESTION_SLACK = 2.0
# Ranking quality, not the relevance gate: the floor and coverage minimum
# exist to answer "nothing relevant", and would otherwise hide a low-scoring
# but correct hit and count it as a ranking miss.
RANKING_FLOOR = -1.0
RANKING_MIN_COVERAGE = 0.0


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query: the episode and moment [start, end] that answer it."""

    query: str
    guid: str
    start: float
    end: float
    kind: str = ""
    question_start: float | None = None  # where the question this answer answers starts, if labelled


# -- loading ------------------------------------------------------------------
def _number(value: object) -> float | None:
    # bool is an int in Python; `"start": true` is a labelling mistake, not 1 s.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _parse_query(item: object, where: str) -> EvalQuery:
    if not isinstance(item, dict):
        raise PodsearchError(f"{where} is not an object with query, guid, start and end")
    for key in ("query", "guid"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise PodsearchError(f"{where} needs a non-empty string '{key}'")
    start, end = _number(item.get("start")), _number(item.get("end"))
    if start is None or end is None:
        raise PodsearchError(f"{where} needs numeric 'start' and 'end' in seconds")
    if start < 0 or end < start:
        raise PodsearchError(f"{where} has start {start} and end {end}; need 0 <= start <= end")
    kind = item.get("kind", "")
    if kind is None:
        kind = ""
    if not isinstance(kind, str):
        raise PodsearchError(f"{where} has a 'kind' that is not a string")
    question_start = None
    if item.get("question_start") is not None:
        question_start = _number(item["question_start"])
        if question_start is None or not 0 <= question_start <= start:
            raise PodsearchError(f"{where} has a 'question_start' that is not a number of seconds between 0 and "
                                 f"its 'start' ({start})")
    return EvalQuery(query=item["query"].strip(), guid=item["guid"], start=start, end=end, kind=kind,
                     question_start=question_start)


def load_queries(path: Path) -> list[EvalQuery]:
    """Labelled queries from a JSON file; PodsearchError naming the file and the problem."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PodsearchError(f"query file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PodsearchError(f"query file {path} cannot be read ({exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PodsearchError(
            f"query file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, list):
        raise PodsearchError(
            f"query file {path} must hold a JSON list of {{\"query\", \"guid\", \"start\", \"end\"}} objects"
        )
    if not data:
        raise PodsearchError(f"query file {path} holds no queries")
    return [_parse_query(item, f"query file {path}: item {i + 1}") for i, item in enumerate(data)]


# -- relevance and metrics (pure) ----------------------------------------------
def is_relevant(hit: Hit, q: EvalQuery, tolerance: float = TOLERANCE) -> bool:
    """True when `hit` is from q's episode and overlaps [start - tolerance, end + tolerance]."""
    return q.guid in (hit.guid, hit.key) and hit.start <= q.end + tolerance and hit.end >= q.start - tolerance


def is_strictly_right(hit: Hit, q: EvalQuery, lead: float = STRICT_LEAD,
                      question_slack: float = QUESTION_SLACK) -> bool:
    """True when `hit` is q's episode, overlaps the answer by more than half of the shorter of the two,
    and starts at most `lead` s before the answer or (within `question_slack` s) at or after its question."""
    if hit.guid != q.guid:
        return False
    overlap = min(hit.end, q.end) - max(hit.start, q.start)
    shorter = min(hit.end - hit.start, q.end - q.start)
    if overlap <= 0 or overlap <= 0.5 * shorter:
        return False
    earliest = q.start - lead
    if q.question_start is not None:
        earliest = min(earliest, q.question_start - question_slack)
    return hit.start >= earliest


def inside_sponsor(hit: Hit, sponsors: dict[str, Sequence[tuple[float, float]]] | None = None) -> bool:
    """True when `hit` is marked a sponsor read, or more than half of it lies in a known sponsor read
    (`sponsors`: guid -> [(start, end)], the truth, so a read the index failed to mark still counts)."""
    if hit.kind == "sponsor":
        return True
    length = max(hit.end - hit.start, 1e-9)
    inside = sum(max(0.0, min(hit.end, e) - max(hit.start, s)) for s, e in (sponsors or {}).get(hit.guid, ()))
    return inside > 0.5 * length


def recall_at(rel: Sequence[bool], k: int) -> float:
    """1.0 when any of the first k results is relevant (one answer per query), else 0.0."""
    return 1.0 if any(rel[:k]) else 0.0


def reciprocal_rank(rel: Sequence[bool]) -> float:
    """1 / rank of the first relevant result; 0.0 when none is."""
    for rank, hit in enumerate(rel, start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def ndcg_at(rel: Sequence[bool], k: int) -> float:
    """Binary nDCG@k for a single answer: 1 / log2(rank + 1) of the first relevant result.

    Only the first relevant result counts: two clips of the same answer are one
    answer, and counting both would push the score above the ideal of 1.
    """
    for rank, hit in enumerate(rel[:k], start=1):
        if hit:
            return 1.0 / math.log2(rank + 1)
    return 0.0


def metric_names(k: int = 10) -> list[str]:
    """Column names of `summarize` for result depth k, in table order."""
    cutoffs = sorted({c for c in (1, 5, k) if c <= k})
    return [f"R@{c}" for c in cutoffs] + ["MRR", f"nDCG@{k}"]


def summarize(rels: Sequence[Sequence[bool]], k: int = 10) -> dict[str, float]:
    """Mean metrics over queries (each a best-first relevance list), keyed as `metric_names(k)`."""
    if not rels:
        raise PodsearchError("no queries to evaluate")
    n = len(rels)
    out: dict[str, float] = {}
    for name in metric_names(k):
        if name.startswith("R@"):
            cutoff = int(name[2:])
            out[name] = sum(recall_at(r, cutoff) for r in rels) / n
    out["MRR"] = sum(reciprocal_rank(r[:k]) for r in rels) / n
    out[f"nDCG@{k}"] = sum(ndcg_at(r, k) for r in rels) / n
    return out


# -- running ----------------------------------------------------------------------
def run_searches(
    index: SearchIndex,
    queries: Sequence[str],
    modes: Iterable[Mode] = MODES,
    k: int = 10,
    floor: float = RANKING_FLOOR,
    min_coverage: float = RANKING_MIN_COVERAGE,
) -> dict[str, list[list[Hit]]]:
    """mode -> the hits of each query (best first), from real searches of `index`."""
    out: dict[str, list[list[Hit]]] = {}
    for mode in modes:
        options = SearchOptions(k=k, mode=mode, floor=floor, min_coverage=min_coverage)
        out[mode] = [search(index, query, options) for query in queries]
    return out


def judge_hits(
    hits: dict[str, list[list[Hit]]], queries: Sequence[EvalQuery], judge: Callable[[Hit, EvalQuery], bool]
) -> dict[str, list[list[bool]]]:
    """mode -> one best-first relevance list per query, `judge` deciding each hit."""
    return {mode: [[judge(h, q) for h in found] for q, found in zip(queries, lists)] for mode, lists in hits.items()}


def relevance_lists(
    index: SearchIndex,
    queries: Sequence[EvalQuery],
    modes: Iterable[Mode] = MODES,
    k: int = 10,
    floor: float = RANKING_FLOOR,
    min_coverage: float = RANKING_MIN_COVERAGE,
    tolerance: float = TOLERANCE,
) -> dict[str, list[list[bool]]]:
    """mode -> one best-first relevance list per query, from real searches of `index`."""
    hits = run_searches(index, [q.query for q in queries], modes, k, floor, min_coverage)
    return judge_hits(hits, queries, lambda h, q: is_relevant(h, q, tolerance))


@dataclass(frozen=True)
class StrictReport:
    """Strict figures per mode, and what a listener would notice besides ranking."""

    strict: dict[str, dict[str, float]]  # mode -> R@1, R@5, MRR (strict judge)
    lenient: dict[str, dict[str, float]]  # mode -> the same metrics, lenient judge
    sponsor_top: dict[str, list[str]]  # mode -> queries whose top clip is inside a sponsor read
    offtopic: dict[str, dict[str, int]]  # mode -> off-topic query -> clips shown (should be 0)
    misses: dict[str, list[tuple[EvalQuery, Hit | None]]]  # mode -> queries not right at rank 1, with their top hit
    first_right: dict[str, list[int | None]]  # mode -> per query the rank of the first strictly right hit (None: none)


def strict_report(
    index: SearchIndex,
    queries: Sequence[EvalQuery],
    offtopic: Sequence[str] = (),
    sponsors: dict[str, Sequence[tuple[float, float]]] | None = None,
    modes: Iterable[Mode] = MODES,
    k: int = 10,
    floor: float = RANKING_FLOOR,
    min_coverage: float = RANKING_MIN_COVERAGE,
) -> StrictReport:
    """Strict and lenient R@1, R@5, MRR per mode, top clips inside sponsor reads, and clips for off-topic
    queries. Ranking runs with `floor`/`min_coverage` (ranking alone by default); the off-topic queries
    always run with the SearchOptions defaults, because "no clip" is what a user is shown."""
    if not queries:
        raise PodsearchError("no queries to evaluate")
    modes = tuple(modes)
    hits = run_searches(index, [q.query for q in queries], modes, k, floor, min_coverage)
    wanted = ["R@1", "R@5", "MRR"]

    def table(judge: Callable[[Hit, EvalQuery], bool]) -> dict[str, dict[str, float]]:
        return {mode: {m: v for m, v in summarize(rels, k).items() if m in wanted}
                for mode, rels in judge_hits(hits, queries, judge).items()}

    defaults = SearchOptions()
    shown = run_searches(index, list(offtopic), modes, k, defaults.floor, defaults.min_coverage) if offtopic else {}
    return StrictReport(
        strict=table(is_strictly_right),
        lenient=table(is_relevant),
        sponsor_top={mode: [q.query for q, found in zip(queries, lists) if found and inside_sponsor(found[0], sponsors)]
                     for mode, lists in hits.items()},
        offtopic={mode: {query: len(found) for query, found in zip(offtopic, shown.get(mode, []))} for mode in modes}
        if offtopic else {},
        misses={mode: [(q, found[0] if found else None) for q, found in zip(queries, lists)
                       if not (found and is_strictly_right(found[0], q))] for mode, lists in hits.items()},
        first_right={mode: [next((i for i, h in enumerate(found, 1) if is_strictly_right(h, q)), None)
                            for q, found in zip(queries, lists)] for mode, lists in hits.items()},
    )


def load_offtopic(path: Path) -> list[str]:
    """Off-topic query strings (a JSON list of strings); PodsearchError naming the file and the problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PodsearchError(f"off-topic file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PodsearchError(f"off-topic file {path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(q, str) and q.strip() for q in data):
        raise PodsearchError(f"off-topic file {path} must hold a JSON list of non-empty query strings")
    return [q.strip() for q in data]


def load_sponsor_ranges(timings_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """guid -> [(start, end)] of the sponsor reads in a directory of `*.timings.json` files (the
    development sets' format: `guid` and `regions` with `kind`, `start`, `end`); PodsearchError if unreadable."""
    out: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(Path(timings_dir).glob("*.timings.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out.setdefault(data["guid"], []).extend(
                (float(r["start"]), float(r["end"])) for r in data.get("regions", ()) if r.get("kind") == "sponsor")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise PodsearchError(f"timings file {path} cannot be read ({exc}); it needs 'guid' and 'regions'") from None
    return out


def format_strict(report: StrictReport, n_queries: int) -> str:
    """The strict table, the lenient one, then sponsor-read and off-topic lines."""
    lines = [format_table(report.strict, title=f"strict: {n_queries} queries (right episode, > half overlap, "
                                               f"starts <= {STRICT_LEAD:g} s before the answer or at its question)"),
             "", format_table(report.lenient, title=f"lenient: overlap within {TOLERANCE:g} s"), ""]
    for mode, leaked in report.sponsor_top.items():
        lines.append(f"top clip inside a sponsor read ({mode}): {len(leaked)} of {n_queries}"
                     + (f": {'; '.join(leaked)}" if leaked else ""))
    for mode, counts in report.offtopic.items():
        shown = {q: n for q, n in counts.items() if n}
        lines.append(f"off-topic queries with no clip ({mode}): {len(counts) - len(shown)} of {len(counts)}"
                     + (f"; clips for: {'; '.join(f'{q} ({n})' for q, n in shown.items())}" if shown else ""))
    return "\n".join(lines)


def evaluate(
    index: SearchIndex,
    queries: Sequence[EvalQuery],
    modes: Iterable[Mode] = MODES,
    k: int = 10,
    floor: float = RANKING_FLOOR,
    min_coverage: float = RANKING_MIN_COVERAGE,
) -> dict[str, dict[str, float]]:
    """mode -> {"R@1", "R@5", "R@10", "MRR", "nDCG@10"} (for k=10) over `queries`.

    By default the relevance floor and keyword-coverage minimum are off
    (floor=-1, min_coverage=0) so the figures measure ranking alone; pass the
    SearchOptions defaults to measure what a user is shown instead. MRR is
    MRR@k: a first relevant hit below rank k counts as a miss.
    """
    if not queries:
        raise PodsearchError("no queries to evaluate")
    lists = relevance_lists(index, queries, modes, k, floor, min_coverage)
    return {mode: summarize(rels, k) for mode, rels in lists.items()}


def by_kind(
    queries: Sequence[EvalQuery], lists: dict[str, list[list[bool]]], k: int = 10
) -> dict[str, dict[str, dict[str, float]]]:
    """kind -> mode -> metrics, from `relevance_lists` output (queries without a kind go under "")."""
    kinds = sorted({q.kind for q in queries})
    return {
        kind: {
            mode: summarize([r for q, r in zip(queries, rels) if q.kind == kind], k) for mode, rels in lists.items()
        }
        for kind in kinds
    }


def format_table(results: dict[str, dict[str, float]], title: str | None = None) -> str:
    """A fixed-width text table: one row per mode, one column per metric."""
    if not results:
        return title or ""
    columns = list(next(iter(results.values())))
    label = max(len("mode"), *(len(m) for m in results))
    width = max(7, *(len(c) for c in columns))
    lines = [title] if title else []
    lines.append("mode".ljust(label) + "".join(c.rjust(width + 2) for c in columns))
    lines.append("-" * (label + (width + 2) * len(columns)))
    for mode, metrics in results.items():
        lines.append(mode.ljust(label) + "".join(f"{metrics.get(c, float('nan')):.3f}".rjust(width + 2) for c in columns))
    return "\n".join(lines)


# -- the oracle: a naive window search over the same transcripts -------------------
NAIVE_WINDOW = 3  # windows of 1..3 consecutive segments (Whisper phrases or transcript sentences)


@dataclass(frozen=True)
class NaiveWindows:
    """Every window of 1..`NAIVE_WINDOW` consecutive indexed segments of each episode, embedded by the
    index's own sentence model: the naive search the project must never lose an answer to."""

    keys: list[str]
    guids: list[str]
    starts: np.ndarray
    ends: np.ndarray
    texts: list[str]
    vectors: np.ndarray  # one unit row per window


def naive_windows(index: SearchIndex, cache: Path | None = None, embed: bool = True,
                  embedder: Any = None) -> NaiveWindows:  # noqa: ANN401 - duck-typed Embedder
    """Build (or load from `cache`, an .npz keyed by the model and the windows' texts) the naive windows of `index`.

    `embed=False`: each window's vector is the normalised sum of its segments' stored vectors instead of
    its text embedded anew (exact for one-segment windows; minutes instead of an hour on a large library,
    where embedding every window's text on a loaded 2-core machine ran at 5 windows a second).
    `embedder`: the naive search's sentence model (default: the index's own); a bench keeps the bundled
    model's naive baseline beside an index embedded with a tuned model (docs/tuning.md).
    """
    rows = index.db.execute("SELECT e.key, e.guid, s.idx, s.start, s.end, s.text, s.embedding FROM segments s"
                            " JOIN episodes e ON e.key = s.key ORDER BY e.key, s.idx").fetchall()
    keys, guids, starts, ends, texts, spans = [], [], [], [], [], []
    for n, row in enumerate(rows):
        for size in range(1, NAIVE_WINDOW + 1):
            last = n + size - 1
            if last >= len(rows) or rows[last][0] != row[0]:
                break
            keys.append(row[0])
            guids.append(row[1] or row[0])
            starts.append(float(row[3]))
            ends.append(float(rows[last][4]))
            texts.append(" ".join(r[5] for r in rows[n : last + 1]))
            spans.append((n, last))
    model = embedder or index.embedder
    stamp = f"{model.name}:{hashlib.sha256(chr(10).join(texts).encode('utf-8')).hexdigest()[:16]}"
    # Caches from before the stamp named its model were embedded by the index's own model.
    legacy = f"{index.generation()}:{len(texts)}" if model.name == index.embedder.name else None
    if not embed:
        seg = (np.frombuffer(b"".join(r[6] for r in rows), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
               if rows else np.zeros((0, 384), np.float32))
        sums = np.cumsum(np.vstack([np.zeros((1, seg.shape[1]), np.float32), seg]), axis=0)
        vecs = np.array([sums[b + 1] - sums[a] for a, b in spans], dtype=np.float32).reshape(len(spans), seg.shape[1])
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
        return NaiveWindows(keys, guids, np.array(starts), np.array(ends), texts, vecs)
    if cache is not None and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as saved:
            found, vecs = str(saved["stamp"]), saved["vectors"]
        if found in (stamp, legacy):
            if found != stamp:
                np.savez(cache, stamp=np.array(stamp), vectors=vecs)
            return NaiveWindows(keys, guids, np.array(starts), np.array(ends), texts, vecs)
    vecs = np.asarray(model.encode(texts), dtype=np.float32) if texts else np.zeros((0, 384), np.float32)
    if cache is not None:
        np.savez(cache, stamp=np.array(stamp), vectors=vecs)
    return NaiveWindows(keys, guids, np.array(starts), np.array(ends), texts, vecs)


def naive_search(windows: NaiveWindows, qvec: np.ndarray, k: int = 10) -> list[Hit]:
    """The naive search: windows by cosine with the query, a window overlapping a better one dropped."""
    if not len(windows.texts):
        return []
    sims = windows.vectors @ np.asarray(qvec, dtype=np.float32)
    taken: list[int] = []
    for i in np.argsort(-sims, kind="stable"):
        if not any(windows.keys[j] == windows.keys[i] and windows.starts[i] < windows.ends[j]
                   and windows.ends[i] > windows.starts[j] for j in taken):
            taken.append(int(i))
            if len(taken) >= k:
                break
    return [Hit(show="", episode="", guid=windows.guids[i], key=windows.keys[i], published=None,
                start=float(windows.starts[i]), end=float(windows.ends[i]), text=windows.texts[i],
                score=round(float(sims[i]), 4), audio_url=None, source="whisper") for i in taken]


@dataclass(frozen=True)
class OracleReport:
    """The project against the naive window search on the same queries (strict judge, top 5)."""

    naive: dict[str, float]  # R@1, R@5, MRR
    project: dict[str, float]
    union_r5: float  # share of queries either one has in its top 5: the figure to beat
    lost: list[EvalQuery]  # answers naive has in its top 5 that the project does not
    project_hits: list[list[Hit]]
    naive_hits: list[list[Hit]]


def oracle_report(index: SearchIndex, queries: Sequence[EvalQuery], windows: NaiveWindows, k: int = 10,
                  options: SearchOptions | None = None,
                  search_fn: Callable[[SearchIndex, str, SearchOptions], list[Hit]] = search,
                  embedder: Any = None) -> OracleReport:  # noqa: ANN401 - duck-typed Embedder
    """Naive windows vs the project (hybrid, as a user is shown it unless `options` say otherwise;
    `search_fn`: another version's search, to compare before and after in one run; `embedder`: the model
    the naive windows were embedded with, when not the index's own)."""
    if not queries:
        raise PodsearchError("no queries to evaluate")
    options = options or SearchOptions(k=k)
    project = [search_fn(index, q.query, options) for q in queries]
    naive_model = embedder or index.embedder
    naive = [naive_search(windows, naive_model.encode([q.query])[0], k) for q in queries]
    wanted = ("R@1", "R@5", "MRR")

    def rels(lists: list[list[Hit]]) -> list[list[bool]]:
        return [[is_strictly_right(h, q) for h in found] for q, found in zip(queries, lists)]

    p_rel, n_rel = rels(project), rels(naive)
    lost = [q for q, p, n in zip(queries, p_rel, n_rel) if any(n[:5]) and not any(p[:5])]
    union = sum(any(p[:5]) or any(n[:5]) for p, n in zip(p_rel, n_rel)) / len(queries)
    return OracleReport(naive={m: v for m, v in summarize(n_rel, k).items() if m in wanted},
                        project={m: v for m, v in summarize(p_rel, k).items() if m in wanted},
                        union_r5=union, lost=lost, project_hits=project, naive_hits=naive)


def format_oracle(report: OracleReport, title: str) -> str:
    """The oracle's three columns (naive, project, lost) and the union to beat, one block."""
    n = len(report.project_hits)
    lines = [f"{title}: {n} queries, strict judge", f"{'':<10}{'R@1':>8}{'R@5':>8}{'MRR':>8}"]
    for name, row in (("naive", report.naive), ("project", report.project)):
        lines.append(f"{name:<10}" + "".join(f"{row[m]:>8.3f}" for m in ("R@1", "R@5", "MRR")))
    lines.append(f"lost (naive top 5, project not): {len(report.lost)}; union R@5 (the figure to beat): "
                 f"{report.union_r5:.3f}")
    lines += [f"  lost: {q.query!r} ({q.guid} {q.start:.1f}-{q.end:.1f})" for q in report.lost]
    clips = sorted(h.end - h.start for found in report.project_hits for h in found[:1])
    if clips:
        lines.append(f"project top clips: median {clips[len(clips) // 2]:.1f} s, longest {clips[-1]:.1f} s")
    return "\n".join(lines)
