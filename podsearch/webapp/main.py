"""The Streamlit app's page frame: page config, the shared CSS, the title, then the page the address names.

`run()` is called on every rerun by the script Streamlit runs: the top-level `app.py` in a checkout, or
`podsearch/webapp/entry/app.py` (what `podsearch app` runs), which ships inside the package.
"""

from __future__ import annotations

import streamlit as st

from podsearch.webapp import nav

CSS = """<style>
mark { background: #fde68a; color: #1f2937; padding: 0 .12em; border-radius: .2em; }
/* Transcript lines, chapters and in-episode hits read as left-aligned text that plays when clicked. */
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button { justify-content: flex-start; text-align: left; min-height: 0; padding: .15rem 0; }
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button > div { justify-content: flex-start; width: 100%; }
:is(.st-key-transcript, .st-key-chapters, .st-key-within_hits) button p { text-align: left; }
/* A word Whisper was unsure of (podsearch.webapp.widgets.quote_html): dotted underline, a little muted. */
.unsure { text-decoration: underline dotted #9ca3af; text-decoration-thickness: 2px; text-underline-offset: .2em; color: #6b7280; cursor: help; }
/* A speaker's name opens each turn of the conversation in the episode view. */
.st-key-transcript [data-testid="stMarkdown"] { padding-top: .6rem; }
blockquote { margin: .25rem 0 .5rem 0; opacity: 1 !important; }  /* the quote is the evidence: full contrast */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""


def run() -> None:
    """Render one run of the app: frame, title and the routed page."""
    st.set_page_config(page_title="podsearch", page_icon="🎧", layout="wide", initial_sidebar_state="collapsed")
    st.html(CSS)
    st.markdown("## :material/headphones: podsearch")
    nav.route()
