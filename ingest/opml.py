"""OPML subscription lists: read (any nesting) and write (OPML 2.0)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from podsearch.core.errors import FeedError


def parse_opml(data: bytes) -> list[tuple[str, str]]:
    """(title, xmlUrl) of every feed outline, nested ones included, first occurrence wins.

    The title falls back to the outline's `text`, then to the URL.
    Raises FeedError for bytes that are not OPML or that declare XML entities.
    """
    root = _root(data)
    feeds: list[tuple[str, str]] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = _attr(outline, "xmlUrl")
        if not url or url in seen:
            continue
        seen.add(url)
        feeds.append((_attr(outline, "title") or _attr(outline, "text") or url, url))
    return feeds


def write_opml(feeds: list[tuple[str, str]], title: str = "podsearch subscriptions") -> str:
    """An OPML 2.0 document with one `rss` outline per (title, url)."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(opml, "body")
    for feed_title, url in feeds:
        ET.SubElement(body, "outline", type="rss", text=feed_title, title=feed_title, xmlUrl=url)
    ET.indent(opml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"


def _root(data: bytes) -> Element:
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise FeedError(f"OPML file uses XML entities ({exc}); refusing it for safety") from None
    except ParseError as exc:
        raise FeedError(f"not an OPML file: malformed XML ({exc}); export your subscriptions as OPML again") from None
    if root.tag.lower() != "opml":
        raise FeedError(f"not an OPML file: the root element is <{root.tag}>, expected <opml>")
    return root


def _attr(outline: Element, name: str) -> str | None:
    # Some exporters lowercase attribute names (xmlurl).
    value = outline.get(name)
    if value is None:
        value = next((v for k, v in outline.attrib.items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    return value.strip() or None


__all__ = ["parse_opml", "write_opml"]
