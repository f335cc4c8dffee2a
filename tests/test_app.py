"""The Streamlit app, page by page, through streamlit.testing's AppTest on real ingested homes.

Homes are built from local feeds whose items carry a publisher transcript
(VTT) and chapters (JSON), so the pipeline runs for real without Whisper.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import shutil
import threading
import time
from pathlib import Path

import pytest
from audiofiles import repeated_jfk
from httpserver import LocalServer
from rss import channel_head, item, rss
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from podsearch.index.search import LEAD_IN, Filters, SearchOptions, search
from podsearch.core.config import load_settings
from podsearch.core.markup import escape_markdown
from podsearch.service.exports import clock
from podsearch.service.jobs import shared_jobs
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed
from podsearch.service.progress import Stage

DATA = Path(__file__).parent / "data"

# 33 s of speech audio (jfk.flac three times); cues far apart in topic, so clips end before the episode does.
PHARMACY_VTT = """WEBVTT

00:00:00.000 --> 00:00:04.000
<v Host>Welcome to the pharmacy hour.

00:00:04.000 --> 00:00:09.000
<v Guest>Clopidogrel should not be stopped before surgery without asking the cardiologist.

00:00:09.000 --> 00:00:15.000
<v Host>A notice: the car park closes early on Fridays.

00:00:15.000 --> 00:00:21.000
<v Guest>Keep insulin pens in the fridge until their first use.

00:00:21.000 --> 00:00:27.000
<v Host>Next week: hay fever and pollen counts.

00:00:27.000 --> 00:00:33.000
<v Host>Thank you, that is very clear advice.
"""
PHARMACY_CHAPTERS = {"version": "1.2.0", "chapters": [
    {"startTime": 0, "title": "Welcome"},
    {"startTime": 4, "title": "Anticoagulants before surgery"},
    {"startTime": 9, "title": "Notices"},
    {"startTime": 15, "title": "Storing insulin"},
    {"startTime": 21, "title": "Next week"},
]}
CLASSROOM_VTT = """WEBVTT

00:00:00.000 --> 00:00:03.000
<v Teacher>An angry parent is waiting at the classroom door.

00:00:03.000 --> 00:00:07.000
<v Coach>My best advice is to lower your voice and offer the parent a seat.

00:00:07.000 --> 00:00:11.000
<v Coach>Listen fully before you explain the school rules.
"""



def write_feed(folder: Path, show: str, items: list[dict]) -> Path:
    """A local feed file; each item dict: title, guid, date, vtt (text or None), chapters (dict or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    repeated_jfk(folder / "audio.flac", 3)
    rendered = []
    for it in items:
        extra = ""
        if it.get("vtt"):
            (folder / f"{it['guid']}.vtt").write_text(it["vtt"])
            extra += f'<podcast:transcript url="{it["guid"]}.vtt" type="text/vtt"/>'
        if it.get("chapters"):
            (folder / f"{it['guid']}.chapters.json").write_text(json.dumps(it["chapters"]))
            extra += f'<podcast:chapters url="{it["guid"]}.chapters.json" type="application/json+chapters"/>'
        rendered.append(item(it["title"], it["guid"], date=it["date"], audio=it.get("audio", "audio.flac"), extra=extra))
    path = folder / "feed.xml"
    path.write_text(rss(show, *rendered, head=channel_head(f"https://example.org/{folder.name}")))
    return path


def pharmacy_feed(root: Path) -> Path:
    return write_feed(root / "pharmacy", "Pharmacy Hour", [
        {"title": "Blood thinners", "guid": "ph-1", "date": "Mon, 02 Mar 2026 09:00:00 GMT",
         "vtt": PHARMACY_VTT, "chapters": PHARMACY_CHAPTERS}])


def classroom_feed(root: Path) -> Path:
    return write_feed(root / "classroom", "Classroom Voices", [
        {"title": "Calming an angry parent", "guid": "cv-1", "date": "Wed, 10 Sep 2025 07:30:00 GMT",
         "vtt": CLASSROOM_VTT}])


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    """A home with two shows, ingested from publisher transcripts (no Whisper)."""
    root = tmp_path_factory.mktemp("app")
    settings = load_settings(root / "home")
    for feed in (pharmacy_feed(root), classroom_feed(root)):
        add_feed(settings, str(feed))
    report = ingest(settings, models=models)
    assert sorted(report.indexed) == ["Blood thinners", "Calming an angry parent"], report
    return settings.home


@pytest.fixture()
def own_home(home: Path, tmp_path: Path) -> Path:
    """A private copy of the ingested home, for tests that change its catalog."""
    return Path(shutil.copytree(home, tmp_path / "home"))


def wait_for(condition, seconds: float = 60.0) -> None:  # noqa: ANN001 - Callable[[], bool]
    """Poll `condition` until true; fail after `seconds` (a deadline, not a measured duration)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def texts(elements) -> list[str]:  # noqa: ANN001 - AppTest element lists
    return [e.value for e in elements]


def expected_hits(models: Models, home: Path, query: str, **filters: object) -> list:
    """What the index answers directly (with `models`): the cards must show exactly this."""
    settings = load_settings(home)
    with Home(settings, models).index() as index:
        return search(index, query, SearchOptions(k=5, filters=Filters(**filters), floor=settings.relevance_floor))


def card_headers(at: AppTest) -> list[str]:
    return [m for m in texts(at.markdown) if m.startswith("**") and " · " in m]


# -- search ---------------------------------------------------------------------------
@pytest.mark.slow
def test_search_shows_evidence_cards(home: Path, open_app, models: Models) -> None:
    at = open_app(home)
    query = "stopping clopidogrel before surgery"
    at.text_input(key="q").input(query).run()
    assert not at.exception

    top = expected_hits(models, home, query)[0]
    # The clopidogrel cue (4-9 s) with its lead-in; the clip ends well before the episode does (33 s).
    assert top.guid == "ph-1" and top.start == 4.0 - LEAD_IN and 9.0 <= top.end <= 21.0
    assert card_headers(at)[0] == "**Pharmacy Hour** · Blood thinners"
    meta = texts(at.caption)
    card_meta = next(c for c in meta if c.startswith("2026-03-02"))
    assert ":material/menu_book: Anticoagulants before surgery" in card_meta  # the chapter where the answer is said
    assert "Publisher transcript" in card_meta and "no quality warnings" in card_meta
    assert f":material/schedule: {clock(top.start)}–{clock(top.end)}" in card_meta
    quote = next(m for m in texts(at.markdown) if m.startswith("> "))
    assert "<mark>Clopidogrel</mark>" in quote and "<mark>surgery</mark>" in quote and "<mark>stopped</mark>" in quote

    audio = at.get("audio")[0].proto
    assert audio.url.endswith(".flac")
    assert audio.start_time == int(top.start) and audio.end_time == math.ceil(top.end)
    assert audio.end_time > audio.start_time

    original = at.get("link_button")[0].proto
    assert original.url == f"https://example.org/ph-1#t={int(top.start)}"
    codes = texts(at.code)
    assert codes[0] == f"Pharmacy Hour, “Blood thinners” (2026-03-02), at {clock(top.start)}–{clock(top.end)}. https://example.org/ph-1#t={int(top.start)}"
    assert codes[1] == f"/?episode={top.key}&t={top.start:g}&end={top.end:g}"  # the feed-scoped key, not the guid

    context = [m for m in texts(at.markdown) if m.startswith(("`", "**`"))]
    assert any("Host: Welcome to the pharmacy hour." in line for line in context)
    assert "**`0:04` Guest: Clopidogrel should not be stopped before surgery without asking the cardiologist.**" in context
    assert "`0:27` Host: Thank you, that is very clear advice." in context  # after the clip: not bold
    assert dict(at.query_params) == {"q": query}


@pytest.mark.slow
def test_nothing_relevant_found(home: Path, open_app) -> None:
    at = open_app(home, q="quantum chromodynamics lattice gauge")
    assert any(i.startswith("Nothing relevant found") for i in texts(at.info))
    assert not at.get("audio") and not card_headers(at)


@pytest.mark.slow
def test_filters_narrow_by_show_date_and_source(home: Path, open_app) -> None:
    at = open_app(home, q="advice")
    assert {h.split(" · ")[0] for h in card_headers(at)} == {"**Pharmacy Hour**", "**Classroom Voices**"}

    at.multiselect(key="f_shows").select("Classroom Voices").run()
    assert [h.split(" · ")[0] for h in card_headers(at)] == ["**Classroom Voices**"]
    assert at.query_params["show"] in ("Classroom Voices", ["Classroom Voices"])

    at.multiselect(key="f_shows").unselect("Classroom Voices").run()
    at.date_input(key="f_dates").set_value((dt.date(2026, 1, 1), dt.date(2026, 6, 30))).run()
    assert [h.split(" · ")[0] for h in card_headers(at)] == ["**Pharmacy Hour**"]
    assert at.query_params["from"] == "2026-01-01" and at.query_params["to"] == "2026-06-30"

    at.multiselect(key="f_sources").select("whisper").run()
    assert any(i.startswith("Nothing relevant found") for i in texts(at.info))


@pytest.mark.slow
def test_person_filter_lists_speakers_and_narrows_to_where_they_speak(home: Path, open_app) -> None:
    at = open_app(home, q="advice")
    assert at.selectbox(key="f_person").options == ["Coach", "Guest", "Host", "Teacher"]
    at.selectbox(key="f_person").select("Coach").run()
    assert [h.split(" · ")[0] for h in card_headers(at)] == ["**Classroom Voices**"]
    assert at.query_params["person"] == "Coach"
    # A shared link carries the person; a name this library lacks is dropped, not an error.
    assert open_app(home, q="advice", person="Host").selectbox(key="f_person").value == "Host"
    other = open_app(home, q="advice", person="Nobody")
    assert other.selectbox(key="f_person").value is None and len(card_headers(other)) == 2


@pytest.mark.slow
def test_shared_search_address_reruns_the_search(home: Path, open_app) -> None:
    at = open_app(home, q="advice", show=["Classroom Voices"], **{"from": "2025-01-01", "to": "2025-12-31"})
    assert at.text_input(key="q").value == "advice"
    assert at.multiselect(key="f_shows").value == ["Classroom Voices"]
    assert [h.split(" · ")[0] for h in card_headers(at)] == ["**Classroom Voices**"]
    quote = next(m for m in texts(at.markdown) if m.startswith("> "))
    assert "<mark>advice</mark>" in quote
    # A link for a show this library lacks still opens, without the unknown show.
    other = open_app(home, q="advice", show="No Such Show")
    assert other.multiselect(key="f_shows").value == [] and len(card_headers(other)) == 2


@pytest.mark.slow
def test_card_opens_episode_view_at_the_clip(home: Path, open_app, models: Models) -> None:
    at = open_app(home, q="insulin fridge")
    at.button(key="ep_0").click().run()
    hit = expected_hits(models, home, "insulin fridge")[0]
    assert at.query_params["episode"] == hit.key and float(at.query_params["t"]) == pytest.approx(hit.start)
    audio = at.get("audio")[0].proto
    assert (audio.start_time, audio.end_time) == (int(hit.start), math.ceil(hit.end))
    at.button(key="back").click().run()
    assert dict(at.query_params) == {"q": "insulin fridge"} and card_headers(at)


# -- episode view ---------------------------------------------------------------------
@pytest.mark.slow
def test_episode_view_transcript_chapters_and_click_to_play(home: Path, open_app) -> None:
    at = open_app(home, episode="ph-1", t="2.5", end="6")
    assert at.header[0].value == "Blood thinners"
    assert "Pharmacy Hour · 2026-03-02 · Publisher transcript · 6 lines" == at.caption[0].value
    audio = at.get("audio")[0].proto
    assert (audio.start_time, audio.end_time, audio.autoplay) == (2, 6, False)

    lines = [b.label for b in at.button if b.key and b.key.startswith("seg_")]
    assert lines[:4] == ["▶ `0:00` Welcome to the pharmacy hour.",  # ▶: the line playing at t
                         "`0:04` Clopidogrel should not be stopped before surgery without asking the cardiologist.",
                         "`0:09` " + escape_markdown("A notice: the car park closes early on Fridays."),
                         "`0:15` Keep insulin pens in the fridge until their first use."]
    assert len(lines) == 6
    headings = [m for m in texts(at.markdown) if m.startswith("##### :material/menu_book:")]
    assert headings == ["##### :material/menu_book: " + c["title"] for c in PHARMACY_CHAPTERS["chapters"]]

    at.button(key="seg_3").click().run()
    audio = at.get("audio")[0].proto
    assert (audio.start_time, audio.end_time, audio.autoplay) == (15, 0, True)  # 0: no end, play on
    assert dict(at.query_params) == {"episode": "ph-1", "t": "15"}
    assert at.button(key="seg_3").label.startswith("▶ ")

    at.button(key="chapter_1").click().run()
    assert at.query_params["t"] == "4" and at.get("audio")[0].proto.start_time == 4
    at.button(key="chapter_0").click().run()
    assert at.get("audio")[0].proto.start_time == 0


@pytest.mark.slow
def test_search_within_episode(home: Path, open_app) -> None:
    at = open_app(home, episode="ph-1")
    at.text_input(key="within").input("fridge").run()
    hits = [b for b in at.button if b.key and b.key.startswith("within_")]
    assert len(hits) == 1 and "<mark>fridge</mark>" in hits[0].label
    hits[0].click().run()
    audio = at.get("audio")[0].proto
    assert audio.start_time == int(15 - LEAD_IN) and audio.end_time >= 21 and audio.autoplay
    at.text_input(key="within").input("angry parent classroom").run()
    assert "Nothing relevant found in this episode." in texts(at.info)  # the other show's words don't count


@pytest.mark.slow
def test_long_transcript_opens_at_the_part_holding_t(tmp_path: Path, open_app, models: Models) -> None:
    cues = "".join(f"\n\n00:{n // 60:02d}:{n % 60:02d}.000 --> 00:{n // 60:02d}:{n % 60:02d}.900\n<v Host>Line {n}."
                   for n in range(250))
    feed = write_feed(tmp_path / "long", "Long Talks", [
        {"title": "Marathon", "guid": "long-1", "date": "Mon, 02 Mar 2026 09:00:00 GMT", "vtt": "WEBVTT" + cues}])
    settings = load_settings(tmp_path / "home")
    add_feed(settings, str(feed))
    assert ingest(settings, models=models).indexed == ["Marathon"]

    at = open_app(tmp_path / "home", episode="long-1", t="130.5")
    assert at.selectbox(key="part").options == ["0:00–1:59", "2:00–3:59", "4:00–4:09"]
    assert at.selectbox(key="part").value == "2:00–3:59"  # the part that holds t
    lines = [b for b in at.button if b.key and b.key.startswith("seg_")]
    assert len(lines) == 120 and lines[0].label == "`2:00` Line 120."
    assert at.button(key="seg_130").label == "▶ `2:10` Line 130."
    at.selectbox(key="part").select("4:00–4:09").run()
    assert [b.key for b in at.button if b.key and b.key.startswith("seg_")] == [f"seg_{n}" for n in range(240, 250)]
    at.button(key="seg_249").click().run()
    assert at.query_params["t"] == "249" and at.get("audio")[0].proto.start_time == 249


@pytest.mark.slow
def test_unknown_episode_says_so(home: Path, open_app) -> None:
    at = open_app(home, episode="nope")
    assert "No indexed episode" in at.error[0].value


# -- library --------------------------------------------------------------------------
def library_page(open_app, home: Path) -> AppTest:
    at = open_app(home, page="Library")
    assert at.header[0].value == "Library"
    return at


def add_feed_via_form(at: AppTest, target: str) -> None:
    at.text_input(key="feed_url").input(target)
    next(b for b in at.button if b.label == "Add feed").click().run()
    assert not at.exception, at.exception


@pytest.mark.slow
def test_add_feed_by_path_and_bad_path_error(tmp_path: Path, open_app) -> None:
    at = library_page(open_app, tmp_path / "home")
    assert "No feeds yet. Add one above." in texts(at.info)
    add_feed_via_form(at, str(tmp_path / "nope.xml"))
    assert any("no such feed file" in e for e in texts(at.error))

    feed = classroom_feed(tmp_path / "feeds")
    add_feed_via_form(at, str(feed))
    assert "Added Classroom Voices: 1 episodes. Ingest to make them searchable." in texts(at.success)
    assert any(m.startswith("**Classroom Voices** :gray-badge[ok]") for m in texts(at.markdown))
    table = at.dataframe[0].value
    assert list(table["status"]) == ["new"] and list(table["episode"]) == ["Calming an angry parent"]
    # The page is in the address's path now (/library, see test_browser); the older ?page= is dropped.
    assert at.session_state["_page"] == "Library" and "page" not in at.query_params


@pytest.mark.slow
def test_opml_import_adds_each_feed_and_reports_failures(tmp_path: Path, open_app, http_server: LocalServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("PODSEARCH_ALLOW_PRIVATE", "1")  # the feed is served on 127.0.0.1
    http_server.route("/pharmacy.xml", pharmacy_feed(tmp_path / "feeds"), content_type="application/rss+xml")
    http_server.route("/gone.xml", b"", status=404)
    opml = f"""<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>
      <outline text="Pharmacy" type="rss" xmlUrl="{http_server.url('/pharmacy.xml')}"/>
      <outline text="Gone show" type="rss" xmlUrl="{http_server.url('/gone.xml')}"/>
      <outline text="Local show" type="rss" xmlUrl="{tmp_path / 'feeds' / 'feed.xml'}"/></body></opml>"""
    at = library_page(open_app, tmp_path / "home")
    at.file_uploader(key="opml").upload("subs.opml", opml.encode(), "text/x-opml").run()
    at.button(key="import_opml").click().run()
    assert "Added Pharmacy Hour: 1 episodes" in texts(at.success)
    assert any(e.startswith("Gone show: ") and "404" in e for e in texts(at.error))
    # An OPML document may not subscribe to local files (issue #14, item 8).
    assert any(e.startswith("Local show: ") and escape_markdown("must be http(s)") in e for e in texts(at.error))
    with Home(load_settings(tmp_path / "home")).catalog() as library:
        assert [f.title for f in library.feeds()] == ["Pharmacy Hour"]

    at.file_uploader(key="opml").upload("bad.opml", b"<html>not opml</html>", "text/xml").run()
    at.button(key="import_opml").click().run()
    assert any("not an OPML file" in e for e in texts(at.error))


@pytest.mark.slow
def test_ingest_job_progress_survives_reload_and_reports_statuses(
    tmp_path: Path, open_app, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("PODSEARCH_ALLOW_PRIVATE", "1")  # the feed is served on 127.0.0.1
    # One episode at a time, so the held episode holds the whole job where the test looks.
    monkeypatch.setenv("PODSEARCH_TRANSCRIBE_WORKERS", "1")
    release = threading.Event()

    def held_transcript(handler) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        # Holds the job mid-way until the test has looked at its progress.
        release.wait(60)
        handler._send(200, CLASSROOM_VTT.encode(), {"Content-Type": "text/vtt"})

    http_server.route("/t/cv.vtt", handler=held_transcript)
    http_server.route("/a/ok.flac", DATA / "jfk.flac", content_type="audio/flac")
    items = (item("Calming an angry parent", "cv-1", date="Wed, 10 Sep 2025 07:30:00 GMT", audio=http_server.url("/a/ok.flac"),
                  extra=f'<podcast:transcript url="{http_server.url("/t/cv.vtt")}" type="text/vtt"/>'),
             item("Lost recording", "cv-0", date="Mon, 01 Sep 2025 07:30:00 GMT", audio=http_server.url("/a/missing.mp3")))
    feed_route = http_server.route("/feed.xml", rss("Classroom Voices", *items, head=channel_head("https://example.org/cv")).encode(),
                                   content_type="application/rss+xml")
    home = tmp_path / "home"
    settings = load_settings(home)
    at = library_page(open_app, home)
    add_feed_via_form(at, http_server.url("/feed.xml"))
    assert "Added Classroom Voices: 2 episodes. Ingest to make them searchable." in texts(at.success)

    try:
        at.button(key="ingest").click().run()
        assert shared_jobs().state(settings).running
        assert at.get("progress") and at.button(key="ingest").disabled
        wait_for(lambda: shared_jobs().state(settings).stage == Stage.FEED)  # then it holds on the transcript
        at.run()
        bar = at.get("progress")[0].proto
        assert 0 <= bar.value < 100 and bar.text == escape_markdown("Refreshing feed: Classroom Voices")  # held on its transcript
        assert at.button(key="ingest").disabled
        # A reload (or a second tab) is a new session: it finds the same running job.
        again = library_page(open_app, home)
        assert again.get("progress") and again.button(key="ingest").disabled
    finally:
        release.set()
    state = shared_jobs().wait(settings, timeout=120)
    assert not state.running and state.report is not None

    at.run()
    assert any("1 episode(s) indexed, 1 failed, 0 feed(s) failed" in w for w in texts(at.warning))
    errors = texts(at.error)
    assert any(e.startswith("Lost recording: ") and "404" in e for e in errors)
    table = at.dataframe[0].value
    assert dict(zip(table["episode"], table["status"])) == {"Calming an angry parent": "indexed", "Lost recording": "failed"}
    assert not at.get("progress") and not at.button(key="ingest").disabled

    # The new episode is searchable at once: the cached index follows the ingest.
    search_page = open_app(home, q="lower your voice")
    assert card_headers(search_page)[0] == "**Classroom Voices** · Calming an angry parent"

    # A feed that breaks shows its error on the next refresh.
    feed_route.status, feed_route.body, feed_route.content_type = 500, b"oops", "text/plain"
    at.button(key="ingest").click().run()
    shared_jobs().wait(settings, timeout=120)
    at.run()
    assert any(e.startswith("Feed error: ") and "500" in e for e in texts(at.error))
    assert any(m.startswith("**Classroom Voices** :red-badge[failed]") for m in texts(at.markdown))


# -- collections ----------------------------------------------------------------------
def save_first_hit(at: AppTest, query: str, collection: str, note: str, new: bool) -> None:
    at.text_input(key="q").input(query).run()
    if new:
        at.selectbox(key="col_0").select("+ New collection…").run()
        at.text_input(key="newcol_0").input(collection).run()
    else:
        at.selectbox(key="col_0").select(collection).run()
    at.text_input(key="note_0").input(note).run()
    at.button(key="save_0").click().run()
    assert f"Saved to “{collection}”." in texts(at.success)


def item_titles(at: AppTest) -> list[str]:
    return [m for m in texts(at.markdown) if m[:3] in ("**1", "**2", "**3")]


@pytest.mark.slow
def test_collections_save_reorder_annotate_remove_export(own_home: Path, open_app) -> None:
    at = open_app(own_home)
    save_first_hit(at, "stopping clopidogrel before surgery", "Week 1", "Ask before stopping", new=True)
    save_first_hit(at, "lower your voice", "Week 1", "", new=False)

    col = open_app(own_home, page="Collections")
    assert col.selectbox(key="collection").value == "Week 1"
    assert item_titles(col) == ["**1. Blood thinners** · Pharmacy Hour", "**2. Calming an angry parent** · Classroom Voices"]
    audio = [a.proto for a in col.get("audio")]
    assert len(audio) == 2 and all(a.end_time > a.start_time for a in audio)

    with Home(load_settings(own_home)).catalog() as library:
        ids = [i["id"] for i in library.collection_items("Week 1")]
        col.button(key=f"down_{ids[0]}").click().run()
        assert item_titles(col) == ["**1. Calming an angry parent** · Classroom Voices", "**2. Blood thinners** · Pharmacy Hour"]
        col.text_input(key=f"ann_{ids[1]}").input("Use in the role-play").run()
        notes = {i["id"]: i["note"] for i in library.collection_items("Week 1")}
        assert notes == {ids[0]: "Ask before stopping", ids[1]: "Use in the role-play"}

        handout, playlist, table = texts(col.code)[-3:]
        assert handout.startswith("# Week 1") and handout.index("Calming an angry parent") < handout.index("Blood thinners")
        assert "> Clopidogrel should not be stopped before surgery" in handout and "Ask before stopping" in handout
        clopidogrel = library.collection_items("Week 1")[1]["hit"]
        assert f"[{clock(clopidogrel['start'])}–{clock(clopidogrel['end'])}](https://example.org/ph-1#t={int(clopidogrel['start'])})" in handout  # the page, at the clip
        assert playlist.startswith("#EXTM3U\n#PLAYLIST:Week 1\n#EXTINF:") and "#t=" in playlist
        assert table.splitlines()[0].startswith("position,show,episode") and "Use in the role-play" in table
        labels = [d.label for d in col.get("download_button")]
        assert labels == ["Handout (Markdown)", "Playlist (M3U)", "Table (CSV)", "Audio clips (ZIP)"]

        col.button(key=f"rm_{ids[1]}").click().run()
        assert item_titles(col) == ["**1. Blood thinners** · Pharmacy Hour"]
        assert [i["id"] for i in library.collection_items("Week 1")] == [ids[0]]

        col.text_input(key="new_collection").input("Week 2").run()
        col.button(key="create_collection").click().run()
        assert col.selectbox(key="collection").value == "Week 2"
        assert "This collection is empty. Save clips into it from search results." in texts(col.info)
        col.button(key="delete_collection").click().run()
        assert library.collections() == ["Week 1"]


@pytest.mark.slow
def test_empty_home_explains_what_to_do(tmp_path: Path, open_app) -> None:
    at = open_app(tmp_path / "home")
    assert any(i.startswith("No episodes yet: podsearch add URL") for i in texts(at.info))
    # A search there says the home is empty, never "nothing relevant found".
    at = open_app(tmp_path / "home", q="blood thinners")
    assert "No episodes yet: podsearch add URL." in texts(at.info)
    assert not any(i.startswith("Nothing relevant found") for i in texts(at.info))
    at = open_app(tmp_path / "home", page="Collections")
    assert any(i.startswith("No collections yet") for i in texts(at.info))


# -- feed text is shown literally ------------------------------------------------------
HOSTILE = ("![x](http://127.0.0.1:9/track.png) [click](http://evil.example) :red[ALERT] "
           "<img src=\"http://127.0.0.1:9/img.png\"> $x$")
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def shown_literally(source: str, text: str) -> bool:
    """`source` (Markdown as given to Streamlit) holds `text` escaped, so it renders as those characters."""
    rendered = MARKDOWN.renderInline(source)
    as_html = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return escape_markdown(text) in source and as_html in rendered \
        and "<img" not in rendered and "<a " not in rendered


@pytest.mark.slow
def test_hostile_titles_appear_literally_everywhere(tmp_path: Path, open_app, models: Models) -> None:
    show, title = f"Show {HOSTILE}", f"Episode {HOSTILE}"
    feed = write_feed(tmp_path / "evil", html.escape(show), [
        {"title": html.escape(title), "guid": "ev-1", "date": "Mon, 02 Mar 2026 09:00:00 GMT", "vtt": CLASSROOM_VTT,
         "chapters": {"version": "1.2.0", "chapters": [{"startTime": 0, "title": f"Chapter {HOSTILE}"}]}}])
    home = tmp_path / "home"
    at = library_page(open_app, home)
    add_feed_via_form(at, str(feed))  # the success message names the show
    assert any(shown_literally(s, show) for s in texts(at.success)), texts(at.success)
    assert any(shown_literally(m, show) for m in texts(at.markdown))  # the feed's heading
    assert ingest(load_settings(home), models=models).indexed == [title]

    search_page = open_app(home, q="lower your voice", show=show)
    assert shown_literally(card_headers(search_page)[0], show) and shown_literally(card_headers(search_page)[0], title)
    assert any(shown_literally(c, "Chapter " + HOSTILE) for c in texts(search_page.caption))  # the card's chapter
    assert shown_literally(search_page.expander[0].label, show)  # the filter summary names the show

    episode = open_app(home, episode="ev-1")
    assert shown_literally(episode.header[0].value, title) and shown_literally(episode.caption[0].value, show)
    assert shown_literally(episode.button(key="chapter_0").label, "Chapter " + HOSTILE)

    with Home(load_settings(home)).catalog() as library:
        library.add_to_collection("Evidence", expected_hits(models, home, "lower your voice")[0].to_json(), "")
    col = open_app(home, page="Collections")
    assert shown_literally(item_titles(col)[0], title) and shown_literally(item_titles(col)[0], show)
