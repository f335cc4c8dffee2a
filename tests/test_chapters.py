"""Generated chapters and the topic map on a real home.

The home holds the conversations dev set's real spoken words (tests/data/conversations/scripts, the
sentences each speaker said, with their exact times) as publisher transcripts (WebVTT with voices),
ingested by the real pipeline with the real sentence model: one long episode joining three
conversations (the joins are known), and four conversations one by one.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from test_app import texts, write_feed

from podsearch.core.config import DEFAULT_EMBED_MODEL, load_settings
from podsearch.core.records import Chapter, Segment, Transcript, chapter_at
from podsearch.index.search import SearchOptions, search
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.pipeline import add_feed, ingest, reindex
from podsearch.service.topics import topic_clips
from podsearch.transcripts.annotate import annotate
from podsearch.transcripts.chapters import FILLER
from podsearch.transcripts.formats import write_chapters
from podsearch.transcripts.store import load_transcript, save_transcript

DATA = Path(__file__).parent / "data"
SCRIPTS = DATA / "conversations" / "scripts"
JOINED = ("bm1-breaking-bad-news", "sh1-lost-scan-results", "sr1-calm-classrooms")
APART = ("bm3-interpreters", "sh2-handover-and-medicines", "sh3-night-shift-de-escalation", "sr2-feedback-that-works")
WINDOW = 15.0  # seconds either side of a join, as bench/bench_chapters.py scores


def sentences(stems: tuple[str, ...]) -> tuple[list[tuple[float, float, str, str]], list[float]]:
    """The stems' spoken sentences back to back (music cut), as (start, end, speaker, text); and the joins."""
    out, joins, at = [], [], 0.0
    for stem in stems:
        t = json.loads((SCRIPTS / f"{stem}.timings.json").read_text(encoding="utf-8"))
        first, last = t["sentences"][0]["start"] - 0.4, t["sentences"][-1]["end"] + 0.4
        if out:
            joins.append(at)
        out.extend((at + s["start"] - first, at + s["end"] - first, s["speaker_name"], s["text"]) for s in t["sentences"])
        at += last - first
    return out, joins


def vtt(rows: list[tuple[float, float, str, str]]) -> str:
    def stamp(t: float) -> str:
        return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"

    return "WEBVTT\n" + "".join(f"\n{stamp(a)} --> {stamp(b)}\n<v {who}>{text}\n" for a, b, who, text in rows)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    root = tmp_path_factory.mktemp("chapters")
    settings = load_settings(root / "home")
    joined, _ = sentences(JOINED)
    items = [{"title": "Three conversations", "guid": "joined", "date": "Mon, 02 Mar 2026 09:00:00 GMT",
              "vtt": vtt(joined)}]
    for n, stem in enumerate(APART):
        rows, _ = sentences((stem,))
        items.append({"title": stem, "guid": stem, "date": f"Tue, 0{n + 3} Mar 2026 09:00:00 GMT", "vtt": vtt(rows)})
    add_feed(settings, str(write_feed(root / "feed", "Care Conversations", items)))
    report = ingest(settings, models=models)
    assert not report.episode_errors and len(report.indexed) == 5
    return settings.home


@pytest.fixture()
def own_home(home: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(home, tmp_path / "home"))


def joined_transcript(home: Path) -> Transcript:
    return load_transcript(Home(load_settings(home)).transcript("joined"))


# -- chapters ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_chapters_are_generated_where_the_topic_shifts(home: Path) -> None:
    chapters = joined_transcript(home).chapters
    _, joins = sentences(JOINED)
    assert chapters and all(c.generated for c in chapters)
    assert chapters[0].title == "Welcome and introductions" and chapters[0].start < 1.0
    assert chapters[-1].title == "Closing words and thanks"
    starts = [c.start for c in chapters[1:]]
    for join in joins:  # each conversation starts a chapter, within the bench's window
        assert any(abs(s - join) <= WINDOW for s in starts), (join, starts)
    assert len(chapters) <= 2 * (len(joins) + 1) + 2  # a few per conversation, not one per question
    assert all(a.end == b.start for a, b in zip(chapters, chapters[1:]))


@pytest.mark.slow
def test_titles_are_short_distinct_and_said_in_their_chapter(home: Path) -> None:
    transcript = joined_transcript(home)
    titles = [c.title for c in transcript.chapters]
    assert len({t.lower() for t in titles}) == len(titles)
    for chapter in transcript.chapters:
        words = chapter.title.split()
        assert 3 <= len(chapter.title) <= 60 and 2 <= len(words) <= 6, chapter.title
        if chapter.title in ("Welcome and introductions", "Closing words and thanks"):
            continue
        assert not {w.lower().strip(".,") for w in words} & FILLER, chapter.title
        said = " ".join(s.text for s in transcript.segments if chapter.start <= s.start < (chapter.end or 1e9))
        assert chapter.title.lower() in said.lower(), (chapter.title, said[:200])


@pytest.mark.slow
def test_publisher_chapters_always_win(home: Path, models: Models, models_dir: Path) -> None:
    transcript = joined_transcript(home)
    theirs = (Chapter(start=0.0, title="Cold open"), Chapter(start=60.0, title="The interview"))
    kept = annotate(replace(transcript, chapters=theirs), embed=models.encoder(DEFAULT_EMBED_MODEL, models_dir))
    assert kept.chapters == theirs
    assert annotate(replace(transcript, chapters=()), embed=models.encoder(DEFAULT_EMBED_MODEL, models_dir)).chapters == transcript.chapters


@pytest.mark.slow
def test_reindex_recomputes_generated_chapters(own_home: Path, models: Models) -> None:
    settings = load_settings(own_home)
    path = Home(settings).transcript("joined")
    made = load_transcript(path).chapters
    stale = (Chapter(start=0.0, title="Old title", generated=True),)
    save_transcript(replace(load_transcript(path), chapters=stale), settings.transcripts_dir)
    reindex(settings, models=models)
    assert load_transcript(path).chapters == made
    index = Home(settings, models).open_index()
    try:
        indexed = next(e for e in index.episodes() if e.guid == "joined").chapters
    finally:
        index.close()
    assert indexed == made


@pytest.mark.slow
def test_hits_carry_their_generated_chapter(home: Path, models: Models) -> None:
    index = Home(load_settings(home), models).open_index()
    try:
        hits = search(index, "pupils shouting in a classroom", SearchOptions(k=3))
    finally:
        index.close()
    hit = next(h for h in hits if h.guid == "joined")
    chapters = joined_transcript(home).chapters
    assert hit.chapter in {c.title for c in chapters}
    assert hit.chapter in (chapter_at(chapters, hit.start), chapter_at(chapters, min(hit.start + 3.0, hit.end)))


def test_no_speech_no_chapters_and_no_model_keeps_what_is_there() -> None:
    empty = Transcript(show="s", episode="e", guid="g", segments=(Segment(0.0, 1.0, "  "),))
    assert annotate(empty, embed=lambda texts: pytest.fail("nothing to embed")).chapters == ()
    given = replace(empty, chapters=(Chapter(start=0.0, title="Kept as is", generated=True),))
    assert annotate(given).chapters == given.chapters


# -- exports ----------------------------------------------------------------------------------
def _valid_podcasting20_chapters(doc: dict) -> None:
    """The shape of tests/data/podcasting20/chapters_example.json (Podcasting 2.0 JSON chapters)."""
    example = json.loads((DATA / "podcasting20" / "chapters_example.json").read_text(encoding="utf-8"))
    assert isinstance(doc["version"], str) and doc["version"].split(".")[0] == example["version"].split(".")[0]
    known = {k for c in example["chapters"] for k in c} | {"endTime", "toc", "location"}
    starts = [c["startTime"] for c in doc["chapters"]]
    assert starts == sorted(starts) and all(isinstance(s, (int, float)) and s >= 0 for s in starts)
    for c in doc["chapters"]:
        assert set(c) <= known and isinstance(c["title"], str) and c["title"]
        assert c.get("endTime", c["startTime"] + 1) > c["startTime"]


@pytest.mark.slow
def test_export_json_and_podcasting20_chapters(home: Path, run) -> None:  # noqa: ANN001 - the CLI fixture
    doc = json.loads(run(home, "export", "joined", "--format", "json").output)
    assert doc["chapters"] and all(c["generated"] is True for c in doc["chapters"])
    chapters = json.loads(run(home, "export", "joined", "--format", "chapters").output)
    _valid_podcasting20_chapters(chapters)
    assert [c["title"] for c in chapters["chapters"]] == [c["title"] for c in doc["chapters"]]
    assert chapters["author"].startswith("podsearch")


def test_chapters_writer_keeps_hostile_titles_as_data() -> None:
    t = Transcript(show="S\x1b[31m", episode="E", guid="g", segments=(), chapters=(
        Chapter(start=5.0, title='Line\nbreak "quoted"', end=9.0), Chapter(start=0.0, title="First")))
    doc = json.loads(write_chapters(t))
    _valid_podcasting20_chapters(doc)
    assert [c["title"] for c in doc["chapters"]] == ["First", 'Line break "quoted"'] and "author" not in doc


# -- topics -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_topics_cli_json(home: Path, run) -> None:  # noqa: ANN001
    found = json.loads(run(home, "topics", "--json").output)
    assert found, "a library of five episodes has topics"
    for topic in found:
        assert set(topic) == {"label", "terms", "episodes", "clips"}
        assert 3 <= len(topic["label"]) <= 60 and topic["terms"] and topic["episodes"] >= 1
        for clip in topic["clips"]:
            assert set(clip) == {"key", "episode", "show", "start", "end"} and clip["end"] > clip["start"]
    titles = {c["episode"] for t in found for c in t["clips"]}
    assert titles <= {"Three conversations", *APART} and len(titles) >= 3
    assert json.loads(run(home, "topics", "--json", "--show", "No Such Show").output) == []
    assert json.loads(run(home, "topics", "--json", "--show", "care conversations").output) == found
    assert "episode(s)" in run(home, "topics").output


@pytest.mark.slow
def test_topic_clips_are_best_first_and_exclude_sponsor_reads(home: Path, models: Models) -> None:
    index = Home(load_settings(home), models).open_index()
    try:
        found = topic_clips(index)
        kinds = {r[0] for r in index.db.execute("SELECT p.kind FROM passage_topics t JOIN passages p"
                                                 " ON p.id = t.passage_id WHERE t.topic != -1")}
    finally:
        index.close()
    assert kinds == {"speech"}
    for topic in found:
        scores = [h.score for h in topic.clips]
        assert scores == sorted(scores, reverse=True)
        assert not any(re.search(r"brought to you by", h.text, re.I) for h in topic.clips)


@pytest.mark.slow
def test_each_conversation_leads_a_topic_of_its_own(home: Path, models: Models) -> None:
    """The four conversations ingested one by one are four themes: at least three of them (the target,
    75%) are the main episode of a topic at least 80% their own (as bench/bench_chapters.py scores purity).
    The fourth, handover and medicines, talks about two things in four passages."""
    index = Home(load_settings(home), models).open_index()
    try:
        found = topic_clips(index, clips=10_000)
    finally:
        index.close()
    led = set()
    for topic in found:
        episodes = [h.episode for h in topic.clips]
        main = max(set(episodes), key=episodes.count)
        if episodes.count(main) / len(episodes) >= 0.8:
            led.add(main)
    assert len(set(APART) & led) >= 3, [(t.label, [h.episode for h in t.clips]) for t in found]


@pytest.mark.slow
def test_a_new_episode_updates_the_topics_without_redrawing_them(own_home: Path, models: Models,
                                                                 tmp_path: Path) -> None:
    """A new episode's passages join the topics they fit, or form a topic of their own (a theme the map
    had not seen); the topics there were stay as they were."""
    settings = load_settings(own_home)
    index = Home(settings, models).open_index()
    try:
        before = index.db.execute("SELECT id, label, terms, centroid FROM topics ORDER BY id").fetchall()
    finally:
        index.close()
    rows, _ = sentences(("bm2-stitches-and-parents",))
    add_feed(settings, str(write_feed(tmp_path / "more", "More Conversations", [
        {"title": "Stitches", "guid": "bm2", "date": "Mon, 09 Mar 2026 09:00:00 GMT", "vtt": vtt(rows)}])))
    assert ingest(settings, models=models).indexed == ["Stitches"]
    index = Home(settings, models).open_index()
    try:
        after = index.db.execute("SELECT id, label, terms, centroid FROM topics ORDER BY id").fetchall()
        placed = index.db.execute("SELECT t.topic FROM passage_topics t JOIN passages p ON p.id = t.passage_id"
                                  " JOIN episodes e ON e.key = p.key WHERE e.guid = 'bm2'").fetchall()
        found = topic_clips(index, clips=10_000)
    finally:
        index.close()
    assert [tuple(r) for r in after[:len(before)]] == [tuple(r) for r in before]  # kept, not recomputed
    assert placed and sum(r[0] != -1 for r in placed) >= len(placed) * 0.8  # considered, and in topics
    # A conversation about calming children and their parents is a theme of its own here.
    assert any([h.episode for h in t.clips].count("Stitches") >= 0.8 * len(t.clips) for t in found), \
        [(t.label, [h.episode for h in t.clips]) for t in found]


@pytest.mark.slow
def test_a_map_drawn_by_an_older_podsearch_is_drawn_again(own_home: Path, models: Models) -> None:
    """A map without the mean its topic vectors need (drawn before they existed) is drawn again, once."""
    from podsearch.service.topics import refresh_topics

    index = Home(load_settings(own_home), models).open_index()
    try:
        with index.db:
            index.db.execute("DELETE FROM meta WHERE key = 'topics_mean'")
        assert refresh_topics(index) == "built"
        assert refresh_topics(index) == "unchanged"
        assert topic_clips(index)
    finally:
        index.close()


@pytest.mark.slow
def test_topics_and_chapters_over_the_api(home: Path) -> None:
    from apiserver import running_server

    with running_server(home) as base:
        topics = httpx.get(f"{base}/api/topics", timeout=60).json()["topics"]
        assert topics and {c["key"] for t in topics for c in t["clips"]}
        assert httpx.get(f"{base}/api/topics", params={"show": "nobody"}, timeout=60).json() == {"topics": []}
        key = topics[0]["clips"][0]["key"]
        doc = httpx.get(f"{base}/api/episodes/{key}/transcript", params={"format": "json"}, timeout=60).json()
        assert all(c["generated"] for c in doc["chapters"])
        chapters = httpx.get(f"{base}/api/episodes/{key}/transcript", params={"format": "chapters"}, timeout=60)
        assert chapters.headers["content-type"].startswith("application/json+chapters")
        _valid_podcasting20_chapters(chapters.json())


@pytest.mark.slow
def test_topics_and_chapters_over_mcp(home: Path) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def calls() -> tuple:
        params = StdioServerParameters(command=sys.executable, args=["-m", "podsearch.cli", "--home", str(home), "mcp"])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return (await session.call_tool("topics", {}, read_timeout_seconds=300),
                    await session.call_tool("transcript", {"guid": "joined", "format": "chapters"},
                                            read_timeout_seconds=300))

    topics, chapters = asyncio.run(calls())
    assert not topics.is_error and not chapters.is_error
    body = topics.structured_content or json.loads("".join(getattr(b, "text", "") for b in topics.content))
    assert body["topics"] and body["topics"][0]["clips"]
    _valid_podcasting20_chapters(json.loads("".join(getattr(b, "text", "") for b in chapters.content)))


# -- the app ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_topics_page_browses_plays_and_saves_clips(own_home: Path, open_app) -> None:  # noqa: ANN001
    at = open_app(own_home, page="Topics")
    assert "Topics" in [h.value for h in at.subheader]
    picker = at.selectbox(key="topic")
    assert len(picker.options) >= 1
    first = [m for m in texts(at.markdown) if m.startswith("**Care Conversations**")]
    assert first, "the chosen topic's clips are shown as cards"
    assert at.get("audio"), "each clip plays"
    at.selectbox(key="topic").set_value(len(picker.options) - 1).run()
    assert not at.exception
    # Save the first clip to a new collection, as from a search result.
    from podsearch.webapp.widgets import NEW_COLLECTION

    at.selectbox(key="col_0").set_value(NEW_COLLECTION).run()
    at.text_input(key="newcol_0").set_value("Week 1").run()
    at.button(key="save_0").click().run()
    assert any("Saved to" in s.value for s in at.success)


@pytest.mark.slow
def test_topics_page_without_topics_says_what_to_do(tmp_path: Path, open_app) -> None:  # noqa: ANN001
    from podsearch.webapp.topics import EMPTY

    load_settings(tmp_path / "empty")
    at = open_app(tmp_path / "empty", page="Topics")
    assert EMPTY in [i.value for i in at.info]


@pytest.mark.slow
def test_episode_view_lists_generated_chapters_that_jump(home: Path, open_app) -> None:  # noqa: ANN001
    from podsearch.webapp.episode import GENERATED_NOTE

    chapters = joined_transcript(home).chapters
    key = load_transcript(Home(load_settings(home)).transcript("joined")).key
    at = open_app(home, episode=key)
    assert any(e.label == f"Chapters ({len(chapters)}, generated)" for e in at.expander)
    assert GENERATED_NOTE in [c.value for c in at.caption]
    buttons = [b for b in at.button if b.key and b.key.startswith("chapter_")]
    assert len(buttons) == len(chapters) and chapters[1].title in buttons[1].label
    buttons[1].click().run()
    audio = at.get("audio")[0].proto
    assert audio.start_time == int(chapters[1].start)


# -- an old home -------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_old_home_migrates_and_gets_topics(tmp_path: Path, run) -> None:  # noqa: ANN001
    import sqlite3

    home = Path(shutil.copytree(DATA / "homes" / "v0", tmp_path / "home"))
    found = json.loads(run(home, "topics", "--json").output)
    with sqlite3.connect(home / "data" / "index" / "index.sqlite") as db:
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY id")]
    assert "m005_topics" in names
    assert isinstance(found, list)
