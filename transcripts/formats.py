"""Transcript formats: writers for every export format, readers for publisher files.

Writers (`WRITERS`, `write_transcript`): vtt, srt, json (our own record),
txt, podcast-json (Podcasting 2.0 JSON transcript). Readers
(`parse_transcript`): WebVTT, SRT, Podcasting 2.0 JSON and HTML, the types a
`podcast:transcript` may declare. Segments with blank text are left out of
every format but json, which is the record itself.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from podsearch.core.clock import timestamp
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Segment, Transcript, to_dict
from podsearch.core.terminal import clean_line

# Speech runs at roughly 150 words a minute; used only to close the last
# segment of a publisher transcript that gives start times alone.
WORDS_PER_SECOND = 2.5


# ------------------------------------------------------------------- writers


def _one_line(text: str) -> str:
    # A blank line ends a cue in VTT and SRT, so cue text stays on one line.
    return " ".join(text.split())


def _cue(text: str) -> str:
    """Text for a written cue or line: one line, no control a terminal would obey (core.terminal)."""
    return clean_line(_one_line(text))


def _spoken(t: Transcript) -> list[Segment]:
    return [s for s in t.segments if s.text.strip()]


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _marker(s: Segment) -> str:
    # Sponsor reads, intros and outros are named in every text format; plain speech is not.
    return f"[{s.kind}] " if s.kind != "speech" else ""


def write_vtt(t: Transcript) -> str:
    """WebVTT; a segment's speaker becomes a `<v Speaker>` voice tag, its kind (sponsor, intro,
    outro) the cue's identifier, which players and readers skip."""
    cues = ["WEBVTT\n"]
    for n, s in enumerate(_spoken(t), start=1):
        voice = f"<v {_vtt_escape(_cue(s.speaker))}>" if s.speaker and s.speaker.strip() else ""
        end = max(s.end, s.start)
        cue_id = f"{s.kind} {n}\n" if s.kind != "speech" else ""
        cues.append(f"{cue_id}{timestamp(s.start, decimal_marker='.')} --> {timestamp(end, decimal_marker='.')}\n"
                    f"{voice}{_vtt_escape(_cue(s.text))}\n")
    return "\n".join(cues)


def write_srt(t: Transcript) -> str:
    """SubRip; "Speaker: " starts a cue whenever the speaker changes (the Podcasting 2.0 habit)."""
    subtitles = []
    previous: str | None = None
    for i, s in enumerate(_spoken(t), start=1):
        speaker = _cue(s.speaker) if s.speaker and s.speaker.strip() else None
        prefix = f"{speaker}: " if speaker and speaker != previous else ""
        previous = speaker
        subtitles.append(
            srt.Subtitle(
                index=i,
                # Whole milliseconds, rounded as in the other formats (srt truncates).
                start=timedelta(milliseconds=round(s.start * 1000)),
                end=timedelta(milliseconds=round(max(s.end, s.start) * 1000)),
                content=_marker(s) + prefix + _cue(s.text),
            )
        )
    return srt.compose(subtitles, reindex=False)


def write_json(t: Transcript) -> str:
    """The Transcript record itself (read back with `records.transcript_from_dict`)."""
    return json.dumps(to_dict(t), ensure_ascii=False, indent=2) + "\n"


def write_txt(t: Transcript) -> str:
    """Plain text, one segment per line: "[HH:MM:SS] Speaker: text".

    The stamp is the start rounded down to the second; "[sponsor] " (or intro, outro) marks what is not
    the conversation; "Speaker: " only when known.
    """
    lines = []
    for s in _spoken(t):
        stamp = timestamp(s.start, always_hours=True)
        speaker = f"{_cue(s.speaker)}: " if s.speaker and s.speaker.strip() else ""
        lines.append(f"[{stamp}] {_marker(s)}{speaker}{_cue(s.text)}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_podcast_json(t: Transcript) -> str:
    """Podcasting 2.0 JSON transcript: {"version": "1.0.0", "segments": [...]}."""
    segments = []
    for s in _spoken(t):
        item: dict[str, Any] = {}
        if s.speaker and s.speaker.strip():
            item["speaker"] = s.speaker.strip()
        item.update(startTime=round(s.start, 3), endTime=round(max(s.end, s.start), 3), body=s.text.strip())
        segments.append(item)
    return json.dumps({"version": "1.0.0", "segments": segments}, ensure_ascii=False, indent=2) + "\n"


def write_chapters(t: Transcript) -> str:
    """Podcasting 2.0 JSON chapters: {"version": "1.2.0", "chapters": [{"startTime", "title", ...}]}.

    Generated chapters (podsearch's own, not the publisher's) say so in the file's `author` field.
    """
    chapters = []
    for c in sorted(t.chapters, key=lambda c: c.start):
        item: dict[str, Any] = {"startTime": round(c.start, 3), "title": _one_line(c.title)}
        if c.end is not None and c.end > c.start:
            item["endTime"] = round(c.end, 3)
        if c.url:
            item["url"] = c.url
        chapters.append(item)
    doc: dict[str, Any] = {"version": "1.2.0", "chapters": chapters}
    if t.chapters and all(c.generated for c in t.chapters):
        doc["author"] = "podsearch (generated from the transcript)"
    doc.update(title=_one_line(t.episode), podcastName=_one_line(t.show))
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True)
class Writer:
    """One export format: its name, how it writes, and its file details (whisper's writer habit)."""

    name: str
    write: Callable[[Transcript], str]
    extension: str  # "podcast-json" must not clash with "json"
    media_type: str


WRITERS: dict[str, Writer] = {w.name: w for w in (
    Writer("vtt", write_vtt, ".vtt", "text/vtt"),
    Writer("srt", write_srt, ".srt", "application/x-subrip"),
    Writer("json", write_json, ".json", "application/json"),
    Writer("txt", write_txt, ".txt", "text/plain"),
    Writer("podcast-json", write_podcast_json, ".podcast.json", "application/json"),
    Writer("chapters", write_chapters, ".chapters.json", "application/json+chapters"),
)}


def writer(fmt: str) -> Writer:
    """The writer of `fmt`, or one line naming the formats there are."""
    found = WRITERS.get(fmt)
    if found is None:
        raise PodsearchError(f"unknown transcript format {fmt!r}; choose one of: {', '.join(WRITERS)}")
    return found


def write_transcript(t: Transcript, fmt: str) -> str:
    """The transcript as text in `fmt` (one of WRITERS)."""
    return writer(fmt).write(t)


# ------------------------------------------------------------------- readers


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8-sig")
    except (LookupError, UnicodeDecodeError):
        # Publishers mislabel encodings; keep the text rather than drop the transcript.
        return data.decode("utf-8", errors="replace").lstrip("\ufeff")


def _close_ends(rows: list[tuple[float, float | None, str, str | None]]) -> tuple[Segment, ...]:
    """Segments from (start, end?, text, speaker): a missing end is the next start.

    The last one, if open, gets a duration estimated from its word count.
    """
    rows = sorted((r for r in rows if r[2].strip()), key=lambda r: r[0])
    segments = []
    for i, (start, end, text, speaker) in enumerate(rows):
        if end is None or end < start:
            if i + 1 < len(rows):
                end = max(start, rows[i + 1][0])
            else:
                end = start + max(1.0, len(text.split()) / WORDS_PER_SECOND)
        segments.append(Segment(start=start, end=end, text=text, speaker=speaker))
    return tuple(segments)


def read_vtt(text: str) -> tuple[Segment, ...]:
    """WebVTT cues -> segments; the speaker comes from a leading `<v Speaker>` tag."""
    try:
        captions = webvtt.from_string(text)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise PodsearchError(f"publisher transcript is not WebVTT ({exc}); transcribe the audio instead") from None
    rows = []
    for c in captions:
        voice = html.unescape(c.voice).strip() if c.voice else None
        rows.append(
            (
                c.start_time.in_milliseconds() / 1000,
                c.end_time.in_milliseconds() / 1000,
                # Tags are gone from .text; character references are not.
                _one_line(html.unescape(c.text)),
                voice or None,
            )
        )
    return _close_ends(rows)


def _srt_speaker(content: str) -> tuple[str | None, str]:
    """("Adam Curry", "hello") from "Adam Curry: hello".

    A label is 1-4 words that each start with a capital or a digit and no
    sentence punctuation, so "Rule one: never" stays text.
    """
    label, sep, rest = content.partition(":")
    if not sep or not rest.strip() or len(label) > 40:
        return None, content
    words = label.split()
    if not 1 <= len(words) <= 4:
        return None, content
    if not all((w[0].isupper() or w[0].isdigit()) and not any(ch in w for ch in ",;!?\"()") for w in words):
        return None, content
    return " ".join(words), rest.strip()


def read_srt(text: str) -> tuple[Segment, ...]:
    """SRT cues -> segments; "Speaker: " opens a speaker's turn, which lasts to the next label."""
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as exc:
        raise PodsearchError(f"publisher transcript is not valid SRT ({exc}); transcribe the audio instead") from None
    rows = []
    speaker: str | None = None
    for sub in subtitles:
        label, body = _srt_speaker(_one_line(sub.content))
        speaker = label or speaker
        rows.append((sub.start.total_seconds(), sub.end.total_seconds(), body, speaker))
    return _close_ends(rows)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 and number == number and number != float("inf") else None


def read_podcast_json(text: str) -> tuple[Segment, ...]:
    """Podcasting 2.0 JSON transcript -> segments (a missing endTime is the next startTime)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PodsearchError(f"publisher transcript is not valid JSON ({exc}); transcribe the audio instead") from None
    raw = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(raw, list):
        raise PodsearchError("publisher JSON transcript has no 'segments' list; transcribe the audio instead")
    rows = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        start = _seconds(item.get("startTime"))
        body = item.get("body")
        if start is None or not isinstance(body, str):
            continue
        speaker = item.get("speaker")
        label = speaker.strip() if isinstance(speaker, str) else ""
        rows.append((start, _seconds(item.get("endTime")), _one_line(body), label or None))
    if raw and not rows:
        raise PodsearchError("publisher JSON transcript has no timestamps; transcribe the audio instead")
    return _close_ends(rows)


def _clock_seconds(value: str) -> float | None:
    """'1:42', '01:02:03' or '12.5' -> seconds; None if unreadable."""
    parts = value.strip().split(":")
    if not value.strip() or len(parts) > 3:
        return None
    total = 0.0
    for part in parts:
        number = _seconds(part.strip().replace(",", "."))
        if number is None:
            return None
        total = total * 60 + number
    return total


class _HtmlTranscript(HTMLParser):
    """The spec's HTML form: <cite>Speaker:</cite> <time>m:ss</time> <p>monologue</p>."""

    FIELDS = ("cite", "time", "p")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.field: str | None = None
        self.buffer: list[str] = []
        self.speaker: str | None = None
        self.start: float | None = None
        self.timed = False
        self.rows: list[tuple[float, float | None, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.FIELDS and self.field is None:
            self.field, self.buffer = tag, []

    def handle_data(self, data: str) -> None:
        if self.field is not None:
            self.buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != self.field:
            return
        value = _one_line("".join(self.buffer))
        self.field = None
        if tag == "cite":
            self.speaker = value.rstrip(":").strip() or None
        elif tag == "time":
            start = _clock_seconds(value)
            if start is not None:
                self.start, self.timed = start, True
        elif value:
            self._add(value)

    def _add(self, text: str) -> None:
        start = self.start if self.start is not None else 0.0
        last = self.rows[-1] if self.rows else None
        if last is not None and last[0] == start and last[3] == self.speaker:
            # Several paragraphs under one <time> are one monologue.
            self.rows[-1] = (start, None, f"{last[2]} {text}", self.speaker)
        else:
            self.rows.append((start, None, text, self.speaker))


def read_html(text: str) -> tuple[Segment, ...]:
    """The Podcasting 2.0 HTML transcript; each <p> ends at the next one's <time>."""
    parser = _HtmlTranscript()
    parser.feed(text)
    parser.close()
    if not parser.timed:
        raise PodsearchError("publisher HTML transcript has no timestamps; transcribe the audio instead")
    return _close_ends(parser.rows)


def _no_timestamps(text: str) -> tuple[Segment, ...]:
    raise PodsearchError("publisher transcript (text/plain) has no timestamps; transcribe the audio instead")


READERS: dict[str, Callable[[str], tuple[Segment, ...]]] = {
    "text/vtt": read_vtt,
    "text/webvtt": read_vtt,
    "application/x-subrip": read_srt,
    "application/srt": read_srt,
    "text/srt": read_srt,
    "text/x-srt": read_srt,
    "application/json": read_podcast_json,
    "text/json": read_podcast_json,
    "text/html": read_html,
    "text/plain": _no_timestamps,
}


def parse_transcript(data: bytes, mime_type: str) -> tuple[Segment, ...]:
    """A publisher transcript (bytes as downloaded, its declared MIME type) -> segments in time order.

    Raises PodsearchError for unknown types, unreadable files and files without
    timestamps (text/plain, HTML without <time>): the caller falls back to Whisper.
    """
    kind, _, params = mime_type.partition(";")
    kind = kind.strip().lower()
    reader = READERS.get(kind)
    if reader is None:
        raise PodsearchError(
            f"unsupported transcript type {mime_type!r}; readable types: {', '.join(READERS)}"
        )
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    return reader(_decode(data, charset))


__all__ = [
    "Writer",
    "READERS",
    "WRITERS",
    "writer",
    "parse_transcript",
    "read_html",
    "read_podcast_json",
    "read_srt",
    "read_vtt",
    "write_json",
    "write_podcast_json",
    "write_srt",
    "write_transcript",
    "write_txt",
    "write_vtt",
]
