"""Conversations: sponsor reads, intros and outros marked; ads out of search by default; confidence
that means the same across queries. Real SQLite, FAISS and the bundled sentence model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from podsearch.core.records import Segment, Transcript
from podsearch.index.passages import make_passages
from podsearch.index.search import SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.transcripts.formats import write_transcript
from podsearch.transcripts.kinds import mark_kinds

HOST, GUEST = "Ruth", "Jonas"
SHOW = [
    (HOST, "Welcome to Ward Talk, I'm Ruth, and my guest today is Jonas Berg, a charge nurse."),
    (GUEST, "Thanks for having me, Ruth."),
    (HOST, "This episode is brought to you by CalmSocks, the sock for long shifts."),
    (HOST, "Use the code WARD for twenty percent off your first order at calmsocks dot com."),
    (HOST, "And now, back to my conversation with Jonas."),
    (HOST, "Jonas, a scan result has gone missing and the patient is waiting. What do you say?"),
    (GUEST, "I tell them straight away that the result has been mislaid, and that it is our failure, not theirs."),
    (GUEST, "Then I say exactly who is finding it and when I will come back, and I keep that promise."),
    (HOST, "And a father holding his child during stitches?"),
    (GUEST, "Give the father a job: he holds the hand and counts with the child, which calms them both."),
    (HOST, "Thanks for listening to Ward Talk, see you next week."),
]


def conversation(guid: str = "wt-1", lines=SHOW, step: float = 6.0) -> Transcript:
    segs = tuple(Segment(start=i * step, end=i * step + step - 0.4, text=t, speaker=who) for i, (who, t) in enumerate(lines))
    return Transcript(show="Ward Talk", episode="Lost results", guid=guid, segments=mark_kinds(segs),
                      published="2026-03-01T09:00:00+00:00", audio_url=f"https://example.org/{guid}.mp3")


def test_sponsor_read_intro_and_outro_are_marked() -> None:
    kinds = [s.kind for s in conversation().segments]
    assert kinds == ["intro", "intro", "sponsor", "sponsor", "sponsor", "speech", "speech", "speech", "speech", "speech",
                     "outro"]


def _kinds(lines, step: float = 5.0) -> list[str]:  # noqa: ANN001 - (speaker, text) pairs
    return [s.kind for s in mark_kinds([Segment(i * step, i * step + step - 0.4, t, speaker=w)
                                        for i, (w, t) in enumerate(lines)])]


def test_guests_introducing_themselves_after_the_host_belong_to_the_introduction() -> None:
    # Whisper's lines from the conversations set (bm3, sr2): each guest answers the host's opening by
    # greeting or saying who they are; the first question asked of a guest is the conversation.
    bm3 = [("Tom", "Welcome to Bedside Manor, I'm Tom Baxter."),
           ("Tom", "Let's start with introductions."),
           ("Jonas", "Thanks,"), ("Jonas", "Tom."),
           ("Jonas", "I'm Jonas Berg, I run the Interpreting Service at a large teaching hospital."),
           ("Noor", "And I'm Noor Haddad, I'm a patient advocate."),
           ("Noor", "So I've been the child translating for my parents."),
           ("Tom", "Jonas, when should a family member not interpret?"),
           ("Jonas", "Never a child, and ideally never family.")]
    assert _kinds(bm3) == ["intro"] * 7 + ["speech", "speech"]
    sr2 = [("Rachel", "Today's topic is feedback and I have two guests who teach very different students."),
           ("Rachel", "Would you both introduce yourselves?"),
           ("Claire", "Hello,"), ("Claire", "I'm Claire Dubois."),
           ("Claire", "I teach English at a sixth form college and I mark far too many essays"),
           ("Omar", "I teach clinical skills to nursing and medical students."),
           ("Rachel", "Claire, why do students ignore written comments?")]
    # Omar's name was lost ("and I know my city equity" in another run): no greeting, no name, no intro.
    assert _kinds(sr2) == ["intro"] * 5 + ["speech", "speech"]
    # Advice to introduce yourself is no introduction (sh3), nor is an answer that thanks nobody.
    sh3 = [("Ian", "Welcome to Safety Huddle,"), ("Ian", "And when you go over, what do you actually say?"),
           ("Grace", "Use their name and introduce yourself!")]
    assert _kinds(sh3) == ["intro", "speech", "speech"]


def test_the_hosts_summing_up_and_thanks_close_the_show() -> None:
    sr1 = [("David", "Then I start the next lesson fresh."),
           ("Rachel", "Routine, the smallest response"), ("Rachel", "Choices will take up time and a fresh start."),
           ("Rachel", "David Osei, thank you."), ("Rachel", "You've been listening to the staff room."),
           ("Rachel", "Have a good week.")]
    assert _kinds(sr1) == ["speech"] + ["outro"] * 5
    # A question in the host's last turn is still the conversation; without speakers nothing is extended.
    asked = [("Ian", "And what can patients do?"), ("Ian", "Priya Shah, thank you. This has been Safety Huddle.")]
    assert _kinds(asked) == ["speech", "outro"]
    assert [s.kind for s in mark_kinds([Segment(0, 4, "Structured handover at the bedside."),
                                        Segment(5, 9, "Thank you, this has been Safety Huddle.")])] == ["speech", "outro"]
    # One voice throughout (the spoken set's ev2): its advice before "see you next time" is no summing-up.
    monologue = [("Host", "This is Ward Notes and today we look at questions about medicines."),
                 ("Host", "Tell patients not to take ibuprofen on an empty stomach."),
                 ("Host", "Who take many tablets can use a weekly pill box. See you next time")]
    assert _kinds(monologue) == ["speech", "speech", "outro"]


def test_a_sponsor_read_ends_when_another_voice_speaks_or_the_offers_stop() -> None:
    lines = [(HOST, "Today's sponsor is Brightlight, visit brightlight dot org for a free trial."),
             (GUEST, "Can I answer the question about handover now?"),
             (HOST, "Sure, go ahead.")]
    assert [s.kind for s in mark_kinds([Segment(i * 5.0, i * 5.0 + 4, t, speaker=w) for i, (w, t) in enumerate(lines)])] \
        == ["sponsor", "speech", "speech"]
    # No speakers known: a sentence long after the last offer is the show again.
    unlabelled = [Segment(100.0, 104.0, "This show is sponsored by Brightlight, use code NURSE at brightlight dot org."),
                  Segment(104.0, 108.0, "They make lamps."),
                  Segment(140.0, 146.0, "So, about handover at the end of a night shift.")]
    assert [s.kind for s in mark_kinds(unlabelled)] == ["sponsor", "sponsor", "speech"]


def test_passages_never_mix_kinds() -> None:
    passages = make_passages(conversation(), min_seconds=20, max_seconds=60)
    for p in passages:
        kinds = {s.kind for s in conversation().segments[p.first_segment : p.last_segment + 1]}
        assert kinds == {p.kind}


def test_kinds_are_kept_in_exports() -> None:
    t = conversation()
    assert "[sponsor] Ruth: This episode is brought to you by CalmSocks" in write_transcript(t, "txt")
    assert "\nsponsor 3\n00:00:12.000 --> " in write_transcript(t, "vtt")
    assert "[sponsor] Ruth: This episode" in write_transcript(t, "srt")
    assert [s["kind"] for s in json.loads(write_transcript(t, "json"))["segments"]][2] == "sponsor"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, models):  # noqa: ANN001

    ix = SearchIndex(tmp_path_factory.mktemp("conv") / "index", embedder=models.embedder())
    ix.add_transcript(conversation(), "h1", min_seconds=10, max_seconds=30)
    yield ix
    ix.close()


@pytest.mark.slow
def test_sponsor_reads_are_left_out_unless_asked_for(index: SearchIndex) -> None:
    query = "discount code for socks"
    assert all(h.kind != "sponsor" for h in search(index, query, SearchOptions(k=5)))
    with_ads = search(index, query, SearchOptions(k=5, include_ads=True))
    assert with_ads and with_ads[0].kind == "sponsor" and "CalmSocks" in with_ads[0].text


@pytest.mark.slow
def test_the_answer_carries_its_speaker_and_a_confidence_that_means_the_same_across_queries(index: SearchIndex) -> None:
    hits = search(index, "what to say when test results are lost", SearchOptions(k=3))
    assert hits[0].kind == "speech" and hits[0].speaker == GUEST and "mislaid" in hits[0].text
    assert hits[0].confidence == "strong"
    # A query the episode only brushes against gets no "strong" clip, though it is its own top hit.
    vague = search(index, "hospital footwear for long shifts", SearchOptions(k=3))
    assert all(h.confidence != "strong" for h in vague)


@pytest.mark.slow
def test_cli_json_hits_carry_kind_confidence_and_speaker(tmp_path: Path, models) -> None:  # noqa: ANN001

    home = tmp_path / "home"
    ix = SearchIndex(home / "data" / "index", embedder=models.embedder())
    ix.add_transcript(conversation(), "h1", min_seconds=10, max_seconds=30)
    ix.close()
    out = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), "search",
                          "calming a parent while their child gets stitches", "--json", "-k", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    hit = json.loads(out.stdout)[0]
    assert hit["kind"] == "speech" and hit["speaker"] == GUEST and hit["confidence"] in ("strong", "partial")
    assert "father" in hit["text"]


@pytest.mark.slow
def test_a_question_alone_is_never_a_clip(tmp_path: Path, models) -> None:  # noqa: ANN001

    lines = [(HOST, "Handover on a night shift, how should it be done?"), (HOST, "Let's leave that one for next week.")]
    ix = SearchIndex(tmp_path / "index", embedder=models.embedder())
    try:
        ix.add_transcript(conversation("wt-2", lines), "h2", min_seconds=5, max_seconds=30)
        assert search(ix, "how to do a night shift handover", SearchOptions(k=3)) == []
    finally:
        ix.close()


@pytest.mark.slow
def test_a_name_whisper_misspelled_still_matches(tmp_path: Path, models) -> None:  # noqa: ANN001

    # As tiny.en writes drug names it does not know; the query spells them right.
    lines = [(GUEST, "Metforman is taken with meals, so the stomach copes with it."),
             (GUEST, "Patients on warferin need their INR checked before the dose changes."),
             (GUEST, "Our garden has roses and tomatoes in July.")]
    ix = SearchIndex(tmp_path / "index", embedder=models.embedder())
    try:
        ix.add_transcript(conversation("wt-3", lines), "h3", min_seconds=1, max_seconds=8)
        for query, said in (("metformin", "Metforman"), ("warfarin", "warferin")):
            hits = search(ix, query, SearchOptions(k=3, mode="keyword"))
            assert hits and said in hits[0].text, (query, hits)
        assert search(ix, "tomato", SearchOptions(k=3, mode="keyword"))  # known words still match as before
        assert search(ix, "xylophone", SearchOptions(k=3, mode="keyword")) == []  # nothing spelled like it
    finally:
        ix.close()
