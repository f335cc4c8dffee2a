"""Read-only access to a home for servers (the JSON API, the MCP server) while another process ingests.

SQLite in WAL mode lets readers run beside the one writer: each reader has its own read-only connection
and sees every committed episode at its next query. The FAISS copy is loaded once per process and shared
by the readers; it is reloaded when the index's generation moves (the writer saved a new file).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from podsearch.core.config import Settings, usable_cores
from podsearch.core.migrations import open_database
from podsearch.index.store import MIGRATIONS, SearchIndex
from podsearch.index.vectors import IndexConfig, one_thread_per_search
from podsearch.service.models import Models

T = TypeVar("T")


class IndexReaders:
    """A fixed pool of read-only index connections sharing one FAISS copy; borrow one per request."""

    def __init__(self, settings: Settings, size: int | None = None, models: Models | None = None) -> None:
        """`models`: the server process's models (None: the pool loads its own, once)."""
        self.settings = settings
        models = models or Models()
        # One ordinary connection first: it creates an empty index on a new home and brings the schema up
        # to date, and held open it keeps the WAL files that read-only connections need.
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        self._owner = open_database(str(settings.index_dir / "index.sqlite"), MIGRATIONS, check_same_thread=False,
                                    timeout=30)
        self._vectors = _reader(settings, models)
        self._all = [_reader(settings, models, vectors_of=self._vectors) for _ in range(size or settings.serve_readers)]
        self._free: queue.Queue[SearchIndex] = queue.Queue()
        for reader in self._all:
            self._free.put(reader)
        # As many threads as readers: a submitted search never waits for a reader, and requests beyond
        # that wait in the executor's queue, not as one parked thread each.
        self._threads = ThreadPoolExecutor(max_workers=len(self._all), thread_name_prefix="podsearch-search")
        self._count = threading.Lock()
        self._submitted = 0  # searches submitted and not yet finished
        self._cores = usable_cores()

    def warm(self) -> None:
        """Load the query encoder, the FAISS copy and the keyword vocabulary now, before the first request
        (a restarted server meets its waiting clients ready; a home without the encoder's export makes it).

        A server's concurrent requests are its parallelism, so each search runs on one thread
        (ONNX Runtime, FAISS, BLAS): thread pools per call would oversubscribe the cores.
        """
        one_thread_per_search()
        self._vectors.embedder  # noqa: B018 - loads it
        self._vectors.faiss_index()
        self._vectors.vocabulary()

    @contextmanager
    def reader(self) -> Iterator[SearchIndex]:
        """One index connection for the caller alone, returned to the pool afterwards."""
        index = self._free.get()
        try:
            yield index
        finally:
            self._free.put(index)

    def submit(self, work: Callable[[SearchIndex], T]) -> "Future[T]":
        """Run `work(reader)` on one of the pool's threads with a reader of its own (for async servers)."""

        def run() -> T:
            with self.reader() as index:
                # With more searches submitted than cores, they keep the cores busy by themselves: a
                # search's keyword lookup on a second thread then saves no time and costs two hand-offs
                # (~0.6 ms of CPU a search at 32 clients). With a core free it shortens the search.
                index.overlap_keyword = self._submitted <= self._cores
                return work(index)

        with self._count:
            self._submitted += 1
        future = self._threads.submit(run)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future) -> None:
        with self._count:
            self._submitted -= 1

    def close(self) -> None:
        """Close every connection."""
        self._threads.shutdown(wait=True)
        for index in [*self._all, self._vectors]:
            index.close()
        self._owner.close()


def _reader(settings: Settings, models: Models, vectors_of: SearchIndex | None = None) -> SearchIndex:
    # Servers only answer searches: the light query encoder (ONNX Runtime, no torch), one thread per search.
    config = IndexConfig(kind=settings.index_kind, approx_threshold=settings.approx_threshold)
    return SearchIndex(settings.index_dir,
                       lambda: models.query_encoder(settings.embed_model, settings.models_dir, threads=1),
                       config, read_only=True, vectors_of=vectors_of, reranker=models.reranker)


def search_reader(settings: Settings, models: Models | None = None) -> SearchIndex:
    """One read-only index of the home, ready for a process that answers one search at a time (a search
    worker of service.search_processes): its FAISS copy and keyword vocabulary loaded, each search on one
    thread, with no keyword lookup on a second thread (the other workers have the other cores)."""
    one_thread_per_search()
    index = _reader(settings, models or Models())
    index.overlap_keyword = False
    index.faiss_index()
    index.vocabulary()
    return index
