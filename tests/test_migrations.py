"""Schema migrations: named, ordered, recorded; a home made before them opens and keeps its data."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from podsearch.core.errors import ConfigError
from podsearch.core.migrations import Migrations, open_database
from podsearch.index.store import MIGRATIONS as INDEX_MIGRATIONS
from podsearch.service.library import MIGRATIONS as CATALOG_MIGRATIONS

V0 = Path(__file__).parent / "data" / "homes" / "v0"


@pytest.fixture()
def v0_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(V0, home)
    return home


def _podsearch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300)


def _names(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY id")]


@pytest.mark.slow
def test_a_v0_home_migrates_on_first_use_and_keeps_everything(v0_home: Path) -> None:
    with sqlite3.connect(v0_home / "data" / "library.sqlite") as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone()

    found = _podsearch(v0_home, "search", "calm an angry relative", "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    hit = json.loads(found.stdout)[0]
    assert (hit["show"], hit["episode"]) == ("Ward Talk", "Calming relatives")
    assert "Lower your voice" in hit["text"]

    status = _podsearch(v0_home, "status")
    assert status.returncode == 0, status.stderr
    for title in ("Ward Talk", "Teaching Notes", "Calming relatives", "Warfarin checks", "Feedback that works"):
        assert title in status.stdout

    assert _names(v0_home / "data" / "library.sqlite") == [m.name for m in CATALOG_MIGRATIONS.steps]
    assert _names(v0_home / "data" / "index" / "index.sqlite") == [m.name for m in INDEX_MIGRATIONS.steps]
    with sqlite3.connect(v0_home / "data" / "library.sqlite") as db:
        (hit_json, note), = db.execute("SELECT hit, note FROM collection_items").fetchall()
    assert note == "play first" and json.loads(hit_json)["episode"] == "Calming relatives"


def test_migrating_twice_changes_nothing(v0_home: Path) -> None:
    path = v0_home / "data" / "library.sqlite"
    first = open_database(str(path), CATALOG_MIGRATIONS)
    assert CATALOG_MIGRATIONS.apply(first) == []
    first.close()
    assert _names(path) == [m.name for m in CATALOG_MIGRATIONS.steps]


def test_steps_apply_in_order_each_recorded_once(tmp_path: Path) -> None:
    steps = Migrations("test db")
    steps.sql("m001_people", "CREATE TABLE people (name TEXT);")
    steps.sql("m002_ages", "ALTER TABLE people ADD COLUMN age INTEGER;\nINSERT INTO people VALUES ('Ruth', 41);")
    db = open_database(str(tmp_path / "t.sqlite"), steps)
    assert steps.applied(db) == ["m001_people", "m002_ages"]
    assert [tuple(r) for r in db.execute("SELECT name, age FROM people")] == [("Ruth", 41)]


def test_a_failing_step_leaves_the_schema_before_it(tmp_path: Path) -> None:
    steps = Migrations("test db")
    steps.sql("m001_people", "CREATE TABLE people (name TEXT);")

    @steps
    def m002_broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE people ADD COLUMN age INTEGER")
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        open_database(str(tmp_path / "t.sqlite"), steps)
    with sqlite3.connect(tmp_path / "t.sqlite") as db:
        assert [r[1] for r in db.execute("PRAGMA table_info(people)")] == ["name"]
        assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == ["m001_people"]


def test_a_home_from_a_newer_version_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    newer = Migrations("catalog")
    newer.sql("m001_people", "CREATE TABLE people (name TEXT);")
    newer.sql("m002_future", "CREATE TABLE future (x);")
    open_database(str(path), newer).close()
    older = Migrations("catalog")
    older.sql("m001_people", "CREATE TABLE people (name TEXT);")
    with pytest.raises(ConfigError, match="written by a newer podsearch .*m002_future.*upgrade podsearch"):
        open_database(str(path), older)


@pytest.mark.slow
def test_a_moved_home_still_finds_its_transcripts(v0_home: Path, tmp_path: Path) -> None:
    # The v0 home was made at /tmp/v0home and recorded absolute transcript paths there.
    with sqlite3.connect(v0_home / "data" / "library.sqlite") as db:
        assert all(p.startswith("/tmp/v0home/") for p, in db.execute("SELECT transcript_path FROM episodes"))
    exported = _podsearch(v0_home, "export", "2", "--format", "txt")
    assert exported.returncode == 0, exported.stderr
    assert "Warfarin" in exported.stdout
    with sqlite3.connect(v0_home / "data" / "library.sqlite") as db:
        stored = sorted(p for p, in db.execute("SELECT transcript_path FROM episodes"))
    assert stored == ["teaching-notes/feedback-that-works-6b86b273ff.json",
                      "ward-talk/calming-relatives-6b86b273ff.json", "ward-talk/warfarin-checks-d4735e3a26.json"]

    # Moved again after migrating: paths are relative to the home, so nothing needs rewriting.
    moved = tmp_path / "elsewhere" / "home"
    shutil.move(str(v0_home), moved)
    renamed = _podsearch(moved, "rename-speaker", "2", "Ruth Adeyemi", "Ruth A.")
    assert renamed.returncode == 0, renamed.stderr
    assert "Ruth A.:" in _podsearch(moved, "export", "2", "--format", "txt").stdout


def test_a_v0_home_gains_the_watch_tables_and_queues_newly_indexed_episodes(v0_home: Path) -> None:
    from podsearch.service.library import INDEXED, TRANSCRIBED, Library

    library = Library(v0_home / "data" / "library.sqlite")
    try:
        assert "m006_watches" in CATALOG_MIGRATIONS.applied(library._db)
        row = library.episodes()[0]
        assert library._db.execute("SELECT COUNT(*) FROM watch_pending").fetchone()[0] == 0
        # Only a change *to* indexed queues the episode for the watches' check.
        library.set_status(row.id, TRANSCRIBED)
        assert library._db.execute("SELECT COUNT(*) FROM watch_pending").fetchone()[0] == 0
        library.set_status(row.id, INDEXED)
        library.set_status(row.id, INDEXED)
        assert [r[0] for r in library._db.execute("SELECT key FROM watch_pending")] == [row.episode.key]
    finally:
        library.close()
