"""`podsearch feed-info`: what podsearch reads from feeds, without subscribing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from httpserver import LocalServer
from test_archives import paged

DATA = Path(__file__).parent / "data"
RICH = DATA / "publisher" / "serial-rich.xml"
P20 = DATA / "podcasting20" / "example.xml"

# The `run` fixture (conftest): run(home, *args, ok=True) -> click's Result.
Run = Callable[..., Result]


def test_json_one_line_per_source_in_order_and_bad_ones_do_not_stop_the_rest(
        run: Run, tmp_path: Path, http_server: LocalServer) -> None:
    url = paged(http_server)
    http_server.route("/html", b"<!doctype html><html><body>hi</body></html>", content_type="text/html")
    bad = http_server.url("/html")
    home = tmp_path / "home"
    result = run(home, "feed-info", "--json", str(RICH), bad, url, str(tmp_path / "missing.xml"), ok=False)
    assert result.exit_code == 1  # some failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source"] for line in lines] == [str(RICH), bad, url, str(tmp_path / "missing.xml")]
    rich, html, long_runner, missing = lines
    assert rich["show"]["title"] == "The Lighthouse Keepers" and rich["show"]["kind"] == "serial"
    first = rich["episodes"][0]
    assert (first["guid"], first["season"], first["number"]) == ("s1e1", 1, 1)
    assert first["soundbites"][0] == {"start": 12.5, "duration": 20.0, "title": "Why the lighthouse went dark"}
    assert [c["title"] for c in first["chapters"]] == ["Cold open", "The keeper", "Credits"]
    assert "HTML page" in html["error"] and "\n" not in html["error"]
    assert len(long_runner["episodes"]) == 300 and long_runner["pages"] == 3  # pages followed
    assert "no such file" in missing["error"]
    assert not (home / "data" / "library.sqlite").exists()  # nothing subscribed, no home made


def test_text_lists_every_episode_with_what_podsearch_reads(run: Run, tmp_path: Path) -> None:
    result = run(tmp_path / "home", "feed-info", str(P20))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Podcasting 2.0 Namespace Example")
    assert "funding: https://example.com/donate Support the show!" in out
    assert "license: my-podcast-license-v1" in out
    assert "person: Adam Curry (host)" in out
    for guid in ("https://example.com/ep0003", "https://example.com/ep0002", "https://example.com/ep0001"):
        assert f"guid: {guid}" in out
    assert "enclosure: https://example.com/file-low-03.opus (audio/opus, 5400000 bytes)" in out
    assert "transcript: https://example.com/ep3/transcript.txt (text/plain)" in out
    assert "chapters: https://example.com/ep3_chapters.json" in out
    assert "soundbite: 0:33 +60s" in out
    assert "[S1E3]" in out


def test_exit_code_is_nonzero_when_the_only_feed_fails(run: Run, tmp_path: Path) -> None:
    result = run(tmp_path / "home", "feed-info", str(tmp_path / "nope.xml"), ok=False)
    assert result.exit_code == 1
    assert "no such file" in result.output
