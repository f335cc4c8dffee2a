"""The app on conversations: who says a clip, how far to trust it, sponsor reads, words Whisper was
unsure of, the speaker filter, the episode as turns, and renaming a speaker. AppTest on real homes.

One show comes from a publisher transcript with speakers and a sponsor read (no Whisper); the other is a
Whisper-shaped transcript (word timings and probabilities) handed to the real ingest through its
`source` seam, as a cluster would hand one over.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from test_app import texts, write_feed

from podsearch.core.config import load_settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Segment, Transcript, Word
from podsearch.index.search import Filters, SearchOptions, search
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.sources import Produced
from podsearch.service.subscriptions import add_feed
from podsearch.service.words import clip_words, unsure_chunks
from podsearch.webapp.widgets import CONFIDENCE_BADGES, KIND_LABELS, UNSURE_TITLE, quote_html

RUTH, JONAS = "Ruth", "Jonas"
LINES = [
    (RUTH, "Welcome to Ward Talk, I'm Ruth, and my guest today is Jonas Berg, a charge nurse."),
    (JONAS, "Thanks for having me, Ruth."),
    (RUTH, "This episode is brought to you by CalmSocks, the sock for long shifts."),
    (RUTH, "Use the code WARD for twenty percent off your first order at calmsocks dot com."),
    (RUTH, "And now, back to my conversation with Jonas."),
    (RUTH, "Jonas, a scan result has gone missing and the patient is waiting. What do you say?"),
    (JONAS, "I tell them straight away that the result has been mislaid, and that it is our failure, not theirs."),
    (JONAS, "Then I say exactly who is finding it and when I will come back, and I keep that promise."),
    (RUTH, "And a father holding his child during stitches?"),
    (JONAS, "Give the father a job: he holds the hand and counts with the child, which calms them both."),
    (RUTH, "Thanks for listening to Ward Talk, see you next week."),
]
STEP = 3.0  # seconds per cue: 11 cues fill the 33 s of test audio


def vtt(lines: list[tuple[str, str]]) -> str:
    def at(t: float) -> str:
        return f"00:00:{int(t):02d}.{int(round(t % 1 * 1000)):03d}"

    return "WEBVTT\n" + "".join(f"\n{at(i * STEP)} --> {at(i * STEP + STEP - 0.2)}\n<v {who}>{text}\n"
                                for i, (who, text) in enumerate(lines))


# A Whisper transcript as faster-whisper writes it: words with a leading space and a probability each.
UNSURE = {"warfarin": 0.31, "INR": 0.22}  # what tiny.en is unsure of: a drug name, an acronym


def whisper_segment(start: float, end: float, text: str, speaker: str) -> Segment:
    words = text.split()
    step = (end - start) / len(words)
    return Segment(start=start, end=end, text=text, speaker=speaker, avg_logprob=-0.2, no_speech_prob=0.01,
                   compression_ratio=1.3, words=tuple(
                       Word(start + i * step, start + (i + 1) * step, " " + w, UNSURE.get(w.strip(".,"), 0.94))
                       for i, w in enumerate(words)))


NIGHT_SHIFT = Transcript(show="", episode="", guid="ns-1", source="whisper", engine="faster-whisper", model="tiny.en",
                         segments=(
    whisper_segment(0.0, 8.0, "Before every warfarin dose the nurse checks the latest INR result on the chart.", "Speaker 1"),
    whisper_segment(8.0, 16.0, "Heparin has its own chart, and the pharmacist signs it every morning.", "Speaker 2"),
))


class Prepared:
    """A TranscriptSource handing over transcripts made elsewhere (here: above), keyed by guid."""

    def __init__(self, *transcripts: Transcript) -> None:
        self.by_guid = {t.guid: t for t in transcripts}

    def transcripts(self, rows, local_feeds):  # noqa: ANN001, ANN201 - the TranscriptSource protocol
        for row in rows:
            ep = row.episode
            if ep.guid not in self.by_guid:  # another feed's episode, pending in a shared home
                yield Produced(row=row, error=PodsearchError(f"no transcript prepared for {ep.guid!r}"))
                continue
            yield Produced(row=row, transcript=replace(self.by_guid[ep.guid], show=row.show_title, episode=ep.title,
                                                       published=ep.published, audio_url=ep.audio_url, link=ep.link))


def build_home(root: Path, models: Models) -> Path:
    """A home of Ward Talk and Night Shift (add_conversations)."""
    settings = load_settings(root / "home")
    add_conversations(settings, root, models)
    return settings.home


def add_conversations(settings, root: Path, models: Models) -> None:  # noqa: ANN001 - Settings
    """Ward Talk (publisher, speakers, a sponsor read) and Night Shift (Whisper-shaped, word probabilities)."""
    add_feed(settings, str(write_feed(root / "ward", "Ward Talk", [
        {"title": "Lost results", "guid": "wt-1", "date": "Sun, 01 Mar 2026 09:00:00 GMT", "vtt": vtt(LINES)}])))
    assert ingest(settings, models=models).indexed == ["Lost results"]
    add_feed(settings, str(write_feed(root / "night", "Night Shift", [
        {"title": "Anticoagulant charts", "guid": "ns-1", "date": "Tue, 03 Mar 2026 22:00:00 GMT"}])))
    assert ingest(settings, source=Prepared(NIGHT_SHIFT), models=models).indexed == ["Anticoagulant charts"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return build_home(tmp_path_factory.mktemp("conv-app"), models)


@pytest.fixture()
def own_home(home: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that change the home."""
    return Path(shutil.copytree(home, tmp_path / "home"))


def expected(models: Models, home: Path, query: str, include_ads: bool = False, **filters: object) -> list:
    """What the index answers directly, as the app asks (five clips, the home's floor)."""
    settings = load_settings(home)
    with Home(settings, models).index() as index:
        return search(index, query, SearchOptions(k=5, filters=Filters(**filters), floor=settings.relevance_floor,
                                                  include_ads=include_ads))


def card_metas(at) -> list[str]:  # noqa: ANN001 - AppTest
    """Each card's line of facts (date, time, speaker, labels, badges), in card order."""
    return [c for c in texts(at.caption) if c.startswith(("2026-", "undated"))]


def quotes(at) -> list[str]:  # noqa: ANN001 - AppTest
    return [m for m in texts(at.markdown) if m.startswith("> ")]


# -- clip cards -------------------------------------------------------------------------
def test_card_names_who_says_the_answer_and_an_absolute_confidence(home: Path, open_app, models: Models) -> None:
    query = "what to say when test results are lost"
    at = open_app(home, q=query)
    hits = expected(models, home, query)
    assert hits and hits[0].speaker == JONAS and "mislaid" in hits[0].text
    metas = card_metas(at)
    assert len(metas) == len(hits)
    for hit, meta in zip(hits, metas):
        assert f":material/record_voice_over: {hit.speaker}" in meta
        assert CONFIDENCE_BADGES[hit.confidence] in meta
        assert sum(badge in meta for badge in CONFIDENCE_BADGES.values()) == 1
    assert CONFIDENCE_BADGES["strong"] in metas[0]
    # A query the shows only brush against: its top clip is a weak match (never relative to the top hit).
    vague = open_app(home, q="children in hospital")
    assert expected(models, home, "children in hospital")[0].confidence == "weak"
    assert card_metas(vague) and CONFIDENCE_BADGES["weak"] in card_metas(vague)[0]


def test_sponsor_reads_are_labelled_and_only_shown_when_switched_on(home: Path, open_app, models: Models) -> None:
    query = "discount code for socks"
    at = open_app(home, q=query)
    assert at.toggle(key="f_ads").value is False
    assert all(KIND_LABELS["sponsor"] not in m for m in card_metas(at))
    assert all("CalmSocks" not in q and "calmsocks" not in q for q in quotes(at))

    at.toggle(key="f_ads").set_value(True).run()
    with_ads = expected(models, home, query, include_ads=True)
    assert with_ads[0].kind == "sponsor"
    assert KIND_LABELS["sponsor"] in card_metas(at)[0] and "CalmSocks" in quotes(at)[0]
    assert at.query_params["ads"] == "1"
    assert "ads=1" in next(c for c in texts(at.caption) if "link to this search" in c)
    # The shared address keeps the switch on.
    shared = open_app(home, q=query, ads="1")
    assert shared.toggle(key="f_ads").value is True and KIND_LABELS["sponsor"] in card_metas(shared)[0]


def test_intro_and_outro_clips_are_labelled(home: Path, open_app, models: Models) -> None:
    at = open_app(home, q="thanks for listening see you next week")
    hits = expected(models, home, "thanks for listening see you next week")
    assert hits[0].kind == "outro"
    assert KIND_LABELS["outro"] in card_metas(at)[0]
    for hit, meta in zip(hits, card_metas(at)):
        assert (KIND_LABELS[hit.kind] in meta) if hit.kind in KIND_LABELS else not any(
            label in meta for label in KIND_LABELS.values())


# -- words Whisper was unsure of --------------------------------------------------------
def test_unsure_words_are_marked_in_whisper_quotes_only(home: Path, open_app) -> None:
    at = open_app(home, q="warfarin INR result")
    quote = next(q for q in quotes(at) if "warfarin" in q)
    span = f'<span class="unsure" title="{UNSURE_TITLE}">'
    assert f"{span}<mark>warfarin</mark></span>" in quote and f"{span}<mark>INR</mark></span>" in quote
    assert quote.count(span) == 2  # the words Whisper was sure of are plain
    assert "<mark>result</mark>" in quote and f"{span}<mark>result" not in quote
    # Publisher transcripts carry no probabilities: nothing is marked.
    publisher = open_app(home, q="what to say when test results are lost")
    assert quotes(publisher) and all("unsure" not in q for q in quotes(publisher))


def test_clip_words_come_from_the_transcript_file_for_the_clip_only(home: Path) -> None:
    settings = load_settings(home)
    words = clip_words(settings, "ns-1", 8.0, 16.0)
    assert [w.text.strip() for w in words][:2] == ["Heparin", "has"] and all(w.start < 16.0 for w in words)
    assert all(w.probability == 0.94 for w in words)
    assert clip_words(settings, "wt-1", 0.0, 30.0) == ()  # a publisher transcript: no words
    assert clip_words(settings, "no-such-episode", 0.0, 30.0) == ()


def test_unsure_chunks_follow_the_quote_and_stay_literal() -> None:
    words = (Word(0, 1, " The", 0.9), Word(1, 2, " well", 0.9), Word(2, 3, "-known", 0.2), Word(3, 4, " <b>drug</b>", 0.1),
             Word(4, 5, " works.", 0.95))
    text = "The well-known <b>drug</b> works."
    chunks = unsure_chunks(text, words, 0.5)
    assert "".join(c for c, _ in chunks) == text
    assert [flag for _, flag in chunks] == [False, True, True, False]
    rendered = quote_html(text, "", chunks)
    assert "<b>" not in rendered and html.escape("<b>") not in rendered  # Markdown-escaped, never raw HTML
    assert rendered.count('class="unsure"') == 2
    # Words the quote lacks (trimmed away) are skipped; nothing matched, nothing marked.
    assert [f for _, f in unsure_chunks("works.", words, 0.5)] == [False]
    assert quote_html("x", "", unsure_chunks("x", (), 0.5)) == "x"


def test_an_unreadable_transcript_file_still_shows_the_quote(own_home: Path, open_app) -> None:
    with Home(load_settings(own_home)).catalog() as library:
        path = Path(library.episode_by_guid("ns-1").transcript_path)
    path.write_text("{ not json")
    at = open_app(own_home, q="warfarin INR result")
    assert any("warfarin" in q for q in quotes(at))
    assert any("transcript file of 'Anticoagulant charts' cannot be read" in c for c in texts(at.caption))


# -- the speaker filter -----------------------------------------------------------------
def test_speaker_filter_lists_speakers_and_keeps_clips_where_they_speak(home: Path, open_app, models: Models) -> None:
    query = "charts and doses on the ward"
    at = open_app(home, q=query)
    assert at.selectbox(key="f_speaker").options == [JONAS, RUTH, "Speaker 1", "Speaker 2"]
    assert at.selectbox(key="f_person").options  # the person filter stays next to it
    at.selectbox(key="f_speaker").select("Speaker 2").run()
    hits = expected(models, home, query, speaker="Speaker 2")
    assert hits and len(card_metas(at)) == len(hits)
    assert all(h.guid == "ns-1" for h in hits)
    assert at.query_params["speaker"] == "Speaker 2"
    assert "speaker=Speaker+2" in next(c for c in texts(at.caption) if "link to this search" in c)
    shared = open_app(home, q=query, speaker="Speaker 2")
    assert shared.selectbox(key="f_speaker").value == "Speaker 2" and len(card_metas(shared)) == len(hits)
    unknown = open_app(home, q=query, speaker="Nobody")  # a name this library lacks is dropped, not an error
    assert unknown.selectbox(key="f_speaker").value is None and "speaker" not in unknown.query_params


# -- the episode as a conversation -------------------------------------------------------
def turn_headings(at) -> list[str]:  # noqa: ANN001 - AppTest
    return [m for m in texts(at.markdown) if m.startswith("**")]


def test_episode_view_lays_out_turns_by_speaker_with_labelled_parts(home: Path, open_app) -> None:
    at = open_app(home, episode="wt-1", t="19")
    assert turn_headings(at) == [
        f"**{RUTH}** · {KIND_LABELS['intro']}", f"**{JONAS}** · {KIND_LABELS['intro']}",
        f"**{RUTH}** · {KIND_LABELS['sponsor']}", f"**{RUTH}**", f"**{JONAS}**", f"**{RUTH}**", f"**{JONAS}**",
        f"**{RUTH}** · {KIND_LABELS['outro']}"]
    lines = [b.label for b in at.button if b.key and b.key.startswith("seg_")]
    assert len(lines) == len(LINES) and all(RUTH + ":" not in line and "**" not in line for line in lines)
    assert lines[6].startswith("▶ `0:18` I tell them straight away")  # the line playing at t
    at.button(key="seg_9").click().run()  # lines still play when clicked
    assert at.query_params["t"] == "27" and at.get("audio")[0].proto.start_time == 27


def test_rename_a_speaker_from_the_episode_view(own_home: Path, open_app) -> None:
    at = open_app(own_home, episode="wt-1")
    assert at.selectbox(key="rename_from").options == [RUTH, JONAS]
    at.selectbox(key="rename_from").select(JONAS)
    at.text_input(key="rename_to").input("  Jonas Berg  (charge nurse) ")
    at.button(key="rename_apply").click().run()
    assert not at.exception
    new = "Jonas Berg (charge nurse)"
    assert any(escape(new) in s for s in texts(at.success))
    assert f"**{escape(new)}**" in turn_headings(at) and f"**{JONAS}**" not in turn_headings(at)
    assert at.selectbox(key="rename_from").options == [RUTH, new]
    # A name another speaker has is refused with one clear line; nothing changes.
    at.selectbox(key="rename_from").select(new)
    at.text_input(key="rename_to").input(RUTH)
    at.button(key="rename_apply").click().run()
    assert any("already names another speaker" in e for e in texts(at.error))
    assert f"**{escape(new)}**" in turn_headings(at)
    # The search page's speaker filter and cards know the new name.
    search_page = open_app(own_home, q="what to say when test results are lost")
    assert new in search_page.selectbox(key="f_speaker").options and JONAS not in search_page.selectbox(key="f_speaker").options
    assert f":material/record_voice_over: {escape(new)}" in card_metas(search_page)[0]


def test_rename_is_an_admin_control(home: Path, open_app, monkeypatch: pytest.MonkeyPatch) -> None:
    # An admin password is set and this session has not typed it: a visitor, who reads but renames nothing.
    monkeypatch.setenv("PODSEARCH_ADMIN_TOKEN", "correct horse battery staple")
    visitor = open_app(home, episode="wt-1")
    assert turn_headings(visitor)  # the conversation is there
    assert not [w for w in visitor.selectbox if w.key == "rename_from"]
    assert not [b for b in visitor.button if b.key == "rename_apply"]
    monkeypatch.delenv("PODSEARCH_ADMIN_TOKEN")
    monkeypatch.setenv("PODSEARCH_READ_ONLY", "1")  # what `podsearch app --read-only` sets
    assert not [b for b in open_app(home, episode="wt-1").button if b.key == "rename_apply"]


def escape(text: str) -> str:
    from podsearch.core.markup import escape_markdown

    return escape_markdown(text)


def test_hostile_speaker_names_are_shown_literally(tmp_path: Path, open_app, models: Models) -> None:
    bait = "![t](https://publisher.example/t.png) :red[Boss] <b>x</b>"
    settings = load_settings(tmp_path / "home")
    add_feed(settings, str(write_feed(tmp_path / "evil", "Evil Talk", [
        {"title": "Evil speakers", "guid": "ns-1", "date": "Tue, 03 Mar 2026 22:00:00 GMT"}])))
    hostile = replace(NIGHT_SHIFT, segments=tuple(replace(s, speaker=bait) for s in NIGHT_SHIFT.segments[:1])
                      + NIGHT_SHIFT.segments[1:])
    assert ingest(settings, source=Prepared(hostile), models=models).indexed == ["Evil speakers"]
    at = open_app(settings.home, q="warfarin INR result")
    assert f":material/record_voice_over: {escape(bait)}" in card_metas(at)[0]
    assert bait in at.selectbox(key="f_speaker").options  # a plain-text widget: the name as it is
    episode_page = open_app(settings.home, episode="ns-1")
    assert f"**{escape(bait)}**" in turn_headings(episode_page)
    episode_page.selectbox(key="rename_from").select(bait)
    episode_page.text_input(key="rename_to").input("Charge nurse").run()
    episode_page.button(key="rename_apply").click().run()
    assert any(s.startswith(escape(f"“{bait}” is now")) for s in texts(episode_page.success))
