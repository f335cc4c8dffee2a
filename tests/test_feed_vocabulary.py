"""The feed's names and terms go to Whisper: what is taken from a feed, and what it changes on real audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podsearch.core.records import Episode, Person
from podsearch.ingest.feeds import parse_feed
from podsearch.service.vocabulary import MAX_FEED_CHARS, episode_vocabulary, feed_terms

DATA = Path(__file__).parent / "data" / "conversations"


def _episodes(feed: str) -> dict[str, tuple[str, Episode]]:
    show, episodes = parse_feed((DATA / feed).read_bytes(), (DATA / feed).as_uri())
    return {ep.guid: (show.title, ep) for ep in episodes}


def test_the_show_its_people_and_its_sponsor_are_taken_from_the_feed() -> None:
    eps = _episodes("staff-room.xml")
    # No podcast:person here: the names come from the show notes; "English" opens a sentence.
    assert feed_terms(*eps["staff-room-2"]) == ("The Staff Room", "Claire Dubois", "Omar Siddiqui", "Rachel Moreno")
    # podcast:person first (host, guest), then the sponsor the description names.
    assert feed_terms(*eps["staff-room-1"]) == ("The Staff Room", "Rachel Moreno", "David Osei", "Lumen")
    assert feed_terms(*_episodes("bedside-manner.xml")["bedside-manner-1"]) == (
        "Bedside Manner", "Tom Baxter", "Dr Amara Okafor", "Quietstep")


def test_the_users_terms_come_first_once_and_the_feeds_are_capped() -> None:
    ep = Episode(guid="g", title="t", audio_url="https://example.org/a.mp3", persons=(Person("Ann Lee", "host"),),
                 description="With " + ", ".join(f"Name{i} Surname{i}" for i in range(40)) + ".")
    vocab = episode_vocabulary(("metformin", "ann lee"), "Show", ep)
    assert vocab[:3] == ("metformin", "ann lee", "Show")
    assert "Ann Lee" not in vocab  # the user's spelling of it already stands
    assert sum(len(t) + 2 for t in feed_terms("Show", ep)) <= MAX_FEED_CHARS
    assert episode_vocabulary(("metformin",), "Show", ep, from_feed=False) == ("metformin",)


def test_hostile_feed_text_reaches_whisper_as_words_only() -> None:
    ep = Episode(guid="g", title="t", audio_url="https://example.org/a.mp3",
                 persons=(Person("Ann\x00 Lee\u202e\x1b[31m", "host"), Person("X" * 5000, "guest")),
                 description="<script>alert(1)</script> Our guest is Bob Stone.")
    terms = feed_terms("Show\r\nName", ep)
    assert terms == ("Show Name", "Ann Lee [31m", "Bob Stone")  # no control characters; the 5000-letter name left out
    assert all(c.isprintable() for t in terms for c in t)


@pytest.mark.slow
def test_the_feeds_names_let_whisper_spell_a_guest_it_cannot_hear(tmp_path: Path, run, conversations_feed) -> None:  # noqa: ANN001
    """sr2 through the CLI. Omar introduces himself over a video call: tiny.en alone hears "And I know my
    city, Queenie" and the host's "Omar is joining us" as "no mom is joining us", so nothing names his
    voice. Given the show notes' names, Whisper hears the host's "Omar is joining us" and his voice is named."""
    feed = conversations_feed("staff-room-2")
    t = json.loads((DATA / "scripts" / "sr2-feedback-that-works.timings.json").read_text(encoding="utf-8"))

    def speakers_and_text(home: Path, *flags: str) -> tuple[set[str], str]:
        run(home, "add", str(feed))
        run(home, "ingest", *flags)
        segments = json.loads(run(home, "export", t["guid"], "--format", "json").output)["segments"]
        return {s["speaker"] for s in segments if s.get("speaker")}, " ".join(s["text"] for s in segments)

    speakers, text = speakers_and_text(tmp_path / "with")
    assert speakers == {"Rachel Moreno", "Claire Dubois", "Omar Siddiqui"}
    assert "Omar is joining us" in text
    speakers, text = speakers_and_text(tmp_path / "without", "--no-feed-vocabulary")
    assert "Omar Siddiqui" not in speakers and "Omar is joining us" not in text
