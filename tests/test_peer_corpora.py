"""Peer corpora: gpodder podcastparser's test feeds field by field, and feedparser's test feeds never crash us."""

from __future__ import annotations

import json
import posixpath
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from podsearch.core.errors import FeedError
from podsearch.ingest.feeds import AUDIO_EXTENSIONS, parse_feed

DATA = Path(__file__).parent / "data"
PODCASTPARSER = DATA / "podcastparser"
FEEDPARSER = DATA / "feedparser"
# podcastparser's tests parse `file://tests/data/NAME.rss`; a remote-looking base resolves the same relative
# links, and podsearch only accepts file:// links from feeds on this machine.
THEIR_BASE = "file://tests/data/"
OUR_BASE = "https://example.test/tests/data/"

# Where podsearch differs from podcastparser on purpose: (feed, field) -> why.
DELIBERATE = {
    ("html_description_rss_both.rss", "description"):
        "podsearch keeps the richer (longer) of description and content:encoded as plain text",
    ("html_in_description_rss_both_different.rss", "description"):
        "podsearch keeps the richer (longer) of description and content:encoded as plain text",
    ("image_and_audio.rss", "link"):
        "a guid that is not an http(s) URL ('episode::x') is not an episode's web page",
    ("no_title.rss", "title"):
        "an untitled episode is named by its enclosure URL, not the file name without extension",
    ("no_guid.rss", "title"):
        "an untitled episode is named by its enclosure URL, not the file name without extension",
    ("no_guid.rss", "guid"):
        "without a guid podsearch identifies an episode by its enclosure URL (stable), not its link",
}
FIELDS = ("title", "guid", "published", "duration", "enclosure_url", "enclosure_type", "enclosure_length", "link",
          "description")


def _rebase(value: object) -> object:
    if isinstance(value, str):
        return value.replace(THEIR_BASE, OUR_BASE)
    if isinstance(value, list):
        return [_rebase(v) for v in value]
    if isinstance(value, dict):
        return {k: _rebase(v) for k, v in value.items()}
    return value


def _is_audio(enclosure: dict) -> bool:
    mime = (enclosure.get("mime_type") or "").lower()
    ext = posixpath.splitext(urlsplit(enclosure["url"]).path)[1].lower()
    return mime.startswith("audio/") or (ext in AUDIO_EXTENSIONS and not mime.startswith(("video/", "image/", "text/")))


def _compare() -> tuple[dict[str, list[int]], list[tuple[str, str, object, object]], int]:
    """Per field [agreeing, compared]; undocumented disagreements; episodes skipped by design."""
    counts = {f: [0, 0] for f in FIELDS}
    differences = []
    skipped = 0
    for rss in sorted(PODCASTPARSER.glob("*.rss")):
        expected = _rebase(json.loads(rss.with_suffix(".json").read_text(encoding="utf-8")))
        _, episodes = parse_feed(rss.read_bytes(), OUR_BASE + rss.name)
        by_guid = {e.guid: e for e in episodes}
        by_audio = {e.audio_url: e for e in episodes}
        for theirs in expected["episodes"]:
            audio = [e for e in theirs["enclosures"] if _is_audio(e)]
            if not audio:
                # Deliberate: podsearch transcribes audio, so items without an audio enclosure are not episodes.
                assert theirs["guid"] not in by_guid, (rss.name, theirs["guid"])
                skipped += 1
                continue
            ours = by_guid.get(theirs["guid"]) or by_audio.get(audio[0]["url"])
            assert ours is not None, f"{rss.name}: episode {theirs['guid']} with audio is missing"
            published = int(datetime.fromisoformat(ours.published).timestamp()) if ours.published else 0
            pairs = {
                "title": (theirs["title"], ours.title),
                "guid": (theirs["guid"], ours.guid),
                "published": (theirs["published"], published),  # 0: no date
                "duration": (theirs["total_time"], int(ours.duration or 0)),  # 0: unknown
                "enclosure_url": (audio[0]["url"], ours.audio_url),
                # podcastparser fills in "application/octet-stream" and -1 where the feed says nothing.
                "enclosure_type": (audio[0]["mime_type"], ours.audio_type or "application/octet-stream"),
                "enclosure_length": (audio[0]["file_size"], ours.audio_length or -1),
                "link": (theirs["link"], ours.link or ""),
                "description": (theirs["description"], ours.description or ""),
            }
            for name, (want, got) in pairs.items():
                if want != got and (rss.name, name) in DELIBERATE:
                    continue
                counts[name][1] += 1
                counts[name][0] += want == got
                if want != got:
                    differences.append((rss.name, name, want, got))
    return counts, differences, skipped


def test_podcastparser_corpus_agrees_field_by_field() -> None:
    counts, differences, skipped = _compare()
    for name, (agree, compared) in counts.items():
        assert compared >= 30, name  # enough episodes to mean something
        assert agree / compared >= 0.99, (name, [d for d in differences if d[1] == name])
    assert not differences
    assert skipped >= 10  # the corpus has items without audio: they are skipped, by design


def test_every_documented_difference_still_exists() -> None:
    # A difference fixed since it was written down must leave the list, so the list stays true.
    seen = set()
    for rss_name, name in DELIBERATE:
        expected = _rebase(json.loads((PODCASTPARSER / rss_name).with_suffix(".json").read_text(encoding="utf-8")))
        _, episodes = parse_feed((PODCASTPARSER / rss_name).read_bytes(), OUR_BASE + rss_name)
        theirs, ours = expected["episodes"][0], episodes[0]
        got = {"guid": ours.guid, "title": ours.title, "link": ours.link or "", "description": ours.description}[name]
        if theirs[name] != got:
            seen.add((rss_name, name))
    assert seen == set(DELIBERATE)


@pytest.mark.parametrize("rss", sorted(PODCASTPARSER.glob("*.rss")), ids=lambda p: p.stem)
def test_podcastparser_feed_parses(rss: Path) -> None:
    # Every feed of the corpus is a feed to podsearch too, even those with no title or no items
    # (some use itunes:/podcast: prefixes without declaring them).
    parse_feed(rss.read_bytes(), OUR_BASE + rss.name)


FEEDPARSER_FILES = sorted(p for p in FEEDPARSER.rglob("*.xml"))


def test_feedparser_subset_is_there() -> None:
    assert len(FEEDPARSER_FILES) >= 300
    assert {p.relative_to(FEEDPARSER).parts[0] for p in FEEDPARSER_FILES} == {
        "encoding", "entities", "illformed", "wellformed"}


@pytest.mark.parametrize("path", FEEDPARSER_FILES, ids=lambda p: str(p.relative_to(FEEDPARSER)))
def test_feedparser_corpus_parses_or_raises_feed_error(path: Path) -> None:
    try:
        parse_feed(path.read_bytes(), f"https://example.test/{path.name}")
    except FeedError as exc:
        assert "\n" not in str(exc) and path.name in str(exc)
