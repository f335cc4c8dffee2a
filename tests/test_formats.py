"""transcripts.formats: every export format parses back; publisher files parse in."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import srt
import webvtt

from podsearch.core.errors import PodsearchError
from podsearch.core.records import Chapter, Person, Segment, Transcript, Word, transcript_from_dict
from podsearch.transcripts.formats import READERS, WRITERS, parse_transcript, write_transcript

P20 = Path(__file__).parent / "data" / "podcasting20"


def _transcript(segments: tuple[Segment, ...]) -> Transcript:
    return Transcript(
        show="Calm Care Radio",
        episode="S2E5: Sleep & sundowning",
        guid="calmcare-0205",
        segments=segments,
        published="2024-03-05T17:30:00+00:00",
        audio_url="https://media.calmcare.example.org/s2/e5-sleep.mp3",
        link="https://calmcare.example.org/episodes/sleep",
        source="whisper",
        language="en",
        engine="faster-whisper",
        model="tiny.en",
        duration=3725.5,
        chapters=(Chapter(start=0.0, title="Intro"), Chapter(start=60.0, title="Main", end=3700.0)),
        persons=(Person(name="Kim Lee"),),
    )


SPEAKERS = _transcript(
    (
        Segment(0.0, 2.76, "In today's episode, you'll learn", speaker="Sarah", avg_logprob=-0.2,
                words=(Word(0.0, 0.4, "In", 0.9), Word(0.4, 0.9, "today's", 0.8))),
        Segment(2.76, 6.091, "whether a trailer is worth it & what goes <in> it", speaker="Sarah"),
        Segment(6.5, 9.0, "Hi — Gillian here, from «Breaking Through».", speaker="Gillian"),
        Segment(9.0, 9.0, "   ", speaker="Gillian"),  # blank: left out of text formats
        Segment(3599.999, 3725.5, "An hour in: timestamps past 1h --> still fine.", speaker="Sarah"),
    )
)
NO_SPEAKERS = _transcript(
    (
        Segment(0.25, 1.5, "Rule one: never skip the intro."),
        Segment(1.5, 4.125, "Second line\nwith a newline inside."),
    )
)
TRANSCRIPTS = {"speakers": SPEAKERS, "no-speakers": NO_SPEAKERS}


def _spoken(t: Transcript) -> list[Segment]:
    return [s for s in t.segments if s.text.strip()]


def _flat(text: str) -> str:
    return " ".join(text.split())


# -- writers, read back by independent parsers ------------------------------------


def test_registry_lists_every_format() -> None:
    assert set(WRITERS) == {"vtt", "srt", "json", "txt", "podcast-json", "chapters"}
    assert all(name == w.name for name, w in WRITERS.items())
    assert len({w.extension for w in WRITERS.values()}) == len(WRITERS)  # one file name per format


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_vtt_parses_back_with_webvtt_py(name: str) -> None:
    t = TRANSCRIPTS[name]
    captions = list(webvtt.from_string(write_transcript(t, "vtt")))
    expected = _spoken(t)
    assert len(captions) == len(expected)
    for cap, seg in zip(captions, expected):
        assert cap.start_time.in_milliseconds() == round(seg.start * 1000)
        assert cap.end_time.in_milliseconds() == round(seg.end * 1000)
        assert html.unescape(cap.text) == _flat(seg.text)
        assert cap.voice == seg.speaker


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_srt_parses_back_with_srt(name: str) -> None:
    t = TRANSCRIPTS[name]
    subs = list(srt.parse(write_transcript(t, "srt")))
    expected = _spoken(t)
    assert len(subs) == len(expected)
    previous = None
    for sub, seg in zip(subs, expected):
        assert round(sub.start.total_seconds() * 1000) == round(seg.start * 1000)
        assert round(sub.end.total_seconds() * 1000) == round(seg.end * 1000)
        # A speaker label opens the cue only when the speaker changes.
        prefix = f"{seg.speaker}: " if seg.speaker and seg.speaker != previous else ""
        previous = seg.speaker
        assert sub.content == prefix + _flat(seg.text)


@pytest.mark.parametrize("name", TRANSCRIPTS)
@pytest.mark.parametrize(("fmt", "mime"), [("vtt", "text/vtt"), ("srt", "application/x-subrip"),
                                           ("podcast-json", "application/json")])
def test_export_formats_parse_back_with_our_reader(name: str, fmt: str, mime: str) -> None:
    t = TRANSCRIPTS[name]
    back = parse_transcript(write_transcript(t, fmt).encode("utf-8"), mime)
    expected = _spoken(t)
    assert [(round(s.start, 3), round(s.end, 3), s.text, s.speaker) for s in back] == [
        (round(s.start, 3), round(s.end, 3), _flat(s.text), s.speaker) for s in expected
    ]


def test_podcast_json_shape() -> None:
    doc = json.loads(write_transcript(SPEAKERS, "podcast-json"))
    assert doc["version"] == "1.0.0"
    assert doc["segments"][0] == {
        "speaker": "Sarah", "startTime": 0.0, "endTime": 2.76, "body": "In today's episode, you'll learn"
    }
    assert "speaker" not in json.loads(write_transcript(NO_SPEAKERS, "podcast-json"))["segments"][0]


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_json_is_the_record_itself(name: str) -> None:
    t = TRANSCRIPTS[name]
    assert transcript_from_dict(json.loads(write_transcript(t, "json"))) == t


def test_txt_has_one_stamped_line_per_segment() -> None:
    assert write_transcript(SPEAKERS, "txt").splitlines() == [
        "[00:00:00] Sarah: In today's episode, you'll learn",
        "[00:00:02] Sarah: whether a trailer is worth it & what goes <in> it",
        "[00:00:06] Gillian: Hi — Gillian here, from «Breaking Through».",
        # Stamps round down, so a cited second never starts after the words.
        "[00:59:59] Sarah: An hour in: timestamps past 1h --> still fine.",
    ]
    assert write_transcript(NO_SPEAKERS, "txt") == (
        "[00:00:00] Rule one: never skip the intro.\n[00:00:01] Second line with a newline inside.\n"
    )


def test_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(PodsearchError, match="'docx'.*vtt, srt, json, txt, podcast-json"):
        write_transcript(SPEAKERS, "docx")


# -- publisher transcripts: the Podcasting 2.0 examples ---------------------------------


def test_reads_example_vtt() -> None:
    segments = parse_transcript((P20 / "transcripts_example.vtt").read_bytes(), "text/vtt")
    assert len(segments) == 7
    assert segments[0] == Segment(0.0, 2.76, "In today's episode, you'll learn whether or not you", speaker="Sarah")
    assert segments[2].text == "include in one? Welcome to Podcasting Q&A, where you learn"  # &amp; decoded
    assert [s.speaker for s in segments] == ["Sarah"] * 5 + ["Gillian"] * 2
    assert segments[-1].end == 25.35


def test_reads_example_srt_with_speaker_turns() -> None:
    segments = parse_transcript((P20 / "transcripts_example.srt").read_bytes(), "application/x-subrip")
    assert len(segments) == 222
    assert segments[0] == Segment(0.179, 2.399, "When you first get started in podcasting, it's", speaker="Travis")
    # No label on the next cue: Travis is still talking.
    assert segments[1].speaker == "Travis"
    turns = [s.speaker for i, s in enumerate(segments) if i == 0 or s.speaker != segments[i - 1].speaker]
    assert turns == ["Travis", "Sarah", "Travis", "Gilon", "Travis", "Gilon", "Travis", "Sarah", "Gilon", "Travis"]
    assert all(not s.text.startswith(("Travis:", "Sarah:", "Gilon:")) for s in segments)
    assert parse_transcript((P20 / "transcripts_example.srt").read_bytes(), "application/srt") == segments


def test_reads_example_json() -> None:
    segments = parse_transcript((P20 / "transcripts_example.json").read_bytes(), "application/json")
    assert [(s.start, s.end, s.text, s.speaker) for s in segments] == [
        (0.5, 0.75, "I", "Darth Vader"),
        (1.0, 1.25, "am", "Darth Vader"),
        (1.5, 2.0, "your", "Darth Vader"),
        (2.25, 2.5, "father.", "Darth Vader"),
        (2.75, 3.0, "Nooooo", "Luke"),
    ]


def test_reads_example_html() -> None:
    segments = parse_transcript((P20 / "transcripts_example.html").read_bytes(), "text/html; charset=utf-8")
    assert [s.start for s in segments] == [0, 53, 102, 219, 263, 322, 376, 562, 617, 691]
    assert [s.speaker for s in segments[:4]] == ["Travis", "Sarah", "Travis", "Gilon"]
    # Each monologue runs until the next one starts.
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    assert segments[-1].end > segments[-1].start
    assert segments[0].text.startswith("When you first get started in podcasting, it's almost guaranteed")
    assert "&#39;" not in segments[0].text


def test_html_paragraphs_share_their_time_and_untimed_html_is_refused() -> None:
    data = (
        b"<html><body><cite>Kevin:</cite><time>0:00</time><p>First <b>bold</b> part.</p><p>Same turn.</p>"
        b"<cite>Alban :</cite><time>1:02:03</time><p>Later.</p></body></html>"
    )
    segments = parse_transcript(data, "text/html")
    assert [(s.start, s.end, s.text, s.speaker) for s in segments] == [
        (0.0, 3723.0, "First bold part. Same turn.", "Kevin"),
        (3723.0, 3724.0, "Later.", "Alban"),
    ]
    with pytest.raises(PodsearchError, match="no timestamps"):
        parse_transcript(b"<cite>Kevin:</cite><p>No times here.</p>", "text/html")


def test_json_without_end_times_ends_at_the_next_start() -> None:
    data = json.dumps({"version": "1.0.0", "segments": [
        {"startTime": 5, "body": "later"}, {"startTime": 1, "body": "first", "speaker": " Ann "},
        {"startTime": 3, "body": "  "}, {"body": "no start"}]}).encode()
    assert [(s.start, s.end, s.text, s.speaker) for s in parse_transcript(data, "application/json")] == [
        (1.0, 5.0, "first", "Ann"),
        (5.0, 6.0, "later", None),
    ]


# -- refusals ---------------------------------------------------------------------


def test_plain_text_has_no_timestamps() -> None:
    with pytest.raises(PodsearchError, match="no timestamps"):
        parse_transcript(b"Just words, no times.", "text/plain")


def test_unknown_type_is_named() -> None:
    with pytest.raises(PodsearchError, match="'application/pdf'"):
        parse_transcript(b"%PDF-1.4", "application/pdf")


@pytest.mark.parametrize(
    ("data", "mime", "match"),
    [
        (b"not a vtt file", "text/vtt", "not WebVTT"),
        (b"1\nnonsense --> more nonsense\nhi\n", "application/x-subrip", "not valid SRT"),
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"version": "1.0.0"}', "application/json", "segments"),
    ],
)
def test_broken_publisher_files_raise(data: bytes, mime: str, match: str) -> None:
    with pytest.raises(PodsearchError, match=match):
        parse_transcript(data, mime)


def test_mime_parameters_and_charset_are_honoured() -> None:
    data = "WEBVTT\n\n00:00.000 --> 00:01.500\n<v Zoë>Grüße\n".encode("latin-1")
    (segment,) = parse_transcript(data, "Text/VTT; charset=ISO-8859-1")
    assert (segment.start, segment.end, segment.text, segment.speaker) == (0.0, 1.5, "Grüße", "Zoë")
    assert "text/vtt" in READERS and "text/html" in READERS


def test_the_cli_offers_exactly_the_writers_formats(run, tmp_path: Path) -> None:  # noqa: ANN001 - conftest's run
    out = run(tmp_path, "export", "--help").output
    assert "[" + "|".join(WRITERS) + "]" in out.replace("\n", "").replace(" ", "")
