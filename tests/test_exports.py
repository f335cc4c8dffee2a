"""Citations and collection exports parse back as their formats."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlsplit

from podsearch.service import exports
from podsearch.core.records import Chapter, chapter_at

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


def test_deep_link_prefers_web_audio_then_episode_page() -> None:
    assert exports.deep_link(HIT) == "https://example.org/ep1.mp3#t=75"
    local = {**HIT, "audio_url": "/home/me/podcasts/ep1.mp3", "link": "https://example.org/episodes/1#notes"}
    assert exports.deep_link(local) == "https://example.org/episodes/1#t=75"
    assert exports.deep_link({**local, "link": None}) == "/home/me/podcasts/ep1.mp3#t=75"
    assert exports.deep_link({"start": 1.0}) is None
    assert exports.deep_link({**HIT, "start": 1.5}).endswith("#t=1")  # whole seconds, never after the clip starts


def test_share_urls_round_trip_through_the_query_string() -> None:
    params = exports.search_params("angry relative & co", ("Calm Care", "Ward Talk"), ("publisher",), "2026-01-01T00:00", None)
    url = exports.share_url("http://127.0.0.1:8501/?old=1#frag", params)
    assert url.startswith("http://127.0.0.1:8501/?q=angry+relative+%26+co&show=Calm+Care&show=Ward+Talk")
    parsed = parse_qs(urlsplit(url).query)
    assert parsed == {"q": ["angry relative & co"], "show": ["Calm Care", "Ward Talk"], "source": ["publisher"],
                      "from": ["2026-01-01"]}
    # A speaker and sponsor reads switched on travel too; off, `ads` is left out.
    shared = exports.search_params("refunds", speaker="Ruth A. (pharmacist)", include_ads=True)
    assert parse_qs(urlsplit(exports.share_url("/", shared)).query) == {
        "q": ["refunds"], "speaker": ["Ruth A. (pharmacist)"], "ads": ["1"]}
    assert "ads" not in exports.search_params("refunds", include_ads=False)
    assert exports.clip_params({**HIT, "guid": "g-1"}) == {"episode": "g-1", "t": "75.4", "end": "98"}
    assert exports.share_url("/", exports.clip_params({**HIT, "guid": "g 1"})) == "/?episode=g+1&t=75.4&end=98"


def test_highlight_marks_query_words_and_their_forms_and_escapes_html() -> None:
    # The words marked are the ones the index matched (its porter stems): "calmly" is "calmli", no match.
    assert "calmly" in exports.highlight_html("calmly", "calm") and "<mark>" not in exports.highlight_html("calmly", "calm")
    html = exports.highlight_html("Calming angry relatives <b>is</b> a relative's art & skill", "calm an angry relative")
    assert html == ("<mark>Calming</mark> <mark>angry</mark> <mark>relatives</mark> &lt;b&gt;is&lt;/b&gt; a "
                    "<mark>relative</mark>'s art &amp; skill")  # FTS5 splits "relative's" too
    assert exports.highlight_html("nothing here", "the a of") == "nothing here"  # stopwords only: no marks
    assert "<mark>" not in exports.highlight_html("warfarin", "war")  # a whole word, not any prefix


def test_chapter_at_names_the_chapter_playing() -> None:
    chapters = (Chapter(start=60.0, title="Second"), Chapter(start=0.0, title="First"))
    assert [chapter_at(chapters, t) for t in (0.0, 59.9, 60.0, 500.0)] == ["First", "First", "Second", "Second"]
    assert chapter_at((), 5.0) is None and chapter_at((Chapter(10.0, "Late"),), 5.0) is None


def test_one_clock_for_every_format() -> None:
    from podsearch.core.clock import timestamp

    assert [timestamp(t) for t in (0, 59.99, 65.2, 3599.9, 3723.5)] == ["0:00", "0:59", "1:05", "59:59", "1:02:03"]
    assert timestamp(65.2, always_hours=True) == "00:01:05"
    assert timestamp(3723.4567, decimal_marker=",") == "01:02:03,457"
    assert timestamp(-1, decimal_marker=".") == "00:00:00.000"


HOSTILE_TITLE = "Ep 1\n#EXTINF:1,pwned\nhttps://evil.example/x.mp3\r\n#EXTINF:1,again\u2028file:///etc/passwd"


def _m3u_entries(text: str) -> list[tuple[str, str]]:
    """(EXTINF line, location) pairs as a player reads them: every non-# line is a location."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    locations = [line for line in lines if line and not line.startswith("#")]
    infos = [line for line in lines if line.startswith("#EXTINF")]
    return list(zip(infos, locations, strict=True))


def test_m3u_titles_cannot_add_entries() -> None:
    items = [{"hit": {**HIT, "episode": HOSTILE_TITLE, "show": "Show\x85\x1b"}, "note": ""},
             {"hit": {**HIT, "audio_url": None}, "note": ""},  # no link: left out, not an empty line
             {"hit": {**HIT, "audio_url": "https://example.org/a b.mp3\n#EXTINF:1,x\nfile:///etc/passwd"}, "note": ""}]
    text = exports.m3u_playlist("Week\n#EXTINF:1,x\nhttps://evil.example/", items)
    entries = _m3u_entries(text)
    assert [loc for _, loc in entries] == [
        "https://example.org/ep1.mp3#t=75",
        "https://example.org/a b.mp3%0A#t=75",  # deep_link drops the old fragment
    ]
    assert "evil.example" not in "".join(loc for _, loc in entries)
    assert "pwned" in entries[0][0]  # the title is kept, on its own line
    assert len(text.splitlines()) == 2 + 2 * 2


def test_m3u_location_never_reads_as_a_directive() -> None:
    text = exports.m3u("n", [("t", 3.0, "#EXTINF:1,x")])
    assert _m3u_entries(text) == [("#EXTINF:3,t", "./#EXTINF:1,x")]


def test_csv_cells_never_become_formulas() -> None:
    evil = ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    items = [{"hit": {**HIT, "show": e, "episode": e, "text": e, "published": e}, "note": e} for e in evil]
    rows = list(csv.DictReader(io.StringIO(exports.csv_table(items))))
    for row, e in zip(rows, evil, strict=True):
        for key in ("show", "episode", "published", "text", "note"):
            assert row[key] == "'" + e
    assert rows[0]["start"] == "75.40"  # our own numbers stay numbers
