"""Transcription on a Ray cluster: a TranscriptSource whose workers are Ray actors.

Each actor builds one `Transcriber` (so loads the Whisper model once) and
turns one episode at a time into a Transcript; the driver hands out episodes,
collects results in completion order and stays the only writer of the home.
An actor that dies mid-episode is replaced and the episode goes to the next
free worker, a bounded number of times.

Ray is imported only here, and only when a RaySource starts: a run without
`--ray` neither needs nor imports it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from podsearch.core import errors
from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.service.library import EpisodeRow
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore
from podsearch.service.sources import Produced, resumable
from podsearch.service.producer import Emit, Producers

INSTALL_HINT = "pip install 'podsearch[ray]'"
CONNECT_TIMEOUT = 5.0
READY_TIMEOUT = 300.0  # a new worker imports torch and friends; slow nodes take a while
POLL_SECONDS = 0.5


def machine_id() -> str:
    """Identifies this machine (not this process): workers compare it with the driver's."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text:
            return f"{socket.gethostname()}/{text}"
    return socket.gethostname()


def worker_home() -> Path:
    """Scratch home of a worker on another machine: its own download cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "podsearch" / "ray-worker"


def rebuild_error(kind: str, message: str) -> PodsearchError:
    """The PodsearchError (same class when it is one of ours) a worker raised."""
    cls = getattr(errors, kind, PodsearchError)
    return cls(message) if isinstance(cls, type) and issubclass(cls, PodsearchError) else PodsearchError(message)


class TranscribeWorker:
    """The body of one Ray actor: a Transcriber living in a worker process.

    Threaded (max_concurrency=2) so the driver can `drain` progress events
    while `transcribe` runs.
    """

    def __init__(self, settings: Settings, vocabulary: tuple[str, ...], driver_machine: str) -> None:
        from podsearch.service.transcriber import Transcriber

        self.same_machine = machine_id() == driver_machine
        if not self.same_machine:
            # The driver's home is not on this machine: download into a cache of our own.
            settings = settings.with_(home=worker_home())
        self._events: list[Progress] = []
        self._lock = threading.Lock()
        # Whisper uses the cores Ray gave this actor, so actors sharing a node do not fight over them.
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
        self.transcriber = Transcriber(settings, self._record, vocabulary, threads=max(1, int(cpus)) if cpus else None)

    def info(self) -> dict[str, object]:
        """Where this worker runs."""
        return {"same_machine": self.same_machine, "host": socket.gethostname(), "pid": os.getpid()}

    def warm(self) -> float:
        """Load the model now (seconds taken), so timing runs leave loading out."""
        import numpy as np

        from podsearch.ingest.audio import SAMPLE_RATE

        t0 = time.perf_counter()
        self.transcriber.engine.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32), self.transcriber.options())
        return time.perf_counter() - t0

    def transcribe(self, row: EpisodeRow, local_ok: bool) -> dict[str, object]:
        """One episode: {"transcript": dict} or {"error": ..., "kind": ...}, plus pending events."""
        from podsearch.core.records import to_dict

        try:
            if local_ok and not self.same_machine:
                raise PodsearchError("enclosures of a local feed file can only be read on the driver's machine; "
                                     "start a Ray worker there or serve the feed over http(s)")
            result: dict[str, object] = {"transcript": to_dict(self.transcriber.transcribe(row, local_ok))}
        except PodsearchError as exc:
            result = {"error": str(exc), "kind": type(exc).__name__}
        result["events"] = self.drain()
        return result

    def drain(self) -> list[Progress]:
        """Progress events since the last call."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def _record(self, p: Progress) -> None:
        with self._lock:
            self._events.append(p)


@dataclass
class _Worker:
    actor: object  # ray.actor.ActorHandle
    same_machine: bool
    host: str


@dataclass
class _Task:
    worker: _Worker
    row: EpisodeRow
    attempt: int


class _Relay:
    """Shows one episode's transcription at a time, as a local run does.

    Workers transcribe several episodes at once; the progress of the oldest
    one is passed on, the others' latest state is held until it is their turn.
    """

    def __init__(self, emit: ProgressFn) -> None:
        self.emit = emit
        self.latest: dict[int, Progress] = {}  # row id -> last event, in start order

    def _focus(self) -> int | None:
        return next(iter(self.latest), None)

    def started(self, row: EpisodeRow) -> None:
        self.latest[row.id] = Progress(Stage.TRANSCRIBE, row.episode.title, 0.0, row.episode.duration)
        if self._focus() == row.id:
            self.emit(self.latest[row.id])

    def event(self, row: EpisodeRow, p: Progress) -> None:
        if p.stage not in (Stage.DOWNLOAD, Stage.TRANSCRIBE):
            self.emit(p)  # warnings are never held back
            return
        if row.id in self.latest:
            self.latest[row.id] = p
            if self._focus() == row.id:
                self.emit(p)

    def ended(self, row: EpisodeRow, finished: bool) -> None:
        focus = self._focus() == row.id
        last = self.latest.pop(row.id, None)
        if focus and finished and last is not None and last.stage == Stage.TRANSCRIBE and last.total:
            self.emit(Progress(Stage.TRANSCRIBE, last.title, last.total, last.total))
        nxt = self._focus()
        if focus and nxt is not None:
            self.emit(self.latest[nxt])


class RaySource:
    """A TranscriptSource that transcribes on a Ray cluster (see the module docstring).

    `address`: "auto" (a running cluster if there is one, else a new one on
    this machine), "local" (always a new one here) or a cluster's address
    (host:port of its head, or ray://host:10001). `workers`: actors to start
    (default one per GPU, else one per node). Use as a context manager, or
    call `close()`, to stop the actors and any Ray runtime started here.
    """

    def __init__(self, settings: Settings, progress: ProgressFn | None = None, vocabulary: tuple[str, ...] = (),
                 address: str | None = "auto", workers: int | None = None, max_attempts: int = 3) -> None:
        if importlib.util.find_spec("ray") is None:
            raise PodsearchError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}")
        self.settings = settings
        self.progress = progress or ignore
        self.vocabulary = vocabulary
        self.address = address or "auto"
        self.workers = workers
        self.max_attempts = max(1, max_attempts)
        self._ray = None
        self._owns_runtime = False
        self._pool: list[_Worker] = []
        self._actor_options: dict[str, object] = {}
        self._replacements = 0
        self._max_replacements = 0
        if self.address not in ("auto", "local"):
            check_reachable(self.address)  # fail before feeds are refreshed, not minutes later

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Connect to (or start) the cluster and start the workers; idempotent."""
        if self._ray is None:
            self._ray = self._connect()
        if not self._pool:
            count, self._actor_options = self._plan()
            self._max_replacements = self.max_attempts * count
            self._pool = self._spawn(count)
            if not self._pool:
                raise PodsearchError(f"the Ray cluster at {self.address} started no workers; "
                                     "check `ray status` there")

    def warm(self) -> float:
        """Load the model on every worker; the slowest worker's seconds."""
        self.start()
        return max(self._ray.get([w.actor.warm.remote() for w in self._pool]))

    def close(self) -> None:
        """Stop the workers, and the Ray runtime if this source started it."""
        ray, self._ray = self._ray, None
        if ray is None:
            return
        for worker in self._pool:
            try:
                ray.kill(worker.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._pool = []
        if self._owns_runtime:
            ray.shutdown()

    def __enter__(self) -> RaySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self):  # noqa: ANN202 - the ray module
        import logging

        import ray

        if ray.is_initialized():
            return ray  # someone in this process (a test, a notebook) already connected
        address = {"auto": None, "local": "local"}.get(self.address, self.address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
            raise PodsearchError(
                f"cannot use the Ray cluster at {self.address} ({type(exc).__name__}: {exc}); start it with "
                "`ray start --head` on its head machine, or use --ray auto for a cluster on this machine") from exc
        # ray.shutdown() stops a runtime this process started and only disconnects from a running cluster.
        self._owns_runtime = True
        return ray

    def _plan(self) -> tuple[int, dict[str, object]]:
        """How many actors, and the resources each one asks for."""
        ray = self._ray
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        cpus = [n["Resources"]["CPU"] for n in nodes] or [1.0]
        gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
        use_gpus = gpus >= 1 and self.settings.device != "cpu"
        count = self.workers or (int(gpus) if use_gpus else len(nodes)) or 1
        # One model per node by default; several workers share a node's cores.
        share = sum(cpus) / count
        num_cpus = max(1.0, min(float(int(share)), min(cpus))) if share >= 1 else share
        # Ray caps OpenMP (so numpy's BLAS) at an actor's CPU share, and Whisper's
        # output depends on it: workers get the driver's setting instead, where
        # empty means unset (all cores of the node, as a local run there).
        threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
        options: dict[str, object] = {"num_cpus": num_cpus, "max_concurrency": 2, "max_restarts": 0,
                                      "scheduling_strategy": "SPREAD", "runtime_env": {"env_vars": threads}}
        if use_gpus:
            options["num_gpus"] = min(1.0, gpus / count)
        return count, options

    def _spawn(self, count: int) -> list[_Worker]:
        ray = self._ray
        actor_class = ray.remote(TranscribeWorker)
        actors = [actor_class.options(**self._actor_options).remote(self.settings, self.vocabulary, machine_id())
                  for _ in range(count)]
        refs = [a.info.remote() for a in actors]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=READY_TIMEOUT)
        if pending:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            raise PodsearchError(
                f"the Ray cluster at {self.address} could not start {count} worker(s) with "
                f"{self._actor_options['num_cpus']} CPU(s) each within {READY_TIMEOUT:.0f} s; "
                "give fewer --ray-workers or add nodes")
        infos = ray.get(refs)
        return [_Worker(a, bool(i["same_machine"]), str(i["host"])) for a, i in zip(actors, infos)]

    # -- TranscriptSource ------------------------------------------------------------
    def transcripts(self, rows: list[EpisodeRow], local_feeds: set[int]) -> Iterator[Produced]:
        """One Produced per row, in completion order; resumed rows come from the home, not the cluster."""
        from podsearch.transcripts.store import load_transcript

        todo = [r for r in rows if resumable(r) is None]
        feed = None
        if todo:
            self.start()  # here, not in the thread: ray.init wants the main thread
            # Unbounded: the scheduler must keep polling the cluster, never wait for the consumer.
            feed = Producers([lambda emit, stop: self._schedule(todo, local_feeds, emit, stop)],
                             name="podsearch-ray", join_timeout=30)
        try:
            for row in rows:
                path = resumable(row)
                if path is not None:
                    yield Produced(row, load_transcript(path), saved=True)
            for item in feed or ():
                if isinstance(item, Progress):
                    # Progress is reported from the caller's thread, as the Ingester's own is.
                    self.progress(item)
                else:
                    yield item
        finally:
            if feed is not None:
                feed.close()

    def _schedule(self, rows: list[EpisodeRow], local_feeds: set[int], emit: Emit, stop: threading.Event) -> None:
        """Runs in a producer thread: hands rows to idle workers, replaces dead ones, emits results and progress."""
        ray = self._ray
        todo: deque[tuple[EpisodeRow, int]] = deque((r, 1) for r in rows)
        busy: dict[object, _Task] = {}
        relay = _Relay(emit)
        while (todo or busy) and not stop.is_set():
            self._assign(todo, busy, local_feeds, relay, emit)
            if not busy:
                break
            ready, _ = ray.wait(list(busy), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                self._finish(ref, busy.pop(ref), todo, relay, emit)
            self._forward_progress(busy, relay)
        for row, _ in todo if not stop.is_set() else ():
            emit(Produced(row, error=PodsearchError("no Ray worker could take this episode")))

    def _assign(self, todo: deque, busy: dict, local_feeds: set[int], relay: _Relay, emit: Emit) -> None:
        """Give each idle worker the first episode it can do."""
        taken = {id(t.worker) for t in busy.values()}
        idle = [w for w in self._pool if id(w) not in taken]
        if not any(w.same_machine for w in self._pool):
            # Nobody can read the driver's files: local-feed episodes fail now instead of waiting forever.
            for entry in [e for e in todo if e[0].feed_id in local_feeds]:
                todo.remove(entry)
                emit(Produced(entry[0], error=PodsearchError(
                    "enclosures of a local feed file can only be read on the driver's machine, and no Ray "
                    "worker runs there; start one there (`ray start --address ...`) or serve the feed over http(s)")))
        for worker in idle:
            entry = next((e for e in todo if worker.same_machine or e[0].feed_id not in local_feeds), None)
            if entry is None:
                continue
            todo.remove(entry)
            row, attempt = entry
            ref = worker.actor.transcribe.remote(row, row.feed_id in local_feeds)
            busy[ref] = _Task(worker, row, attempt)
            relay.started(row)

    def _finish(self, ref: object, task: _Task, todo: deque, relay: _Relay, emit: Emit) -> None:
        """Report a finished task, or put its episode back in line if its worker died."""
        from ray.exceptions import OutOfMemoryError, RayActorError, WorkerCrashedError

        from podsearch.core.records import transcript_from_dict

        row = task.row
        try:
            result = self._ray.get(ref)
        except (RayActorError, WorkerCrashedError, OutOfMemoryError) as exc:
            relay.ended(row, finished=False)
            self._replace(task.worker)
            if task.attempt < self.max_attempts:
                relay.emit(Progress(Stage.WARNING, row.episode.title, message=(
                    f"{row.episode.title}: Ray worker on {task.worker.host} died mid-episode; retrying "
                    f"(attempt {task.attempt + 1} of {self.max_attempts})")))
                todo.appendleft((row, task.attempt + 1))
            else:
                emit(Produced(row, error=PodsearchError(
                    f"Ray workers died {task.attempt} times while transcribing this episode "
                    f"(last: {type(exc).__name__}); a worker may be running out of memory: check the Ray logs "
                    "on the workers (/tmp/ray/session_latest/logs), or ingest it without --ray")))
            return
        for p in result.get("events", ()):
            relay.event(row, p)
        relay.ended(row, finished="transcript" in result)
        if "transcript" in result:
            emit(Produced(row, transcript_from_dict(result["transcript"])))
        else:
            emit(Produced(row, error=rebuild_error(str(result.get("kind")), str(result.get("error")))))

    def _forward_progress(self, busy: dict, relay: _Relay) -> None:
        """Fine-grained progress of running episodes (best effort: a dead worker just says nothing)."""
        from ray.exceptions import GetTimeoutError, RayError

        if not busy:
            return
        asks = [(t, t.worker.actor.drain.remote()) for t in busy.values()]
        for task, ref in asks:
            try:
                events = self._ray.get(ref, timeout=10)
            except (GetTimeoutError, RayError):
                continue
            for p in events:
                relay.event(task.row, p)

    def _replace(self, dead: _Worker) -> None:
        """Swap a dead worker for a new one, a bounded number of times over the run."""
        try:
            self._ray.kill(dead.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - it is dead already
            pass
        self._pool = [w for w in self._pool if w is not dead]
        if self._replacements >= self._max_replacements:
            if not self._pool:
                raise PodsearchError("every Ray worker died and too many were restarted already; "
                                     "check the Ray logs (/tmp/ray/session_latest/logs)")
            return
        self._replacements += 1
        try:
            self._pool += self._spawn(1)
        except PodsearchError:
            if not self._pool:
                raise


def check_reachable(address: str) -> None:
    """Raise a PodsearchError at once when nothing listens at a Ray cluster address."""
    parts = urlsplit(address if "://" in address else f"ray-gcs://{address}")
    host = parts.hostname
    try:
        port = parts.port or (10001 if parts.scheme == "ray" else 6379)
    except ValueError as exc:
        raise PodsearchError(f"--ray {address}: not an address; give auto, host:port or ray://host:port") from exc
    if not host:
        raise PodsearchError(f"--ray {address}: not an address; give auto, host:port or ray://host:port")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise PodsearchError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
            f"`ray start --head --port {port}` on {host}, check the address and firewall, "
            "or use --ray auto for a cluster on this machine") from exc
