"""Who said it: turns onto segments, names from evidence only, renames that stick, the speaker filter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from podsearch.core.records import Person, Segment, Word
from podsearch.transcripts.speakers import label_segments, name_speakers

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int


def seg(start: float, end: float, text: str, speaker: str | None = None, words: tuple[Word, ...] = ()) -> Segment:
    return Segment(start=start, end=end, text=text, speaker=speaker, words=words)


def test_segments_take_the_turn_they_overlap_most_and_split_where_a_turn_changes_inside() -> None:
    words = tuple(Word(start=10 + i * 0.5, end=10.4 + i * 0.5, text=w)
                  for i, w in enumerate("So what matters most? Honesty, every single time.".split()))
    segments = [seg(0, 9.5, "Welcome to the show."), seg(10, 14, " ".join(w.text for w in words), words=words)]
    turns = [Turn(0, 11.9, 7), Turn(11.9, 20, 3)]  # the diarizer's own numbers
    labelled = label_segments(segments, turns)
    assert [(s.speaker, s.text) for s in labelled] == [
        ("Speaker 1", "Welcome to the show."), ("Speaker 1", "So what matters most?"),
        ("Speaker 2", "Honesty, every single time.")]
    assert labelled[2].start == pytest.approx(12.0)  # the first word of the reply


def test_names_come_from_self_introductions_and_the_hosts_introductions() -> None:
    segments = [
        seg(0, 5, "Welcome to Ward Talk, I'm Ruth Adeyemi, and my guest today is Dr Jonas Berg.", "Speaker 1"),
        seg(5, 9, "Thanks for having me.", "Speaker 2"),
        seg(9, 14, "And welcome, Tomasz, who joins us from the pharmacy.", "Speaker 1"),
        seg(14, 20, "Happy to be here. I'm sure we will disagree.", "Speaker 3"),
    ]
    named = name_speakers(segments)
    assert [s.speaker for s in named] == ["Ruth Adeyemi", "Dr Jonas Berg", "Ruth Adeyemi", "Tomasz"]


def test_names_are_never_invented() -> None:
    segments = [seg(0, 5, "I'm sure this will help. I'm going to start.", "Speaker 1"),
                seg(5, 9, "I am not convinced.", "Speaker 2")]
    assert [s.speaker for s in name_speakers(segments)] == ["Speaker 1", "Speaker 2"]


def test_podcast_person_roles_name_the_host_and_a_lone_guest() -> None:
    segments = [seg(0, 5, "Hello and welcome.", "Speaker 1"), seg(5, 9, "Glad to be here.", "Speaker 2"),
                seg(9, 12, "First question.", "Speaker 1")]
    persons = (Person(name="Ian Fraser", role="host"), Person(name="Priya Shah", role="guest"))
    assert [s.speaker for s in name_speakers(segments, persons)] == ["Ian Fraser", "Priya Shah", "Ian Fraser"]
    # Two unnamed guests for one guest name: no guessing which.
    three = segments + [seg(12, 15, "May I add something?", "Speaker 3")]
    assert [s.speaker for s in name_speakers(three, persons)][1:] == ["Speaker 2", "Ian Fraser", "Speaker 3"]


def test_publisher_labels_are_kept_and_a_users_rename_wins() -> None:
    segments = [seg(0, 5, "I'm Jonas.", "Host"), seg(5, 9, "Hello.", "Speaker 2")]
    assert [s.speaker for s in name_speakers(segments)] == ["Host", "Speaker 2"]
    assert [s.speaker for s in name_speakers(segments, renames={"Speaker 2": "Ward manager"})] == ["Host", "Ward manager"]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=600)


def test_rename_sticks_through_reindex_and_the_speaker_filter_finds_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(DATA / "homes" / "v0", home)  # a home made before speakers existed migrates first
    renamed = _cli(home, "rename-speaker", "2", "Ruth Adeyemi", "Ruth A. (pharmacist)")
    assert renamed.returncode == 0, renamed.stderr
    assert "2 segment(s)" in renamed.stdout
    refused = _cli(home, "rename-speaker", "2", "Nobody", "X")
    assert refused.returncode != 0 and "no speaker 'Nobody'" in refused.stderr and "Ruth A. (pharmacist)" in refused.stderr
    assert _cli(home, "reindex").returncode == 0
    found = _cli(home, "search", "warfarin INR checks", "--speaker", "pharmacist", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and hits[0]["speaker"] == "Ruth A. (pharmacist)" and hits[0]["episode"] == "Warfarin checks"
    assert json.loads(_cli(home, "search", "warfarin INR checks", "--speaker", "Jonas", "--json").stdout) == []
    vtt = _cli(home, "export", "2", "--format", "vtt").stdout
    assert "<v Ruth A. (pharmacist)>Warfarin doses" in vtt
