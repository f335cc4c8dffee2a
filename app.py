"""podsearch — the Streamlit app: search, episode view, library, clip collections.

Run with `podsearch app` (or `streamlit run app.py`); the data home comes
from PODSEARCH_HOME. Everything runs locally; nothing is sent anywhere.

Every view has a shareable address: `?q=...&show=...&source=...&from=...&to=...`
reruns a search, `?episode=GUID&t=SECONDS[&end=SECONDS]` opens an episode at a
moment (a clip when `end` is given), `?page=Library|Collections` opens a page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import mimetypes
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import streamlit as st

from podsearch.index.search import LEAD_IN, Filters, SearchOptions, context, search
from podsearch.service import exports
from podsearch.service.clips import clips_zip
from podsearch.core.config import Settings, load_settings
from podsearch.core.errors import PodsearchError
from podsearch.service.jobs import JobState, shared_jobs
from podsearch.service.pipeline import add_feed, open_index, open_library, playable_audio
from podsearch.core.records import Hit
from podsearch.webapp import roles

st.set_page_config(page_title="podsearch", page_icon="🎧", layout="wide", initial_sidebar_state="collapsed")

PAGES = ("Search", "Library", "Collections")
SOURCES = ("publisher", "whisper")
SOURCE_LABELS = {"publisher": "Publisher transcript", "whisper": "Whisper transcript (automatic)"}
NEW_COLLECTION = "+ New collection…"
LINES_PER_PART = 120  # transcript lines per part: keeps long episodes quick to render, phones included
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav"}
CSS = """<style>
mark { background: #fde68a; color: #1f2937; padding: 0 .12em; border-radius: .2em; }
/* Transcript lines, chapters and in-episode hits read as left-aligned text that plays when clicked. */
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button { justify-content: flex-start; text-align: left; min-height: 0; padding: .15rem 0; }
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button > div { justify-content: flex-start; width: 100%; }
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button p { text-align: left; }
blockquote { margin: .25rem 0 .5rem 0; opacity: 1 !important; }  /* the quote is the evidence: full contrast */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""


# -- resources shared by every session of this server process ----------------------
def _settings() -> Settings:
    # Cheap to read, and not cached: the home comes from the environment of this run.
    return load_settings()


@st.cache_resource(show_spinner="Loading the search index and sentence model…")
def _index(home: str):  # noqa: ANN202 - index.store.SearchIndex
    index = open_index(_settings())
    embedder = index.embedder  # load the sentence model once, before the first query
    embedder.prepare_queries(background=True)  # the app lives long: embed queries with ONNX Runtime
    return index


@st.cache_resource
def _index_lock(home: str) -> threading.Lock:
    # One SQLite connection and one torch model serve all sessions: serialise their use.
    return threading.Lock()


@contextlib.contextmanager
def locked_index() -> Iterator:
    """The home's index, held exclusively by this session while in use."""
    home = str(_settings().home)
    index = _index(home)
    with _index_lock(home):
        yield index


def run_search(query: str, options: SearchOptions) -> list[Hit]:
    """Search the home's index (thread-safe across browser sessions)."""
    with locked_index() as index:
        return search(index, query, options)


# -- small helpers -------------------------------------------------------------------
def md(text: str) -> str:
    """Plain text made safe inside Markdown (no accidental emphasis, links or LaTeX)."""
    for ch in "\\`*_[]$~|#<>":
        text = text.replace(ch, "\\" + ch)
    return text


def marked(text: str, query: str) -> str:
    """Text with the query's words highlighted, safe inside Markdown with HTML on."""
    out = exports.highlight_html(text, query)
    for ch in "\\`*_[]$~|#":
        out = out.replace(ch, "\\" + ch)
    return out


def audio_format(source: str) -> str:
    """The MIME type the browser needs to play `source`."""
    path = source.split("?")[0].split("#")[0]
    known = AUDIO_TYPES.get(Path(path).suffix.lower())
    guessed, _ = mimetypes.guess_type(path)
    return known or (guessed if guessed and guessed.startswith("audio/") else "audio/mpeg")


def player(audio_url: str | None, start: float = 0.0, end: float | None = None, autoplay: bool = False) -> None:
    """An audio player that starts at `start` and stops at `end` (whole seconds, widened to cover the clip)."""
    source = playable_audio(_settings(), audio_url)
    if not source:
        st.caption(":material/volume_off: No playable audio for this episode.")
        return
    first = int(start)
    last = max(math.ceil(end), first + 1) if end is not None else None
    st.audio(source, format=audio_format(source), start_time=first, end_time=last, autoplay=autoplay)


def share(params: dict) -> str:
    """The app's address with `params`: absolute when the browser told us where we are."""
    return exports.share_url(st.context.url or "/", params)


def plural(n: int, noun: str) -> str:
    """`1 episode`, `2 episodes`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def when(iso: str | None) -> str:
    """An ISO timestamp as `2026-03-02 09:00 UTC` (or `never`)."""
    if not iso:
        return "never"
    try:
        moment = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "")[:10])
    except ValueError:
        return None


# -- addresses: query parameters in and out ------------------------------------------
def seed_from_url() -> None:
    """Give widgets their values from the address, once per widget (page load, or back from a view)."""
    qp = st.query_params
    seeds: dict[str, object] = {
        "page": qp.get("page") if qp.get("page") in PAGES else None,
        "q": qp.get("q"),
        "f_shows": qp.get_all("show") or None,
        "f_sources": [s for s in qp.get_all("source") if s in SOURCES] or None,
        "f_person": qp.get("person"),
    }
    start, end = _date(qp.get("from")), _date(qp.get("to"))
    if start or end:
        seeds["f_dates"] = (start or dt.date(1900, 1, 1), end) if end else (start,)
    for key, value in seeds.items():
        if value is not None and key not in st.session_state:
            st.session_state[key] = value
    if "_search_params" not in st.session_state:
        st.session_state["_search_params"] = {k: (qp.get_all(k) if k in ("show", "source") else qp[k])
                                              for k in ("q", "show", "source", "from", "to", "person") if k in qp}


def sync_url(params: dict) -> None:
    """Show `params` in the address bar (only when they changed, so history stays clean)."""
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    wanted = {k: (v if isinstance(v, list) else [v]) for k, v in params.items() if v not in (None, "", [])}
    if current != wanted:
        st.query_params.from_dict(wanted)


def open_episode(guid: str, start: float, end: float | None = None, autoplay: bool = False) -> None:
    """Callback: switch to the episode view at `start` (a clip when `end` is given)."""
    st.session_state["_return_page"] = st.session_state.get("page", "Search")
    params = {"episode": guid, "t": exports.url_seconds(start)}
    if end is not None:
        params["end"] = exports.url_seconds(end)
    st.query_params.from_dict(params)
    st.session_state["_autoplay"] = autoplay


# -- search page ----------------------------------------------------------------------
def _widget_default(key: str, default: object) -> dict:
    # A widget seeded through session state must not also get a default (Streamlit warns).
    return {} if key in st.session_state else {"value": default}


def _replace_state(key: str, fix) -> None:  # noqa: ANN001 - Callable[[object], object]
    # Written only when it changes: rewriting a widget's state would drop the user's latest input.
    if key in st.session_state and (fixed := fix(st.session_state[key])) != st.session_state[key]:
        st.session_state[key] = fixed


def filters_summary() -> str:
    """What the filters restrict, for the collapsed expander's label (`· Show A · 2025-01-01 to …`)."""
    picked = [", ".join(st.session_state.get("f_shows") or []),
              ", ".join(SOURCE_LABELS[s] for s in st.session_state.get("f_sources") or [] if s in SOURCE_LABELS),
              " to ".join(d.isoformat() for d in st.session_state.get("f_dates") or ()),
              st.session_state.get("f_person") or ""]
    return "".join(f" · {p}" for p in picked if p)


def filters_ui(episodes: list, people: list[str] = ()) -> tuple[Filters, int]:
    """Show, transcript source, date and person filters, plus the result count."""
    shows = sorted({e.show for e in episodes})
    dates = [d for d in (_date(e.published) for e in episodes) if d]
    low = min(dates, default=dt.date(1990, 1, 1))
    high = dt.date(max(dates + [dt.date.today()]).year, 12, 31)  # room to type "until the end of the year"
    # A shared link may name a show this library lacks, or dates outside its range.
    _replace_state("f_shows", lambda v: [s for s in v if s in shows])
    _replace_state("f_dates", lambda v: tuple(min(max(d, low), high) for d in v))
    _replace_state("f_person", lambda v: v if v in people else None)
    with st.expander("Filters" + filters_summary()):
        cols = st.columns(3)
        chosen = cols[0].multiselect("Show", shows, key="f_shows", placeholder="All shows")
        sources = cols[1].multiselect("Transcript source", SOURCES, key="f_sources", placeholder="Any source",
                                      format_func=lambda s: SOURCE_LABELS[s])
        picked = cols[2].date_input("Published between", min_value=low, max_value=high, key="f_dates",
                                    format="YYYY-MM-DD", value=())  # () keeps it a range picker
        # Only where the feeds name people (podcast:person) or transcripts name speakers.
        person = st.selectbox("Person or speaker", list(people), key="f_person", placeholder="Anyone",
                              **({} if "f_person" in st.session_state else {"index": None})) if people else None
        k = st.slider("Clips to show", 1, 20, key="k", **_widget_default("k", 5))
    picked = tuple(picked or ())
    return Filters(
        shows=tuple(chosen), sources=tuple(sources),
        date_from=picked[0].isoformat() if len(picked) >= 1 else None,
        date_to=picked[1].isoformat() if len(picked) >= 2 else None,
        person=person or None,
    ), k


def save_popover(i: int, hit: Hit) -> None:
    """Save a hit into a (new or existing) named collection, with a note."""
    with st.popover("Save to collection", icon=":material/bookmark_add:"):
        library = open_library(_settings())
        try:
            names = library.collections()
            name = st.selectbox("Collection", names + [NEW_COLLECTION], key=f"col_{i}")
            if name == NEW_COLLECTION:
                name = st.text_input("New collection name", key=f"newcol_{i}", placeholder="e.g. Week 3: de-escalation")
            note = st.text_input("Note (optional)", key=f"note_{i}")
            if st.button("Save clip", key=f"save_{i}", type="primary"):
                if not (name or "").strip():
                    st.error("Give the collection a name.")
                else:
                    library.add_to_collection(name.strip(), hit.to_json(), note)
                    st.success(f"Saved to “{name.strip()}”.")
        finally:
            library.close()


def hit_card(i: int, hit: Hit, query: str) -> None:
    """One evidence card: where it was said, the quote, the clip, and what to do with it."""
    data = hit.to_json()
    with st.container(border=True, key=f"card_{i}"):
        st.markdown(f"**{md(hit.show)}** · {md(hit.episode)}")
        meta = [hit.published or "undated", f":material/schedule: {exports.clock(hit.start)}–{exports.clock(hit.end)}"]
        if hit.chapter:
            meta.append(f":material/menu_book: {md(hit.chapter)}")
        meta.append(f":blue-badge[{SOURCE_LABELS.get(hit.source, hit.source)}]")
        meta.append(":orange-badge[:material/warning: may contain transcription errors]" if hit.flagged
                    else ":green-badge[:material/check: no quality warnings]")
        st.caption(" · ".join(meta))
        st.markdown(f"> {marked(hit.text, query)}", unsafe_allow_html=True)
        player(hit.audio_url, hit.start, hit.end)
        with st.container(horizontal=True, gap="small"):
            link = exports.deep_link(data)
            if link and link.startswith(exports.WEB):
                st.link_button(f"Open original at {exports.clock(hit.start)}", link, icon=":material/open_in_new:")
            st.button("Episode view", key=f"ep_{i}", icon=":material/subject:", on_click=open_episode,
                      args=(hit.guid, hit.start, hit.end))
            with st.popover("Cite & share", icon=":material/format_quote:"):
                st.caption("Citation (copy with the icon on the right)")
                st.code(exports.citation(data), language=None, wrap_lines=True)
                st.caption("Link to this clip in podsearch")
                st.code(share(exports.clip_params(data)), language=None, wrap_lines=True)
            save_popover(i, hit)
        with st.expander("More context"):
            with locked_index() as index:
                around = context(index, hit)
            for seg in around:
                speaker = f"{md(seg.speaker)}: " if seg.speaker else ""
                line = f"`{exports.clock(seg.start)}` {speaker}{md(seg.text)}"
                st.markdown(f"**{line}**" if hit.start <= seg.start < hit.end else line)


def with_answer_chapter(hit: Hit, chapters: tuple) -> Hit:
    """The hit named after the chapter where the answer is said.

    A clip starts LEAD_IN seconds early, which can fall in the previous chapter.
    """
    said_at = min(hit.start + LEAD_IN, (hit.start + hit.end) / 2)
    return replace(hit, chapter=exports.chapter_at(chapters, said_at) or hit.chapter)


def page_search() -> None:
    """One search box, filters, evidence cards."""
    settings = _settings()
    with locked_index() as index:
        episodes = index.episodes()
        people = index.people()
        empty = index.passage_count() == 0
    shows = len({e.show for e in episodes})
    st.caption(f"Search what was said in {plural(len(episodes), 'episode')} of {plural(shows, 'show')}. "
               "Everything stays on this computer.")
    if empty:
        st.info("The library is empty. Add a feed on the Library page and ingest it, or run `podsearch demo`.")
    query = st.text_input("Search what was said", key="q", placeholder="e.g. stopping blood thinners before surgery — press Enter",
                          icon=":material/search:", **_widget_default("q", ""))
    filters, k = filters_ui(episodes, people)
    query = (query or "").strip()
    params = exports.search_params(query, filters.shows, filters.sources, filters.date_from, filters.date_to,
                                   filters.person)
    st.session_state["_search_params"] = {key: v for key, v in params.items() if v}
    if not query:
        return
    try:
        hits = run_search(query, SearchOptions(k=k, filters=filters, floor=settings.relevance_floor))
    except PodsearchError as exc:
        st.error(str(exc))
        return
    chapters = {e.guid: e.chapters for e in episodes}
    hits = [with_answer_chapter(h, chapters.get(h.guid, ())) for h in hits]
    if not hits:
        st.info(f"Nothing relevant found for “{md(query)}”. Try other words, or fewer filters.", icon=":material/search_off:")
        return
    st.caption(f"{plural(len(hits), 'clip')}, most relevant first · "
               f"[link to this search]({share(st.session_state['_search_params'])})")
    for i, hit in enumerate(hits):
        hit_card(i, hit, query)


# -- episode view --------------------------------------------------------------------
def go_back() -> None:
    """Callback: leave the episode view for the page (and search) the user came from."""
    params = dict(st.session_state.get("_search_params", {}))
    page = st.session_state.pop("_return_page", "Search")
    if page != "Search":
        params["page"] = page
    st.query_params.from_dict(params)


def jump(t: float, end: float | None = None) -> None:
    """Callback: play the episode from `t` (to `end`, for a clip)."""
    st.query_params["t"] = exports.url_seconds(t)
    if end is not None:
        st.query_params["end"] = exports.url_seconds(end)
    elif "end" in st.query_params:
        del st.query_params["end"]
    st.session_state["_autoplay"] = True
    st.session_state.pop("part", None)  # show the part of the transcript that holds `t`


def _seconds(name: str) -> float | None:
    try:
        return max(0.0, float(st.query_params.get(name, "")))
    except ValueError:
        return None


def transcript_lines(segments: list, chapters: tuple, t: float) -> None:
    """The transcript as clickable lines with speakers, chapter headings and the current line marked."""
    parts = max(1, math.ceil(len(segments) / LINES_PER_PART))
    current = next((n for n, s in enumerate(segments) if s.start <= t < s.end), None)
    if current is None:
        current = max([n for n, s in enumerate(segments) if s.start <= t] or [0])
    part = 0
    if parts > 1:
        labels = [f"{exports.clock(segments[p * LINES_PER_PART].start)}–"
                  f"{exports.clock(segments[min(len(segments), (p + 1) * LINES_PER_PART) - 1].end)}" for p in range(parts)]
        if "part" not in st.session_state:
            st.session_state["part"] = labels[current // LINES_PER_PART]
        part = labels.index(st.selectbox("Part of the transcript", labels, key="part"))
    titles = sorted(chapters, key=lambda c: c.start)
    with st.container(key="transcript", gap=None):
        for n in range(part * LINES_PER_PART, min(len(segments), (part + 1) * LINES_PER_PART)):
            seg = segments[n]
            for chapter in titles:
                previous = segments[n - 1].start if n else -1.0
                if previous < chapter.start <= seg.start or (n == 0 and chapter.start <= seg.start):
                    st.markdown(f"##### :material/menu_book: {md(chapter.title)}")
            speaker = f"**{md(seg.speaker)}:** " if seg.speaker else ""
            flag = " ⚠" if seg.flagged else ""
            mark = "▶ " if n == current else ""
            st.button(f"{mark}`{exports.clock(seg.start)}` {speaker}{md(seg.text)}{flag}", key=f"seg_{n}",
                      type="tertiary", on_click=jump, args=(seg.start,), width="stretch")


def search_within(guid: str) -> None:
    """Search inside one episode; each hit plays from where it starts."""
    within = st.text_input("Search within this episode", key="within", icon=":material/search:",
                           placeholder="a word or a question — press Enter")
    if not (within or "").strip():
        return
    hits = run_search(within, SearchOptions(k=8, filters=Filters(guids=(guid,)), floor=_settings().relevance_floor))
    if not hits:
        st.info("Nothing relevant found in this episode.")
        return
    with st.container(key="within_hits", gap=None):
        for n, hit in enumerate(hits):
            st.button(f"`{exports.clock(hit.start)}` {marked(hit.text, within)}", key=f"within_{n}", type="tertiary",
                      on_click=jump, args=(hit.start, hit.end), width="stretch")


def page_episode(guid: str) -> None:
    """The whole transcript with timestamps, speakers and chapters; click a line to play from there."""
    st.button("Back", icon=":material/arrow_back:", on_click=go_back, key="back")
    with locked_index() as index:
        episode = next((e for e in index.episodes() if e.guid == guid), None)
        segments = index.segments(guid) if episode else []
    if episode is None:
        st.error(f"No indexed episode has the id “{md(guid)}”. It may have been removed; search again.")
        return
    t, end = _seconds("t") or 0.0, _seconds("end")
    if end is not None and end <= t:
        end = None
    st.header(md(episode.episode))
    st.caption(f"{md(episode.show)} · {(episode.published or '')[:10] or 'undated'} · "
               f"{SOURCE_LABELS.get(episode.source, episode.source)} · {len(segments)} lines")
    player(episode.audio_url, t, end, autoplay=st.session_state.pop("_autoplay", False))
    here = {"episode": guid, "t": exports.url_seconds(t)}
    if end is not None:
        here["end"] = exports.url_seconds(end)
    with st.container(horizontal=True, gap="small"):
        link = exports.deep_link({"audio_url": episode.audio_url, "link": episode.link, "start": t})
        if link and link.startswith(exports.WEB):
            st.link_button(f"Open original at {exports.clock(t)}", link, icon=":material/open_in_new:")
        with st.popover("Share this moment", icon=":material/link:"):
            st.code(share(here), language=None, wrap_lines=True)
    if episode.chapters:
        with st.expander(f"Chapters ({len(episode.chapters)})", expanded=True):
            with st.container(key="chapters", gap=None):
                for n, chapter in enumerate(episode.chapters):
                    st.button(f"`{exports.clock(chapter.start)}` {md(chapter.title)}", key=f"chapter_{n}",
                              type="tertiary", on_click=jump, args=(chapter.start,))
    search_within(guid)
    st.subheader("Transcript")
    transcript_lines(segments, episode.chapters, t)


# -- library ---------------------------------------------------------------------------
def add_feed_ui(settings: Settings) -> None:
    """Subscribe to one feed by URL or path."""
    with st.form("add_feed", clear_on_submit=True, border=True):
        url = st.text_input("Feed URL or local file", key="feed_url", placeholder="https://example.org/feed.xml")
        if st.form_submit_button("Add feed", icon=":material/add:") and (url or "").strip():
            try:
                show, count = add_feed(settings, url.strip())
                st.success(f"Added {show.title}: {count} episodes. Ingest to make them searchable.")
            except PodsearchError as exc:
                st.error(str(exc))


def opml_ui(settings: Settings) -> None:
    """Subscribe to every feed of an OPML export from another podcast app."""
    from podsearch.ingest.opml import parse_opml

    with st.container(border=True):
        opml = st.file_uploader("Import subscriptions (OPML)", type=["opml", "xml"], key="opml")
        if st.button("Import subscriptions", key="import_opml", disabled=opml is None):
            try:
                feeds = parse_opml(opml.getvalue())
            except PodsearchError as exc:
                st.error(str(exc))
                return
            if not feeds:
                st.warning("That OPML file lists no feeds.")
            for title, url in feeds:
                try:
                    show, count = add_feed(settings, url)
                    st.success(f"Added {show.title}: {count} episodes")
                except PodsearchError as exc:
                    st.error(f"{title}: {exc}")


def job_summary(state: JobState) -> None:
    """What the last finished ingest did, errors included."""
    if state.error:
        st.error(f"Ingest stopped: {state.error}")
        return
    report = state.report
    if report is None:
        return
    failed = len(report.episode_errors) + len(report.feed_errors)
    text = (f"Ingest finished {when(state.finished_at)}: {len(report.indexed)} episode(s) indexed, "
            f"{len(report.episode_errors)} failed, {len(report.feed_errors)} feed(s) failed.")
    (st.warning if failed else st.success)(text)
    for url, message in report.feed_errors:
        st.error(f"Feed {url}: {message}")
    for _, message in report.episode_errors:
        st.error(message)


def ingest_panel(settings: Settings) -> None:
    """Start an ingest and follow it; the job lives in the server, so a reload finds it again."""
    jobs = shared_jobs()
    polling = jobs.state(settings).running

    @st.fragment(run_every=1.0 if polling else None)
    def panel() -> None:
        state = jobs.state(settings)
        if st.button("Refresh feeds and ingest new episodes", key="ingest", type="primary", disabled=state.running,
                     icon=":material/sync:"):
            jobs.start(settings)
            st.rerun()  # the whole page: the panel now polls
        if state.running:
            st.progress(state.fraction, text=state.text)
            for line in state.log[-5:]:
                st.caption(line)
        else:
            job_summary(state)
        if polling and not state.running:
            st.rerun()  # finished: refresh the statuses below and stop polling

    panel()


def feed_list(settings: Settings) -> None:
    """Each feed and episode with its status, and why it failed."""
    library = open_library(settings)
    try:
        feeds = library.feeds()
        if not feeds:
            st.info("No feeds yet. Add one above.")
        for feed in feeds:
            rows = library.episodes(feed_id=feed.id)
            counts = {s: sum(r.status == s for r in rows) for s in ("indexed", "failed")}
            pending = len(rows) - counts["indexed"] - counts["failed"]
            with st.container(border=True, key=f"feed_{feed.id}"):
                badge = ":red-badge[failed]" if feed.status == "failed" else f":gray-badge[{md(feed.status)}]"
                st.markdown(f"**{md(feed.title or feed.url)}** {badge}")
                st.caption(f"{md(feed.url)} · last refreshed {when(feed.refreshed_at)} · "
                           f"{counts['indexed']} indexed, {counts['failed']} failed, {pending} waiting")
                if feed.error:
                    st.error(f"Feed error: {feed.error}")
                for r in rows:
                    if r.status == "failed":
                        st.error(f"{r.episode.title}: {r.error or 'failed'}")
                st.dataframe(
                    [{"status": r.status, "published": (r.episode.published or "")[:10], "episode": r.episode.title,
                      "transcript": r.source or "", "error": r.error or ""} for r in rows],
                    hide_index=True, width="stretch", key=f"episodes_{feed.id}",
                )
    finally:
        library.close()


def page_library() -> None:
    """Feeds and episodes with status; add feeds, import OPML, run ingest."""
    settings = _settings()
    st.header("Library")
    roles.sign_in_panel(settings)
    if roles.is_admin(settings):  # every visitor sees the library; only an admin changes it
        cols = st.columns(2)
        with cols[0]:
            add_feed_ui(settings)
        with cols[1]:
            opml_ui(settings)
        ingest_panel(settings)
    feed_list(settings)


# -- collections ----------------------------------------------------------------------
def _with_library(action: str, *args: object) -> None:
    """Callback: one Library method call on its own connection."""
    library = open_library(_settings())
    try:
        getattr(library, action)(*args)
    finally:
        library.close()


def _save_note(item_id: int) -> None:
    _with_library("annotate_item", item_id, st.session_state.get(f"ann_{item_id}", ""))


def _create_collection() -> None:
    name = (st.session_state.get("new_collection") or "").strip()
    if name:
        _with_library("create_collection", name)
        st.session_state["collection"] = name
        st.session_state["new_collection"] = ""


def resolve_audio(settings: Settings):  # noqa: ANN201 - Callable[[dict], Path | None]
    """For the ZIP: the local audio of a hit, downloaded into the cache when it is only on the web."""

    def resolve(hit: dict) -> Path | None:
        source = playable_audio(settings, hit.get("audio_url"))
        if source is None:
            return None
        if source.startswith(exports.WEB):
            from podsearch.ingest.download import download

            return download(source, settings.audio_dir, settings=settings, expected_type="audio")
        return Path(source)

    return resolve


def collection_item(n: int, count: int, name: str, item: dict) -> None:
    """One saved clip: quote, player, order, note, removal."""
    hit, iid = item["hit"], item["id"]
    with st.container(border=True, key=f"item_{iid}"):
        st.markdown(f"**{n + 1}. {md(hit['episode'])}** · {md(hit['show'])}")
        st.caption(f"{hit.get('published') or 'undated'} · :material/schedule: {exports.clock(hit['start'])}–{exports.clock(hit['end'])}"
                   + (f" · :material/menu_book: {md(hit['chapter'])}" if hit.get("chapter") else ""))
        st.markdown(f"> {md(hit['text'])}")
        player(hit.get("audio_url"), hit["start"], hit["end"])
        st.text_input("Note", value=item["note"], key=f"ann_{iid}", on_change=_save_note, args=(iid,),
                      placeholder="Why this clip? (goes into the handout)")
        with st.container(horizontal=True, gap="small"):
            st.button("Up", key=f"up_{iid}", icon=":material/arrow_upward:", disabled=n == 0,
                      on_click=_with_library, args=("move_item", name, iid, -1))
            st.button("Down", key=f"down_{iid}", icon=":material/arrow_downward:", disabled=n == count - 1,
                      on_click=_with_library, args=("move_item", name, iid, +1))
            st.button("Remove", key=f"rm_{iid}", icon=":material/delete:", on_click=_with_library,
                      args=("remove_item", iid))
            if hit.get("guid"):
                st.button("Episode view", key=f"epv_{iid}", icon=":material/subject:", on_click=open_episode,
                          args=(hit["guid"], hit["start"], hit["end"]))


def collection_exports(settings: Settings, name: str, items: list[dict]) -> None:
    """Downloads (handout, playlist, table, audio ZIP) and a preview to copy from."""
    handout, playlist, table = exports.markdown_handout(name, items), exports.m3u_playlist(name, items), exports.csv_table(items)
    st.subheader("Export")
    with st.container(horizontal=True, gap="small"):
        st.download_button("Handout (Markdown)", handout, file_name=f"{name}.md", mime="text/markdown",
                           icon=":material/description:", key="dl_md")
        st.download_button("Playlist (M3U)", playlist, file_name=f"{name}.m3u", mime="audio/x-mpegurl",
                           icon=":material/queue_music:", key="dl_m3u")
        st.download_button("Table (CSV)", table, file_name=f"{name}.csv", mime="text/csv",
                           icon=":material/table:", key="dl_csv")
        # Cut only when asked: the callable runs on click, off the page's thread.
        st.download_button("Audio clips (ZIP)", lambda: clips_zip(items, resolve_audio(settings), name),
                           file_name=f"{name}.zip", mime="application/zip", icon=":material/folder_zip:", key="dl_zip")
    with st.expander("Preview the exports"):
        for label, text, language in (("Markdown handout", handout, "markdown"), ("M3U playlist", playlist, None),
                                      ("CSV table", table, None)):
            st.caption(label)
            st.code(text, language=language, wrap_lines=True)


def page_collections() -> None:
    """Ordered, annotated clip collections with exports."""
    settings = _settings()
    st.header("Clip collections")
    library = open_library(settings)
    try:
        names = library.collections()
        with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
            st.text_input("New collection", key="new_collection", placeholder="e.g. Week 3: breaking bad news")
            st.button("Create", key="create_collection", on_click=_create_collection)
        if not names:
            st.info("No collections yet. Save clips from search results with “Save to collection”.")
            return
        if st.session_state.get("collection") not in names:
            wanted = st.query_params.get("collection")
            st.session_state["collection"] = wanted if wanted in names else names[0]
        name = st.selectbox("Collection", names, key="collection")
        items = library.collection_items(name)
    finally:
        library.close()
    if not items:
        st.info("This collection is empty. Save clips into it from search results.")
    for n, item in enumerate(items):
        collection_item(n, len(items), name, item)
    if items:
        collection_exports(settings, name, items)
    with st.popover("Delete collection", icon=":material/delete_forever:"):
        st.button(f"Delete “{name}” and its {len(items)} clip(s)", key="delete_collection", type="primary",
                  on_click=_with_library, args=("delete_collection", name))


# -- routing ---------------------------------------------------------------------------
def main() -> None:
    """Route between the episode view and the three pages; keep the address shareable."""
    st.html(CSS)
    st.markdown("## :material/headphones: podsearch")
    seed_from_url()
    guid = st.query_params.get("episode")
    if guid:
        page_episode(guid)
        return
    tabs = st.tabs(PAGES, key="page", on_change="rerun")
    for tab, render in zip(tabs, (page_search, page_library, page_collections)):
        with tab:
            if tab.open:
                render()
    params = dict(st.session_state.get("_search_params", {}))
    page = st.session_state.get("page", "Search")
    if page != "Search":
        params["page"] = page
        if page == "Collections" and st.session_state.get("collection"):
            params["collection"] = st.session_state["collection"]
    sync_url(params)


main()
