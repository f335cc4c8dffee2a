"""Feed bytes -> Show and Episodes (RSS 2.0 + iTunes, Atom, Podcasting 2.0).

feedparser does the lenient work (dates, encodings, sanitised HTML, broken
markup). It keeps only the last of repeated `podcast:*` tags, so the
Podcasting 2.0 namespace is read again with a namespace-aware defusedxml
parse, which also refuses entity tricks before feedparser sees the bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import feedparser
from defusedxml import DefusedXmlException

from podsearch.core.errors import FeedError
from podsearch.ingest.encoding import to_utf8
from podsearch.core.records import Chapter, Episode, FeedPage, Funding, License, Person, Show, Soundbite, TranscriptLink

ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
# Compared without scheme, case or trailing slash: feeds in the wild vary.
PODCAST_NS = "podcastindex.org/namespace/1.0"
ITUNES_NS = "www.itunes.com/dtds/podcast-1.0.dtd"
PSC_NS = "podlove.org/simple-chapters"
FH = "{http://purl.org/syndication/history/1.0}"
# RFC 5005 links to older documents: paged feeds (section 3) and archived feeds (section 4).
OLDER_RELS = ("next", "prev-archive")

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".m4b", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wma", ".aif", ".aiff", ".mka", ".spx"}
)
TRANSCRIPT_TYPES_BY_EXT = {
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}
REMOTE_SCHEMES = frozenset({"http", "https"})
_URL_SAFE = "/:@!$&'()*+,;=%~?#[]"


# ---------------------------------------------------------------- entry point


def parse_feed(data: bytes, url: str) -> tuple[Show, list[Episode]]:
    """Parse feed bytes fetched from `url` into the show and its audio episodes.

    Only items with an audio enclosure become Episodes; a valid feed with none
    gives `(show, [])`. Dates are ISO 8601 in UTC ("…+00:00"); descriptions
    are plain text (HTML dropped). Relative URLs are resolved against `url`. For a local
    feed (`url` is a file path or a file:// URL) they become absolute file://
    URLs, and file:// enclosures are only accepted from local feeds: a remote
    feed may only point at http(s) audio, transcripts and chapters.
    Raises FeedError for bytes that are not a feed, or that declare XML entities.
    """
    page = parse_feed_page(data, url)
    return page.show, list(page.episodes)


def parse_feed_page(data: bytes, url: str) -> FeedPage:
    """Like `parse_feed`, with the RFC 5005 links to the feed's older pages or archives."""
    try:
        return _parse(data, url)
    except (ValueError, LookupError) as exc:
        # A parser choking on bytes it cannot decode is the feed's fault: one line, not a traceback.
        raise FeedError(f"feed {url} cannot be read ({type(exc).__name__}: {exc}); ask the publisher to fix it") from None


def _parse(data: bytes, url: str) -> FeedPage:
    base = _base_url(url)
    # Characters XML 1.0 forbids (a stray ESC or BEL pasted into a title) make the whole document
    # ill-formed: dropped first, so the namespace-aware parse keeps transcripts, chapters and persons.
    data, repaired = strip_forbidden(to_utf8(data))
    tree = _safe_tree(data, url)
    parsed = feedparser.parse(io.BytesIO(data))  # a stream, so it never opens a path
    _check_is_feed(data, url, parsed, tree)
    channel, items = _channel_and_items(tree)
    show = _show(url, base, parsed.feed, channel)
    allowed = REMOTE_SCHEMES | ({"file"} if urlsplit(base).scheme == "file" else set())
    match = _ItemMatcher(items)
    episodes: list[Episode] = []
    guids: set[str] = set()
    for position, entry in enumerate(parsed.entries):
        episode = _episode(entry, match(entry, position), base, allowed)
        if episode is None:
            continue
        if episode.language is None and show.language:
            episode = replace(episode, language=show.language)  # the channel's language covers its items
        if episode.guid in guids:
            # Publishers reuse guids by mistake; the enclosure still tells episodes apart.
            if episode.audio_url in guids or any(e.audio_url == episode.audio_url for e in episodes):
                continue  # the same episode listed twice
            episode = replace(episode, guid=episode.audio_url)
        guids.add(episode.guid)
        episodes.append(episode)
    complete = _first_fh(channel, "complete") is not None
    older = () if complete else _older_links(channel, parsed.feed, base)
    return FeedPage(show=show, episodes=tuple(publisher_order(show, episodes)), older=older, complete=complete,
                    repaired=repaired)


def _first_fh(channel: Element | None, local: str) -> Element | None:
    return channel.find(f"{FH}{local}") if channel is not None else None


def _older_links(channel: Element | None, feed: Any, base: str) -> tuple[str, ...]:
    """Absolute http(s)/file URLs of the documents holding older episodes, `next` before `prev-archive`."""
    if channel is not None:
        links = [(link.get("rel") or "", link.get("href")) for link in channel.findall(f"{ATOM}link")]
    else:  # no tree: feedparser's view of the channel's links
        links = [(link.get("rel") or "", link.get("href")) for link in feed.get("links") or ()]
    found: list[str] = []
    for rel in OLDER_RELS:
        for link_rel, href in links:
            url = _resolve(base, href) if link_rel.strip().lower() == rel else None
            if url and url not in found and urlsplit(url).scheme.lower() in REMOTE_SCHEMES | {"file"}:
                found.append(url)
    return tuple(found)


def publisher_order(show: Show, episodes: list[Episode]) -> list[Episode]:
    """Episodes as the publisher intends them read: a serial show by season and number, else as listed."""
    if show.kind != "serial":
        return episodes
    last = float("inf")  # unnumbered episodes after the numbered ones of their season
    return sorted(episodes, key=lambda e: (e.season or 0, e.number or last, e.published or ""))


def parse_chapters(data: bytes) -> tuple[Chapter, ...]:
    """Podcasting 2.0 JSON chapters, sorted by start; `end` only when the file gives it.

    Chapters with `toc: false` are kept (they still name a stretch of audio).
    """
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"chapters file is not valid JSON ({exc}); the episode is fine without chapters") from None
    raw = doc.get("chapters") if isinstance(doc, dict) else None
    if not isinstance(raw, list):
        raise FeedError("chapters file has no 'chapters' list; it is not a Podcasting 2.0 chapters file")
    chapters = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        start = clock_seconds(item.get("startTime"))
        if start is None:
            continue
        end = clock_seconds(item.get("endTime"))
        chapters.append(
            Chapter(
                start=start,
                title=str(item.get("title") or "").strip(),
                end=end if end is not None and end > start else None,
                url=item.get("url") if isinstance(item.get("url"), str) else None,
            )
        )
    return tuple(sorted(chapters, key=lambda c: c.start))


def episode_guid(guid: str | None, enclosure_url: str | None, title: str | None, published: str | None) -> str:
    """The feed's guid, else the enclosure URL, else a stable hash of title and date."""
    for candidate in (guid, enclosure_url):
        if candidate and candidate.strip():
            return candidate.strip()
    digest = hashlib.sha256(f"{title or ''}\n{published or ''}".encode()).hexdigest()
    return f"podsearch:{digest[:32]}"


def clock_seconds(value: Any) -> float | None:
    """A time offset as seconds: a number, or a clock string ("75", "01:15", "00:01:15.500"); None if unreadable.

    Unlike a duration, zero is a valid offset (a chapter that starts the episode).
    """
    if isinstance(value, str):
        if value.strip() in ("0", "00:00", "00:00:00") or value.strip().strip("0:.") == "":
            return 0.0 if value.strip() else None
        return parse_duration(value)
    number = _number(value)
    return number if number is not None and number >= 0 else None


def parse_duration(value: str | None) -> float | None:
    """itunes:duration (HH:MM:SS, MM:SS, or seconds, fractions allowed) -> seconds.

    Returns None for empty, negative, zero or unreadable values.
    """
    if not value or not value.strip():
        return None
    parts = value.strip().split(":")
    if len(parts) > 3:
        return None
    total = 0.0
    for part in parts:
        number = _number(part.strip())
        if number is None or number < 0:
            return None
        total = total * 60 + number
    return total if total > 0 else None


# ------------------------------------------------------------------- safety


def _safe_tree(data: bytes, url: str) -> Element | None:
    """The namespace-aware tree, None if the XML is beyond repair (feedparser may still cope).

    Feeds in the wild use `podcast:`/`itunes:` prefixes they never declare, or a bare `&`;
    feedparser shrugs those off, so the tree is retried with the prefixes declared and the
    ampersands escaped rather than silently losing transcripts, chapters and persons.
    """
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise FeedError(f"feed {url} uses XML entities ({_entity_detail(exc)}); refusing it for safety") from None
    except (ParseError, ValueError):
        # Expat stops at the first error, maybe before the DTD: refuse entities anyway.
        if b"<!ENTITY" in data:
            detail = "<!ENTITY> in a malformed document"
            raise FeedError(f"feed {url} uses XML entities ({detail}); refusing it for safety") from None
    repaired = _repair(data)
    if repaired == data:
        return None
    try:
        return SafeET.fromstring(repaired)
    except (DefusedXmlException, ParseError, ValueError):
        return None


# XML 1.0 (section 2.2) forbids C0 controls but tab, newline and return, and U+FFFE/U+FFFF, raw or as
# character references. In UTF-8 a C0 byte is never part of a longer sequence, so bytes can be matched.
_FORBIDDEN = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]"
    rb"|&#(?:0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|65534|65535);|[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[fF]{3}[eEfF]);)"
)


def strip_forbidden(data: bytes) -> tuple[bytes, int]:
    """UTF-8 feed bytes without the characters XML 1.0 forbids, and how many were removed."""
    return _FORBIDDEN.subn(b"", data)


# Where the prefixes feeds forget to declare belong.
KNOWN_PREFIXES = {
    "podcast": "https://podcastindex.org/namespace/1.0",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "googleplay": "http://www.google.com/schemas/play-podcasts/1.0",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "media": "http://search.yahoo.com/mrss/",
    "atom": "http://www.w3.org/2005/Atom",
    "psc": "http://podlove.org/simple-chapters",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "sy": "http://purl.org/rss/1.0/modules/syndication/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "fh": "http://purl.org/syndication/history/1.0",
    "rawvoice": "http://www.rawvoice.com/rawvoiceRssModule/",
    "spotify": "http://www.spotify.com/ns/rss",
}
_USED_PREFIX = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=")
_ROOT = re.compile(rb"<(rss|feed|rdf:RDF|RDF)(?=[\s>/])")
_BARE_AMPERSAND = re.compile(rb"&(?!(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)")


def _repair(data: bytes) -> bytes:
    """`data` with undeclared known prefixes declared on the root element and bare `&` escaped."""
    used = {m.group(1) or m.group(2) for m in _USED_PREFIX.finditer(data)}
    missing = sorted(
        p.decode() for p in used
        if p and p.decode() in KNOWN_PREFIXES and f"xmlns:{p.decode()}=".encode() not in data
    )
    root = _ROOT.search(data)
    if missing and root:
        declarations = "".join(f' xmlns:{p}="{KNOWN_PREFIXES[p]}"' for p in missing).encode()
        data = data[: root.end()] + declarations + data[root.end():]
    return _BARE_AMPERSAND.sub(b"&amp;", data)


def _entity_detail(exc: DefusedXmlException) -> str:
    name = getattr(exc, "name", None)
    system_id = getattr(exc, "system_id", None) or getattr(exc, "sysid", None)
    if name:
        return f"<!ENTITY {name}" + (f' SYSTEM "{system_id}"' if system_id else "") + ">"
    return type(exc).__name__


def _check_is_feed(data: bytes, url: str, parsed: Any, tree: Element | None) -> None:
    """Raise FeedError unless feedparser recognised a feed in `data`."""
    if not data.strip():
        raise FeedError(f"feed {url} is empty (no bytes); check the URL")
    has_content = bool(parsed.entries) or bool(parsed.feed.get("title"))
    if parsed.get("version") and (has_content or not parsed.get("bozo")):
        return
    if tree is not None and _local(tree.tag) in ("rss", "feed", "RDF"):
        return  # well-formed once repaired (e.g. an undeclared itunes: prefix), just empty
    if _looks_like_html(data, tree):
        hint = _alternate_feed_link(data)
        where = f"; its feed seems to be {urljoin(url, hint)}" if hint else "; use the show's RSS feed URL"
        raise FeedError(f"{url} is an HTML page, not a podcast feed{where}")
    if parsed.get("bozo") and not has_content:
        reason = parsed.get("bozo_exception")
        raise FeedError(f"feed {url} is malformed XML ({reason}); ask the publisher to fix it")
    raise FeedError(f"{url} is not an RSS or Atom feed; check the URL")


def _looks_like_html(data: bytes, tree: Element | None) -> bool:
    if tree is not None:
        return _local(tree.tag).lower() == "html"
    head = data[:2048].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head


class _FeedLinkFinder(HTMLParser):
    """Finds `<link rel="alternate" type="application/rss+xml" href=…>` in a page."""

    FEED_TYPES = ("application/rss+xml", "application/atom+xml")

    def __init__(self) -> None:
        super().__init__()
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if self.href is None and tag == "link" and "alternate" in a.get("rel", "").lower().split():
            if a.get("type", "").lower() in self.FEED_TYPES and a.get("href"):
                self.href = a["href"].strip()


def _alternate_feed_link(data: bytes) -> str | None:
    finder = _FeedLinkFinder()
    finder.feed(data[:1 << 20].decode("utf-8", errors="replace"))
    return finder.href


# ------------------------------------------------------- namespace-aware tree


def _split(tag: Any) -> tuple[str, str]:
    """('namespace', 'local') of an ElementTree tag."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _local(tag: Any) -> str:
    return _split(tag)[1]


def _ns_is(ns: str, wanted: str) -> bool:
    bare = ns.lower().split("://", 1)[-1].rstrip("/")
    return bare == wanted


def _children(el: Element | None, ns: str, local: str) -> Iterator[Element]:
    """Direct children of `el` named `local` in namespace `ns` (PODCAST_NS/ITUNES_NS)."""
    if el is None:
        return
    for child in el:
        child_ns, child_local = _split(child.tag)
        if child_local == local and _ns_is(child_ns, ns):
            yield child


def _first(el: Element | None, ns: str, local: str) -> Element | None:
    return next(_children(el, ns, local), None)


def _text(el: Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _yes(el: Element | None) -> bool:
    return (_text(el) or "").lower() == "yes"


def _channel_and_items(tree: Element | None) -> tuple[Element | None, list[Element]]:
    """The channel-level element and its items, in document order."""
    if tree is None:
        return None, []
    if tree.tag == "rss":
        channel = tree.find("channel")
        return channel, list(channel.findall("item")) if channel is not None else []
    if tree.tag == f"{ATOM}feed":
        return tree, list(tree.findall(f"{ATOM}entry"))
    if tree.tag == f"{RDF}RDF":
        return tree.find(f"{RSS1}channel"), list(tree.findall(f"{RSS1}item"))
    return None, []


def _item_guid(item: Element) -> str | None:
    return _text(item.find("guid")) or _text(item.find(f"{ATOM}id"))


def _item_enclosures(item: Element) -> list[str]:
    hrefs = [e.get("url", "").strip() for e in item.findall("enclosure")]
    hrefs += [
        link.get("href", "").strip()
        for link in item.findall(f"{ATOM}link")
        if link.get("rel") == "enclosure"
    ]
    return [h for h in hrefs if h]


class _ItemMatcher:
    """Pairs a feedparser entry with its tree item: by guid, enclosure, then position."""

    def __init__(self, items: list[Element]) -> None:
        self.items = items
        self.by_guid: dict[str, Element] = {}
        self.by_enclosure: dict[str, Element] = {}
        for item in items:
            guid = _item_guid(item)
            if guid:
                self.by_guid.setdefault(guid, item)
            for href in _item_enclosures(item):
                self.by_enclosure.setdefault(href, item)

    def __call__(self, entry: Any, position: int) -> Element | None:
        guid = (entry.get("id") or "").strip()
        if guid in self.by_guid:
            return self.by_guid[guid]
        for link in _enclosure_links(entry):
            href = (link.get("href") or "").strip()
            if href in self.by_enclosure:
                return self.by_enclosure[href]
        return self.items[position] if position < len(self.items) else None


def _persons(el: Element | None) -> tuple[Person, ...]:
    persons = []
    for p in _children(el, PODCAST_NS, "person"):
        name = _text(p)
        if not name:
            continue
        persons.append(
            Person(
                name=name,
                # The spec's defaults; values are case-insensitive.
                role=(p.get("role") or "host").strip().lower(),
                group=(p.get("group") or "cast").strip().lower(),
                href=(p.get("href") or "").strip() or None,
                img=(p.get("img") or "").strip() or None,
            )
        )
    return tuple(persons)


def _blocked(el: Element | None) -> bool:
    """`podcast:block` without an `id` (all platforms) or `itunes:block` says yes."""
    everywhere = [b for b in _children(el, PODCAST_NS, "block") if not b.get("id")]
    return any(_yes(b) for b in everywhere) or _yes(_first(el, ITUNES_NS, "block"))


def _itunes_image(el: Element | None) -> str | None:
    image = _first(el, ITUNES_NS, "image")
    href = image.get("href") if image is not None else None
    return href.strip() if href and href.strip() else None


# ------------------------------------------------------------------ records


def _base_url(url: str) -> str:
    """`url` as a base for urljoin; a local path becomes an absolute file:// URL."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in REMOTE_SCHEMES or scheme == "file":
        return url
    # Anything else is a path on this machine (relative ones to the working directory).
    return Path(os.path.abspath(url)).as_uri()


def _resolve(base: str, href: str | None) -> str | None:
    """`href` made absolute against `base`, spaces and non-ASCII percent-encoded."""
    if not href or not href.strip():
        return None
    parts = urlsplit(urljoin(base, href.strip()))
    # Hand-written local feeds say "my episode.mp3"; existing %XX escapes stay as they are.
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            quote(parts.path, safe=_URL_SAFE),
            quote(parts.query, safe=_URL_SAFE),
            quote(parts.fragment, safe=_URL_SAFE),
        )
    )


def _allowed(url: str | None, allowed: set[str] | frozenset[str]) -> str | None:
    """`url` if its scheme may be fetched; file:// only on this machine (no host)."""
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in allowed or (scheme == "file" and parts.netloc.lower() not in ("", "localhost")):
        return None
    return url


def _show(url: str, base: str, feed: Any, channel: Element | None) -> Show:
    # feedparser lets a podcast:liveItem's link/description overwrite the
    # channel's, so an RSS channel's own direct children win when present.
    rss = channel if channel is not None and channel.tag == "channel" else None
    link = _text(rss.find("link")) if rss is not None else None
    description = _text(rss.find("description")) if rss is not None else None
    description = description or _text(_first(channel, ITUNES_NS, "summary"))
    image = _itunes_image(channel) or (feed.get("image") or {}).get("href") or feed.get("logo")
    return Show(
        url=url,
        title=(feed.get("title") or "").strip() or url,
        link=_resolve(base, link or feed.get("link")),
        description=html_to_text(description or feed.get("subtitle") or feed.get("summary")),
        image=_resolve(base, image),
        author=_clean(feed.get("author") or feed.get("publisher")),
        language=_clean(feed.get("language")),
        podcast_guid=_text(_first(channel, PODCAST_NS, "guid")),
        locked=_yes(_first(channel, PODCAST_NS, "locked")),
        block=_blocked(channel),
        persons=_persons(channel),
        kind="serial" if (_text(_first(channel, ITUNES_NS, "type")) or "").lower() == "serial" else "episodic",
        funding=_funding(channel, base),
        license=_license(channel, base),
        new_feed_url=_resolve(base, _text(_first(channel, ITUNES_NS, "new-feed-url"))),
    )


def _enclosure_links(entry: Any) -> list[dict[str, Any]]:
    return [link for link in entry.get("links") or () if link.get("rel") == "enclosure"]


def _is_audio(link: dict[str, Any], url: str) -> bool:
    mime = (link.get("type") or "").split(";")[0].strip().lower()
    if mime.startswith("audio/"):
        return True
    ext = posixpath.splitext(urlsplit(url).path)[1].lower()
    # A declared video/image type wins over the extension (video podcasts).
    return ext in AUDIO_EXTENSIONS and not mime.startswith(("video/", "image/", "text/"))


def _audio_enclosure(entry: Any, item: Element | None, base: str,
                     allowed: frozenset[str] | set[str]) -> tuple[str, dict[str, Any]] | None:
    """The audio to transcribe: the smallest decodable one among the enclosure and its alternates.

    An item without an `enclosure` may still carry its audio as `media:content`.
    """
    candidates: list[tuple[str, dict[str, Any]]] = []
    for link in _enclosure_links(entry):
        url = _allowed(_resolve(base, link.get("href")), allowed)
        if url and _is_audio(link, url):
            candidates.append((url, link))
            break  # the first audio enclosure is the publisher's main one
    candidates += _alternate_enclosures(item, base, allowed)
    if not candidates:
        for media in entry.get("media_content") or ():
            link = {"href": media.get("url"), "type": media.get("type"), "length": media.get("filesize")}
            url = _allowed(_resolve(base, link["href"]), allowed)
            if url and (_is_audio(link, url) or (media.get("medium") == "audio" and not link["type"])):
                candidates.append((url, link))
    if not candidates:
        return None
    # Whisper hears 16 kHz mono: the smallest file transcribes as well and downloads sooner.
    def size(pair: tuple[int, tuple[str, dict[str, Any]]]) -> tuple[float, float, int]:
        position, (_, link) = pair
        length = _positive_int(link.get("length"))
        bitrate = _number(link.get("bitrate"))
        return (length or float("inf"), bitrate or float("inf"), position)

    return min(enumerate(candidates), key=size)[1]


def _alternate_enclosures(item: Element | None, base: str,
                          allowed: frozenset[str] | set[str]) -> list[tuple[str, dict[str, Any]]]:
    """`podcast:alternateEnclosure` audio we can fetch: (url, link dict with type/length/bitrate)."""
    found = []
    for alt in _children(item, PODCAST_NS, "alternateEnclosure"):
        mime = (alt.get("type") or "").strip()
        for source in _children(alt, PODCAST_NS, "source"):
            url = _allowed(_resolve(base, source.get("uri")), allowed)
            link = {"href": url, "type": source.get("contentType") or mime, "length": alt.get("length"),
                    "bitrate": alt.get("bitrate")}
            if url and _is_audio(link, url):
                found.append((url, link))
                break  # one fetchable source per alternate is enough
    return found


def _episode(entry: Any, item: Element | None, base: str, allowed: frozenset[str] | set[str]) -> Episode | None:
    found = _audio_enclosure(entry, item, base, allowed)
    if found is None:
        return None
    audio_url, link = found
    title = _clean(entry.get("title")) or ""
    published = _iso_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
    thumbnails = entry.get("media_thumbnail") or [{}]
    image = _itunes_image(item) or (entry.get("image") or {}).get("href") or thumbnails[0].get("url")
    chapters = _first(item, PODCAST_NS, "chapters")
    return Episode(
        guid=episode_guid(entry.get("id"), audio_url, title, published),
        title=title or audio_url,
        audio_url=audio_url,
        published=published,
        audio_type=_clean(link.get("type")),
        audio_length=_positive_int(link.get("length")),
        duration=parse_duration(entry.get("itunes_duration")),
        link=_entry_link(entry, base),
        description=_show_notes(entry),
        image=_resolve(base, image),
        season=_positive_int(entry.get("itunes_season") or _text(_first(item, PODCAST_NS, "season"))),
        number=_positive_int(entry.get("itunes_episode") or _text(_first(item, PODCAST_NS, "episode"))),
        transcripts=_transcripts(item, base, allowed),
        chapters_url=_allowed(_resolve(base, chapters.get("url") if chapters is not None else None), allowed),
        persons=_persons(item),
        block=_blocked(item),
        chapters=_simple_chapters(item, base),
        soundbites=_soundbites(item),
        funding=_funding(item, base),
        license=_license(item, base),
        language=_clean(entry.get("language")),
    )


def _show_notes(entry: Any) -> str | None:
    """The richer of `description` and `content:encoded`, as plain text."""
    summary = html_to_text(entry.get("summary"))
    content = html_to_text(_first_content(entry))
    return max((t for t in (summary, content) if t), key=len, default=None)


def _soundbites(item: Element | None) -> tuple[Soundbite, ...]:
    bites = []
    for bite in _children(item, PODCAST_NS, "soundbite"):
        start = clock_seconds(bite.get("startTime"))
        duration = _number(bite.get("duration"))
        if start is None or duration is None or duration <= 0:
            continue
        bites.append(Soundbite(start=start, duration=duration, title=_text(bite) or ""))
    return tuple(sorted(bites, key=lambda b: b.start))


def _funding(el: Element | None, base: str) -> tuple[Funding, ...]:
    links = []
    for funding in _children(el, PODCAST_NS, "funding"):
        url = _allowed(_resolve(base, funding.get("url")), REMOTE_SCHEMES)
        if url:
            links.append(Funding(url=url, title=_text(funding) or ""))
    return tuple(links)


def _license(el: Element | None, base: str) -> License | None:
    license_ = _first(el, PODCAST_NS, "license")
    name = _text(license_)
    if license_ is None or not name:
        return None
    return License(name=name, url=_allowed(_resolve(base, license_.get("url")), REMOTE_SCHEMES))


def _simple_chapters(item: Element | None, base: str) -> tuple[Chapter, ...]:
    """Podlove Simple Chapters given inline (`psc:chapters`), sorted by start."""
    chapters = []
    for group in _children(item, PSC_NS, "chapters"):
        for chapter in _children(group, PSC_NS, "chapter"):
            start = clock_seconds(chapter.get("start"))
            if start is None:
                continue
            href = _allowed(_resolve(base, chapter.get("href")), REMOTE_SCHEMES)
            chapters.append(Chapter(start=start, title=(chapter.get("title") or "").strip(), url=href))
    return tuple(sorted(chapters, key=lambda c: c.start))


def _entry_link(entry: Any, base: str) -> str | None:
    """The item's web page: its alternate link, else a guid that is an http(s) URL."""
    for link in entry.get("links") or ():
        if link.get("rel") == "alternate" and link.get("href"):
            return _resolve(base, link["href"])
    # feedparser copies a permalink guid into `link`; "ep-12" is not a page.
    href = (entry.get("link") or "").strip()
    return href if urlsplit(href).scheme.lower() in REMOTE_SCHEMES else None


def _transcripts(item: Element | None, base: str, allowed: frozenset[str] | set[str]) -> tuple[TranscriptLink, ...]:
    links = []
    for t in _children(item, PODCAST_NS, "transcript"):
        url = _allowed(_resolve(base, t.get("url")), allowed)
        if not url:
            continue
        mime = (t.get("type") or "").strip().lower()
        mime = mime or TRANSCRIPT_TYPES_BY_EXT.get(posixpath.splitext(urlsplit(url).path)[1].lower(), "")
        if not mime:
            continue
        links.append(TranscriptLink(url=url, type=mime, language=_clean(t.get("language")), rel=_clean(t.get("rel"))))
    return tuple(links)


# ------------------------------------------------------------------- values


class _TextExtractor(HTMLParser):
    """Visible text of an HTML fragment, one line per block element."""

    BLOCKS = frozenset(
        {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre"}
    )
    HIDDEN = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(value: str | None) -> str | None:
    """Plain text of an HTML description: tags dropped, one line per paragraph."""
    if not value or not value.strip():
        return None
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line) or None


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _first_content(entry: Any) -> str | None:
    content = entry.get("content") or []
    return content[0].get("value") if content else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value and abs(value) != float("inf") else None
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _positive_int(value: Any) -> int | None:
    number = _number(value)
    if number is None or number <= 0 or not number.is_integer():
        return None
    return int(number)


def _iso_utc(parsed: time.struct_time | None) -> str | None:
    """feedparser's UTC struct_time as ISO 8601 with an explicit +00:00."""
    if parsed is None:
        return None
    return datetime(*parsed[:6], tzinfo=timezone.utc).isoformat()


__all__ = ["clock_seconds", "episode_guid", "html_to_text", "parse_chapters", "parse_duration", "parse_feed",
           "parse_feed_page", "publisher_order"]
