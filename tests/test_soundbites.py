"""podcast:soundbite clips: carried from the feed into the transcript, indexed and found as kind "soundbite"."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from test_index import CARE, GARDEN, transcript

from podsearch.core.records import Hit, Soundbite, transcript_from_dict, to_dict
from podsearch.index.passages import searchable_segments, soundbite_passages
from podsearch.index.search import SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.service.models import Models
from podsearch.core.markup import escape_markdown as md

V0 = Path(__file__).parent / "data" / "homes" / "v0"
BITES = (
    # The publisher's own words for the clip, which the speech never says.
    Soundbite(start=14.0, duration=14.0, title="How nurses defuse an angry family"),
    Soundbite(start=400.0, duration=5.0, title=""),  # past the speech and untitled: nothing to find it by
)


def test_a_hit_is_speech_unless_told_otherwise() -> None:
    assert Hit(show="s", episode="e", guid="g", published=None, start=0, end=1, text="t", score=1.0,
               audio_url=None, source="whisper").kind == "speech"


def test_soundbites_survive_the_transcript_file() -> None:
    t = transcript("care", CARE)
    t = type(t)(**{**t.__dict__, "soundbites": BITES})
    assert transcript_from_dict(json.loads(json.dumps(to_dict(t)))).soundbites == BITES


def test_soundbite_passage_covers_the_clip_exactly() -> None:
    t = transcript("care", CARE)
    t = type(t)(**{**t.__dict__, "soundbites": BITES})
    (bite,) = soundbite_passages(t, searchable_segments(t))
    assert (bite.kind, bite.start, bite.end) == ("soundbite", 14.0, 28.0)
    assert bite.text.startswith("How nurses defuse an angry family — When a relative is shouting")
    assert (bite.first_segment, bite.last_segment) == (2, 3)


@pytest.fixture()
def index(tmp_path: Path, models):  # noqa: ANN001

    ix = SearchIndex(tmp_path / "index", embedder=models.embedder())
    care = transcript("care", CARE)
    ix.add_transcript(type(care)(**{**care.__dict__, "soundbites": BITES}), "h-care", min_seconds=20)
    ix.add_transcript(transcript("garden", GARDEN, show="Green Hour"), "h-garden", min_seconds=20)
    yield ix
    ix.close()


def test_soundbite_is_searchable_and_marked(index: SearchIndex) -> None:
    hits = search(index, "nurses defuse angry family", SearchOptions(k=3, mode="keyword"))
    top = hits[0]
    assert top.kind == "soundbite" and top.guid == "care"
    # Played as the publisher cut it, not trimmed to a sentence.
    assert (top.start, top.end) == (14.0, 28.0)
    assert "defuse" in top.text
    speech = search(index, "tomatoes full sun", SearchOptions(k=1))
    assert speech[0].kind == "speech"


def test_v0_index_gains_passage_kind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(V0, home)
    ix = SearchIndex(home / "data" / "index", embedder=None)
    try:
        kinds = {r[0] for r in ix.db.execute("SELECT kind FROM passages")}
        assert kinds == {"speech"}  # what was indexed before soundbites is speech
    finally:
        ix.close()


VTT = """WEBVTT

00:00:00.000 --> 00:00:06.000
Welcome to the night shift, where the wards are quiet.

00:00:06.000 --> 00:00:14.000
When a relative is shouting, lower your own voice and offer them a seat.

00:00:14.000 --> 00:00:22.000
Thank you for listening and see you next week.
"""

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Night Shift</title>
<item><title>Quiet wards</title><guid>ns-1</guid><pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>
<enclosure url="ep1.mp3" type="audio/mpeg" length="1000"/>
<podcast:transcript url="ep1.vtt" type="text/vtt"/>
<podcast:soundbite startTime="6" duration="8">The one trick for shouting relatives</podcast:soundbite>
</item></channel></rss>"""


def test_feed_soundbite_reaches_search_through_the_pipeline(tmp_path: Path, models: Models) -> None:
    from click.testing import CliRunner

    from podsearch.cli import cli

    (tmp_path / "ep1.vtt").write_text(VTT, encoding="utf-8")
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", str(home), "add", str(tmp_path / "feed.xml")], obj=models).exit_code == 0
    ingested = runner.invoke(cli, ["--home", str(home), "ingest"], obj=models)
    assert ingested.exit_code == 0, ingested.output
    found = runner.invoke(cli, ["--home", str(home), "search", "one trick for shouting relatives", "--json", "-k", "2"], obj=models)
    hits = json.loads(found.output)
    assert [(h["kind"], h["start"], h["end"]) for h in hits][0] == ("soundbite", 6.0, 14.0)
    saved = json.loads(next((home / "transcripts").rglob("*.json")).read_text(encoding="utf-8"))
    assert saved["soundbites"] == [{"start": 6.0, "duration": 8.0, "title": "The one trick for shouting relatives"}]


PUBLISHER_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Ward Talk</title><link>https://example.org/ward</link><description>Care at the front desk</description>
<podcast:funding url="https://example.org/support">Keep [Ward Talk](https://evil.example) going</podcast:funding>
<podcast:license url="https://creativecommons.org/licenses/by/4.0/">cc-by-4.0</podcast:license>
<item><title>Angry relatives</title><guid isPermaLink="false">wt-1</guid><pubDate>Mon, 02 Mar 2026 08:00:00 +0000</pubDate>
<enclosure url="jfk.flac" type="audio/flac" length="1152693"/>
<podcast:transcript url="wt-1.vtt" type="text/vtt"/>
<podcast:soundbite startTime="4" duration="5">How to lower the temperature</podcast:soundbite>
<podcast:soundbite startTime="9.5" duration="1.5"/>
</item></channel></rss>"""
PUBLISHER_VTT = """WEBVTT

00:00:00.000 --> 00:00:04.000
Welcome to Ward Talk, on calming relatives at the front desk.

00:00:04.000 --> 00:00:09.000
Lower your voice, offer them a seat, and explain the next steps slowly.

00:00:09.000 --> 00:00:11.000
Thank you for listening.
"""


def test_the_episode_view_offers_the_publishers_clips_support_and_licence(tmp_path: Path, open_app,  # noqa: ANN001
                                                                          models: Models) -> None:
    from podsearch.core.config import load_settings
    from podsearch.service.ingest_run import ingest
    from podsearch.service.subscriptions import add_feed

    feeds = tmp_path / "feeds"
    feeds.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "jfk.flac", feeds / "jfk.flac")
    (feeds / "wt-1.vtt").write_text(PUBLISHER_VTT)
    (feeds / "feed.xml").write_text(PUBLISHER_FEED)
    settings = load_settings(tmp_path / "home")
    add_feed(settings, str(feeds / "feed.xml"))
    assert len(ingest(settings, models=models).indexed) == 1

    from podsearch.service.home import Home

    with Home(settings).catalog() as library:
        key = library.episodes()[0].episode.key
    at = open_app(settings.home, episode=key, t="0")
    clips = [b for b in at.button if b.key and b.key.startswith("soundbite_")]
    assert [b.label for b in clips] == ["`0:04–0:09` How to lower the temperature", "`0:09–0:11` Untitled clip"]
    clips[0].click().run()
    assert (at.query_params["t"], at.query_params["end"]) == ("4", "9")  # plays exactly the publisher's clip
    support = [b for b in at.get("link_button") if b.proto.url == "https://example.org/support"]
    assert support and support[0].proto.label == "Keep [Ward Talk](https://evil.example) going"  # a label, not Markdown
    assert any(c.value.endswith("Licence: " + md("cc-by-4.0")) for c in at.caption), [c.value for c in at.caption]
