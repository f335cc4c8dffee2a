"""The Library page: feeds and episodes with their status; add feeds, import OPML, run the ingest."""

from __future__ import annotations

import streamlit as st

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.ingest.opml import parse_opml
from podsearch.service.jobs import JobState
from podsearch.service.subscriptions import add_feed
from podsearch.webapp import roles, state
from podsearch.webapp.addresses import sync_url
from podsearch.webapp.widgets import md, when


def add_feed_ui(settings: Settings) -> None:
    """Subscribe to one feed by URL or path."""
    with st.form("add_feed", clear_on_submit=True, border=True):
        url = st.text_input("Feed URL or local file", key="feed_url", placeholder="https://example.org/feed.xml")
        if st.form_submit_button("Add feed", icon=":material/add:") and (url or "").strip():
            try:
                show, count = add_feed(settings, url.strip())
                st.success(f"Added {md(show.title)}: {count} episodes. Ingest to make them searchable.")
            except PodsearchError as exc:
                st.error(md(str(exc)))


def opml_ui(settings: Settings) -> None:
    """Subscribe to every feed of an OPML export from another podcast app."""
    with st.container(border=True):
        opml = st.file_uploader("Import subscriptions (OPML)", type=["opml", "xml"], key="opml")
        if st.button("Import subscriptions", key="import_opml", disabled=opml is None):
            try:
                feeds = parse_opml(opml.getvalue())
            except PodsearchError as exc:
                st.error(md(str(exc)))
                return
            if not feeds:
                st.warning("That OPML file lists no feeds.")
            for title, url in feeds:
                try:
                    show, count = add_feed(settings, url, listed_in=f"the OPML file {opml.name}")
                    st.success(f"Added {md(show.title)}: {count} episodes")
                except PodsearchError as exc:
                    st.error(f"{md(title)}: {md(str(exc))}")


def job_summary(job: JobState) -> None:
    """What the last finished ingest did, errors included."""
    if job.error:
        st.error(f"Ingest stopped: {md(job.error)}")
        return
    report = job.report
    if report is None:
        return
    failed = len(report.episode_errors) + len(report.feed_errors)
    text = (f"Ingest finished {when(job.finished_at)}: {len(report.indexed)} episode(s) indexed, "
            f"{len(report.episode_errors)} failed, {len(report.feed_errors)} feed(s) failed.")
    (st.warning if failed else st.success)(text)
    for url, message in report.feed_errors:
        st.error(f"Feed {md(url)}: {md(message)}")
    for _, message in report.episode_errors:
        st.error(md(message))


def ingest_panel(settings: Settings) -> None:
    """Start an ingest and follow it; the job lives in the server, so a reload finds it again."""
    jobs = state.jobs()
    polling = jobs.state(settings).running

    @st.fragment(run_every=1.0 if polling else None)
    def panel() -> None:
        job = jobs.state(settings)
        if st.button("Refresh feeds and ingest new episodes", key="ingest", type="primary", disabled=job.running,
                     icon=":material/sync:"):
            jobs.start(settings, models=state.models())
            st.rerun()  # the whole page: the panel now polls
        if job.running:
            st.progress(job.fraction, text=md(job.text))  # names the show and episode
            for line in job.log[-5:]:
                st.caption(md(line))
        else:
            job_summary(job)
        if polling and not job.running:
            st.rerun()  # finished: refresh the statuses below and stop polling

    panel()


def feed_list() -> None:
    """Each feed and episode with its status, and why it failed."""
    with state.library() as library:
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
                    st.error(f"Feed error: {md(feed.error)}")
                for r in rows:
                    if r.status == "failed":
                        st.error(f"{md(r.episode.title)}: {md(r.error or 'failed')}")
                st.dataframe(
                    [{"status": r.status, "published": (r.episode.published or "")[:10], "episode": r.episode.title,
                      "transcript": r.source or "", "error": r.error or ""} for r in rows],
                    hide_index=True, width="stretch", key=f"episodes_{feed.id}",
                )


def render() -> None:
    """The page: add feeds, import OPML, run the ingest, and each feed's status."""
    settings = state.settings()
    st.header("Library")
    roles.sign_in_panel(settings)
    if roles.is_admin(settings):  # every visitor sees the library; only an admin changes it
        cols = st.columns(2)
        with cols[0]:
            add_feed_ui(settings)
        with cols[1]:
            opml_ui(settings)
        ingest_panel(settings)
    feed_list()
    sync_url({})
