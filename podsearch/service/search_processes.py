"""Searches for a busy API server: worker processes behind one queue, waiting queries embedded together.

One Python process is held to about one and a half cores by the interpreter's lock, so a server
answering many clients needs several processes. As uvicorn's own worker processes, each keeps the
connections it accepted, and a client's kept-alive connection stays on one process: the load spreads
unevenly and the tail waits on the busiest. Here the one HTTP process keeps every search in one queue
and hands the next to whichever worker process is free; it embeds the queries waiting at the head of
the queue in one call of the sentence model, which costs about half as much a query as one at a time
(docs/speed.md). Each worker holds a read-only index of its own and never loads the sentence model.

Each worker has a pipe each way, watched by the server's event loop: the loop hands searches out (at
most `AHEAD` a worker, so a worker never waits for the next) and reads the answers as they come, and one
thread beside it keeps the head of the queue embedded (ONNX Runtime runs without the interpreter's lock); a worker whose pipe closes has died
(its searches are answered with an error and a new worker takes its place), and a worker whose server
went away reads the end of its pipe and exits, so none is left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
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
    future: asyncio.Future
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

    `await start()` before the first `await search(...)`, `await close()` at the end, all on one event loop.
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
        self._embedding = False  # a run of the model is under way
        self._embedder = ThreadPoolExecutor(1, thread_name_prefix="podsearch-embed")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    async def start(self, timeout: float = 600.0) -> list[int]:
        """Start the workers and wait until each has opened its index; load the sentence model here. The
        workers' process ids."""
        self._loop = asyncio.get_running_loop()
        self._workers = [self._spawn() for _ in range(self.processes)]
        await self._loop.run_in_executor(self._embedder, self._encoder)
        started = await asyncio.gather(*(self._loop.run_in_executor(None, w.answers.poll, timeout)
                                         for w in self._workers))
        for worker, answered in zip(list(self._workers), started):
            if not answered:
                await self.close()
                raise PodsearchError(f"a search process did not start within {timeout:.0f} s")
            self._receive(worker)
        if len(self._workers) < self.processes:
            await self.close()
            raise PodsearchError("a search process could not open the index (its error is above)")
        for worker in self._workers:
            self._watch(worker)
        return self.pids()

    def pids(self) -> list[int]:
        """The process ids of the workers now (a dead one's replacement once it is started)."""
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

    def _watch(self, worker: _Worker) -> None:
        assert self._loop is not None
        self._loop.add_reader(worker.answers.fileno(), self._receive, worker)

    async def search(self, query: str, options: SearchOptions) -> list[dict[str, Any]]:
        """The clips for `query` as JSON-ready dicts (service.queries.search_json), answered by the next
        free worker."""
        if self._closing:
            raise PodsearchError("the server is stopping; try again in a moment")
        if not self._workers:
            raise PodsearchError("no search process is running (see the server's log); restart the server")
        assert self._loop is not None
        request = _Request(query, options, self._loop.create_future())
        self._pending.append(request)
        self._pump()
        return await request.future

    def _pump(self) -> None:
        """Hand the embedded head of the queue to free workers, and start embedding more when few wait ready."""
        while self._ready and (worker := self._free_worker()) is not None:
            request = self._pending.popleft()
            self._ready -= 1
            if request.future.done():
                continue  # its client went away
            worker.running.append(request)
            try:
                worker.requests.send((request.query, request.options, request.vector))
            except OSError:
                pass  # the worker died: its pipe's end reaches _receive, which answers its searches
        if not self._embedding and self._ready < READY and len(self._pending) > self._ready:
            batch = list(itertools.islice(self._pending, self._ready, self._ready + BATCH))
            self._embedding = True
            assert self._loop is not None
            run = self._loop.run_in_executor(self._embedder, self._encode, [r.query for r in batch])
            run.add_done_callback(lambda done: self._embedded(batch, done))

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._encoder().encode(texts)

    def _embedded(self, batch: list[_Request], run: asyncio.Future) -> None:
        self._embedding = False
        if run.exception() is not None:  # every request of the run is told, none hangs
            for request in batch:
                if request in self._pending:
                    self._pending.remove(request)
                if not request.future.done():
                    request.future.set_exception(run.exception())  # type: ignore[arg-type]
        else:
            for request, vector in zip(batch, run.result()):
                request.vector = vector
        # Those handed out or cleared meanwhile are not in the queue any more.
        self._ready = sum(1 for _ in itertools.takewhile(lambda r: r.vector is not None, self._pending))
        self._pump()

    def _free_worker(self) -> _Worker | None:
        free = [w for w in self._workers if w.ready and len(w.running) < AHEAD]
        return min(free, key=lambda w: len(w.running)) if free else None

    def _receive(self, worker: _Worker) -> None:
        try:
            kind, value = worker.answers.recv()
        except (EOFError, OSError):
            self._replace(worker)
            return
        if kind == "ready":
            worker.ready = True
        else:
            request = worker.running.popleft()
            if not request.future.done():
                if kind == "ok":
                    request.future.set_result(value)
                else:
                    request.future.set_exception(value)
        self._pump()

    def _replace(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): its searches are told, and a new worker takes its place.
        One that died before it was ready (it could not open the index) is not started again: it would only
        die again; with none left, every waiting search is told."""
        if self._loop is not None:
            self._loop.remove_reader(worker.answers.fileno())
        worker.process.join(timeout=5)
        error = PodsearchError(DIED.format(code=worker.process.exitcode))
        lost = list(worker.running)
        worker.requests.close()
        worker.answers.close()
        if worker.ready and not self._closing:
            replacement = self._spawn()
            self._workers[self._workers.index(worker)] = replacement
            self._watch(replacement)
        else:
            self._workers.remove(worker)
        if not self._workers:
            lost += self._pending
            self._pending, self._ready = deque(), 0
        for request in lost:
            if not request.future.done():
                request.future.set_exception(error)
        self._pump()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the workers: searches still waiting or running are answered with an error (once; a second
        call does nothing)."""
        if self._closing:
            return
        self._closing = True
        stopped = PodsearchError("the server stopped before this search finished")
        for request in [*self._pending, *(r for w in self._workers for r in w.running)]:
            if not request.future.done():
                request.future.set_exception(stopped)
        self._pending, self._ready = deque(), 0
        for worker in self._workers:
            if self._loop is not None:
                self._loop.remove_reader(worker.answers.fileno())
            try:
                worker.requests.send(None)  # the worker's signal to exit
            except OSError:
                pass
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, _stop, w.process, timeout) for w in self._workers))
        for worker in self._workers:
            worker.requests.close()
            worker.answers.close()
        self._embedder.shutdown(wait=False)


def _stop(process: BaseProcess, timeout: float) -> None:
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(timeout)


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
