"""Searches for a busy API server: worker processes behind one queue, waiting queries embedded together.

One Python process is held to about one and a half cores by the interpreter's lock, so a server
answering many clients needs several processes. As uvicorn's own worker processes, each keeps the
connections it accepted, and a client's kept-alive connection stays on one process: the load spreads
unevenly and the tail waits on the busiest. Here the one HTTP process keeps every search in one queue
and hands the next to whichever worker process is free; it embeds the queries waiting at the head of
the queue in one call of the sentence model, which costs about half as much a query as one at a time
(docs/speed.md). Each worker holds a read-only index of its own and never loads the sentence model.

Each worker has a pipe each way. Here one thread keeps the head of the queue embedded, one hands
searches out (at most `AHEAD` a worker, so a worker never waits for the next), one collects the answers; a worker whose pipe closes has died
(its searches are answered with an error and a new worker takes its place), and a worker whose server
went away reads the end of its pipe and exits, so none is left behind.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.index.search import SearchOptions
from podsearch.service.models import Models

# Queries embedded in one run of the sentence model: 8 cost about half as much a query as one alone,
# and more save little (docs/speed.md) while the run keeps the queue's head waiting longer.
BATCH = 8
# Searches kept embedded at the head of the queue: enough for the workers to go on with while the next
# run of the model embeds the next BATCH.
READY = 8
# Searches handed to one worker before it answers: the second waits in its pipe, so the worker starts it
# the moment it answers the first, without waiting for this process.
AHEAD = 2

DIED = "a search process stopped unexpectedly (exit code {code}); search again"


@dataclass
class _Request:
    query: str
    options: SearchOptions
    future: Future = field(default_factory=Future)
    vector: np.ndarray | None = None


@dataclass
class _Worker:
    process: BaseProcess
    requests: Connection  # this end sends searches
    answers: Connection  # this end receives ready, answers and errors
    ready: bool = False
    running: deque[_Request] = field(default_factory=deque)  # sent, not yet answered, in order


class SearchProcesses:
    """`processes` worker processes answering searches of the home in `settings`, fed by one queue.

    `start()` before the first `submit`, `close()` at the end.
    """

    def __init__(self, settings: Settings, processes: int, models: Models | None = None) -> None:
        self.processes = processes
        self._settings = settings
        models = models or Models()
        self._encoder: Callable[[], Any] = lambda: models.query_encoder(settings.embed_model, settings.models_dir,
                                                                        threads=1)
        # Spawned, not forked: a fork of a process running ONNX Runtime, FAISS and uvicorn threads is unsafe.
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._pending: deque[_Request] = deque()
        self._ready = 0  # how many at the head of _pending are embedded
        self._changed = threading.Condition()
        self._closing = False
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 600.0) -> list[int]:
        """Start the workers and wait until each has opened its index; load the sentence model here. The
        workers' process ids."""
        self._workers = [self._spawn() for _ in range(self.processes)]
        self._encoder()
        for worker in list(self._workers):
            if not worker.answers.poll(timeout):
                self.close()
                raise PodsearchError(f"a search process did not start within {timeout:.0f} s")
            self._receive(worker)
        if len(self._workers) < self.processes:
            self.close()
            raise PodsearchError("a search process could not open the index (its error is above)")
        for target, name in ((self._embed, "podsearch-embed"), (self._dispatch, "podsearch-dispatch"),
                             (self._collect, "podsearch-collect")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.pids()

    def pids(self) -> list[int]:
        """The process ids of the workers now (a dead one's replacement once it is started)."""
        with self._changed:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _spawn(self) -> _Worker:
        their_requests, requests = self._context.Pipe(duplex=False)
        answers, their_answers = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_serve, args=(self._settings, their_requests, their_answers),
                                        name="podsearch-search", daemon=True)
        process.start()
        their_requests.close()  # theirs now: a worker sees its pipe end when this process goes away
        their_answers.close()
        return _Worker(process, requests, answers)

    def submit(self, query: str, options: SearchOptions) -> Future[list[dict[str, Any]]]:
        """The clips for `query` as JSON-ready dicts (service.queries.search_json), answered by the next
        free worker."""
        request = _Request(query, options)
        with self._changed:
            if self._closing:
                raise PodsearchError("the server is stopping; try again in a moment")
            if not self._workers:
                raise PodsearchError("no search process is running (see the server's log); restart the server")
            self._pending.append(request)
            self._changed.notify_all()
        return request.future

    def _free_worker(self) -> _Worker | None:
        ready = [w for w in self._workers if w.ready and len(w.running) < AHEAD]
        return min(ready, key=lambda w: len(w.running)) if ready else None

    def _embed(self) -> None:
        """Keep the head of the queue embedded: whenever fewer than READY searches wait embedded, the next
        BATCH unembedded ones are embedded in one run (the dispatcher meanwhile hands out the ready ones)."""
        while True:
            with self._changed:
                while not self._closing and not self._wants_vectors():
                    self._changed.wait()
                if self._closing:
                    return
                batch = [r for r in itertools.islice(self._pending, self._ready, self._ready + BATCH)]
            try:
                vectors = self._encoder().encode([r.query for r in batch])
            except Exception as exc:  # noqa: BLE001 - every request of the run is told, none hangs
                self._fail(batch, exc)
                continue
            with self._changed:
                for request, vector in zip(batch, vectors):
                    request.vector = vector
                # Those the dispatcher took (or a close cleared) meanwhile are not in the queue any more.
                self._ready = sum(1 for _ in itertools.takewhile(lambda r: r.vector is not None, self._pending))
                self._changed.notify_all()

    def _wants_vectors(self) -> bool:
        return self._ready < READY and len(self._pending) > self._ready

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                while not self._closing and not (self._ready and self._free_worker() is not None):
                    self._changed.wait()
                if self._closing:
                    return
                head = self._pending.popleft()
                self._ready -= 1
                self._changed.notify_all()  # the embedder may want to run again
                if not head.future.set_running_or_notify_cancel():
                    continue  # its client went away
                worker = self._free_worker()
                assert worker is not None  # only this thread hands searches out, under this lock
                worker.running.append(head)
                try:
                    worker.requests.send((head.query, head.options, head.vector))
                except OSError:
                    pass  # the worker died: the collector sees its pipe close and answers its searches

    def _collect(self) -> None:
        while True:
            with self._changed:
                if self._closing:
                    return
                pipes = {id(w.answers): w for w in self._workers}
            for answers in wait([w.answers for w in pipes.values()], timeout=0.5):
                self._receive(pipes[id(answers)])

    def _receive(self, worker: _Worker) -> None:
        try:
            kind, value = worker.answers.recv()
        except (EOFError, OSError):
            self._replace(worker)
            return
        if kind == "ready":
            with self._changed:
                worker.ready = True
                self._changed.notify_all()
            return
        with self._changed:
            request = worker.running.popleft()
            self._changed.notify_all()
        if kind == "ok":
            request.future.set_result(value)
        else:
            request.future.set_exception(value)

    def _replace(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): its searches are told, and a new worker takes its place.
        One that died before it was ready (it could not open the index) is not started again: it would only
        die again; with none left, every waiting search is told."""
        worker.process.join(timeout=5)
        error = PodsearchError(DIED.format(code=worker.process.exitcode))
        with self._changed:
            lost = list(worker.running)
            worker.running.clear()
            worker.requests.close()
            worker.answers.close()
            if worker.ready and not self._closing:
                self._workers[self._workers.index(worker)] = self._spawn()
            else:
                self._workers.remove(worker)
            waiting = []
            if not self._workers:
                waiting, self._pending, self._ready = list(self._pending), deque(), 0
            self._changed.notify_all()
        for request in lost:  # running already
            request.future.set_exception(error)
        for request in waiting:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(error)

    def _fail(self, requests: list[_Request], exc: BaseException) -> None:
        with self._changed:
            for request in requests:
                if request in self._pending:
                    self._pending.remove(request)
            self._changed.notify_all()
        for request in requests:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(exc)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers: searches still waiting are cancelled, running ones answered with an error."""
        with self._changed:
            self._closing = True
            waiting = list(self._pending)
            self._pending.clear()
            self._ready = 0
            self._changed.notify_all()
        for request in waiting:
            request.future.cancel()
        for thread in self._threads:
            thread.join(timeout)
        for worker in self._workers:
            try:
                worker.requests.send(None)  # the worker's signal to exit
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout)
            for request in worker.running:
                if not request.future.done():
                    request.future.set_exception(PodsearchError("the server stopped before this search finished"))
            worker.requests.close()
            worker.answers.close()


def _serve(settings: Settings, requests: Connection, answers: Connection) -> None:
    """A worker process: its own read-only index, one search at a time, until the pipe says stop or closes."""
    # Ctrl+C reaches the whole process group; the server stops its workers itself, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from podsearch.service.readers import search_reader

    index = search_reader(settings)
    answers.send(("ready", os.getpid()))
    from podsearch.service.queries import search_json

    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            return  # the server went away
        if message is None:
            return
        query, options, vector = message
        try:
            answers.send(("ok", search_json(index, query, options, qvec=vector)))
        except Exception as exc:  # noqa: BLE001 - the server raises it for its request; this worker goes on
            try:
                answers.send(("error", exc))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                answers.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
