"""Speakers on the conversations dev set: real Whisper and real diarization through the CLI, scored
against the generator's exact sentence times (transcripts.speaker_eval)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rss import channel_head, item

from podsearch.core.records import Segment
from podsearch.transcripts.speaker_eval import RefTurn, speaker_score

DATA = Path(__file__).parent / "data" / "conversations"
# An episode without podcast:person tags, so the guest's name can only come from the audio: "Hi Tom.
# I'm Helen Park, ..." over clinic room tone. (bench/bench_conversations.py scores all eight.)
STEMS = ("bm2-stitches-and-parents",)


def test_speaker_score_takes_the_best_one_to_one_mapping() -> None:
    reference = [RefTurn(0, 10, "host"), RefTurn(10, 30, "guest"), RefTurn(30, 40, "host")]
    segments = [Segment(0, 10, "a", "Speaker 2"), Segment(10, 25, "b", "Speaker 1"),
                Segment(25, 30, "c", "Speaker 2"), Segment(30, 40, "d", None)]
    score = speaker_score(segments, reference)
    # Speaker 2 -> host (10 s) + Speaker 1 -> guest (15 s) beats Speaker 2 -> guest (5 s) + Speaker 1 -> host (0 s);
    # the unlabelled 10 s count as wrong.
    assert score.mapping == {"guest": "Speaker 1", "host": "Speaker 2"}
    assert score.right_s == pytest.approx(25) and score.speech_s == pytest.approx(40)
    assert score.share == pytest.approx(25 / 40)
    # One label for everyone can be right for one speaker only; speech no segment covers is wrong.
    assert speaker_score([Segment(0, 40, "x", "A")], reference).share == pytest.approx(20 / 40)
    assert speaker_score([], reference).share == 0.0



def podsearch(home: Path, *args: str) -> str:
    """`podsearch --home HOME ARGS…` in a child process, as a user runs it; its output (it must succeed)."""
    done = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout

@pytest.mark.slow
def test_real_whisper_and_diarization_put_the_right_speaker_on_the_speech_and_name_the_guest(
        tmp_path: Path, feed_file) -> None:  # noqa: ANN001 - conftest's feed_file
    """One dev-set episode through the CLI: >= 90% of its speech time on the right speaker, the guest named."""
    items, timings = [], {}
    for stem in STEMS:
        t = json.loads((DATA / "scripts" / f"{stem}.timings.json").read_text(encoding="utf-8"))
        timings[t["guid"]] = t
        audio = (DATA / "episodes" / f"{stem}.mp3").resolve()
        items.append(item(t["title"], t["guid"], audio=audio.as_uri(), type="audio/mpeg", length=audio.stat().st_size,
                          link=False))
    feed = feed_file("Two conversations", *items, head=channel_head("https://example.org/"))
    home = tmp_path / "home"
    for args in (("add", str(feed)), ("ingest",)):
        done = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
    for guid, t in timings.items():
        exported = subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), "export", guid,
                                   "--format", "json"], capture_output=True, text=True, timeout=120)
        assert exported.returncode == 0, exported.stderr
        segments = [Segment(s["start"], s["end"], s["text"], s.get("speaker"))
                    for s in json.loads(exported.stdout)["segments"]]
        score = speaker_score(segments, [RefTurn(s["start"], s["end"], s["speaker"]) for s in t["sentences"]])
        assert score.share >= 0.90, (guid, score)
        (guest,) = [s for s in t["speakers"] if s["role"] == "guest"]
        label = score.mapping[guest["id"]] or ""
        # Whisper may misspell one of the two names, not both.
        assert set(guest["name"].lower().split()) & set(label.lower().split()), (guest["name"], label)


@pytest.mark.slow
def test_the_feeds_description_spells_a_misheard_guests_name_through_ingest_and_diarize(
        tmp_path: Path, feed_file) -> None:  # noqa: ANN001 - conftest's feed_file
    """sh3 has no podcast:person tags and Whisper hears "I'm Grace Adeyemi" as "I'm Bracea Gany": the
    description ("Charge nurse Grace Adeyemi on ...") gives the spelling, on ingest and on `diarize`."""
    stem = "sh3-night-shift-de-escalation"
    t = json.loads((DATA / "scripts" / f"{stem}.timings.json").read_text(encoding="utf-8"))
    audio = (DATA / "episodes" / f"{stem}.mp3").resolve()
    description = "<description>Charge nurse Grace Adeyemi on early warning signs of aggression.</description>"
    feed = feed_file("Safety Huddle", item(t["title"], t["guid"], audio=audio.as_uri(), type="audio/mpeg",
                                            length=audio.stat().st_size, link=False, extra=description),
                      head=channel_head("https://example.org/"))
    home = tmp_path / "home"

    def cli(*args: str) -> str:
        return podsearch(home, *args)

    def guest_label() -> str | None:
        segments = [Segment(s["start"], s["end"], s["text"], s.get("speaker"))
                    for s in json.loads(cli("export", t["guid"], "--format", "json"))["segments"]]
        score = speaker_score(segments, [RefTurn(s["start"], s["end"], s["speaker"]) for s in t["sentences"]])
        return score.mapping["grace"]

    cli("add", str(feed))
    cli("ingest")
    assert guest_label() == "Grace Adeyemi"
    cli("diarize")
    assert guest_label() == "Grace Adeyemi"


@pytest.mark.slow
def test_feed_persons_and_a_garbled_introduction_name_voices_and_two_voices_of_one_accent_are_two(
        tmp_path: Path, conversations_feed) -> None:  # noqa: ANN001 - the conftest factory
    """bm3 and sr1 as feed.xml gives them (podcast:person host and guests, show notes). bm3: the host and
    Jonas introduce themselves, and so does Noor (heard as "And I'm not had that" until the feed's names
    were given to Whisper). sr1: two British voices (the host Rachel, the guest David) are two labels, each
    named by its own introduction. A label never carries the name of someone who speaks less of it."""
    feed = conversations_feed("bedside-manner-3", "staff-room-1")
    home = tmp_path / "home"

    def cli(*args: str) -> str:
        return podsearch(home, *args)

    cli("add", str(feed))
    cli("ingest")
    for stem in ("bm3-interpreters", "sr1-calm-classrooms"):
        t = json.loads((DATA / "scripts" / f"{stem}.timings.json").read_text(encoding="utf-8"))
        segments = [Segment(s["start"], s["end"], s["text"], s.get("speaker"))
                    for s in json.loads(cli("export", t["guid"], "--format", "json"))["segments"]]
        score = speaker_score(segments, [RefTurn(s["start"], s["end"], s["speaker"]) for s in t["sentences"]])
        names = {s["id"]: s["name"] for s in t["speakers"]}
        assert {k: score.mapping[k] for k in names} == names, stem
        # Whoever a label is named for speaks most of its speech, in both episodes.
        for label in {s.speaker for s in segments if s.speaker and not s.speaker.startswith("Speaker ")}:
            mine = [s for s in segments if s.speaker == label]
            said = {who: sum(max(0.0, min(m.end, r["end"]) - max(m.start, r["start"]))
                             for m in mine for r in t["sentences"] if r["speaker"] == who) for who in names}
            assert names[max(said, key=said.get)] == label, (stem, label, said)
