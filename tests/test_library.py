"""The catalog database: subscriptions, episode status, collections."""

from __future__ import annotations

from podsearch.service.library import FAILED, INDEXED, NEW, SKIPPED, Library
from dataclasses import replace

from podsearch.core.records import Episode, Person, TranscriptLink, episode_key


def ep(guid: str, url: str, published: str = "2026-01-01T00:00:00+00:00", **kw) -> Episode:
    return Episode(guid=guid, title=f"Ep {guid}", audio_url=url, published=published, **kw)


def test_upsert_matches_by_guid_so_a_changed_enclosure_is_not_duplicated(tmp_path):
    lib = Library(tmp_path / "lib.sqlite")
    feed = lib.add_feed("https://example.org/feed.xml", local=False)
    assert lib.upsert_episodes(feed.id, [ep("a", "https://cdn/a.mp3?sig=1")]) != []
    lib.set_status(lib.episodes()[0].id, INDEXED)
    # Same guid, new signed URL: updated in place, status kept, no second row.
    changed = lib.upsert_episodes(feed.id, [ep("a", "https://cdn/a.mp3?sig=2")])
    assert [e.audio_url for e in changed] == ["https://cdn/a.mp3?sig=2"]
    rows = lib.episodes()
    assert len(rows) == 1 and rows[0].status == INDEXED and rows[0].episode.audio_url.endswith("sig=2")
    # Unchanged: nothing reported.
    assert lib.upsert_episodes(feed.id, [ep("a", "https://cdn/a.mp3?sig=2")]) == []


def test_records_round_trip_through_the_database(tmp_path):
    lib = Library(tmp_path / "lib.sqlite")
    feed = lib.add_feed("/podcasts/feed.xml", local=True, since="2025-01-01", max_episodes=3)
    episode = ep("b", "/podcasts/b.mp3", transcripts=(TranscriptLink("https://x/t.vtt", "text/vtt", "en"),),
                 persons=(Person("Ada", "guest"),), block=True)
    lib.upsert_episodes(feed.id, [episode])
    row = lib.episode_by_guid("b")
    assert row.episode == replace(episode, key=episode_key("/podcasts/feed.xml", "b")) and row.status == SKIPPED  # podcast:block respected
    again = lib.add_feed("/podcasts/feed.xml", local=True)
    assert again.id == feed.id and again.since == "2025-01-01" and again.max_episodes == 3


def test_status_and_errors_are_recorded(tmp_path):
    lib = Library(tmp_path / "lib.sqlite")
    feed = lib.add_feed("https://example.org/f.xml", local=False)
    lib.upsert_episodes(feed.id, [ep("c", "https://x/c.mp3")])
    row = lib.episodes()[0]
    assert row.status == NEW
    lib.set_status(row.id, FAILED, error="https://x/c.mp3: HTTP 404")
    assert lib.episodes(status=FAILED)[0].error == "https://x/c.mp3: HTTP 404"
    lib.record_feed_error(feed.id, "not a feed")
    assert lib.feeds()[0].status == "failed" and lib.feeds()[0].error == "not a feed"
    lib.move_feed(feed.id, "https://example.org/new.xml")
    assert lib.feeds()[0].url == "https://example.org/new.xml"


def test_collections_keep_order_notes_and_survive_reopening(tmp_path):
    lib = Library(tmp_path / "lib.sqlite")
    for n in range(3):
        lib.add_to_collection("Week 1", {"show": "S", "episode": f"E{n}", "start": n, "end": n + 5, "text": "t"})
    items = lib.collection_items("Week 1")
    lib.move_item("Week 1", items[2]["id"], -1)
    lib.annotate_item(items[0]["id"], "discuss in class")
    lib.close()
    again = Library(tmp_path / "lib.sqlite")
    items = again.collection_items("Week 1")
    assert [i["hit"]["episode"] for i in items] == ["E0", "E2", "E1"]
    assert items[0]["note"] == "discuss in class"
    again.remove_item(items[1]["id"])
    assert [i["hit"]["episode"] for i in again.collection_items("Week 1")] == ["E0", "E1"]
    assert again.collections() == ["Week 1"]
