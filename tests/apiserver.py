"""Helpers for the API and MCP tests: a small home of publisher transcripts, and a real `podsearch serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>{show}</title><link>https://example.org/show</link><description>Test show.</description>
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><guid>{guid}</guid><pubDate>{date}</pubDate>
<link>https://example.org/{guid}</link>
<enclosure url="{audio}" type="audio/flac" length="1"/>
<podcast:transcript url="{transcript}" type="text/vtt" language="en"/></item>"""

# Each episode says something only it says, so a search can tell them apart.
EPISODES = {
    "pharm-1": ("Pharmacy hour", "Mon, 02 Mar 2026 09:00:00 GMT",
                ["Welcome to the pharmacy hour.",
                 "Clopidogrel should not be stopped before surgery without asking the cardiologist.",
                 "Thank you, that is very clear advice."]),
    "desk-2": ("Front desk", "Tue, 10 Mar 2026 09:00:00 GMT",
               ["Good morning and welcome to the front desk.",
                "When a relative is shouting, lower your voice and offer them a quiet room to sit down.",
                "Listening calmly usually settles an angry visitor."]),
}
LATE = ("late-3", "Warfarin clinic", "Fri, 20 Mar 2026 09:00:00 GMT",
        ["This is the anticoagulation clinic.",
         "Warfarin doses change with vitamin K in leafy green vegetables like spinach and kale.",
         "Bring your yellow book to every appointment."])


def vtt(lines: list[str]) -> str:
    """A WebVTT transcript with one 8-second cue per line."""
    cues = [f"00:00:{8 * i:02d}.000 --> 00:00:{8 * i + 8:02d}.000\n<v Host>{line}\n" for i, line in enumerate(lines)]
    return "WEBVTT\n\n" + "\n".join(cues)


def item(root: str | Path, guid: str, title: str, date: str) -> str:
    """A feed item whose audio and transcript live under `root` (a directory or a base URL)."""
    base = str(root).rstrip("/")
    return ITEM.format(title=title, guid=guid, date=date, audio=f"{base}/{guid}.flac",
                       transcript=f"{base}/{guid}.vtt")


def make_home(tmp: Path, models: Models) -> Path:
    """A home with the two EPISODES ingested from their publisher transcripts (no Whisper), with `models`."""
    files = tmp / "files"
    files.mkdir(parents=True)
    for guid, (title, date, lines) in EPISODES.items():
        (files / f"{guid}.vtt").write_text(vtt(lines), encoding="utf-8")
        (files / f"{guid}.flac").write_bytes(b"")  # never read: the publisher's transcript is used
    items = "".join(item(files, guid, title, date) for guid, (title, date, _) in EPISODES.items())
    (files / "feed.xml").write_text(FEED.format(show="Care Talk", items=items), encoding="utf-8")
    home = tmp / "home"
    settings = load_settings(home)
    add_feed(settings, str(files / "feed.xml"))
    report = ingest(settings, models=models)
    assert sorted(report.indexed) and not report.episode_errors, report
    return home


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(home: Path, *args: str, env: dict[str, str] | None = None,
                   timeout: float = 240.0) -> Iterator[str]:
    """`podsearch serve` on 127.0.0.1 in its own process; yields its base URL once /api/health answers."""
    port = free_port()
    log = home.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "podsearch.cli", "--home", str(home), *args, "serve", "--port", str(port),
             "--no-access-log"], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(base + "/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{log.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
