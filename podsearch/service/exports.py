"""Citations, shareable links, highlighting and collection exports (Markdown, M3U, CSV): pure text."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

# The index's own query words: what is highlighted is what the keyword search looked for.
from podsearch.index.keyword import fold, query_terms, stem, tokens
from podsearch.core.clock import timestamp as clock

WEB = ("http://", "https://")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def deep_link(hit: dict) -> str | None:
    """A link that opens the original episode at the clip (media fragment #t=).

    The enclosure when it is on the web, else the episode's web page, else
    whatever local address the episode has.
    """
    candidates = [hit.get("audio_url"), hit.get("link")]
    url = next((u for u in candidates if u and u.startswith(WEB)), None) or next((u for u in candidates if u), None)
    if not url:
        return None
    return f"{url.split('#')[0]}#t={int(hit['start'])}"  # whole seconds, never after the clip starts


def url_seconds(value: float) -> str:
    """Seconds for a URL: at most two decimals, no trailing zeros (75.4, 98)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def search_params(query: str, shows: tuple[str, ...] = (), sources: tuple[str, ...] = (),
                  date_from: str | None = None, date_to: str | None = None,
                  person: str | None = None, speaker: str | None = None,
                  include_ads: bool = False) -> dict[str, str | list[str]]:
    """The app's query parameters for a search: `?q=...&show=...&source=...&from=...&to=...&person=...`,
    plus `speaker=...` (someone speaking in the clip) and `ads=1` (sponsor reads included)."""
    params: dict[str, str | list[str]] = {"q": query}
    if shows:
        params["show"] = list(shows)
    if sources:
        params["source"] = list(sources)
    if date_from:
        params["from"] = date_from[:10]
    if date_to:
        params["to"] = date_to[:10]
    if person:
        params["person"] = person
    if speaker:
        params["speaker"] = speaker
    if include_ads:
        params["ads"] = "1"
    return params


def clip_params(hit: dict) -> dict[str, str]:
    """The app's query parameters that open a clip: `?episode=KEY&t=START&end=END` (the guid for old saved clips)."""
    return {"episode": hit.get("key") or hit["guid"], "t": url_seconds(hit["start"]), "end": url_seconds(hit["end"])}


def share_url(base: str, params: Mapping[str, str | list[str]]) -> str:
    """`base` (its own query and fragment dropped) with `params` as its query string."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(params, doseq=True), ""))


def highlight_html(text: str, query: str) -> str:
    """`text` as HTML with the words the keyword search matched (same stem: calm/calming) in <mark>."""
    wanted = {stem(t) for t in query_terms(query)}
    parts: list[str] = []
    last = 0
    for match in tokens(text) if wanted else ():
        if stem(fold(match.group(0))) in wanted:
            parts += [html.escape(text[last : match.start()], quote=False), f"<mark>{html.escape(match.group(0), quote=False)}</mark>"]
            last = match.end()
    parts.append(html.escape(text[last:], quote=False))
    return "".join(parts)


def citation(hit: dict) -> str:
    """A one-line citation: show, episode, date, timestamp, link."""
    date = hit.get("published") or "n.d."
    link = deep_link(hit)
    return (f"{hit['show']}, “{hit['episode']}” ({date}), at {clock(hit['start'])}–{clock(hit['end'])}"
            + (f". {link}" if link else "."))


def markdown_handout(name: str, items: list[dict]) -> str:
    """A handout: each clip's quote, note and citation, in collection order."""
    lines = [f"# {name}", ""]
    for n, item in enumerate(items, 1):
        hit = item["hit"]
        lines.append(f"## {n}. {hit['episode']} — {clock(hit['start'])}")
        lines.append("")
        lines.append(f"> {hit['text']}")
        lines.append("")
        if item.get("note"):
            lines.append(item["note"])
            lines.append("")
        link = deep_link(hit)
        lines.append(f"*Source:* {citation(hit)}" if not link else
                     f"*Source:* {hit['show']}, “{hit['episode']}” ({hit.get('published') or 'n.d.'}), "
                     f"[{clock(hit['start'])}–{clock(hit['end'])}]({link})")
        lines.append("")
    return "\n".join(lines)


def _m3u_text(text: str) -> str:
    """Text for an #EXTINF/#PLAYLIST line: every control and line break becomes a space,
    so a title cannot end its line and add entries of its own."""
    return " ".join(_CONTROLS.sub(" ", str(text)).split())


def _m3u_location(location: str) -> str:
    """A location on one line: controls and line breaks percent-encoded, never read as a directive."""
    location = _CONTROLS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), location)
    return "./" + location if location.startswith("#") else location


def m3u(name: str, entries: Iterable[tuple[str, float, str]]) -> str:
    """The one extended-M3U writer: `entries` are (title, seconds, location); entries without
    a location are left out (an empty line would pair the title with the next entry's file)."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_m3u_text(name)}"]
    for title, seconds, location in entries:
        if not location or not location.strip():
            continue
        lines.append(f"#EXTINF:{max(1, round(seconds))},{_m3u_text(title)}")
        lines.append(_m3u_location(location.strip()))
    return "\n".join(lines) + "\n"


def m3u_playlist(name: str, items: list[dict]) -> str:
    """An extended M3U playlist; each entry starts at its clip (#t= fragment)."""
    return m3u(name, ((f"{hit['show']} - {hit['episode']} @ {clock(hit['start'])}", hit["end"] - hit["start"],
                       deep_link(hit) or "") for hit in (item["hit"] for item in items)))


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ (or tab/CR), which
    Excel, LibreOffice and Sheets would run as a formula, gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_table(items: list[dict]) -> str:
    """One row per clip: position, show, episode, date, start, end, text, note, link."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["position", "show", "episode", "published", "start", "end", "text", "note", "link"])
    for n, item in enumerate(items, 1):
        hit = item["hit"]
        writer.writerow([n, *map(csv_cell, [hit["show"], hit["episode"], hit.get("published") or ""]),
                         f"{hit['start']:.2f}", f"{hit['end']:.2f}",
                         *map(csv_cell, [hit["text"], item.get("note", ""), deep_link(hit) or ""])])
    return out.getvalue()

