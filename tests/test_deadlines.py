"""Whole-transfer deadlines: a server that drips bytes cannot hold up `add`, `ingest` or a download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpserver import LocalServer
from test_pipeline import DATA, VTT, Run, item, speeches

from podsearch.core.config import Settings
from podsearch.core.errors import DownloadError
from podsearch.ingest import net
from podsearch.ingest.download import download


def dripping(body: bytes, every: float, server: LocalServer, *, headers_too: bool = False):  # type: ignore[no-untyped-def]
    """A handler sending `body` one byte every `every` seconds (optionally the status line too)."""

    def handle(req) -> None:  # type: ignore[no-untyped-def]
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        if not headers_too:
            req.wfile.write(head)
            req.wfile.flush()
        for byte in (head if headers_too else b"") + body:
            if server.stopping.wait(every):
                return
            try:
                req.wfile.write(bytes([byte]))
                req.wfile.flush()
            except OSError:  # the client gave up
                return

    return handle


def test_add_gives_up_on_a_dripping_feed_with_one_line(run: Run, tmp_path: Path, http_server: LocalServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_TRANSFER_DEADLINE", "2")
    feed = speeches().encode()
    # Without a deadline this takes minutes: each byte arrives well within the read timeout.
    http_server.route("/slow.xml", handler=dripping(feed, 0.3, http_server))
    result = run(tmp_path / "home", "add", http_server.url("/slow.xml"), ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and http_server.url("/slow.xml") in lines[0], result.output
    assert "too slow" in lines[0] and "PODSEARCH_TRANSFER_DEADLINE" in lines[0]


def test_dripped_headers_hit_the_deadline_too(tmp_path: Path, http_server: LocalServer) -> None:
    http_server.route("/slow.xml", handler=dripping(b"<rss/>", 0.3, http_server, headers_too=True))
    settings = Settings(home=tmp_path, allow_private=True, transfer_deadline=1.5)
    with pytest.raises(DownloadError, match="too slow"):
        net.fetch(http_server.url("/slow.xml"), settings=settings)


@pytest.mark.slow
def test_one_slow_feed_does_not_hold_up_the_others(run: Run, tmp_path: Path, http_server: LocalServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    http_server.route("/slow.xml", speeches().encode(), content_type="application/rss+xml")
    assert run(home, "add", http_server.url("/slow.xml")).exit_code == 0
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/t/ep.vtt", VTT.encode(), content_type="text/vtt")
    extra = f'<podcast:transcript url="{http_server.url("/t/ep.vtt")}" type="text/vtt" language="en"/>'
    good = item("Pharmacy hour", "pharm-1", "Mon, 02 Mar 2026 09:00:00 GMT", http_server.url("/audio/jfk.flac"),
                extra=extra)
    http_server.route("/good.xml", speeches().encode(), content_type="application/rss+xml")
    assert run(home, "add", http_server.url("/good.xml")).exit_code == 0
    # Now the first feed drips and the second has a new episode.
    http_server.route("/slow.xml", handler=dripping(speeches().encode(), 0.3, http_server))
    http_server.route("/good.xml", speeches(good).encode(), content_type="application/rss+xml")
    monkeypatch.setenv("PODSEARCH_TRANSFER_DEADLINE", "2")
    result = run(home, "ingest", "--engine", "openai-whisper", "--model", str(tmp_path / "no-such-model"), ok=False)
    assert http_server.url("/slow.xml") in result.output and "too slow" in result.output
    hits = json.loads(run(home, "search", "clopidogrel", "--json").stdout)
    assert hits and hits[0]["guid"] == "pharm-1"


def test_dripping_enclosure_stops_and_keeps_what_arrived(tmp_path: Path, http_server: LocalServer) -> None:
    audio = (DATA / "jfk.flac").read_bytes()[:6000]

    def handle(req) -> None:  # type: ignore[no-untyped-def]
        req.wfile.write((f"HTTP/1.1 200 OK\r\nContent-Type: audio/flac\r\nContent-Length: {len(audio)}\r\n"
                         "Connection: close\r\n\r\n").encode() + audio[:5000])
        req.wfile.flush()
        for byte in audio[5000:]:
            if http_server.stopping.wait(0.3):
                return
            try:
                req.wfile.write(bytes([byte]))
                req.wfile.flush()
            except OSError:
                return

    http_server.route("/ep.flac", handler=handle)
    # 1 s plus 1 s per 10 kB: the 5000 bytes that came at once buy half a second more, the drip no more.
    settings = Settings(home=tmp_path, allow_private=True, transfer_deadline=1.0, min_download_rate=10_000)
    with pytest.raises(DownloadError, match="too slow.*run ingest again to resume"):
        download(http_server.url("/ep.flac"), tmp_path / "cache", settings=settings)
    parts = list((tmp_path / "cache").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size >= 5000


def test_default_deadlines() -> None:
    settings = Settings(home=Path("."))
    assert settings.transfer_deadline == 60.0 and settings.min_download_rate == 32 << 10
