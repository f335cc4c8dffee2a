"""The library's topic map for people and tools: kept up to date after ingest and reindex, read as
plain dicts (`{"label", "terms", "episodes", "clips": [{"key", "episode", "show", "start", "end"}]}`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from podsearch.core.config import Settings
from podsearch.core.records import Hit
from podsearch.service.models import Models

CLIPS = 20  # clips shown per topic


def refresh_topics(index, rebuild: bool = False) -> str:  # noqa: ANN001 - index.store.SearchIndex (writable)
    """Bring the map up to date with the index: new passages join their nearest topic, those fitting
    none may form new topics (the others untouched); the map is built from scratch when asked
    (`rebuild`), when there is none, or once the library has outgrown it. Returns "built", "assigned"
    or "unchanged"."""
    from podsearch.index import topics

    db = index.db
    if rebuild or topics.needs_build(db):
        topics.build(db)
        return "built"
    seen, loose = topics.assign(db)
    if seen and topics.outgrown(db):
        topics.build(db)
        return "built"
    if loose:
        topics.grow(db)  # a theme the map has not seen: a topic of its own
    return "assigned" if seen else "unchanged"


@dataclass(frozen=True)
class TopicClips:
    """One topic as people see it: label, terms, how many episodes, and its clips best first."""

    label: str
    terms: tuple[str, ...]
    episodes: int
    clips: tuple[Hit, ...]

    def to_json(self) -> dict[str, Any]:
        """The `topics --json` / API / MCP shape."""
        return {"label": self.label, "terms": list(self.terms), "episodes": self.episodes,
                "clips": [{"key": h.key, "episode": h.episode, "show": h.show, "start": round(h.start, 3),
                           "end": round(h.end, 3)} for h in self.clips]}


def topic_clips(index, show: str | None = None, clips: int = CLIPS) -> list[TopicClips]:  # noqa: ANN001
    """The topics (largest first) with their best clips first, as hits ready to play or save; `show`:
    only that show's clips (by title, any case), topics without any left out. An index from before
    topics existed has none."""
    from podsearch.core.records import chapter_at
    from podsearch.index import topics
    from podsearch.index.store import chapters_from_json

    try:
        found = topics.read(index.db, clips=clips if show is None else 10_000)
    except sqlite3.OperationalError:  # a read-only reader of an index not yet migrated
        return []
    rows = index.passages_by_id([c.passage_id for t in found for c in t.clips])
    wanted = show.casefold().strip() if show else None
    out = []
    for topic in found:
        items = [(rows[c.passage_id], c.score) for c in topic.clips if c.passage_id in rows]
        if wanted is not None:
            items = [(r, sc) for r, sc in items if r["show"].casefold() == wanted]
        if not items:
            continue
        hits = tuple(Hit(show=r["show"], episode=r["episode"], guid=r["guid"], key=r["key"],
                         published=(r["published"] or "")[:10] or None, start=r["start"], end=r["end"], text=r["text"],
                         score=round(sc, 4), audio_url=r["audio_url"], source=r["source"], link=r["link"],
                         chapter=chapter_at(chapters_from_json(r["chapters"]), r["start"]), kind=r["kind"])
                     for r, sc in items[:clips])
        out.append(TopicClips(topic.label, topic.terms,
                              len({r["key"] for r, _ in items}) if wanted is not None else topic.episodes, hits))
    return out


def topic_map(index, show: str | None = None, clips: int = CLIPS) -> list[dict[str, Any]]:  # noqa: ANN001
    """`topic_clips` as plain dicts: `{"label", "terms", "episodes", "clips": [{"key", "episode", "show",
    "start", "end"}]}`."""
    return [t.to_json() for t in topic_clips(index, show, clips)]


def library_topics(settings: Settings, show: str | None = None, rebuild: bool = False,
                   models: Models | None = None) -> list[dict[str, Any]]:
    """The home's topic map (built first if it has none yet, or on `rebuild`, under the writer lock)."""
    from podsearch.index import topics
    from podsearch.service.home import Home
    from podsearch.service.homelock import writing

    with Home(settings, models).index() as index:
        if rebuild or topics.needs_build(index.db):
            with writing(settings, "topics"):
                refresh_topics(index, rebuild=rebuild)
        return topic_map(index, show)
