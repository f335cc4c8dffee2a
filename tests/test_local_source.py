"""The local transcript source: several episodes at once, each exactly once, failures kept apart,
and a bug in a worker thread surfacing in the caller instead of hanging the ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from podsearch.ingest.transcribe import auto_workers
from podsearch.core.config import load_settings
from podsearch.core.errors import PodsearchError
from podsearch.service.library import EpisodeRow, Library
from podsearch.service.ingest_run import Ingester
from podsearch.service.sources import LocalSource
from podsearch.service.progress import Stage
from podsearch.service.transcriber import Transcriber
from podsearch.core.records import Episode, Segment, Transcript, TranscriptLink


def rows(n: int) -> list[EpisodeRow]:
    # Enclosures are never fetched: the transcriber below stands in for Whisper.
    return [EpisodeRow(id=i, feed_id=1, episode=Episode(guid=f"g{i}", title=f"Episode {i}", audio_url="x"),
                       status="new", error=None, source=None, transcript_path=None, show_title="Show")
            for i in range(n)]


class Recording(Transcriber):
    """Records which thread did each episode and how many ran at once; fails where told."""

    def __init__(self, settings, fail: dict[int, BaseException] | None = None) -> None:  # noqa: ANN001
        super().__init__(settings)
        self.fail = fail or {}
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()

    def download_audio(self, row, local_ok):  # noqa: ANN001, ANN201
        return Path("unused")

    def transcribe(self, row, local_ok, audio=None):  # noqa: ANN001, ANN201
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.05)  # long enough for workers to overlap
            if row.id in self.fail:
                raise self.fail[row.id]
            return Transcript(show="Show", episode=row.episode.title, guid=row.episode.guid,
                              segments=(Segment(0.0, 1.0, f"words of {row.id}"),))
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture()
def settings(tmp_path: Path):  # noqa: ANN201
    return load_settings(tmp_path)


def test_every_episode_once_with_workers_in_parallel(settings) -> None:  # noqa: ANN001
    transcriber = Recording(settings)
    produced = list(LocalSource(transcriber, workers=3).transcripts(rows(10), set()))
    assert sorted(p.row.id for p in produced) == list(range(10))
    assert all(p.error is None and p.transcript.segments[0].text == f"words of {p.row.id}" for p in produced)
    assert transcriber.most >= 2 and len(transcriber.threads) >= 2


def test_an_episode_error_is_reported_and_the_rest_go_on(settings) -> None:  # noqa: ANN001
    transcriber = Recording(settings, fail={2: PodsearchError("not decodable audio")})
    produced = {p.row.id: p for p in LocalSource(transcriber, workers=2).transcripts(rows(5), set())}
    assert sorted(produced) == list(range(5))
    assert str(produced[2].error) == "not decodable audio" and produced[2].transcript is None
    assert all(produced[i].transcript is not None for i in (0, 1, 3, 4))


def test_a_bug_in_a_worker_reaches_the_caller_and_stops_the_rest(settings) -> None:  # noqa: ANN001
    transcriber = Recording(settings, fail={1: RuntimeError("bug")})
    source = LocalSource(transcriber, workers=2)
    with pytest.raises(RuntimeError, match="bug"):
        list(source.transcripts(rows(50), set()))
    # The workers were told to stop: far from all 50 episodes were started, and none is still running.
    assert transcriber.running == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("podsearch-transcribe")]


def test_the_caller_stopping_early_stops_the_workers(settings) -> None:  # noqa: ANN001
    transcriber = Recording(settings)
    stream = LocalSource(transcriber, workers=2).transcripts(rows(50), set())
    first = next(stream)
    stream.close()  # what an interrupted ingest does to the generator
    assert first.transcript is not None and transcriber.running == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("podsearch-transcribe")]


@pytest.mark.slow
def test_stopping_abandons_a_transcription_in_flight(tmp_path: Path, models) -> None:  # noqa: ANN001
    """Real Whisper on a long episode: a stop ends it part way instead of finishing it."""
    from audiofiles import repeated_jfk

    audio = repeated_jfk(tmp_path / "eleven-minutes.flac", 60)
    reports: list[float] = []
    started = threading.Event()

    def progress(p) -> None:  # noqa: ANN001 - Progress
        if p.stage == Stage.TRANSCRIBE and p.done > 0:
            reports.append(p.done)
            started.set()

    settings = load_settings(tmp_path / "home", batch_size=1)  # one window at a time: progress per window
    transcriber = Transcriber(settings, progress, models=models)
    row = EpisodeRow(id=1, feed_id=1, episode=Episode(guid="long", title="Long", audio_url=str(audio)),
                     status="new", error=None, source=None, transcript_path=None, show_title="Show")
    produced: list = []
    consumer = threading.Thread(
        target=lambda: produced.extend(LocalSource(transcriber, workers=1).transcripts([row], {1})), daemon=True)
    consumer.start()
    assert started.wait(300)
    transcriber.cancel.set()  # what the stream's own clean-up does when an ingest is interrupted
    consumer.join(300)
    assert not consumer.is_alive()
    assert produced == []  # abandoned, so it stays pending for the next run
    assert reports and max(reports) < 0.5 * 660  # stopped in the first half of the 11 minutes


def test_a_lone_episode_gets_every_core_and_several_share_them(settings) -> None:  # noqa: ANN001
    cores_split = auto_workers(settings.engine, settings.device)
    assert cores_split >= 2  # this machine: 2 cores, one episode on each
    library = Library(settings.library_db)
    try:
        ingester = Ingester(settings, library, index=None)
        lone = ingester.local_source(rows(1))
        assert lone.workers == 1 and lone.transcriber.workers == 1
        assert lone.transcriber.threads is None  # load_engine then gives the one worker every core
        assert ingester.local_source(rows(5)).workers == cores_split
        # Episodes with a publisher transcript need no Whisper, so they take no worker.
        published = [replace(r, episode=replace(r.episode, transcripts=(TranscriptLink("t.vtt", "text/vtt"),)))
                     for r in rows(4)]
        assert ingester.local_source(published[:3] + rows(1)).workers == 1
        pinned = Ingester(replace(settings, transcribe_workers=2), library, index=None)
        assert pinned.local_source(rows(1)).workers == 2  # an explicit --workers is kept
    finally:
        library.close()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_workers_follow_the_cores_the_process_may_use() -> None:
    """A process held to one core (taskset, a container's cpuset) transcribes one episode at a time, on one
    thread, whatever the machine has: two workers there only shared the core and doubled the memory."""
    code = ("from podsearch.ingest.transcribe import auto_workers; from podsearch.core.config import usable_cores; "
            "print(usable_cores(), auto_workers('faster-whisper', 'cpu'))")
    one = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert one.stdout.split() == ["1", "1"]
    cores = len(os.sched_getaffinity(0))
    every = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert every.stdout.split() == [str(cores), str(cores if cores <= 2 else min(4, cores // 2))]
