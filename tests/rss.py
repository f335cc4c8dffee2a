"""One RSS builder for the tests: the channel and item templates every feed test shares.

Use from any test module (the `feed_file` fixture in conftest.py writes one to a file):

    from rss import item, rss

    feed = rss("Care Talk", item("Front desk", "desk-2", date="Tue, 10 Mar 2026 09:00:00 GMT", audio="a.flac"))
"""

from __future__ import annotations

# Every namespace a test feed uses is declared, so an item's extra tags (podcast:transcript, itunes:duration,
# atom:link, fh:archive ...) need no template of their own.
NAMESPACES = ('xmlns:podcast="https://podcastindex.org/namespace/1.0" '
              'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
              'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0"')


def channel_head(link: str = "https://example.org/show", description: str = "d") -> str:
    """The channel's link and description, as most test feeds have them."""
    return f"<link>{link}</link><description>{description}</description>"


def rss(title: str, *items: str, head: str | None = None) -> str:
    """An RSS 2.0 document: channel `title`, then `head` (default: link and description), then the items."""
    head = channel_head() if head is None else head
    body = "\n".join(items)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" {NAMESPACES}>\n'
            f"<channel><title>{title}</title>{head}\n{body}\n</channel></rss>")


def item(title: str, guid: str, *, date: str | None = None, audio: str | None = None, type: str = "audio/flac",  # noqa: A002
         length: int | None = 1, link: bool = True, extra: str = "", guid_attrs: str = "") -> str:
    """One `<item>`: title, guid, pubDate, a link to example.org/GUID, the enclosure `audio`, then `extra` tags."""
    parts = [f"<item><title>{title}</title><guid{guid_attrs}>{guid}</guid>"]
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    if link:
        parts.append(f"\n<link>https://example.org/{guid}</link>")
    if audio is not None:
        size = "" if length is None else f' length="{length}"'
        parts.append(f'\n<enclosure url="{audio}" type="{type}"{size}/>')
    return "".join(parts) + extra + "</item>"
