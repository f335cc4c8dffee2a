"""Read commands never create a home: a missing home is one line naming it, an empty one says what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from apiserver import running_server
from click.testing import Result

from podsearch.service.homes import NO_EPISODES, NOT_INDEXED

Run = Callable[..., Result]
FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Ward Talk</title><link>https://example.org/</link><description>d</description>
<item><title>Handover</title><guid>w-1</guid><enclosure url="w-1.flac" type="audio/flac" length="1"/></item>
</channel></rss>"""


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


@pytest.mark.parametrize("args", [
    ("search", "blood thinners"), ("search", "blood thinners", "--json"), ("status",), ("export", "w-1"),
    ("app", "--port", "9"), ("serve", "--port", "9"), ("mcp",),
])
def test_a_missing_home_is_one_line_naming_it_and_is_not_created(run: Run, tmp_path: Path,
                                                                 args: tuple[str, ...]) -> None:
    home = tmp_path / "typo"
    result = run(home, *args, ok=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    line, = result.stderr.splitlines()
    assert line.startswith(f"error: no podsearch home at {home} (it does not exist)")
    assert "PODSEARCH_HOME" in line
    assert not home.exists()


def test_an_empty_home_says_no_episodes_yet_and_stays_empty(run: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run(home, "search", "blood thinners")
    assert result.stdout.strip() == NO_EPISODES == "no episodes yet: podsearch add URL"
    assert "nothing relevant" not in result.output
    result = run(home, "search", "blood thinners", "--json")
    assert json.loads(result.stdout) == [] and result.stderr.strip() == f"note: {NO_EPISODES}"
    assert run(home, "status").stdout.strip() == NO_EPISODES
    result = run(home, "export", "w-1", ok=False)
    assert result.exit_code == 1 and result.stderr.strip() == f"error: w-1: {NO_EPISODES}"
    # A bad query is still said as such.
    assert "search query is empty" in run(home, "search", "  ", ok=False).stderr
    assert files_under(home) == []  # nothing was created by reading


def test_a_home_with_feeds_but_nothing_indexed_says_to_ingest(run: Run, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(FEED, encoding="utf-8")
    home = tmp_path / "home"
    run(home, "add", str(feed))
    assert run(home, "search", "handover").stdout.strip() == NOT_INDEXED
    status = run(home, "status").stdout
    assert "Ward Talk" in status and NO_EPISODES not in status


def test_the_api_of_an_empty_home_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with running_server(home) as base:
        body = httpx.get(f"{base}/api/search", params={"q": "blood thinners"}, timeout=60).json()
    assert body == {"query": "blood thinners", "hits": [], "message": NO_EPISODES}
