"""Retrieval quality on a labelled query set: Recall@k, MRR and nDCG per search mode.

A query file is a JSON list of {"query", "guid", "start", "end", "kind"}: one
known answer per query (the moment of one episode that answers it). A hit is
relevant when it comes from that episode and its clip overlaps the answer,
give or take a few seconds (clips are trimmed, so exact edges never match).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from podsearch.index.search import Mode, SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Hit

MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
TOLERANCE = 5.0  # seconds either side of the labelled answer
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
    return EvalQuery(query=item["query"].strip(), guid=item["guid"], start=start, end=end, kind=kind)


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
    out: dict[str, list[list[bool]]] = {}
    for mode in modes:
        options = SearchOptions(k=k, mode=mode, floor=floor, min_coverage=min_coverage)
        out[mode] = [[is_relevant(h, q, tolerance) for h in search(index, q.query, options)] for q in queries]
    return out


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
