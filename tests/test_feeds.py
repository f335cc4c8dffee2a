"""ingest.feeds: real feed files in, Show/Episode records out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podsearch.ingest.feeds import episode_guid, html_to_text, parse_chapters, parse_duration, parse_feed
from podsearch.core.errors import FeedError
from podsearch.core.records import Chapter, Funding, License, Person, Soundbite, TranscriptLink, to_dict

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
P20 = DATA / "podcasting20"
EXPECTED = sorted(FEEDS.glob("*.expected.json"))


def _plain(record: object) -> object:
    """A record as the JSON it would be stored as (tuples become lists)."""
    return json.loads(json.dumps(to_dict(record)))


def _feed_file(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    (found,) = [p for p in FEEDS.iterdir() if p.stem == stem and not p.name.endswith(".json")]
    return found


def test_feed_corpus_is_complete() -> None:
    # Every feed file has its expectation, and the corpus covers the brief.
    feeds = {p.name for p in FEEDS.iterdir() if not p.name.endswith(".expected.json")}
    assert {_feed_file(e).name for e in EXPECTED} == feeds
    assert len(EXPECTED) >= 10


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_feed_parses_as_expected(expected_file: Path) -> None:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    data = _feed_file(expected_file).read_bytes()
    if "error" in expected:
        assert expected["error"] == "FeedError"
        with pytest.raises(FeedError) as info:
            parse_feed(data, expected["url"])
        message = str(info.value)
        assert expected["message"] in message
        assert expected["url"] in message  # the user learns which feed failed
        assert "\n" not in message
        return
    show, episodes = parse_feed(data, expected["url"])
    assert _plain(show) == expected["show"]
    assert all(e.key == "" for e in episodes)  # the catalog gives episodes their feed-scoped key, not the parser
    assert [{k: v for k, v in _plain(e).items() if k != "key"} for e in episodes] == expected["episodes"]


# -- the Podcasting 2.0 namespace's own example feed ---------------------------


@pytest.fixture(scope="module")
def example() -> tuple:
    return parse_feed((P20 / "example.xml").read_bytes(), "https://example.com/feed.xml")


def test_example_show(example: tuple) -> None:
    show, episodes = example
    assert show.title == "Podcasting 2.0 Namespace Example"
    assert show.podcast_guid == "y0ur-gu1d-g035-h3r3"
    assert show.locked is True
    assert show.block is True  # <podcast:block>yes</podcast:block>; the per-platform "no"s do not undo it
    assert show.language == "en-US"
    assert show.image == "https://example.com/images/pci_avatar-massive.jpg"
    # The liveItem's own <link>/<description> must not replace the channel's.
    assert show.link == "https://example.com/podcast"
    assert show.description is not None and show.description.startswith("This is a fake show")
    # The live item is not an episode; the three <item>s are.
    assert [e.guid for e in episodes] == [
        "https://example.com/ep0003",
        "https://example.com/ep0002",
        "https://example.com/ep0001",
    ]


def test_example_keeps_every_transcript_of_an_item(example: tuple) -> None:
    _, episodes = example
    assert episodes[0].transcripts == (
        TranscriptLink(url="https://example.com/ep3/transcript.txt", type="text/plain"),
        TranscriptLink(
            url="https://example.com/episode1/transcript.vtt", type="text/vtt", language="es", rel="captions"
        ),
    )
    assert [len(e.transcripts) for e in episodes] == [2, 1, 1]


def test_example_persons_chapters_and_numbers(example: tuple) -> None:
    _, episodes = example
    ep3 = episodes[0]
    assert ep3.persons == (
        Person(
            name="Adam Curry",
            role="host",
            group="cast",
            href="https://www.podchaser.com/creators/adam-curry-107ZzmWE5f",
            img="https://example.com/images/adamcurry.jpg",
        ),
        Person(
            name="Dave Jones",
            role="guest",
            group="cast",
            href="https://github.com/daveajones/",
            img="https://example.com/images/davejones.jpg",
        ),
        Person(
            name="Becky Smith",
            role="cover art designer",
            group="visuals",
            href="https://example.com/artist/beckysmith",
        ),
    )
    assert [e.chapters_url for e in episodes] == [
        "https://example.com/ep3_chapters.json",
        "https://example.com/ep2_chapters.json",
        "https://example.com/ep1_chapters.json",
    ]
    assert [(e.season, e.number) for e in episodes] == [(1, 3), (1, 2), (1, 1)]
    assert ep3.published == "2020-10-09T04:30:38+00:00"
    # The smallest decodable alternate is transcribed: "Low bandwidth" Opus, not the 43 MB MP3 nor the video.
    assert ep3.audio_url == "https://example.com/file-low-03.opus"
    assert (ep3.audio_type, ep3.audio_length) == ("audio/opus", 5400000)
    assert [(b.start, b.duration) for b in ep3.soundbites] == [(33.833, 60.0)]
    assert ep3.image == "https://example.com/ep0003/artMd.jpg"
    assert ep3.description == "A look into the future of podcasting and how we get to Podcasting 2.0!"


def test_example_funding_and_license(example: tuple) -> None:
    show, _ = example
    assert show.funding == (Funding(url="https://example.com/donate", title="Support the show!"),)
    assert show.license == License(name="my-podcast-license-v1", url="https://example.org/mypodcastlicense/full.pdf")


def test_chapter_start_times_as_clock_strings() -> None:
    data = b'{"version": "1.2.0", "chapters": [{"startTime": "00:01:00", "title": "B"}, {"startTime": "0", "title": "A"},' \
           b' {"startTime": "1:30:05.5", "title": "C"}, {"startTime": "soon", "title": "bad"}]}'
    assert [(c.start, c.title) for c in parse_chapters(data)] == [(0.0, "A"), (60.0, "B"), (5405.5, "C")]


def test_example_chapters_file() -> None:
    chapters = parse_chapters((P20 / "chapters_example.json").read_bytes())
    assert [c.start for c in chapters] == [0, 168, 260, 410, 3990, 4600, 5510, 5854, 6089]
    assert chapters[0] == Chapter(start=0.0, title="Intro")
    assert chapters[3] == Chapter(
        start=410.0, title="Namespace", url="https://github.com/Podcastindex-org/podcast-namespace"
    )


def test_chapters_sorted_with_end_times_and_junk_skipped() -> None:
    data = json.dumps(
        {
            "version": "1.2.0",
            "chapters": [
                {"startTime": 60, "title": "Second", "endTime": 90, "toc": False},
                {"startTime": 0, "title": "First"},
                {"title": "no start"},
                {"startTime": "abc", "title": "bad start"},
                {"startTime": 120, "title": "Third", "endTime": 100},
            ],
        }
    ).encode()
    assert parse_chapters(data) == (
        Chapter(start=0.0, title="First"),
        Chapter(start=60.0, title="Second", end=90.0),
        Chapter(start=120.0, title="Third"),
    )


@pytest.mark.parametrize("data", [b"<html>nope</html>", b'{"version": "1.2.0"}', b"\xff\xfe\x00"])
def test_chapters_junk_raises_feed_error(data: bytes) -> None:
    with pytest.raises(FeedError, match="chapters"):
        parse_chapters(data)


# -- helpers and edges ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("01:02:03", 3723.0),
        ("45:30", 2730.0),
        ("3600", 3600.0),
        ("90.5", 90.5),
        ("0:01:02.250", 62.25),
        (" 12:00 ", 720.0),
        ("", None),
        (None, None),
        ("about an hour", None),
        ("00:00:00", None),
        ("-5", None),
        ("1:00:00:00", None),
        ("1::2", None),
    ],
)
def test_parse_duration(value: str | None, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_episode_guid_fallbacks() -> None:
    assert episode_guid(" g-1 ", "https://x/a.mp3", "T", None) == "g-1"
    assert episode_guid("  ", "https://x/a.mp3", "T", None) == "https://x/a.mp3"
    hashed = episode_guid(None, None, "Title", "2024-01-01T00:00:00+00:00")
    assert hashed.startswith("podsearch:")
    assert hashed == episode_guid("", "", "Title", "2024-01-01T00:00:00+00:00")  # stable
    assert hashed != episode_guid(None, None, "Title", "2024-01-02T00:00:00+00:00")


def test_html_to_text() -> None:
    assert html_to_text("<p>One &amp; two</p><p>Three<br>four</p><script>x()</script>") == "One & two\nThree\nfour"
    assert html_to_text("  ") is None


def test_local_feed_path_and_file_url_give_the_same_episodes(tmp_path: Path) -> None:
    feed = tmp_path / "my feeds" / "feed.xml"
    feed.parent.mkdir()
    feed.write_bytes((FEEDS / "local-relative.xml").read_bytes())
    _, from_path = parse_feed(feed.read_bytes(), str(feed))
    _, from_url = parse_feed(feed.read_bytes(), feed.as_uri())
    assert [e.audio_url for e in from_path] == [e.audio_url for e in from_url]
    assert from_path[0].audio_url == (feed.parent / "audio" / "home recording.mp3").as_uri()


def test_relative_local_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, episodes = parse_feed((FEEDS / "local-relative.xml").read_bytes(), "shows/feed.xml")
    assert episodes[0].audio_url == (tmp_path / "shows" / "audio" / "home recording.mp3").as_uri()


def test_bytes_are_content_never_a_path(tmp_path: Path) -> None:
    # feedparser opens a str/bytes argument as a file name if it can; ours must not.
    feed = tmp_path / "feed.xml"
    feed.write_bytes((FEEDS / "itunes-rss.xml").read_bytes())
    with pytest.raises(FeedError, match="not an RSS or Atom feed|malformed"):
        parse_feed(str(feed).encode(), "https://example.com/feed.xml")


def test_entities_in_a_malformed_document_are_refused() -> None:
    data = (
        b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>A & B</title>'
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><item><title>&e;</title></item></channel></rss>'
    )
    with pytest.raises(FeedError, match="refusing it for safety"):
        parse_feed(data, "https://example.com/feed.xml")


def test_recoverable_broken_feed_still_yields_episodes() -> None:
    # podcast apps tolerate an unescaped "&"; so do we (feedparser's lenient parser).
    show, episodes = parse_feed((FEEDS / "unescaped-ampersand.xml").read_bytes(), "https://example.com/f.xml")
    assert show.title == "Salt & Pepper"
    assert [e.title for e in episodes] == ["Fish & Chips"]


# -- more of what publishers send (issue #15) -----------------------------------


@pytest.fixture(scope="module")
def publisher() -> tuple:
    return parse_feed((DATA / "publisher" / "serial-rich.xml").read_bytes(), "https://example.org/serial.xml")


def test_serial_show_is_ordered_by_season_and_number(publisher: tuple) -> None:
    show, episodes = publisher
    assert show.kind == "serial"
    # The feed lists them newest first and out of order; a serial show is read from the start.
    assert [(e.season, e.number) for e in episodes] == [(1, 1), (1, 2), (2, 1), (2, None)]


def test_soundbites_funding_license_on_the_episode(publisher: tuple) -> None:
    first = publisher[1][0]
    assert first.soundbites == (Soundbite(start=12.5, duration=20.0, title="Why the lighthouse went dark"),
                                Soundbite(start=95.0, duration=30.0, title=""))
    assert first.funding == (Funding(url="https://example.org/support", title="Buy us a coffee"),)
    assert first.license == License(name="CC-BY-4.0", url="https://creativecommons.org/licenses/by/4.0/")
    assert publisher[0].license == License(name="CC-BY-NC-4.0")


def test_podlove_simple_chapters_inline(publisher: tuple) -> None:
    first = publisher[1][0]
    assert first.chapters == (
        Chapter(start=0.0, title="Cold open"),
        Chapter(start=61.5, title="The keeper", url="https://example.org/keeper"),
        Chapter(start=3723.0, title="Credits"),
    )


def test_media_content_audio_without_enclosure(publisher: tuple) -> None:
    second = publisher[1][1]
    assert (second.audio_url, second.audio_type, second.audio_length) == (
        "https://cdn.example.org/s1e2.m4a", "audio/mp4", 2048)
    assert second.image == "https://cdn.example.org/s1e2-thumb.jpg"  # media:thumbnail


def test_content_encoded_wins_when_richer(publisher: tuple) -> None:
    first, second = publisher[1][:2]
    assert first.description == "Short.\nThe long story of the lighthouse, with links.\nSecond paragraph."
    assert second.description == "A description longer than its content."
    assert first.image == "https://cdn.example.org/s1e1.jpg"  # itunes:image


def test_undeclared_prefixes_and_bare_ampersands_still_yield_podcasting20() -> None:
    # No xmlns:podcast / xmlns:itunes and a bare "&": not namespace-well-formed, read anyway.
    data = (DATA / "publisher" / "undeclared-prefixes.xml").read_bytes()
    show, (episode,) = parse_feed(data, "https://example.org/forgetful.xml")
    assert show.title == "Forgetful & Co"
    assert [p.name for p in show.persons] == ["Ada"]
    assert episode.transcripts == (TranscriptLink(url="https://example.org/1.vtt", type="text/vtt"),)
    assert episode.chapters_url == "https://example.org/1.json"
    assert [(p.name, p.role) for p in episode.persons] == [("Grace", "guest")]
    assert episode.image == "https://example.org/1.jpg" and episode.duration == 60.0
