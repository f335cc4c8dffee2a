"""End to end through the CLI: a feed served on 127.0.0.1 -> Whisper -> index -> clips."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import webvtt
from click.testing import Result
from httpserver import LocalServer
from rss import channel_head, rss
from rss import item as rss_item


DATA = Path(__file__).parent / "data"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."



def speeches(*items: str) -> str:
    """The test show's feed with these items."""
    return rss("Speeches Old and New", *items, head=channel_head("https://example.org/speeches", "Short speeches."))


def item(title: str, guid: str, date: str, url: str, type_: str = "audio/flac", length: int = 1, extra: str = "") -> str:
    return rss_item(title, guid, date=date, audio=url, type=type_, length=length, extra=extra)


# The `run` fixture (conftest): run(home, *args, ok=True) -> click's Result.
Run = Callable[..., Result]




def passages_per_guid(home: Path) -> dict[str, int]:
    db = sqlite3.connect(home / "data" / "index" / "index.sqlite")
    try:
        return dict(db.execute("SELECT e.guid, COUNT(*) FROM passages p JOIN episodes e ON e.key = p.key GROUP BY e.guid").fetchall())
    finally:
        db.close()


@pytest.fixture()
def speech_feed(http_server: LocalServer) -> LocalServer:
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/audio/tool.mp3", DATA / "hotwords.mp3", content_type="audio/mpeg")
    items = item("Inaugural address", "jfk-1961", "Fri, 20 Jan 1961 17:00:00 GMT", http_server.url("/audio/jfk.flac"))
    items += item("Software tools", "tools-1", "Mon, 02 Mar 2026 09:00:00 GMT", http_server.url("/audio/tool.mp3"), "audio/mpeg")
    http_server.route("/feed.xml", speeches(items).encode(), content_type="application/rss+xml", etag='"v1"')
    return http_server


@pytest.mark.slow
def test_feed_to_clips_end_to_end(run: Run, tmp_path: Path, speech_feed: LocalServer) -> None:
    home = tmp_path / "home"
    added = run(home, "add", speech_feed.url("/feed.xml"))
    assert added.exit_code == 0, added.output
    assert "Speeches Old and New: 2 episodes" in added.output

    ingested = run(home, "ingest")
    assert ingested.exit_code == 0, ingested.output
    assert "indexed 2 episode(s); 0 failed" in ingested.output

    found = run(home, "search", "ask what you can do for your country", "--json", "-k", "3")
    hits = json.loads(found.stdout)
    top = hits[0]
    assert top["guid"] == "jfk-1961" and top["show"] == "Speeches Old and New" and top["episode"] == "Inaugural address"
    assert top["published"] == "1961-01-20" and top["source"] == "whisper"
    assert top["audio_url"] == speech_feed.url("/audio/jfk.flac")
    assert "country" in top["text"].lower()
    # The words are spoken between ~1 s and 11 s of the clip; the clip sits inside the audio.
    assert 0.0 <= top["start"] < 9.0 and 8.0 < top["end"] <= 11.2
    assert set(top) >= {"show", "episode", "guid", "published", "start", "end", "text", "score", "audio_url", "source"}

    # Files: JSON + VTT transcripts under HOME/transcripts/<show>/, data under HOME/data.
    jsons = sorted((home / "transcripts").glob("*/*.json"))
    assert len(jsons) == 2 and all(p.with_suffix(".vtt").exists() for p in jsons)
    transcript = json.loads(next(p for p in jsons if "inaugural" in p.name).read_text())
    words = " ".join(s["text"] for s in transcript["segments"]).lower()
    assert "ask not what your country can do for you" in words.replace(",", "")

    # Re-running does no repeated work: 304 on the feed, nothing new to index.
    before = passages_per_guid(home)
    again = run(home, "ingest")
    assert "indexed 0 episode(s); 0 failed" in again.output
    assert passages_per_guid(home) == before
    assert speech_feed.requests_to("/feed.xml")[-1].headers.get("if-none-match") == '"v1"'
    assert len(speech_feed.requests_to("/audio/jfk.flac")) == 1

    exported = run(home, "export", "jfk-1961", "--format", "vtt")
    captions = webvtt.from_buffer(__import__("io").StringIO(exported.output))
    assert "country" in " ".join(c.text for c in captions).lower()

    # Batch mode: one JSON array per stdin line, model loaded once.
    batch = run(home, "search", "-", "--json", input="your country\nquantum chromodynamics lattice gauge\n")
    lines = batch.stdout.strip().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])[0]["guid"] == "jfk-1961"
    assert json.loads(lines[1]) == []


def test_private_address_refused_without_opt_in(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    http_server.route("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    result = run(tmp_path, "add", http_server.url("/feed.xml"), ok=False, allow_private=False)
    assert result.exit_code == 1
    assert "127.0.0.1" in result.output and "--allow-private" in result.output
    assert "Traceback" not in result.output
    assert http_server.requests == []  # refused before connecting


def test_bad_feeds_give_one_clear_line(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    http_server.route("/missing.xml", b"gone", status=404, content_type="text/plain")
    http_server.route("/page.html", b"<html><body>Welcome</body></html>", content_type="text/html")
    for path, expected in (("/missing.xml", "404"), ("/page.html", "not")):
        result = run(tmp_path, "add", http_server.url(path), ok=False)
        assert result.exit_code == 1
        assert expected in result.output and http_server.url(path) in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert run(tmp_path, "search", "   ", ok=False).exit_code == 1
    assert "empty" in run(tmp_path, "search", "", ok=False).output
    assert "no such feed file" in run(tmp_path, "add", str(tmp_path / "nope.xml"), ok=False).output


@pytest.mark.slow
def test_broken_enclosure_fails_alone_and_keeps_the_rest(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/audio/page.mp3", b"<html>Sorry, not found</html>", content_type="text/html")
    http_server.route("/audio/corrupt.mp3", b"ID3" + bytes(range(256)) * 40, content_type="audio/mpeg")
    items = item("Good", "good", "Fri, 20 Jan 1961 17:00:00 GMT", http_server.url("/audio/jfk.flac"))
    items += item("Html", "html", "Sat, 21 Jan 1961 17:00:00 GMT", http_server.url("/audio/page.mp3"), "audio/mpeg")
    items += item("Corrupt", "corrupt", "Sun, 22 Jan 1961 17:00:00 GMT", http_server.url("/audio/corrupt.mp3"), "audio/mpeg")
    http_server.route("/feed.xml", speeches(items).encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    assert run(home, "add", http_server.url("/feed.xml")).exit_code == 0
    result = run(home, "ingest", ok=False)
    assert result.exit_code == 1
    assert "indexed 1 episode(s); 2 failed" in result.output
    assert "Html" in result.output and "Corrupt" in result.output
    status = run(home, "status").output
    assert status.count("failed") >= 2 and "indexed" in status
    assert passages_per_guid(home).keys() == {"good"}
    # The next run retries only the failed ones and leaves the good one alone.
    before = passages_per_guid(home)
    again = run(home, "ingest", ok=False)
    assert again.exit_code == 1 and "indexed 0 episode(s); 2 failed" in again.output
    assert passages_per_guid(home) == before


VTT = """WEBVTT

00:00:00.000 --> 00:00:05.000
<v Host>Welcome to the pharmacy hour.

00:00:05.000 --> 00:00:12.000
<v Guest>Clopidogrel should not be stopped before surgery without asking the cardiologist.

00:00:12.000 --> 00:00:20.000
<v Host>Thank you, that is very clear advice.
"""


@pytest.mark.slow
def test_publisher_transcript_is_used_without_whisper(run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/t/ep.vtt", VTT.encode(), content_type="text/vtt")
    extra = f'<podcast:transcript url="{http_server.url("/t/ep.vtt")}" type="text/vtt" language="en"/>'
    items = item("Pharmacy hour", "pharm-1", "Mon, 02 Mar 2026 09:00:00 GMT", http_server.url("/audio/jfk.flac"),
                 extra=extra)
    http_server.route("/feed.xml", speeches(items).encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    assert run(home, "add", http_server.url("/feed.xml")).exit_code == 0
    # A model that cannot load proves Whisper is never invoked for this episode.
    result = run(home, "ingest", "--engine", "openai-whisper", "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 0, result.output
    assert http_server.requests_to("/audio/jfk.flac") == []
    hits = json.loads(run(home, "search", "clopidogrel", "--json").stdout)
    assert hits[0]["source"] == "publisher" and hits[0]["guid"] == "pharm-1"
    # The clip starts at the cue that answers (with 0.5 s lead-in) and ends on a cue boundary.
    assert hits[0]["start"] == pytest.approx(5.0 - 0.5) and hits[0]["end"] in (12.0, 20.0)


@pytest.mark.slow
def test_reindex_rebuilds_from_transcripts_alone(run: Run, tmp_path: Path, speech_feed: LocalServer) -> None:
    home = tmp_path / "home"
    run(home, "add", speech_feed.url("/feed.xml"))
    run(home, "ingest")
    before = passages_per_guid(home)
    shutil.rmtree(home / "data" / "index")
    assert "re-indexed 2" in run(home, "reindex").output
    assert passages_per_guid(home) == before
    hits = json.loads(run(home, "search", "your country", "--json").stdout)
    assert hits[0]["guid"] == "jfk-1961"
