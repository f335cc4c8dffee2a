"""Text from feeds made literal inside Markdown: the one escaper every page uses for feed-controlled text.

A feed's titles, error texts and transcripts are written by its publisher. Shown through Markdown unescaped,
`![x](https://publisher/track.png)` would load a tracking image, `[click](https://evil)` would be a link,
`:red[ALERT]` a coloured fake warning and `$x$` LaTeX. Pure text, no Streamlit: any front end may use it.
"""

from __future__ import annotations

import re

# Significant anywhere: CommonMark (emphasis, code, links, images, HTML, entities, headings), GFM (tables,
# strikethrough), Streamlit's `$` LaTeX and `:name[...]`/`:emoji:` shortcodes; `@` and `:` also start
# autolinks in some renderers. A backslash before ASCII punctuation always makes it literal.
# (Streamlit still shows a bare `http://…` as a link to itself, found in the text after parsing:
# visible, opened only when clicked, never fetched by the page.)
_ANYWHERE = re.compile(r"([\\`*_\[\]()!<>#|~$:&@])")
# Significant only where a block starts: list items (`-`, `+`, `1.`, `1)`) and setext underlines (`=`).
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")
_NEWLINES = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")


def escape_markdown(text: object) -> str:
    """`text` as literal inline Markdown: every significant character escaped, line breaks made spaces.

    A newline would start a new block (a heading, a quote, a list) inside a one-line message, so lines
    are joined with a space.
    """
    out = _ANYWHERE.sub(r"\\\1", _NEWLINES.sub(" ", str(text)))
    match = _LINE_START.match(out)
    if match and match.group(2)[0].isdigit():
        return out[: match.end()] + "\\" + out[match.end():]  # `1\.`: the marker is the `.` or `)` after the number
    return _LINE_START.sub(r"\1\\\2", out, count=1)


# Characters XML 1.0 cannot carry at all, not even as references: C0 controls but tab and line breaks,
# lone surrogates, U+FFFE/U+FFFF. An XML writer escapes <, > and &, but writes these raw: a malformed document.
# DEL and the C1 controls are allowed but discouraged, and a terminal showing the feed would obey C1's CSI.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: object) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD, ready for an XML writer (Atom feeds)."""
    return _NOT_XML.sub("\ufffd", str(text))
