"""podsearch — the Streamlit app: search, episode view, library, clip collections.

Run with `podsearch app` (or `streamlit run app.py`); the data home comes
from PODSEARCH_HOME. Everything runs locally; nothing is sent anywhere.
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import streamlit as st

from index.search import Filters, SearchOptions, context, search
from podsearch import exports
from podsearch.config import Settings, load_settings
from podsearch.errors import PodsearchError
from podsearch.jobs import IngestJobs
from podsearch.pipeline import add_feed, open_index, open_library, playable_audio

st.set_page_config(page_title="podsearch", page_icon="🎧", layout="wide")


# -- resources shared by every session of this server process ----------------------
def _settings() -> Settings:
    # Cheap to read, and not cached: the home comes from the environment of this run.
    return load_settings()


@st.cache_resource(show_spinner="Loading the search index…")
def _index(home: str):  # noqa: ANN202 - index.store.SearchIndex
    index = open_index(_settings())
    index.embedder  # load the sentence model once, before the first query
    return index


@st.cache_resource
def _search_lock(home: str) -> threading.Lock:
    # One SQLite connection and one torch model serve all sessions: serialise queries.
    return threading.Lock()


@st.cache_resource
def _jobs() -> IngestJobs:
    return IngestJobs()


def run_search(query: str, options: SearchOptions) -> list:
    """Search the home's index (thread-safe across browser sessions)."""
    settings = _settings()
    with _search_lock(str(settings.home)):
        return search(_index(str(settings.home)), query, options)


def highlight(text: str, query: str) -> str:
    """The quote as HTML with the query's words marked."""
    from index.keyword import query_terms

    escaped = html.escape(text)
    terms = [re.escape(html.escape(t)) for t in query_terms(query) if len(t) > 2]
    if not terms:
        return escaped
    return re.sub(r"(?i)\b(" + "|".join(terms) + r")\w*", r"<mark>\g<0></mark>", escaped)


def audio_format(source: str) -> str:
    """The MIME type the browser needs to play `source`."""
    import mimetypes

    guessed, _ = mimetypes.guess_type(source.split("?")[0])
    return guessed if guessed and guessed.startswith("audio/") else "audio/mpeg"


# -- search page ----------------------------------------------------------------------
def _filters_ui() -> Filters:
    index = _index(str(_settings().home))
    shows = sorted({e.show for e in index.episodes()})
    with st.expander("Filters", expanded=False):
        cols = st.columns(3)
        chosen = cols[0].multiselect("Show", shows, key="f_shows")
        sources = cols[1].multiselect("Transcript source", ["whisper", "publisher"], key="f_sources")
        dates = cols[2].date_input("Published between", value=(), key="f_dates")
    date_from = dates[0].isoformat() if len(dates) >= 1 else None
    date_to = dates[1].isoformat() if len(dates) >= 2 else None
    return Filters(shows=tuple(chosen), sources=tuple(sources), date_from=date_from, date_to=date_to)


def _hit_card(i: int, hit, query: str) -> None:
    settings = _settings()
    with st.container(border=True):
        st.markdown(
            f"**{html.escape(hit.show)}** — {html.escape(hit.episode)} · {hit.published or 'undated'} · "
            f"⏱ {exports.clock(hit.start)}–{exports.clock(hit.end)}"
            + (f" · 📖 {html.escape(hit.chapter)}" if hit.chapter else ""),
        )
        st.markdown(f"<blockquote>{highlight(hit.text, query)}</blockquote>", unsafe_allow_html=True)
        badges = [f"source: {hit.source}", f"score {hit.score:.2f}"]
        if hit.flagged:
            badges.append("⚠ low transcript quality")
        st.caption(" · ".join(badges))
        audio = playable_audio(settings, hit.audio_url)
        if audio:
            st.audio(audio, format=audio_format(audio), start_time=int(hit.start), end_time=int(hit.end + 0.999))
        cols = st.columns([1, 1, 1, 2])
        link = exports.deep_link(hit.to_json())
        if link and link.startswith(("http://", "https://")):
            cols[0].link_button("Open at this moment", link)
        if cols[1].button("Episode view", key=f"ep_{i}"):
            st.query_params.update({"episode": hit.guid, "t": f"{hit.start:.0f}"})
            st.rerun()
        with cols[2].popover("Cite"):
            st.code(exports.citation(hit.to_json()), language=None)
        with cols[3].popover("Save to collection"):
            library = open_library(settings)
            try:
                names = library.collections()
                name = st.selectbox("Collection", names + ["New collection…"], key=f"col_{i}")
                if name == "New collection…":
                    name = st.text_input("Name", key=f"newcol_{i}")
                note = st.text_input("Note", key=f"note_{i}")
                if st.button("Save", key=f"save_{i}") and name:
                    library.add_to_collection(name, hit.to_json(), note)
                    st.success(f"Saved to {name}")
            finally:
                library.close()
        with st.expander("More context"):
            index = _index(str(settings.home))
            for seg in context(index, hit):
                inside = hit.start <= seg.start < hit.end
                line = f"`{exports.clock(seg.start)}` {html.escape(seg.text)}"
                st.markdown(f"**{line}**" if inside else line)


def page_search() -> None:
    """One search box, filters, evidence cards."""
    settings = _settings()
    index = _index(str(settings.home))
    st.title("🎧 podsearch")
    if index.passage_count() == 0:
        st.info("The library is empty. Add a feed on the Library page, or run `podsearch demo`.")
    query = st.text_input("Search what was said", value=st.query_params.get("q", ""), key="query",
                          placeholder="e.g. calming an angry relative")
    filters = _filters_ui()
    k = st.slider("Results", 1, 20, 5, key="k")
    if not query.strip():
        return
    st.query_params["q"] = query
    try:
        hits = run_search(query, SearchOptions(k=k, filters=filters, floor=settings.relevance_floor))
    except PodsearchError as exc:
        st.error(str(exc))
        return
    if not hits:
        st.warning("Nothing relevant found. Try other words, or fewer filters.")
        return
    for i, hit in enumerate(hits):
        _hit_card(i, hit, query)


# -- episode view --------------------------------------------------------------------
def page_episode(guid: str) -> None:
    """The whole transcript with timestamps and chapters; click a line to play from there."""
    settings = _settings()
    index = _index(str(settings.home))
    episode = next((e for e in index.episodes() if e.guid == guid), None)
    if st.button("← Back to search"):
        for key in ("episode", "t"):
            st.query_params.pop(key, None)
        st.rerun()
    if episode is None:
        st.error(f"No indexed episode with guid {guid!r}.")
        return
    st.header(episode.episode)
    st.caption(f"{episode.show} · {(episode.published or '')[:10] or 'undated'} · transcript: {episode.source}")
    start = float(st.query_params.get("t", 0) or 0)
    audio = playable_audio(settings, episode.audio_url)
    if audio:
        st.audio(audio, format=audio_format(audio), start_time=int(start))
    if episode.chapters:
        st.markdown("**Chapters:** " + " · ".join(f"{exports.clock(c.start)} {html.escape(c.title)}" for c in episode.chapters))
    within = st.text_input("Search within this episode", key="within")
    segments = index.segments(guid)
    if within.strip():
        hits = run_search(within, SearchOptions(k=5, filters=Filters(guids=(guid,)), floor=settings.relevance_floor))
        if not hits:
            st.warning("Nothing relevant found in this episode.")
        for hit in hits:
            st.markdown(f"`{exports.clock(hit.start)}` {highlight(hit.text, within)}", unsafe_allow_html=True)
    for n, seg in enumerate(segments):
        cols = st.columns([1, 9])
        if cols[0].button(exports.clock(seg.start), key=f"seg_{n}"):
            st.query_params["t"] = f"{seg.start:.0f}"
            st.rerun()
        speaker = f"**{html.escape(seg.speaker)}:** " if seg.speaker else ""
        cols[1].markdown(speaker + html.escape(seg.text) + (" ⚠" if seg.flagged else ""))


# -- library ---------------------------------------------------------------------------
def page_library() -> None:
    """Feeds and episodes with status; add feeds, import OPML, run ingest."""
    settings = _settings()
    jobs = _jobs()
    st.header("Library")
    with st.form("add_feed", clear_on_submit=True):
        url = st.text_input("Feed URL or local path", key="feed_url")
        if st.form_submit_button("Add feed") and url.strip():
            try:
                show, count = add_feed(settings, url.strip())
                st.success(f"Added {show.title}: {count} episodes")
            except PodsearchError as exc:
                st.error(str(exc))
    opml = st.file_uploader("Import an OPML file", type=["opml", "xml"], key="opml")
    if opml is not None and st.button("Import subscriptions"):
        from ingest.opml import parse_opml

        try:
            for title, feed_url in parse_opml(opml.getvalue()):
                try:
                    show, count = add_feed(settings, feed_url)
                    st.success(f"Added {show.title}: {count} episodes")
                except PodsearchError as exc:
                    st.error(f"{title or feed_url}: {exc}")
        except PodsearchError as exc:
            st.error(str(exc))

    state = jobs.state(settings)
    if st.button("Refresh and ingest", disabled=state.running, type="primary"):
        jobs.start(settings)
        state = jobs.state(settings)
    if state.running:
        st.progress(state.fraction, text=f"{state.stage}: {state.title}")
        if st.button("Update progress"):
            st.rerun()
    elif state.report is not None or state.error:
        if state.error:
            st.error(state.error)
        else:
            st.success(f"Ingest finished: {len(state.report.indexed)} indexed, "
                       f"{len(state.report.episode_errors)} failed.")
    for line in state.log[-10:]:
        st.caption(line)

    library = open_library(settings)
    try:
        feeds = library.feeds()
        if not feeds:
            st.info("No feeds yet.")
        for feed in feeds:
            with st.container(border=True):
                st.markdown(f"**{html.escape(feed.title or feed.url)}** · status: `{feed.status}`")
                st.caption(feed.url)
                if feed.error:
                    st.error(feed.error)
                rows = library.episodes(feed_id=feed.id)
                st.dataframe(
                    [{"status": r.status, "published": (r.episode.published or "")[:10], "episode": r.episode.title,
                      "source": r.source or "", "error": r.error or ""} for r in rows],
                    hide_index=True, width="stretch",
                )
    finally:
        library.close()


# -- collections ----------------------------------------------------------------------
def page_collections() -> None:
    """Ordered, annotated clip collections with exports."""
    settings = _settings()
    st.header("Collections")
    library = open_library(settings)
    try:
        names = library.collections()
        new = st.text_input("New collection", key="new_collection")
        if st.button("Create") and new.strip():
            library.create_collection(new)
            st.rerun()
        if not names:
            st.info("No collections yet. Save clips from search results.")
            return
        name = st.selectbox("Collection", names, key="collection")
        items = library.collection_items(name)
        for n, item in enumerate(items):
            hit = item["hit"]
            with st.container(border=True):
                st.markdown(f"**{n + 1}. {html.escape(hit['episode'])}** · {html.escape(hit['show'])} · "
                            f"{exports.clock(hit['start'])}–{exports.clock(hit['end'])}")
                st.markdown(f"> {html.escape(hit['text'])}")
                cols = st.columns([1, 1, 1, 4])
                if cols[0].button("↑", key=f"up_{item['id']}", disabled=n == 0):
                    library.move_item(name, item["id"], -1)
                    st.rerun()
                if cols[1].button("↓", key=f"down_{item['id']}", disabled=n == len(items) - 1):
                    library.move_item(name, item["id"], +1)
                    st.rerun()
                if cols[2].button("Remove", key=f"rm_{item['id']}"):
                    library.remove_item(item["id"])
                    st.rerun()
                note = cols[3].text_input("Note", value=item["note"], key=f"ann_{item['id']}")
                if note != item["note"]:
                    library.annotate_item(item["id"], note)
        if items:
            cols = st.columns(3)
            cols[0].download_button("Handout (Markdown)", exports.markdown_handout(name, items),
                                    file_name=f"{name}.md", mime="text/markdown")
            cols[1].download_button("Playlist (M3U)", exports.m3u_playlist(name, items),
                                    file_name=f"{name}.m3u", mime="audio/x-mpegurl")
            cols[2].download_button("Table (CSV)", exports.csv_table(items), file_name=f"{name}.csv", mime="text/csv")
    finally:
        library.close()


def main() -> None:
    """Route between the pages."""
    episode = st.query_params.get("episode")
    if episode:
        page_episode(episode)
        return
    search_tab, library_tab, collections_tab = st.tabs(["Search", "Library", "Collections"])
    with search_tab:
        page_search()
    with library_tab:
        page_library()
    with collections_tab:
        page_collections()


main()
