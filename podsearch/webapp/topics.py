"""The Topics page: what the library covers, as topics of passages across episodes; browse one, play
its clips, save them to a collection (the search page's clip cards)."""

from __future__ import annotations

import streamlit as st

from podsearch.service.topics import topic_clips
from podsearch.webapp import state
from podsearch.webapp.widgets import hit_card, md, plural

EMPTY = "No topics yet: ingest a few episodes (Library) and the map is drawn after the ingest."


def render() -> None:
    """The topic picker and the chosen topic's clips, best first."""
    st.subheader("Topics")
    with state.locked_index() as index:
        found = topic_clips(index)
    if not found:
        st.info(EMPTY)
        return
    st.caption(f"{plural(len(found), 'topic')} across the library, drawn by podsearch from what is said "
               "(clusters of passages, labelled by their most particular words).")
    names = [f"{t.label} · {plural(t.episodes, 'episode')}" for t in found]
    chosen = st.selectbox("Topic", range(len(found)), format_func=lambda n: names[n], key="topic")
    topic = found[chosen or 0]
    st.caption("Terms: " + ", ".join(md(t) for t in topic.terms))
    for n, hit in enumerate(topic.clips):
        hit_card(n, hit, "")
