"""Feed text never reaches the terminal raw: escape sequences, C0/C1 controls and bidi overrides are shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from httpserver import LocalServer
from test_pipeline import DATA, Run, item, speeches

from podsearch.core.terminal import clean, clean_json, clean_line

# OSC window title, OSC 8 hyperlink, OSC 52 clipboard write, CSI (7-bit and C1), bidi override.
HOSTILE = ("\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\"
           "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\u202eevil\x85\x00")
# Any ESC or C1 control (as UTF-8 bytes C2 80..C2 9F), or a bidi override, on stdout fails the test.
FORBIDDEN = re.compile(rb"\x1b|\x07|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\x00")


def test_clean_makes_controls_visible_and_keeps_lines() -> None:
    assert clean("a\x1b[2Jb\x07\x9bc\u202ed\r\ne\tf") == "a^[[2Jb^G\ufffdc\ufffdd\ne\tf"
    assert clean("over\rwrite") == "over^Mwrite"
    assert clean_line("title\nforged line") == "title^Jforged line"
    assert json.loads(clean_json(json.dumps({"t": HOSTILE}, ensure_ascii=False))) == {"t": HOSTILE}


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory, run: Run) -> Path:
    """A home holding a hostile title and transcript (built once: each test only reads it)."""
    with LocalServer() as http_server:
        return _ingest_hostile(run, tmp_path_factory.mktemp("hostile"), http_server)


def _ingest_hostile(run: Run, tmp_path: Path, http_server: LocalServer) -> Path:
    transcript = {"version": "1.0.0", "segments": [
        {"speaker": f"Host{HOSTILE}", "startTime": 0.0, "endTime": 4.0, "body": f"clopidogrel interactions {HOSTILE}"},
        {"startTime": 4.0, "endTime": 9.0, "body": f"ask your pharmacist\n\n99\n00:00:01,000 --> x {HOSTILE}"},
    ]}
    http_server.route("/audio/jfk.flac", DATA / "jfk.flac", content_type="audio/flac")
    http_server.route("/t/ep.json", json.dumps(transcript).encode(), content_type="application/json")
    extra = f'<podcast:transcript url="{http_server.url("/t/ep.json")}" type="application/json"/>'
    # XML 1.0 allows C1 controls and bidi characters (not C0), so a feed title carries those
    # (the feed parser already reads C1 as windows-1252; the bidi override stays).
    title = "Pharmacy\u009b2J hour\u202e &#x85;&#x9b;31m"
    items = item(title, "pharm-1", "Mon, 02 Mar 2026 09:00:00 GMT", http_server.url("/audio/jfk.flac"), extra=extra)
    feed = speeches(items).replace("Speeches Old and New", "Speeches\u009b0m\u202e")
    http_server.route("/feed.xml", feed.encode(), content_type="application/rss+xml")
    home = tmp_path / "home"
    assert run(home, "add", http_server.url("/feed.xml")).exit_code == 0
    result = run(home, "ingest", "--engine", "openai-whisper", "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 0, result.output
    return home


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("status",), ("search", "clopidogrel interactions"), ("search", "clopidogrel", "--json"),
    ("export", "pharm-1", "--format", "txt"), ("export", "pharm-1", "--format", "srt"),
    ("export", "pharm-1", "--format", "vtt"), ("export", "pharm-1", "--format", "json"),
    ("export", "pharm-1", "--format", "podcast-json"), ("export-opml",),
])
def test_cli_prints_no_control_from_feed_text(run: Run, hostile_home: Path, args: tuple[str, ...]) -> None:
    result = run(hostile_home, *args)
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes
    assert b"clopidogrel" in out or args[0] in ("status", "export-opml")
    assert not FORBIDDEN.search(out), out
    if args[0] == "status":
        assert "hour\ufffd" in result.stdout  # the bidi override in the title, shown
    if "--json" in args or args[-1].endswith("json"):
        json.loads(result.stdout)  # still valid JSON, the same values


@pytest.mark.slow
def test_srt_export_keeps_its_structure(run: Run, hostile_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "ep.srt"
    assert run(hostile_home, "export", "pharm-1", "--format", "srt", "-o", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert not FORBIDDEN.search(text.encode())
    # A forged cue inside the text stays inside its own cue.
    assert [block.splitlines()[0] for block in text.strip().split("\n\n")] == ["1", "2"]
    assert "^[]52;c;" in text
