"""A hostile or broken publisher cannot hurt the library (issue #14): each attack against a server the test starts."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from httpserver import LocalServer
from rss import channel_head, item, rss

DATA = Path(__file__).parent / "data"
VTT = (DATA / "homes" / "v0-feeds" / "a1.vtt").read_bytes()



def shifty_show(guid: str, audio: str) -> str:
    """The one episode of a show that may mint a new guid (and sign its enclosure) on every poll."""
    return rss("Shifty Show", item("Calming relatives", guid, guid_attrs=' isPermaLink="false"', link=False,
                                   date="Mon, 02 Mar 2026 08:00:00 +0000", audio=audio, length=1152693,
                                   extra='<itunes:duration>11</itunes:duration>\n<podcast:transcript url="a1.vtt" type="text/vtt"/>'),
               head=channel_head("https://example.org/s"))


# The `run` fixture (conftest): run(home, *args, ok=True) -> click's Result.
Run = Callable[..., Result]




# -- item 2: a guid that changes on every poll --------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("audio_changes", [False, True], ids=["same-enclosure", "signed-enclosure"])
def test_a_guid_minted_per_request_is_one_episode(run: Run, http_server: LocalServer, tmp_path: Path,
                                                  audio_changes: bool) -> None:
    polls = itertools.count(1)

    def shifty_feed(handler) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        n = next(polls)
        audio = f"jfk.flac?sig={n}" if audio_changes else "jfk.flac"  # then only title+date+duration match
        body = shifty_show(f"urn:uuid:poll-{n}", audio).encode()
        handler._send(200, body, {"Content-Type": "application/rss+xml"})

    http_server.route("/feed.xml", handler=shifty_feed)
    http_server.route("/a1.vtt", VTT, content_type="text/vtt")
    http_server.route("/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    home = tmp_path / "home"
    run(home, "add", http_server.url("/feed.xml"))
    assert "indexed 1 episode(s)" in run(home, "ingest").stdout
    for _ in range(2):
        assert "indexed 0 episode(s)" in run(home, "ingest").stdout
    assert next(polls) == 5  # add + three ingests each saw a new guid
    status = run(home, "status").stdout
    assert status.count("Calming relatives") == 1
    hits = json.loads(run(home, "search", "calm an angry relative", "--json", "-k", "5").stdout)
    assert len({h["key"] for h in hits}) == 1
    assert len(http_server.requests_to("/a1.vtt")) == 1  # fetched once, not once per poll


def error_lines(result) -> list[str]:  # noqa: ANN001 - click Result
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def one_item(show: str, title: str, guid: str, audio: str, extra: str = "") -> str:
    """A bare show of one episode: no channel link or description, no enclosure length."""
    return rss(show, item(title, guid, date="Mon, 02 Mar 2026 08:00:00 +0000", audio=audio, length=None, link=False,
                          extra=extra), head="")


# -- item 4: a bad download is not cached forever ------------------------------------------------------------
@pytest.mark.slow
def test_a_truncated_enclosure_is_fetched_again_once_fixed(run: Run, http_server: LocalServer, tmp_path: Path) -> None:
    whole = (DATA / "jfk.flac").read_bytes()
    feed = one_item("Cut Show", "Cut short", "cut-1", "ep.flac")
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    audio = http_server.route("/ep.flac", whole[: len(whole) // 3], content_type="audio/flac")
    home = tmp_path / "home"
    run(home, "add", http_server.url("/feed.xml"))
    failed = run(home, "ingest", ok=False)
    assert failed.exit_code == 1
    line, = error_lines(failed)  # one line, naming the episode (reported once, not twice)
    assert "Cut Show / Cut short" in line and "truncated" in line
    # Said once (the progress bar, which names the episode while it plays, aside).
    said = [m for m in re.split(r"[\r\n]", failed.stderr) if m.strip() and "%|" not in m]
    assert sum("Cut short" in m for m in said) == 1, said
    assert list((home / "data" / "audio").glob("*.flac")) == []  # the broken copy is not kept
    audio.body = whole  # the publisher fixes the file
    assert "indexed 1 episode(s)" in run(home, "ingest").stdout
    assert len(http_server.requests_to("/ep.flac")) == 2
    # The user can force a fresh download of an indexed episode.
    again = run(home, "ingest", "--redownload", "cut-1")
    assert "downloading again: Cut Show / Cut short" in again.stderr and "indexed 1 episode(s)" in again.stdout
    assert len(http_server.requests_to("/ep.flac")) == 3
    unknown = run(home, "ingest", "--redownload", "nope", ok=False)
    assert unknown.exit_code == 1 and error_lines(unknown) == [
        "error: no episode has the key or guid 'nope'; `podsearch status --keys` lists them"]


# -- item 8: OPML cannot subscribe to local files --------------------------------------------------------------
def test_opml_feeds_must_be_http(run: Run, http_server: LocalServer, tmp_path: Path) -> None:
    local = tmp_path / "local.xml"
    local.write_text(one_item("Local Show", "Secret", "s", "/etc/hostname"))
    http_server.route("/feed.xml", (DATA / "homes" / "v0-feeds" / "show-a.xml"), content_type="application/rss+xml")
    opml = tmp_path / "subs.opml"
    outlines = [local.as_uri(), str(local), "local.xml", http_server.url("/feed.xml")]
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
        f'<outline type="rss" text="feed {n}" xmlUrl="{url}"/>' for n, url in enumerate(outlines)) + "</body></opml>")
    home = tmp_path / "home"
    result = run(home, "import-opml", str(opml), ok=False)
    assert result.exit_code == 1
    assert "Ward Talk: 2 episodes" in result.stdout  # the good feed is still added
    errors = error_lines(result)
    assert len(errors) == 3
    for n, error in enumerate(errors):
        assert error.startswith(f"error: feed {n}: {outlines[n]}: ") and "must be http(s)" in error
    status = run(home, "status").stdout
    assert "Ward Talk" in status and "Local Show" not in status


# -- item 12: smaller ones ----------------------------------------------------------------------------------------
def test_a_failed_episode_is_reported_once_and_warnings_name_it(run: Run, http_server: LocalServer,
                                                                tmp_path: Path) -> None:
    extra = '<podcast:transcript url="gone.vtt" type="text/vtt"/>'
    feed = one_item("Broken Show", "Missing bits", "m-1", "gone.flac", extra=extra)
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    run(home, "add", http_server.url("/feed.xml"))
    result = run(home, "ingest", ok=False)
    assert result.exit_code == 1
    warning, = [line for line in result.stderr.splitlines() if "publisher transcript unusable" in line]
    assert "Broken Show / Missing bits" in warning
    line, = error_lines(result)
    assert "Broken Show / Missing bits" in line and "404" in line
    assert result.stderr.count("gone.flac") == 1


def test_a_refused_redirect_names_the_feed_too(run: Run, http_server: LocalServer, tmp_path: Path) -> None:
    http_server.redirect("/feed.xml", "file:///etc/passwd")
    result = run(tmp_path / "home", "add", http_server.url("/feed.xml"), ok=False)
    assert result.exit_code == 1
    line, = error_lines(result)
    assert http_server.url("/feed.xml") in line and "/etc/passwd" in line and "refused" in line


@pytest.mark.slow
def test_one_writer_per_home_and_readers_never_wait(run: Run, http_server: LocalServer, tmp_path: Path) -> None:
    import subprocess
    import sys
    import threading
    import time

    release = threading.Event()

    def held_transcript(handler) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        release.wait(120)  # holds the first ingest mid-episode, with the home's lock
        handler._send(200, VTT, {"Content-Type": "text/vtt"})

    feed = one_item("Lock Show", "Calming relatives", "l-1", "jfk.flac",
                           extra='<podcast:transcript url="a1.vtt" type="text/vtt"/>')
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    http_server.route("/a1.vtt", handler=held_transcript)
    http_server.route("/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    home = tmp_path / "home"
    run(home, "add", http_server.url("/feed.xml"))

    def podsearch(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "podsearch.cli", "--home", str(home), "--allow-private", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = podsearch("ingest")
    try:
        for _ in range(600):  # until the first ingest is inside its episode (it holds the lock by then)
            if http_server.requests_to("/a1.vtt"):
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        refused = podsearch("ingest", "--no-wait")
        out, err = refused.communicate(timeout=120)
        assert refused.returncode == 1
        assert err.strip().splitlines() == [err.strip()] and "is busy: another podsearch ingest (pid" in err
        reindex = podsearch("reindex", "--no-wait")
        assert reindex.communicate(timeout=120)[1].count("is busy") == 1 and reindex.returncode == 1
        # Readers do not wait for the writer.
        status = podsearch("status")
        assert "Calming relatives" in status.communicate(timeout=120)[0] and status.returncode == 0
        second = podsearch("ingest")
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.append(second.stderr.readline()), daemon=True)
        reader.start()
        reader.join(120)  # its first words: that it waits for the first writer
        assert said and "waiting for another podsearch ingest (pid" in said[0]
        assert second.poll() is None
        release.set()
        out1, err1 = first.communicate(timeout=300)
        out2, err2 = second.communicate(timeout=300)
    finally:
        release.set()
        for proc in (first, second) if "second" in locals() else (first,):
            if proc.poll() is None:
                proc.kill()
    assert first.returncode == 0 and "indexed 1 episode(s)" in out1, err1
    assert second.returncode == 0, err2
    assert "indexed 0 episode(s)" in out2  # the work was done once


def test_a_remote_feed_cannot_read_local_files(run: Run, http_server: LocalServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.vtt"
    secret.write_bytes(VTT)
    extra = f'<podcast:transcript url="{secret.as_uri()}" type="text/vtt"/>'
    feed = one_item("Nosy Show", "Peek", "p-1", (DATA / "jfk.flac").as_uri(), extra=extra)
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    run(home, "add", http_server.url("/feed.xml"))
    result = run(home, "ingest", ok=False)
    assert "indexed 0 episode(s)" in result.stdout  # the feed parser drops local links of remote feeds
    audio = home / "data" / "audio"
    assert not audio.exists() or list(audio.iterdir()) == []  # nothing local was copied in
    assert "Lower your voice" not in run(home, "search", "lower your voice", "--json").stdout
