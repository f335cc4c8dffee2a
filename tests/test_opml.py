"""ingest.opml: subscription lists in and out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from podsearch.ingest.opml import parse_opml, write_opml
from podsearch.core.errors import FeedError

# Shaped like real exports: folders, text-only titles, a lowercase attribute,
# a duplicate, and outlines that are not feeds.
EXPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<opml version="1.0">
  <head><title>Pocket Casts Feeds</title></head>
  <body>
    <outline text="feeds">
      <outline type="rss" text="Calm Care Radio" xmlUrl="https://calmcare.example.org/feed.xml" />
      <outline text="Science">
        <outline type="rss" text="Text only" title="Field Recordings &amp; More"
                 xmlUrl="https://field.example.net/atom.xml"/>
        <outline type="rss" text="No title attr" xmlurl="https://lower.example.com/rss"/>
      </outline>
      <outline type="rss" text="Duplicate" xmlUrl="https://calmcare.example.org/feed.xml" />
      <outline type="link" text="A web page" url="https://example.com/"/>
      <outline type="rss" xmlUrl="  https://untitled.example.com/feed  "/>
    </outline>
  </body>
</opml>
"""


def test_parse_nested_export() -> None:
    assert parse_opml(EXPORT) == [
        ("Calm Care Radio", "https://calmcare.example.org/feed.xml"),
        ("Field Recordings & More", "https://field.example.net/atom.xml"),
        ("No title attr", "https://lower.example.com/rss"),
        ("https://untitled.example.com/feed", "https://untitled.example.com/feed"),
    ]


def test_empty_body_gives_no_feeds() -> None:
    assert parse_opml(b'<opml version="2.0"><head/><body/></opml>') == []


def test_round_trip_keeps_titles_and_urls() -> None:
    feeds = [
        ("Salt & Pepper <Live>", "https://sp.example.com/feed?a=1&b=2"),
        ('Café "Crème"', "https://cafe.example.ch/rss"),
        ("Local show", "/home/me/podcasts/feed.xml"),
    ]
    text = write_opml(feeds, title="My list")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "My list"
    assert parse_opml(text.encode("utf-8")) == feeds


def test_write_empty_list_is_valid_opml() -> None:
    assert parse_opml(write_opml([]).encode()) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "malformed"),
        (b"this is not xml", "malformed"),
        (b"<html><body>hello</body></html>", "expected <opml>"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "expected <opml>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<opml><body><outline xmlUrl="&b;"/></body></opml>',
            "refusing it for safety",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<opml><body><outline xmlUrl="https://a/" text="&x;"/></body></opml>',
            "refusing it for safety",
        ),
    ],
)
def test_junk_raises_feed_error(data: bytes, match: str) -> None:
    with pytest.raises(FeedError, match=match):
        parse_opml(data)
