"""The Search page: one search box, filters, evidence cards. Its address (`?q=…&show=…`) reruns the search."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from podsearch.core.errors import PodsearchError
from podsearch.core.records import Hit, chapter_at
from podsearch.index.search import LEAD_IN
from podsearch.service import exports
from podsearch.service.homes import empty_reason
from podsearch.webapp import state, watching
from podsearch.webapp.addresses import seed_search_from_url, share, sync_url
from podsearch.webapp.widgets import filters_ui, hit_card, md, plural, widget_default


def with_answer_chapter(hit: Hit, chapters: tuple) -> Hit:
    """The hit named after the chapter where the answer is said.

    A clip starts LEAD_IN seconds early, which can fall in the previous chapter.
    """
    said_at = min(hit.start + LEAD_IN, (hit.start + hit.end) / 2)
    return replace(hit, chapter=chapter_at(chapters, said_at) or hit.chapter)


def render() -> None:
    """The page: results for the query in the box, restricted by the filters; the address follows."""
    seed_search_from_url()
    results()
    sync_url(st.session_state.get("_search_params", {}))


def results() -> None:
    """The search box, the filters and the evidence cards."""
    with state.locked_index() as index:
        episodes = index.episodes()
        people = index.people()
        speakers = index.speakers()
        empty = index.passage_count() == 0
    shows = len({e.show for e in episodes})
    st.caption(f"Search what was said in {plural(len(episodes), 'episode')} of {plural(shows, 'show')}. "
               "Everything stays on this computer.")
    nothing = empty_reason(state.settings(), 0) if empty else None
    if nothing:
        st.info(f"{nothing[:1].upper() + nothing[1:]} (or add a feed on the Library page and ingest it, "
                "or run `podsearch demo`).")
    query = st.text_input("Search what was said", key="q", placeholder="e.g. stopping blood thinners before surgery — press Enter",
                          icon=":material/search:", **widget_default("q", ""))
    options = filters_ui(episodes, people, speakers)
    filters = options.filters
    query = (query or "").strip()
    params = exports.search_params(query, filters.shows, filters.sources, filters.date_from, filters.date_to,
                                   filters.person, filters.speaker, options.include_ads)
    st.session_state["_search_params"] = {key: v for key, v in params.items() if v}
    if not query:
        return
    watching.watch_this_search(query, options)
    try:
        hits = state.run_search(query, replace(options, floor=state.settings().relevance_floor))
    except PodsearchError as exc:
        st.error(md(str(exc)))
        return
    chapters = {e.key: e.chapters for e in episodes}
    hits = [with_answer_chapter(h, chapters.get(h.key, ())) for h in hits]
    if not hits and nothing:
        st.info(f"{nothing[:1].upper() + nothing[1:]}.", icon=":material/search_off:")
        return
    if not hits:
        st.info(f"Nothing relevant found for “{md(query)}”. Try other words, or fewer filters.", icon=":material/search_off:")
        return
    st.caption(f"{plural(len(hits), 'clip')}, most relevant first · "
               f"[link to this search]({share(st.session_state['_search_params'])})")
    for i, hit in enumerate(hits):
        hit_card(i, hit, query)
