"""The Home: the catalog and the index opened and closed as blocks, and the one resolver of an episode
named by its key or by a guid only one episode has (the CLI and the API answer with its one error)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_pipeline import Run

from podsearch.core.config import load_settings
from podsearch.core.errors import AmbiguousEpisodeError, UnknownEpisodeError
from podsearch.core.records import Episode, Show
from podsearch.service.home import Home


def two_shows_sharing_guid_1(home: Path) -> Home:
    """A catalog (real SQLite) in which two shows each have an episode with guid "1", and one has guid "2"."""
    opened = Home(load_settings(home))
    with opened.catalog() as library:
        for url, title, guids in (("https://a.example/feed.xml", "Ward Talk", ("1", "2")),
                                  ("https://b.example/feed.xml", "Teaching Notes", ("1",))):
            feed = library.add_feed(url, local=False)
            library.record_refresh(feed.id, Show(url=url, title=title), None, None)
            library.upsert_episodes(feed.id, [Episode(guid=g, title=f"{title} {g}", audio_url=f"{url}/{g}.mp3")
                                              for g in guids])
    return opened


def test_a_key_or_an_unambiguous_guid_names_one_episode(tmp_path: Path) -> None:
    home = two_shows_sharing_guid_1(tmp_path)
    with home.catalog() as library:
        keys = {(r.show_title, r.episode.guid): r.episode.key for r in library.episodes()}
    assert home.episode("2").episode.key == keys[("Ward Talk", "2")]
    assert home.episode(keys[("Teaching Notes", "1")]).show_title == "Teaching Notes"
    with pytest.raises(AmbiguousEpisodeError) as ambiguous:
        home.episode("1")
    line = str(ambiguous.value)
    assert line.startswith("guid '1' is used by 2 episodes; give one of their keys: ") and "\n" not in line
    assert f"{keys[('Ward Talk', '1')]} (Ward Talk / Ward Talk 1)" in line
    assert f"{keys[('Teaching Notes', '1')]} (Teaching Notes / Teaching Notes 1)" in line
    with pytest.raises(UnknownEpisodeError, match=r"^no episode has the key or guid 'nope'; GET /api/episodes lists them$"):
        home.episode("nope", hint="GET /api/episodes lists them")


def test_every_command_answers_an_ambiguous_guid_with_the_same_line(run: Run, tmp_path: Path) -> None:
    home = two_shows_sharing_guid_1(tmp_path)
    with pytest.raises(AmbiguousEpisodeError) as ambiguous:
        home.episode("1")
    for args in (("export", "1"), ("ingest", "--no-refresh", "--redownload", "1"), ("rename-speaker", "1", "Speaker 1", "Ada")):
        result = run(tmp_path, *args, ok=False)
        assert (result.exit_code, result.stderr.splitlines()) == (1, [f"error: {ambiguous.value}"]), args


def test_the_blocks_close_what_they_open(tmp_path: Path) -> None:
    home = Home(load_settings(tmp_path))
    with home.catalog() as library:
        assert library.feeds() == []
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        library.feeds()
    with home.index() as index:
        assert index.passage_count() == 0
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        index.passage_count()
