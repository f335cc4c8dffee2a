"""The Watching page (`/watching?watch=NAME`): saved searches, their new-entry counts, and each entry as a clip
card; and the search page's "Watch this search" button."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from podsearch.core.errors import PodsearchError
from podsearch.core.records import CONFIDENCES, Hit
from podsearch.index.search import SearchOptions
from podsearch.service.watches import WatchBook, watch_book
from podsearch.webapp import state
from podsearch.webapp.addresses import go, sync_url
from podsearch.webapp.widgets import admin_allowed, hit_card, md, plural

_HIT_FIELDS = {f.name for f in fields(Hit)}


def _book():  # noqa: ANN202 - a context manager of WatchBook
    return watch_book(state.settings())


def as_hit(data: dict) -> Hit:
    """A stored hit (`search --json`) as the Hit the clip card shows."""
    return Hit(**{k: v for k, v in data.items() if k in _HIT_FIELDS})


def _call(method, *args: object) -> None:  # noqa: ANN001 - an unbound WatchBook method
    """Callback: `method(book, *args)` on a connection of its own, e.g. `WatchBook.mark_read`."""
    with _book() as book:
        method(book, *args)


def watch_this_search(query: str, options: SearchOptions) -> None:
    """The search page's "Watch this search": save the query (with its show and speaker) as a watch."""
    if not admin_allowed():
        return
    filters = options.filters
    with st.popover("Watch this search", icon=":material/notifications:"):
        st.caption("New episodes are checked at every ingest; their matching clips appear on the Watching page "
                   "and in the watch's Atom feed.")
        name = st.text_input("Name of the watch", value=query[:80], key="watch_name")
        confidence = st.selectbox("Report matches at least", CONFIDENCES, index=1, key="watch_confidence")
        show = filters.shows[0] if len(filters.shows) == 1 else None
        if len(filters.shows) > 1:
            st.caption("A watch follows one show or all: this one follows all shows.")
        if st.button("Watch", key="watch_add", type="primary", icon=":material/add_alert:"):
            try:
                with _book() as book:
                    watch = book.add(query, name, show=show, speaker=filters.speaker, min_confidence=confidence)
            except PodsearchError as exc:
                st.error(md(str(exc)))
            else:
                st.success(f"Watching “{md(watch.query)}” as “{md(watch.name)}”.")
                st.button("Open the Watching page", key="watch_open", on_click=go,
                          args=("Watching", {"watch": watch.name}))


def render() -> None:
    """The page: every watch with its counts, then the chosen watch's entries as clip cards."""
    st.header("Watching")
    with _book() as book:
        watches = book.watches()
    if not watches:
        st.info("No watches yet. Search for something on the Search page and press “Watch this search”; "
                "clips of episodes ingested from then on appear here.", icon=":material/notifications_off:")
        return
    st.dataframe([{"Watch": w.name, "Query": w.query, "New": w.unread, "Entries": w.entries,
                   "Show": w.show or "all", "At least": w.min_confidence}
                  for w in watches], hide_index=True, width="stretch")
    names = [w.name for w in watches]
    wanted = st.query_params.get("watch")
    if wanted in names and "watch" not in st.session_state:
        st.session_state["watch"] = wanted
    by_name = {w.name: w for w in watches}
    chosen = st.selectbox("Watch", names, key="watch",
                          format_func=lambda n: f"{n} ({by_name[n].unread} new)" if by_name[n].unread else n)
    watch = by_name[chosen]
    sync_url({"watch": chosen})
    with _book() as book:
        entries = book.entries(chosen)
    st.caption(f"“{md(watch.query)}” · {plural(len(entries), 'clip')}, {watch.unread} new · "
               f"at least {watch.min_confidence}" + (f" · {md(watch.show)}" if watch.show else "")
               + (f" · speaker {md(watch.speaker)}" if watch.speaker else "")
               + (f" · webhook {md(watch.webhook_state)}" if watch.webhook and admin_allowed() else ""))
    if admin_allowed():
        with st.container(horizontal=True, gap="small"):
            st.button("Mark all as read", key="watch_read", icon=":material/done_all:", disabled=not watch.unread,
                      on_click=_call, args=(WatchBook.mark_read, chosen))
            st.button("Remove this watch", key="watch_remove", icon=":material/delete:",
                      on_click=_call, args=(WatchBook.remove, chosen))
    if not entries:
        st.info("Nothing yet: clips appear here when an ingest brings an episode that matches.",
                icon=":material/hourglass_empty:")
    for i, entry in enumerate(entries):
        if not entry.read:
            st.caption(f":blue-badge[:material/fiber_new: New] found {md(entry.found_at[:16].replace('T', ' '))} UTC")
        hit_card(i, as_hit(entry.hit), watch.query)
