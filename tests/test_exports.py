"""Citations and collection exports parse back as their formats."""

from __future__ import annotations

import csv
import io

from podsearch import exports

HIT = {"show": "Calm Care", "episode": "Angry relatives", "published": "2026-02-03", "start": 75.4, "end": 98.0,
       "text": "Lower your voice, and offer a seat.", "audio_url": "https://example.org/ep1.mp3"}
ITEMS = [{"hit": HIT, "note": "Key technique"}, {"hit": {**HIT, "episode": "Bad news", "start": 3661.0, "end": 3670.0}, "note": ""}]


def test_citation_names_show_episode_date_time_and_link():
    text = exports.citation(HIT)
    assert text == "Calm Care, “Angry relatives” (2026-02-03), at 1:15–1:38. https://example.org/ep1.mp3#t=75"


def test_markdown_handout_keeps_order_quotes_and_links():
    md = exports.markdown_handout("Week 1", ITEMS)
    assert md.startswith("# Week 1")
    assert md.index("Angry relatives") < md.index("Bad news")
    assert "> Lower your voice, and offer a seat." in md and "Key technique" in md
    assert "(https://example.org/ep1.mp3#t=3661)" in md and "1:01:01" in md


def test_m3u_entries_start_at_each_clip():
    lines = exports.m3u_playlist("Week 1", ITEMS).splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[2].startswith("#EXTINF:23,Calm Care - Angry relatives")
    assert lines[3] == "https://example.org/ep1.mp3#t=75" and lines[5].endswith("#t=3661")


def test_csv_round_trips():
    rows = list(csv.DictReader(io.StringIO(exports.csv_table(ITEMS))))
    assert [r["position"] for r in rows] == ["1", "2"]
    assert rows[0]["text"] == HIT["text"] and rows[0]["note"] == "Key technique" and rows[1]["start"] == "3661.00"
