"""The episode view (`?episode=GUID&t=SECONDS[&end=SECONDS]`): the whole transcript; click a line to play from there."""

from __future__ import annotations

import math

import streamlit as st

from podsearch.core.clock import timestamp
from podsearch.core.errors import PodsearchError
from podsearch.index.search import Filters, SearchOptions
from podsearch.service import exports
from podsearch.service.speakers import rename_speaker
from podsearch.webapp import state
from podsearch.webapp.addresses import go_back, seconds, share
from podsearch.webapp.widgets import KIND_LABELS, SOURCE_LABELS, admin_allowed, marked, md, player

LINES_PER_PART = 120  # transcript lines per part: keeps long episodes quick to render, phones included


def jump(t: float, end: float | None = None) -> None:
    """Callback: play the episode from `t` (to `end`, for a clip)."""
    st.query_params["t"] = exports.url_seconds(t)
    if end is not None:
        st.query_params["end"] = exports.url_seconds(end)
    elif "end" in st.query_params:
        del st.query_params["end"]
    st.session_state["_autoplay"] = True
    st.session_state.pop("part", None)  # show the part of the transcript that holds `t`


def turn_heading(speaker: str | None, kind: str) -> str | None:
    """What opens a turn: the speaker's name and, for a sponsor read, intro or outro, its label."""
    parts = ([f"**{md(speaker)}**"] if speaker else []) + ([KIND_LABELS[kind]] if kind in KIND_LABELS else [])
    return " · ".join(parts) or None


def transcript_lines(segments: list, chapters: tuple, t: float) -> None:
    """The transcript as a conversation: turns by speaker (the name once, then its clickable lines), chapter
    headings, sponsor reads, intro and outro labelled, and the current line marked."""
    parts = max(1, math.ceil(len(segments) / LINES_PER_PART))
    current = next((n for n, s in enumerate(segments) if s.start <= t < s.end), None)
    if current is None:
        current = max([n for n, s in enumerate(segments) if s.start <= t] or [0])
    part = 0
    if parts > 1:
        labels = [f"{timestamp(segments[p * LINES_PER_PART].start)}–"
                  f"{timestamp(segments[min(len(segments), (p + 1) * LINES_PER_PART) - 1].end)}" for p in range(parts)]
        if "part" not in st.session_state:
            st.session_state["part"] = labels[current // LINES_PER_PART]
        part = labels.index(st.selectbox("Part of the transcript", labels, key="part"))
    titles = sorted(chapters, key=lambda c: c.start)
    first = part * LINES_PER_PART
    turn: tuple | None = None
    with st.container(key="transcript", gap=None):
        for n in range(first, min(len(segments), (part + 1) * LINES_PER_PART)):
            seg = segments[n]
            new_chapter = False
            for chapter in titles:
                previous = segments[n - 1].start if n else -1.0
                if previous < chapter.start <= seg.start or (n == 0 and chapter.start <= seg.start):
                    st.markdown(f"##### :material/menu_book: {md(chapter.title)}")
                    new_chapter = True
            # A new turn where the speaker or the kind changes; a chapter heading opens one too (names it again).
            if new_chapter or (seg.speaker, seg.kind) != turn:
                turn = (seg.speaker, seg.kind)
                heading = turn_heading(seg.speaker, seg.kind)
                if heading:
                    st.markdown(heading)
            flag = " ⚠" if seg.flagged else ""
            mark = "▶ " if n == current else ""
            st.button(f"{mark}`{timestamp(seg.start)}` {md(seg.text)}{flag}", key=f"seg_{n}",
                      type="tertiary", on_click=jump, args=(seg.start,), width="stretch")


def search_within(key: str) -> None:
    """Search inside one episode; each hit plays from where it starts."""
    within = st.text_input("Search within this episode", key="within", icon=":material/search:",
                           placeholder="a word or a question — press Enter")
    if not (within or "").strip():
        return
    hits = state.run_search(within, SearchOptions(k=8, filters=Filters(keys=(key,)),
                                                  floor=state.settings().relevance_floor))
    if not hits:
        st.info("Nothing relevant found in this episode.")
        return
    with st.container(key="within_hits", gap=None):
        for n, hit in enumerate(hits):
            st.button(f"`{timestamp(hit.start)}` {marked(hit.text, within)}", key=f"within_{n}", type="tertiary",
                      on_click=jump, args=(hit.start, hit.end), width="stretch")


def chapter_list(chapters: tuple) -> None:
    """The episode's chapters; click one to play from its start."""
    with st.expander(f"Chapters ({len(chapters)})", expanded=True), st.container(key="chapters", gap=None):
        for n, chapter in enumerate(chapters):
            st.button(f"`{timestamp(chapter.start)}` {md(chapter.title)}", key=f"chapter_{n}",
                      type="tertiary", on_click=jump, args=(chapter.start,))


def publisher_extras(key: str) -> None:
    """What the publisher adds to the episode: suggested clips (podcast:soundbite, each playable), and
    where to support the show and under which licence (podcast:funding, podcast:license)."""
    with state.library() as library:
        rows = library.find_episodes(key)
        show = next((f.show for f in library.feeds() if rows and f.id == rows[0].feed_id), None)
    if not rows:
        return
    ep = rows[0].episode
    # The episode's own funding and licence, else the show's.
    funding = ep.funding or (show.funding if show else ())
    licence = ep.license or (show.license if show else None)
    if ep.soundbites:
        with st.expander(f"Suggested clips, chosen by the publisher ({len(ep.soundbites)})", expanded=True), \
                st.container(key="soundbites", gap=None):
            for n, bite in enumerate(ep.soundbites):
                st.button(f"`{timestamp(bite.start)}–{timestamp(bite.start + bite.duration)}` "
                          f"{md(bite.title or 'Untitled clip')}", key=f"soundbite_{n}", type="tertiary",
                          on_click=jump, args=(bite.start, bite.start + bite.duration))
    web = [f for f in funding if f.url.startswith(exports.WEB)]
    if web or licence:
        with st.container(horizontal=True, gap="small"):
            for link in web:  # a button, not Markdown: the publisher's words stay text
                st.link_button(link.title or "Support the show", link.url, icon=":material/volunteer_activism:")
            if licence:
                st.caption(f":material/copyright: Licence: {md(licence.name)}")
                if licence.url and licence.url.startswith(exports.WEB):
                    st.link_button("Licence text", licence.url, icon=":material/open_in_new:")


def _rename(key: str) -> None:
    """Callback: rename the chosen speaker of episode `key`; the outcome waits in the session for the page."""
    shown, name = st.session_state.get("rename_from"), st.session_state.get("rename_to") or ""
    try:
        if not admin_allowed():  # checked again: a callback may outlive the permission that drew its button
            raise PodsearchError("renaming speakers is not allowed in this session")
        count = rename_speaker(state.settings(), key, shown or "", name, models=state.models())
    except PodsearchError as exc:
        st.session_state["_rename_outcome"] = ("error", str(exc))
        return
    new = " ".join(name.split())
    st.session_state["_rename_outcome"] = ("success", f"“{shown}” is now “{new}” ({count} line(s)).")
    st.session_state["rename_from"], st.session_state["rename_to"] = new, ""


def rename_control(key: str, speakers: list[str]) -> None:
    """Admin: give a speaker of this episode a name (kept through re-indexing)."""
    if not admin_allowed() or not speakers:
        return
    if st.session_state.get("rename_from") not in speakers:
        st.session_state["rename_from"] = speakers[0]
    with st.expander("Rename a speaker", icon=":material/edit:"):
        with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
            st.selectbox("Speaker", speakers, key="rename_from")
            st.text_input("New name", key="rename_to", placeholder="e.g. Ward manager")
            st.button("Rename", key="rename_apply", icon=":material/edit:", on_click=_rename, args=(key,))
        outcome = st.session_state.pop("_rename_outcome", None)
        if outcome:
            (st.error if outcome[0] == "error" else st.success)(md(outcome[1]))


def render() -> None:
    """The page for the episode in the address, playing from `t`."""
    st.button("Back", icon=":material/arrow_back:", on_click=go_back, key="back")
    # The episode key; a guid (links and clips saved before keys) works when one episode has it.
    ident = st.query_params.get("episode") or ""
    with state.locked_index() as index:
        indexed = index.episodes()
        by_guid = [e for e in indexed if e.guid == ident]
        episode = next((e for e in indexed if e.key == ident), by_guid[0] if len(by_guid) == 1 else None)
        segments = index.segments(episode.key) if episode else []
    if episode is None:
        st.error(f"No indexed episode has the id “{md(ident)}”. It may have been removed; search again.")
        return
    key = episode.key
    t, end = seconds("t") or 0.0, seconds("end")
    if end is not None and end <= t:
        end = None
    st.header(md(episode.episode))
    st.caption(f"{md(episode.show)} · {md((episode.published or '')[:10] or 'undated')} · "
               f"{SOURCE_LABELS.get(episode.source) or md(episode.source)} · {len(segments)} lines")
    player(episode.audio_url, t, end, autoplay=st.session_state.pop("_autoplay", False))
    here = {"episode": key, "t": exports.url_seconds(t)}
    if end is not None:
        here["end"] = exports.url_seconds(end)
    with st.container(horizontal=True, gap="small"):
        link = exports.deep_link({"audio_url": episode.audio_url, "link": episode.link, "start": t})
        if link and link.startswith(exports.WEB):
            st.link_button(f"Open original at {timestamp(t)}", link, icon=":material/open_in_new:")
        with st.popover("Share this moment", icon=":material/link:"):
            st.code(share(here), language=None, wrap_lines=True)
    publisher_extras(key)
    if episode.chapters:
        chapter_list(episode.chapters)
    search_within(key)
    rename_control(key, list(dict.fromkeys(s.speaker for s in segments if s.speaker)))
    st.subheader("Transcript")
    transcript_lines(segments, episode.chapters, t)
