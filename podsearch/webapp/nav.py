"""The app's pages and which one an address opens.

Search is the home page (`/`, `/?q=…`); Library and Collections have their own paths; the episode view is
a page reached from clips (`/episode?episode=GUID&t=…`). Older addresses keep working: `/?episode=…`
opens the episode view and `/?page=Library|Collections` opens that page.
"""

from __future__ import annotations

import streamlit as st

from podsearch.webapp import collections, episode, library, search, topics, watching

MENU = ("Search", "Topics", "Library", "Collections", "Watching")  # the pages in the menu; the episode view is reached from clips


def pages() -> dict[str, st.Page]:
    """Every page by name."""
    return {
        "Search": st.Page(search.render, title="Search", icon=":material/search:", url_path="search", default=True),
        "Topics": st.Page(topics.render, title="Topics", icon=":material/hub:", url_path="topics"),
        "Library": st.Page(library.render, title="Library", icon=":material/video_library:", url_path="library"),
        "Collections": st.Page(collections.render, title="Collections", icon=":material/bookmarks:",
                               url_path="collections"),
        "Watching": st.Page(watching.render, title="Watching", icon=":material/notifications:", url_path="watching"),
        "Episode": st.Page(episode.render, title="Episode", icon=":material/subject:", url_path="episode",
                           visibility="hidden"),
    }


def _redirect(name: str) -> tuple[str, dict] | None:
    """Where an older address (or a pending move) sends this run instead of page `name`, with which parameters."""
    move = st.session_state.pop("_goto", None)
    if move is not None:
        return move
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    if name != "Episode" and "episode" in params:
        return "Episode", params
    legacy = st.query_params.get("page")
    if legacy is not None:
        params.pop("page")
        if legacy in MENU and legacy != name:
            return legacy, params
        st.query_params.from_dict(params)
    return None


def route() -> None:
    """Run the page the address names (after any pending move between pages)."""
    by_name = pages()
    chosen = st.navigation(list(by_name.values()), position="top")
    name = next(n for n, p in by_name.items() if p.url_path == chosen.url_path)
    target = _redirect(name)
    if target is not None:
        st.switch_page(by_name[target[0]], query_params=target[1])
    st.session_state["_page"] = name
    chosen.run()
