"""Killing `podsearch ingest` at any moment, then running it again, finishes the job cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faiss
import pytest
from httpserver import LocalServer
from rss import channel_head, item, rss

DATA = Path(__file__).parent / "data"


def podsearch(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PODSEARCH_ALLOW_PRIVATE": "1"}
    return subprocess.Popen([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def statuses(home: Path) -> list[str]:
    db = home / "data" / "library.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return [r[0] for r in con.execute("SELECT status FROM episodes ORDER BY guid")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def index_state(home: Path) -> tuple[dict[str, int], int]:
    con = sqlite3.connect(home / "data" / "index" / "index.sqlite")
    try:
        per_guid = dict(con.execute("SELECT e.guid, COUNT(*) FROM passages p JOIN episodes e ON e.key = p.key GROUP BY e.guid").fetchall())
        generation = int(con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    finally:
        con.close()
    return per_guid, generation


@pytest.mark.slow
def test_kill_during_ingest_then_resume(tmp_path: Path, http_server: LocalServer) -> None:
    items = []
    routes = []
    for n in range(3):
        routes.append(http_server.route(f"/a{n}.flac", DATA / "jfk.flac", content_type="audio/flac"))
        items.append(item(f"Part {n}", f"part-{n}", date=f"Mon, 0{n + 1} Jun 2026 10:00:00 GMT",
                          audio=http_server.url(f"/a{n}.flac"), link=False))
    feed = rss("Repeats", *items, head=channel_head("https://example.org"))
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    assert podsearch(home, "add", http_server.url("/feed.xml")).wait(60) == 0

    # Kill hard (no cleanup handlers) as soon as the first episode is indexed. The oldest episode,
    # done last, answers slowly this time, so the kill always finds work unfinished however fast
    # the machine transcribes the others.
    routes[0].delay = 30
    proc = podsearch(home, "ingest")
    deadline = time.monotonic() + 300
    while "indexed" not in statuses(home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    routes[0].delay = 0
    done_before = statuses(home).count("indexed")
    assert 1 <= done_before < 3

    # Run again: it finishes, and only the unfinished episodes are transcribed.
    again = podsearch(home, "ingest")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert f"indexed {3 - done_before} episode(s); 0 failed" in out
    assert statuses(home) == ["indexed"] * 3

    per_guid, generation = index_state(home)
    assert set(per_guid) == {"part-0", "part-1", "part-2"}
    assert len(set(per_guid.values())) == 1  # same audio -> same passages, no duplicates
    vectors = faiss.read_index(str(home / "data" / "index" / f"vectors-{generation}.faiss"))
    assert vectors.ntotal == sum(per_guid.values())
    assert len(list((home / "transcripts").glob("*/*.json"))) == 3
    assert not list((home / "data" / "audio").glob("*.part"))
