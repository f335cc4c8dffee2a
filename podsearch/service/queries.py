"""One definition of a search request and of its answer, shared by the CLI, the JSON API and the MCP server."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np

from podsearch.core.config import Settings
from podsearch.core.errors import QueryError
from podsearch.core.records import Hit
from podsearch.index.search import Filters, SearchOptions
from podsearch.index.search import search as run_search
from podsearch.index.store import SearchIndex

MODES = ("hybrid", "dense", "keyword")
SOURCES = ("whisper", "publisher")
MAX_K = 100  # more clips than anyone reads; bounds the work one request can ask for


def iso_date(value: str | None, name: str) -> str | None:
    """`value` as YYYY-MM-DD, or a QueryError naming the parameter `name`."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise QueryError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD") from None


def search_options(settings: Settings, *, k: int = 5, mode: str = "hybrid", shows: Iterable[str] = (),
                   sources: Iterable[str] = (), date_from: str | None = None, date_to: str | None = None,
                   person: str | None = None, speaker: str | None = None, per_episode: int | None = None,
                   rerank_model: str | None = None, include_ads: bool = False,
                   names: dict[str, str] | None = None) -> SearchOptions:
    """Checked SearchOptions with the home's relevance floor; `names` maps fields to the caller's parameter names."""
    label = {"k": "k", "from": "from", "to": "to", "mode": "mode", "source": "source",
             "per_episode": "per_episode", **(names or {})}
    if not 1 <= k <= MAX_K:
        raise QueryError(f"{label['k']} must be between 1 and {MAX_K} (got {k})")
    if mode not in MODES:
        raise QueryError(f"{label['mode']} {mode!r} is unknown; choose one of: {', '.join(MODES)}")
    sources = tuple(sources)
    for source in sources:
        if source not in SOURCES:
            raise QueryError(f"{label['source']} {source!r} is unknown; choose one of: {', '.join(SOURCES)}")
    if per_episode is not None and per_episode < 1:
        raise QueryError(f"{label['per_episode']} must be at least 1 (got {per_episode})")
    start, end = iso_date(date_from, label["from"]), iso_date(date_to, label["to"])
    if start and end and start > end:
        raise QueryError(f"{label['from']} {start} is after {label['to']} {end}; swap them")
    filters = Filters(shows=tuple(s for s in shows if s), sources=sources, date_from=start, date_to=end,
                      person=(person or "").strip() or None, speaker=(speaker or "").strip() or None)
    return SearchOptions(k=k, mode=mode, floor=settings.relevance_floor, per_episode=per_episode,  # type: ignore[arg-type]
                         rerank_model=rerank_model, include_ads=include_ads, filters=filters)


def episode_json(row: Any) -> dict[str, Any]:  # library.EpisodeRow
    """One episode of the catalog as the API and the MCP server list it."""
    ep = row.episode
    return {"key": ep.key, "guid": ep.guid, "show": row.show_title, "title": ep.title, "published": ep.published,
            "duration": ep.duration, "audio_url": ep.audio_url, "link": ep.link, "status": row.status,
            "error": row.error, "source": row.source}


def hit_json(hit: Hit) -> dict[str, Any]:
    """One clip as `search --json` prints it (and the API and MCP server answer)."""
    return hit.to_json()


def search_json(index: SearchIndex, query: str, options: SearchOptions,
                qvec: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The clips for `query` as JSON-ready dicts ([] when nothing clears the relevance floor); `qvec`: the
    query's vector when the caller embedded it already."""
    return [hit_json(h) for h in run_search(index, query, options, qvec)]
