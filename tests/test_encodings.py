"""Feeds in legacy encodings (issue #14 item 9): served for real, read correctly, never half-added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import LocalServer

from podsearch.cli import cli
from podsearch.core.config import load_settings
from podsearch.ingest import feeds
from podsearch.ingest.feeds import parse_feed
from podsearch.service import ingest_run
from podsearch.service.library import Library

ENCODINGS = Path(__file__).parent / "data" / "encodings"
EXPECTED = json.loads((ENCODINGS / "expected.json").read_text(encoding="utf-8"))


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), "--allow-private", *args])


def feed_urls(home: Path) -> list[str]:
    library = Library(home / "data" / "library.sqlite")
    try:
        return [f.url for f in library.feeds()]
    finally:
        library.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_legacy_encoding_is_decoded(name: str) -> None:
    data = (ENCODINGS / f"{name}.xml").read_bytes()
    show, episodes = parse_feed(data, f"https://example.org/{name}.xml")
    want = EXPECTED[name]
    assert show.title == want["title"]
    (episode,) = episodes
    assert episode.title == want["episode"]
    # The Podcasting 2.0 tags come from the namespace-aware parse, which needs the decoded text too.
    assert [p.name for p in episode.persons] == [want["person"]]
    assert [t.type for t in episode.transcripts] == ["text/vtt"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_add_over_http_reads_legacy_encoding(tmp_path: Path, http_server: LocalServer, name: str) -> None:
    # Served as plain XML with no charset, as many hosts do: the bytes must speak for themselves.
    http_server.route(f"/{name}.xml", ENCODINGS / f"{name}.xml", content_type="application/xml")
    home = tmp_path / "home"
    added = run(home, "add", http_server.url(f"/{name}.xml"))
    assert added.exit_code == 0, added.output
    assert f"{EXPECTED[name]['title']}: 1 episode" in added.output


def test_add_is_atomic_when_parsing_breaks(tmp_path: Path, http_server: LocalServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A parser bug we cannot produce with real bytes any more: injected.
    def broken(data: bytes, url: str):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(feeds, "parse_feed_page", broken)
    http_server.route("/gb.xml", ENCODINGS / "gb2312.xml", content_type="application/xml")
    home = tmp_path / "home"
    added = run(home, "add", http_server.url("/gb.xml"))
    assert added.exit_code != 0
    assert feed_urls(home) == []  # no half-made subscription


def test_ingest_isolates_a_failing_feed(tmp_path: Path, http_server: LocalServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("gb2312", "big5", "euc-kr"):
        http_server.route(f"/{name}.xml", ENCODINGS / f"{name}.xml", content_type="application/xml")
    home = tmp_path / "home"
    for name in ("gb2312", "big5", "euc-kr"):
        assert run(home, "add", http_server.url(f"/{name}.xml")).exit_code == 0
    real = feeds.parse_feed_page

    def fails_for_big5(data: bytes, url: str):
        if url.endswith("/big5.xml"):
            raise UnicodeDecodeError("big5", data, 0, 1, "injected")
        return real(data, url)

    monkeypatch.setattr(feeds, "parse_feed_page", fails_for_big5)
    for name in ("gb2312", "big5", "euc-kr"):
        http_server.route(f"/{name}.xml", ENCODINGS / f"{name}.xml", content_type="application/xml",
                          etag=f'"{name}-v2"')
    settings = load_settings(home, allow_private=True)
    # Refresh only: the episodes' audio is not served, transcription is not what is tested here.
    monkeypatch.setattr(ingest_run, "pending_episodes", lambda library, limit=None: [])
    report = ingest_run.ingest(settings)
    assert report.feeds_refreshed == 2
    ((url, message),) = report.feed_errors
    assert url.endswith("/big5.xml") and "\n" not in message and "big5.xml" in message
    library = Library(home / "data" / "library.sqlite")
    try:
        status = {f.url.rsplit("/", 1)[1]: f.status for f in library.feeds()}
        # The failing feed keeps its episode; the others were refreshed.
        assert status == {"gb2312.xml": "ok", "big5.xml": "failed", "euc-kr.xml": "ok"}
        assert len(library.episodes()) == 3
    finally:
        library.close()
