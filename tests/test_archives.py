"""Every feed read completely: paged and archived feeds (RFC 5005) and moved feeds, over a real local server."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import LocalServer

from podsearch.cli import cli
from podsearch.core.config import load_settings
from podsearch.service.library import Library
from podsearch.service.subscriptions import refresh_feed

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:fh="http://purl.org/syndication/history/1.0">
<channel><title>{title}</title>{head}
{items}
</channel></rss>"""


def items(first: int, count: int, year: int = 2025) -> str:
    """`count` episodes numbered down from `first` (newest first), one a day."""
    out = []
    for n in range(first, first - count, -1):
        day = 1 + n % 28
        month = 1 + (n // 28) % 12
        out.append(f"<item><title>Episode {n}</title><guid>ep-{n}</guid>"
                   f"<pubDate>{day:02d} {['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'][month-1]}"
                   f" {year - n // 336} 09:00:00 GMT</pubDate>"
                   f'<enclosure url="https://cdn.example.org/{n}.mp3" type="audio/mpeg" length="1000"/></item>')
    return "\n".join(out)


def link(rel: str, href: str) -> str:
    return f'<atom:link rel="{rel}" href="{href}"/>'


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), "--allow-private", *args])


def refresh(home: Path) -> None:
    """What `ingest` does first: refresh every feed (no transcription: the audio is not served)."""
    settings = load_settings(home, allow_private=True)
    library = Library(settings.library_db)
    try:
        for feed in library.feeds():
            refresh_feed(settings, library, feed)
    finally:
        library.close()


def catalog(home: Path) -> tuple[list[str], list[str]]:
    library = Library(home / "data" / "library.sqlite")
    try:
        return [f.url for f in library.feeds()], [r.episode.guid for r in library.episodes()]
    finally:
        library.close()


def paged(server: LocalServer, rel: str = "next", loop: bool = False, etag: bool = False) -> str:
    """Three documents of 100 episodes each: /feed.xml (300..201) -> /page2.xml -> /page3.xml."""
    pages = [("/feed.xml", 300), ("/page2.xml", 200), ("/page3.xml", 100)]
    for i, (path, first) in enumerate(pages):
        older = pages[i + 1][0] if i + 1 < len(pages) else ("/feed.xml" if loop else None)
        # Relative on one page, absolute on the next: both are resolved against the page's own URL.
        head = link(rel, older if i % 2 == 0 else server.url(older)) if older else ""
        body = RSS.format(title="Long Runner", head=head, items=items(first, 100)).encode()
        server.route(path, body, content_type="application/rss+xml", etag=f'"{path}-v1"' if etag else None)
    return server.url("/feed.xml")


def requests_to(server: LocalServer, path: str) -> int:
    return len(server.requests_to(path))


@pytest.mark.parametrize("rel", ["next", "prev-archive"])
def test_paged_feed_gives_every_episode(tmp_path: Path, http_server: LocalServer, rel: str) -> None:
    home = tmp_path / "home"
    added = run(home, "add", paged(http_server, rel))
    assert added.exit_code == 0, added.output
    assert "Long Runner: 300 episodes" in added.output
    _, guids = catalog(home)
    assert sorted(guids) == sorted(f"ep-{n}" for n in range(1, 301))


def test_a_loop_of_pages_terminates(tmp_path: Path, http_server: LocalServer) -> None:
    home = tmp_path / "home"
    added = run(home, "add", paged(http_server, loop=True))
    assert added.exit_code == 0, added.output
    assert "Long Runner: 300 episodes" in added.output
    assert requests_to(http_server, "/feed.xml") == 1 and requests_to(http_server, "/page3.xml") == 1


def test_page_cap_applies(tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_MAX_FEED_PAGES", "2")
    home = tmp_path / "home"
    added = run(home, "add", paged(http_server))
    assert added.exit_code == 0, added.output
    assert "Long Runner: 200 episodes" in added.output
    assert requests_to(http_server, "/page3.xml") == 0


def test_max_episodes_stops_paging(tmp_path: Path, http_server: LocalServer) -> None:
    home = tmp_path / "home"
    added = run(home, "add", paged(http_server), "--max-episodes", "150")
    assert added.exit_code == 0, added.output
    assert "Long Runner: 150 episodes" in added.output
    assert requests_to(http_server, "/page2.xml") == 1 and requests_to(http_server, "/page3.xml") == 0


def test_since_stops_paging(tmp_path: Path, http_server: LocalServer) -> None:
    home = tmp_path / "home"
    url = paged(http_server)
    # Episodes 300..201 are dated 2025, 200..1 in 2025 and 2024 alike (n // 336 == 0): give page 3 old dates.
    http_server.route("/page3.xml", RSS.format(title="Long Runner", head="", items=items(100, 100, year=2019)).encode(),
                      content_type="application/rss+xml")
    http_server.route("/page2.xml", RSS.format(title="Long Runner", head=link("next", "/page3.xml"),
                                               items=items(200, 100, year=2020)).encode(),
                      content_type="application/rss+xml")
    added = run(home, "add", url, "--since", "2024-01-01")
    assert added.exit_code == 0, added.output
    assert "Long Runner: 100 episodes" in added.output
    # Page 2 was read to learn it is older than --since; nothing beyond it was.
    assert requests_to(http_server, "/page2.xml") == 1 and requests_to(http_server, "/page3.xml") == 0


def test_each_page_is_fetched_conditionally(tmp_path: Path, http_server: LocalServer) -> None:
    home = tmp_path / "home"
    url = paged(http_server, etag=True)
    assert run(home, "add", url).exit_code == 0
    # The newest page changes; the archive pages do not.
    http_server.route("/feed.xml", RSS.format(title="Long Runner", head=link("next", "/page2.xml"),
                                              items=items(301, 101)).encode(),
                      content_type="application/rss+xml", etag='"/feed.xml-v2"')
    refresh(home)
    later = [seen for seen in http_server.requests if seen.path in ("/page2.xml", "/page3.xml")][2:]
    assert [(s.path, s.headers.get("if-none-match")) for s in later] == [
        ("/page2.xml", '"/page2.xml-v1"'), ("/page3.xml", '"/page3.xml-v1"')]
    _, guids = catalog(home)
    assert len(guids) == 301 and len(set(guids)) == 301


# -- moves --------------------------------------------------------------------


def show(server: LocalServer, path: str, head: str, first: int = 3, count: int = 3) -> str:
    server.route(path, RSS.format(title="Wanderer", head=head, items=items(first, count)).encode(),
                 content_type="application/rss+xml")
    return server.url(path)


def test_a_moved_feed_is_followed_once_without_duplicates(tmp_path: Path, http_server: LocalServer) -> None:
    new = show(http_server, "/new.xml", "<podcast:guid>wanderer-1</podcast:guid>", first=4, count=4)
    old = show(http_server, "/old.xml", f"<itunes:new-feed-url>{new}</itunes:new-feed-url>"
                                        "<podcast:guid>wanderer-1</podcast:guid>")
    home = tmp_path / "home"
    added = run(home, "add", old)
    assert added.exit_code == 0, added.output
    assert "Wanderer: 4 episodes" in added.output
    assert catalog(home) == ([new], ["ep-4", "ep-3", "ep-2", "ep-1"])
    assert requests_to(http_server, "/new.xml") == 1
    # Later refreshes go straight to the new address and store nothing twice.
    refresh(home)
    assert requests_to(http_server, "/old.xml") == 1
    urls, guids = catalog(home)
    assert urls == [new] and sorted(guids) == ["ep-1", "ep-2", "ep-3", "ep-4"]


def test_the_same_show_at_a_new_address_keeps_one_subscription(tmp_path: Path, http_server: LocalServer) -> None:
    old = show(http_server, "/old.xml", "<podcast:guid>wanderer-1</podcast:guid>")
    new = show(http_server, "/elsewhere.xml", "<podcast:guid>wanderer-1</podcast:guid>", first=4, count=4)
    home = tmp_path / "home"
    assert run(home, "add", old).exit_code == 0
    added = run(home, "add", new)
    assert added.exit_code == 0, added.output
    urls, guids = catalog(home)
    assert urls == [new] and sorted(guids) == ["ep-1", "ep-2", "ep-3", "ep-4"]


def test_a_loop_of_moves_is_refused_in_one_line(tmp_path: Path, http_server: LocalServer) -> None:
    a, b = http_server.url("/a.xml"), http_server.url("/b.xml")
    show(http_server, "/a.xml", f"<itunes:new-feed-url>{b}</itunes:new-feed-url>")
    show(http_server, "/b.xml", f"<itunes:new-feed-url>{a}</itunes:new-feed-url>")
    home = tmp_path / "home"
    added = run(home, "add", a)
    assert added.exit_code != 0
    (line,) = added.output.strip().splitlines()
    assert "moves in a loop" in line and a in line and b in line
    assert catalog(home) == ([], [])


def test_a_move_to_another_show_is_refused(tmp_path: Path, http_server: LocalServer) -> None:
    other = show(http_server, "/other.xml", "<podcast:guid>someone-else</podcast:guid>")
    old = show(http_server, "/old.xml", f"<itunes:new-feed-url>{other}</itunes:new-feed-url>"
                                        "<podcast:guid>wanderer-1</podcast:guid>")
    added = run(tmp_path / "home", "add", old)
    assert added.exit_code != 0 and "another show" in added.output


def test_a_show_followed_elsewhere_added_through_a_move_keeps_one_subscription(
        tmp_path: Path, http_server: LocalServer) -> None:
    first = show(http_server, "/first.xml", "<podcast:guid>wanderer-1</podcast:guid>")
    new = show(http_server, "/new.xml", "<podcast:guid>wanderer-1</podcast:guid>", first=4, count=4)
    hop = show(http_server, "/hop.xml", f"<itunes:new-feed-url>{new}</itunes:new-feed-url>"
                                        "<podcast:guid>wanderer-1</podcast:guid>")
    home = tmp_path / "home"
    assert run(home, "add", first).exit_code == 0
    added = run(home, "add", hop)
    assert added.exit_code == 0, added.output
    urls, guids = catalog(home)
    assert urls == [new] and sorted(guids) == ["ep-1", "ep-2", "ep-3", "ep-4"]
