"""Addresses: query parameters in and out, and moves between pages that carry them."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from podsearch.service import exports

SOURCES = ("publisher", "whisper")
SEARCH_KEYS = ("q", "show", "source", "from", "to", "person", "speaker", "ads")  # a search's address
LISTS = ("show", "source")  # repeated parameters


def parse_date(text: str | None) -> dt.date | None:
    """`2025-03-02…` as a date, or None when it is not one."""
    try:
        return dt.date.fromisoformat((text or "")[:10])
    except ValueError:
        return None


def seconds(name: str) -> float | None:
    """A time in the address (`t`, `end`) in seconds, or None when absent or not a number."""
    try:
        return max(0.0, float(st.query_params.get(name, "")))
    except ValueError:
        return None


def share(params: dict) -> str:
    """This page's address with `params`: absolute when the browser told us where we are."""
    return exports.share_url(st.context.url or "/", params)


def sync_url(params: dict) -> None:
    """Show `params` in the address bar (only when they changed, so history stays clean)."""
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    wanted = {k: (v if isinstance(v, list) else [v]) for k, v in params.items() if v not in (None, "", [])}
    if current != wanted:
        st.query_params.from_dict(wanted)


def seed_search_from_url() -> None:
    """Give the search widgets their values from the address, once per widget (page load, or back from a view)."""
    qp = st.query_params
    seeds: dict[str, object] = {
        "q": qp.get("q"),
        "f_shows": qp.get_all("show") or None,
        "f_sources": [s for s in qp.get_all("source") if s in SOURCES] or None,
        "f_person": qp.get("person"),
        "f_speaker": qp.get("speaker"),
        "f_ads": True if qp.get("ads") == "1" else None,
    }
    start, end = parse_date(qp.get("from")), parse_date(qp.get("to"))
    if start or end:
        seeds["f_dates"] = (start or dt.date(1900, 1, 1), end) if end else (start,)
    for key, value in seeds.items():
        if value is not None and key not in st.session_state:
            st.session_state[key] = value
    if "_search_params" not in st.session_state:
        st.session_state["_search_params"] = {k: (qp.get_all(k) if k in LISTS else qp[k]) for k in SEARCH_KEYS if k in qp}


def go(page: str, params: dict | None = None) -> None:
    """Move to `page` (a name in nav.PAGES) with `params` as its address, before the next run renders anything.

    Callbacks cannot switch pages themselves, so the move waits in the session for the router.
    """
    st.session_state["_goto"] = (page, dict(params or {}))


def current_page() -> str:
    """The name of the page this run renders."""
    return st.session_state.get("_page", "Search")


def open_episode(key: str, start: float, end: float | None = None, autoplay: bool = False) -> None:
    """Callback: switch to the episode view at `start` (a clip when `end` is given)."""
    st.session_state["_return_page"] = current_page()
    params = {"episode": key, "t": exports.url_seconds(start)}
    if end is not None:
        params["end"] = exports.url_seconds(end)
    st.session_state["_autoplay"] = autoplay
    go("Episode", params)


def go_back() -> None:
    """Callback: leave the episode view for the page (and search) the user came from."""
    page = st.session_state.pop("_return_page", "Search")
    go(page, dict(st.session_state.get("_search_params", {})) if page == "Search" else {})
