"""Episode identity is scoped by feed: two shows that reuse a guid never replace each other (issue #14, item 1)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from httpserver import LocalServer

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "homes" / "v0-feeds"
V0 = DATA / "homes" / "v0"


# The `run` fixture (conftest): run(home, *args, ok=True) -> click's Result.
Run = Callable[..., Result]




def top(run: Run, home: Path, query: str) -> dict:
    hits = json.loads(run(home, "search", query, "--json", "-k", "1").stdout)
    assert hits, f"nothing found for {query!r}"
    return hits[0]


def serve_two_shows(server: LocalServer) -> tuple[str, str]:
    """Ward Talk and Teaching Notes, both with an episode of guid "1" (publisher transcripts, no Whisper)."""
    for name in ("show-a.xml", "show-b.xml"):
        server.route(f"/{name}", FEEDS / name, content_type="application/rss+xml")
    for name in ("a1.vtt", "a2.vtt", "b1.vtt"):
        server.route(f"/{name}", FEEDS / name, content_type="text/vtt")
    server.route("/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    return server.url("/show-a.xml"), server.url("/show-b.xml")


def assert_both_guid_1_episodes_live(run: Run, home: Path) -> None:
    ward, teaching = top(run, home, "calm an angry relative"), top(run, home, "feedback on the work, not the person")
    assert (ward["show"], ward["episode"], ward["guid"]) == ("Ward Talk", "Calming relatives", "1")
    assert (teaching["show"], teaching["episode"], teaching["guid"]) == ("Teaching Notes", "Feedback that works", "1")
    assert ward["key"] and teaching["key"] and ward["key"] != teaching["key"]
    assert "Lower your voice" in run(home, "export", ward["key"], "--format", "txt").stdout
    assert "praise that names" in run(home, "export", teaching["key"], "--format", "txt").stdout
    # The bare guid is ambiguous: one line naming both candidates, and nothing exported.
    ambiguous = run(home, "export", "1", ok=False)
    assert ambiguous.exit_code == 1 and ambiguous.stdout == ""
    line, = ambiguous.stderr.strip().splitlines()
    assert "guid '1'" in line and ward["key"] in line and teaching["key"] in line and "Teaching Notes" in line
    # An unambiguous guid still works.
    assert "Warfarin doses" in run(home, "export", "2", "--format", "txt").stdout


@pytest.mark.slow
def test_two_shows_sharing_a_guid_are_both_searchable_and_exportable(run: Run, http_server: LocalServer,
                                                                     tmp_path: Path) -> None:
    a, b = serve_two_shows(http_server)
    home = tmp_path / "home"
    run(home, "add", a)
    run(home, "add", b)
    assert "indexed 3 episode(s)" in run(home, "ingest").stdout
    assert_both_guid_1_episodes_live(run, home)
    # Transcript files are per episode, not per guid.
    assert len(list((home / "transcripts").glob("*/*.json"))) == 3
    # A rebuilt index from the files alone keeps them apart too.
    run(home, "reindex")
    assert_both_guid_1_episodes_live(run, home)
    status = run(home, "status", "--keys").stdout
    assert status.count("indexed") == 3 and top(run, home, "calm an angry relative")["key"] in status


@pytest.mark.slow
def test_a_v0_home_gets_back_the_episode_its_old_index_lost(run: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(V0, home)
    # Before: the old index holds one of the two guid-"1" episodes.
    with sqlite3.connect(home / "data" / "index" / "index.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM episodes WHERE guid = '1'").fetchone()[0] == 1
    # The feeds of that home are gone (they were local files elsewhere); the ingest needs only the transcripts.
    run(home, "ingest", "--no-refresh")
    assert_both_guid_1_episodes_live(run, home)
    # Nothing lost: every episode indexed, old files saved again under their keys, the saved clip keyed.
    status = run(home, "status").stdout
    assert status.count("indexed") == 3
    files = sorted(p.name for p in (home / "transcripts").glob("*/*.json"))
    assert len(files) == 3 and not any(name.endswith("-6b86b273ff.json") for name in files)
    with sqlite3.connect(home / "data" / "library.sqlite") as db:
        (hit_json,) = db.execute("SELECT hit FROM collection_items").fetchone()
    assert json.loads(hit_json)["key"] == top(run, home, "calm an angry relative")["key"]
    run(home, "reindex")
    assert_both_guid_1_episodes_live(run, home)
