"""Sponsor reads as real shows do them (issue 26 item 6): the whole read, cue-free mid-rolls, and jokes left
alone; and the real dev set's figures stay at their targets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from podsearch.core.records import Segment
from podsearch.transcripts.kinds import mark_kinds

BENCH = Path(__file__).resolve().parents[1] / "bench"


def kinds(lines: list[tuple[str, str]], step: float = 4.0) -> list[str]:
    return [s.kind for s in mark_kinds([Segment(i * step, i * step + step - 0.3, t, speaker=w)
                                        for i, (w, t) in enumerate(lines)])]


def test_the_whole_read_from_the_cue_through_offer_code_and_address_to_the_return() -> None:
    lines = [("Host", "That is a great point about night shifts."),
             ("Host", "This episode is brought to you by Brightleaf, the tea for night shifts."),
             ("Host", "Brightleaf Calm has no caffeine, so you can wind down."),
             ("Host", "Use the code NIGHTS for twenty percent off your first box."),
             ("Host", "That's brightleaf.example/nights."),
             ("Host", "Anyway, back to the show."),
             ("Host", "So where were we with the handover?")]
    assert kinds(lines) == ["speech", "sponsor", "sponsor", "sponsor", "sponsor", "sponsor", "speech"]


def test_a_mid_roll_read_with_no_cue_words_is_caught_by_its_shape() -> None:
    lines = [("Guest", "We moved the handover to the bedside and errors fell."),
             ("Host", "Let's pause right there."),
             ("Host", "If you don't care for our ads, become a member."),
             ("Host", "It's 10 bucks a month, 100 bucks a year."),
             ("Host", "Go to wardtalk.example/plus."),
             ("Host", "Dig in."),
             ("Host", "So what changed for the patients?"),
             ("Guest", "They heard the plan themselves.")]
    assert kinds(lines) == ["speech", "speech", "sponsor", "sponsor", "sponsor", "sponsor", "speech", "speech"]


def test_a_joke_is_no_read_and_an_address_in_passing_is_no_ad() -> None:
    lines = [("Host", "You know what you want, but you can't quite get there."),
             ("Guest", "This episode brought to you by Open AI."),
             ("Host", "That's right, there you go."),
             ("Guest", "I worked for a nonprofit, purecharity.com, they're still amazing."),
             ("Host", "What did you learn there?")]
    assert kinds(lines) == ["speech"] * 5


def test_the_real_dev_set_stays_at_its_targets(capsys) -> None:  # noqa: ANN001 - pytest's fixture
    sys.path.insert(0, str(BENCH))
    try:
        import bench_kinds
    finally:
        sys.path.remove(str(BENCH))
    bench_kinds.score("real", bench_kinds.excerpts())
    line = capsys.readouterr().out.strip().splitlines()[-1]
    read = float(line.split("marked ")[1].split("%")[0])
    talk = float(line.split("sponsor ")[1].split("%")[0])
    assert read >= 90.0 and talk < 2.0, line
    # The dev set is what the README says it is.
    doc = json.loads((BENCH.parent / "tests" / "data" / "sponsors" / "changelog.json").read_text(encoding="utf-8"))
    assert "CC BY-SA 4.0" in doc["licence"] and len(doc["excerpts"]) == 17
