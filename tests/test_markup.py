"""The one Markdown escaper: each construct a feed could smuggle in renders as literal text."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from podsearch.core.markup import escape_markdown

# CommonMark with raw HTML on (as st.markdown(unsafe_allow_html=True)) plus GFM tables and strikethrough.
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

CONSTRUCTS = [
    "![x](http://127.0.0.1:8000/track.png)",  # an image: a request to the publisher's server
    "[click](http://evil.example)",  # a link
    "<img src='http://127.0.0.1:8000/t.png'>",  # raw HTML
    "<a href='http://evil.example'>hi</a>",
    "**bold** __bold__ *em* _em_",
    "`code` ``more``",
    "# heading",
    "> a quote",
    "a | table | row",
    "~~struck~~",
    "&lt; &amp; &#33;",  # entities stay as typed
    "back\\slash \\*",
    "1. first",
    "12) twelfth",
    "- item",
    "+ item",
    "<http://evil.example>",
    "line one\n# heading\n![x](http://127.0.0.1:8000/t.png)",
]


@pytest.mark.parametrize("text", CONSTRUCTS)
def test_commonmark_constructs_render_as_literal_text(text: str) -> None:
    rendered = RENDER.render(escape_markdown(text)).strip()
    flat = re.sub(r"\s*\n\s*", " ", text)  # a newline would start a block: lines are joined
    assert rendered == f"<p>{html.escape(flat, quote=False)}</p>"


@pytest.mark.parametrize("text", [
    ":red[ALERT]", ":orange-badge[:material/warning: Security alert]", ":material/warning: :smile:",
    "$x$", "$$\\int x$$", "a\\$b",
])
def test_streamlit_extensions_are_escaped(text: str) -> None:
    """Streamlit's own syntax (colour and badge directives, icon and emoji shortcodes, LaTeX): every `:`, `[`, `$` escaped."""
    out = escape_markdown(text)
    unescaped = re.findall(r"(?<!\\)(?:\\\\)*([:\[\]$])", out)
    assert not unescaped, out
    assert RENDER.render(out).strip() == f"<p>{html.escape(text, quote=False)}</p>"


def test_a_bare_address_stays_readable_text() -> None:
    out = escape_markdown("see http://evil.example or me@evil.example")
    assert out == "see http\\://evil.example or me\\@evil.example"
    assert RENDER.render(out).strip() == "<p>see http://evil.example or me@evil.example</p>"


def test_plain_words_stay_readable() -> None:
    assert escape_markdown("Calming an angry parent, part 2.") == "Calming an angry parent, part 2."
    assert escape_markdown(None) == "None" and escape_markdown(42) == "42"
