"""Feeds the XML rules forbid: a stray control character must not cost a feed its Podcasting 2.0 data,
and every fallback an episode takes leaves a line in `status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from httpserver import LocalServer

from podsearch.ingest.feeds import parse_feed_page, strip_forbidden

DATA = Path(__file__).parent / "data"
Run = Callable[..., Result]

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel>
<title>Ward Round\x1b[1m Weekly</title><link>https://example.org/ward</link>
<description>Pasted from a chat tool\x07.</description>
<item><title>Clopidogrel\x1b before surgery</title><guid>ward-1</guid>
<pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>
<enclosure url="{audio}" type="audio/flac" length="1"/>
<podcast:transcript url="{transcript}" type="text/vtt" language="en"/>
<podcast:chapters url="{chapters}" type="application/json+chapters"/>
<podcast:person role="guest">Dr. Amara Okafor&#x1B;</podcast:person>
</item>
</channel></rss>"""

VTT = """WEBVTT

00:00:00.000 --> 00:00:05.000
<v Host>Welcome to the ward round.

00:00:05.000 --> 00:00:12.000
<v Guest>Clopidogrel should not be stopped before surgery without asking the cardiologist.
"""

CHAPTERS = b'{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Welcome"}, {"startTime": 5, "title": "Antiplatelets"}]}'


def serve(http_server: LocalServer, *, transcript: bool = True, chapters: bool = True) -> str:
    http_server.route("/audio/ep.flac", DATA / "jfk.flac", content_type="audio/flac")
    if transcript:
        http_server.route("/t/ep.vtt", VTT.encode(), content_type="text/vtt")
    if chapters:
        http_server.route("/c/ep.json", CHAPTERS, content_type="application/json")
    feed = FEED.format(audio=http_server.url("/audio/ep.flac"), transcript=http_server.url("/t/ep.vtt"),
                       chapters=http_server.url("/c/ep.json"))
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    return http_server.url("/feed.xml")


def test_forbidden_characters_raw_and_as_references_are_removed_and_counted() -> None:
    data = b"<t>a\x1bb\x07c&#27;&#x1B;&#xe;&#9;&#10;&#13;&#x20;\xef\xbf\xbe\xc3\xa9</t>"
    cleaned, removed = strip_forbidden(data)
    assert cleaned == "<t>abc&#9;&#10;&#13;&#x20;é</t>".encode()
    assert removed == 6
    assert strip_forbidden(b"<t>fine\ttext\n</t>") == (b"<t>fine\ttext\n</t>", 0)


def test_a_control_character_keeps_transcripts_chapters_and_persons() -> None:
    feed = FEED.format(audio="a.flac", transcript="t.vtt", chapters="c.json").encode()
    page = parse_feed_page(feed, "https://example.org/feed.xml")
    episode, = page.episodes
    assert page.repaired == 4  # ESC, BEL, ESC, &#x1B;
    assert page.show.title == "Ward Round[1m Weekly"
    assert [t.type for t in episode.transcripts] == ["text/vtt"]
    assert episode.chapters_url and episode.chapters_url.endswith("c.json")
    assert [(p.name, p.role) for p in episode.persons] == [("Dr. Amara Okafor", "guest")]


def test_feed_info_says_the_feed_was_repaired(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    url = serve(http_server)
    info = json.loads(run(tmp_path / "home", "feed-info", "--json", url).stdout)
    assert info["repaired"] == 4
    episode, = info["episodes"]
    assert episode["transcripts"] and episode["transcripts"][0]["url"] == http_server.url("/t/ep.vtt")
    text = run(tmp_path / "home", "feed-info", url).stdout
    assert "repaired: removed 4 character(s) XML 1.0 forbids" in text
    assert f"transcript: {http_server.url('/t/ep.vtt')} (text/vtt)" in text
    clean = FEED.replace("\x1b", "").replace("\x07", "").replace("&#x1B;", "")
    http_server.route("/clean.xml", clean.format(audio="a.flac", transcript="t.vtt", chapters="c.json").encode(),
                      content_type="application/rss+xml")
    assert json.loads(run(tmp_path / "home", "feed-info", "--json", http_server.url("/clean.xml")).stdout)["repaired"] == 0
    assert "repaired" not in run(tmp_path / "home", "feed-info", http_server.url("/clean.xml")).stdout


def test_the_publisher_transcript_of_a_repaired_feed_is_used(run: Run, tmp_path: Path,
                                                             http_server: LocalServer) -> None:
    url = serve(http_server)
    home = tmp_path / "home"
    run(home, "add", url)
    # A model that cannot load proves Whisper is never invoked: the publisher's transcript is used.
    result = run(home, "ingest", "--engine", "openai-whisper", "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 0, result.output
    assert http_server.requests_to("/audio/ep.flac") == []
    hits = json.loads(run(home, "search", "clopidogrel", "--json").stdout)
    assert hits[0]["source"] == "publisher" and hits[0]["guid"] == "ward-1"
    assert "Clopidogrel before surgery" in run(home, "status").stdout
    assert "unusable" not in run(home, "status").stdout


def test_unreadable_chapters_leave_a_line_in_status(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    url = serve(http_server, chapters=False)  # the chapters URL answers 404
    home = tmp_path / "home"
    run(home, "add", url)
    run(home, "ingest", "--engine", "openai-whisper", "--model", str(tmp_path / "no-such-model"))
    line, = [l for l in run(home, "status").stdout.splitlines() if "Clopidogrel" in l]
    assert line.split()[0] == "indexed"
    assert "chapters unreadable" in line and "404" in line


@pytest.mark.slow
def test_an_unusable_publisher_transcript_leaves_a_line_in_status(run: Run, tmp_path: Path,
                                                                  http_server: LocalServer) -> None:
    url = serve(http_server, transcript=False)  # the transcript URL answers 404: Whisper transcribes
    home = tmp_path / "home"
    run(home, "add", url)
    run(home, "ingest")
    line, = [l for l in run(home, "status").stdout.splitlines() if "Clopidogrel" in l]
    assert line.split()[0] == "indexed"
    assert "publisher transcript unusable, transcribed by Whisper" in line and "404" in line
    hits = json.loads(run(home, "search", "ask not what your country can do", "--json").stdout)
    assert hits[0]["source"] == "whisper"
