"""Ingest through a real local Ray cluster: same results as a local run, even when a worker dies."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import faiss
import pytest
from httpserver import LocalServer
from test_pipeline import Run, item, passages_per_guid, speeches


DATA = Path(__file__).parent / "data"
DEMO_EPISODE = Path(__file__).parent.parent / "demo" / "episodes" / "ep3-pharmacy-counter.mp3"
GUIDS = {"jfk-1961", "tools-1", "pharmacy-3"}


@pytest.fixture(scope="module")
def ray_cluster():  # noqa: ANN201
    """One local two-CPU cluster for the module; `--ray auto` joins it instead of starting its own."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def serve_small_feed(server: LocalServer) -> LocalServer:
    """Three episodes of different speech (4 s, 11 s, 95 s) and one broken enclosure."""
    server.route("/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    server.route("/tools.mp3", DATA / "hotwords.mp3", content_type="audio/mpeg")
    server.route("/pharmacy.mp3", DEMO_EPISODE, content_type="audio/mpeg")
    server.route("/page.mp3", b"<html>Sorry, not found</html>", content_type="text/html")
    items = item("Inaugural address", "jfk-1961", "Fri, 20 Jan 1961 17:00:00 GMT", server.url("/jfk.flac"))
    items += item("Software tools", "tools-1", "Mon, 02 Mar 2026 09:00:00 GMT", server.url("/tools.mp3"), "audio/mpeg")
    items += item("Pharmacy counter", "pharmacy-3", "Mon, 09 Feb 2026 09:00:00 GMT", server.url("/pharmacy.mp3"),
                  "audio/mpeg")
    items += item("Missing page", "html-1", "Sun, 22 Jan 1961 17:00:00 GMT", server.url("/page.mp3"), "audio/mpeg")
    server.route("/feed.xml", speeches(items).encode(), content_type="application/rss+xml")
    return server


@pytest.fixture(scope="module")
def small_feed():  # noqa: ANN201
    """One server for the module: transcripts name their audio URL, so every run must see the same ones."""
    with LocalServer() as server:
        yield serve_small_feed(server)


def ingested(run: Run, home: Path, feed: LocalServer, *args: str) -> str:
    """Subscribe `home` to the feed and ingest it; the command's output."""
    assert run(home, "add", feed.url("/feed.xml")).exit_code == 0
    result = run(home, "ingest", *args, ok=False)
    assert result.exit_code == 1, result.output  # the broken enclosure fails, alone
    assert "indexed 3 episode(s); 1 failed" in result.output, result.output
    return result.output


def transcripts(home: Path) -> dict[str, dict]:
    found = {}
    for path in sorted((home / "transcripts").glob("*/*.json")):
        data = json.loads(path.read_text())
        found[data["guid"]] = data
    return found


def statuses(home: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite3.connect(home / "data" / "library.sqlite")
    try:
        return {g: (s, e) for g, s, e in db.execute("SELECT guid, status, error FROM episodes")}
    finally:
        db.close()


def vector_count(home: Path) -> int:
    db = sqlite3.connect(home / "data" / "index" / "index.sqlite")
    try:
        generation = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    finally:
        db.close()
    return faiss.read_index(str(home / "data" / "index" / f"vectors-{generation}.faiss")).ntotal


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, small_feed: LocalServer, run: Run) -> Path:
    """The same feed ingested without Ray: the reference every Ray run must match."""
    home = tmp_path_factory.mktemp("local") / "home"
    ingested(run, home, small_feed)
    return home


def assert_same_as_local(home: Path, local: Path) -> None:
    ours, theirs = transcripts(home), transcripts(local)
    assert set(ours) == GUIDS
    assert ours == theirs  # every field: segments, their texts and times, engine, model, duration
    assert passages_per_guid(home) == passages_per_guid(local)
    assert vector_count(home) == sum(passages_per_guid(home).values())  # no passage indexed twice
    got, want = statuses(home), statuses(local)
    assert got == want
    assert {g for g, (s, _) in got.items() if s == "indexed"} == GUIDS
    assert got["html-1"][0] == "failed" and "audio" in got["html-1"][1]


@pytest.mark.slow
def test_ray_ingest_matches_local(run: Run, tmp_path: Path, small_feed: LocalServer, local_run: Path,
                                  ray_cluster) -> None:
    home = tmp_path / "home"
    output = ingested(run, home, small_feed, "--ray", "auto", "--ray-workers", "2")
    assert_same_as_local(home, local_run)
    for title in ("Inaugural address", "Software tools", "Pharmacy counter"):
        assert output.count(f"indexed: {title}") == 1
    assert "Missing page" in output  # the worker's error arrives as a failed episode, with its message
    # Nothing left to do: a second run transcribes nothing and leaves the index alone.
    before = passages_per_guid(home)
    again = run(home, "ingest", "--ray", "auto", ok=False)
    assert "indexed 0 episode(s); 1 failed" in again.output
    assert passages_per_guid(home) == before


def kill_first_transcribing_worker(stop: threading.Event, killed: list[int]) -> None:
    """Like the OOM killer: SIGKILL the first Ray worker seen in the middle of an episode.

    Ray names a worker process after the method it runs ("ray::TranscribeWorker.transcribe").
    """
    deadline = time.monotonic() + 300
    while not stop.is_set() and time.monotonic() < deadline:
        for path in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                title = path.read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::TranscribeWorker.transcribe"):
                pid = int(path.parent.name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the worker through /proc (Linux)")
def test_worker_killed_mid_episode_is_retried(run: Run, tmp_path: Path, small_feed: LocalServer, local_run: Path,
                                              ray_cluster) -> None:
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_transcribing_worker, args=(stop, killed), daemon=True)
    killer.start()
    home = tmp_path / "home"
    try:
        output = ingested(run, home, small_feed, "--ray", "auto", "--ray-workers", "2")
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen transcribing"
    assert "died mid-episode; retrying (attempt 2 of 3)" in output
    assert_same_as_local(home, local_run)
    for title in ("Inaugural address", "Software tools", "Pharmacy counter"):
        assert output.count(f"indexed: {title}") == 1
    assert len(list((home / "transcripts").glob("*/*.json"))) == 3


@pytest.mark.slow
def test_no_ray_import_without_the_flag(tmp_path: Path, http_server: LocalServer) -> None:
    # A publisher transcript keeps Whisper out of it; the run is in a fresh interpreter.
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nWelcome to the show.\n"
    http_server.route("/a.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/t.vtt", vtt.encode(), content_type="text/vtt")
    extra = f'<podcast:transcript url="{http_server.url("/t.vtt")}" type="text/vtt"/>'
    items = item("Welcome", "w-1", "Mon, 02 Mar 2026 09:00:00 GMT", http_server.url("/a.flac"), extra=extra)
    http_server.route("/feed.xml", speeches(items).encode(), content_type="application/rss+xml")
    script = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from podsearch.cli import cli
        for args in (["add", {http_server.url("/feed.xml")!r}], ["ingest"]):
            result = CliRunner().invoke(cli, ["--home", {str(tmp_path)!r}, "--allow-private", *args])
            assert result.exit_code == 0, result.output
        assert "indexed 1 episode(s)" in result.output, result.output
        assert "ray" not in sys.modules, "ray was imported"
        print("no ray")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no ray" in done.stdout


def test_unreachable_cluster_fails_at_once_with_a_clear_line(run: Run, tmp_path: Path,
                                                              http_server: LocalServer) -> None:
    pytest.importorskip("ray")  # without it, the error is the one naming the extra to install
    home = tmp_path / "home"
    feed = serve_small_feed(http_server)
    assert run(home, "add", feed.url("/feed.xml")).exit_code == 0
    result = run(home, "ingest", "--ray", "127.0.0.1:1", ok=False)
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output and "ray start --head" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert feed.requests_to("/jfk.flac") == []  # refused before any work
    assert "--ray" in run(home, "ingest", "--ray-workers", "2", ok=False).output

