"""Producers in threads, one consumer in the caller's thread: the queue, cancellation and errors, once.

`Producers` runs N producer functions in daemon threads; each hands items to
a queue with `emit`, and the caller iterates them in completion order. The
queue is bounded (`capacity`) so producers cannot run far ahead of a slow
consumer, or unbounded (0) when they must never block.

- An exception raised in a producer is raised in the caller, at the point
  where it would have been the next item (a bug never dies with its thread);
  exceptions listed in `quiet` just end that producer.
- `close()` (or leaving the `with` block, or dropping the iteration) sets
  `stop`, calls `on_stop` (e.g. to abandon work in flight), and waits for the
  producers to end, draining the queue so none stays blocked on a full one.

`claim_in_order` builds the common case on top: N workers take items of a
list in input order and emit `work(item, ticket)`, results coming out as they finish.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Emit = Callable[[object], bool]
Producer = Callable[[Emit, threading.Event], None]

_DONE = object()  # one per producer, after its last item


class _Failure:
    """A producer's exception, carried to the caller."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Producers(Generic[R]):
    """N producer threads feeding one queue that the caller iterates; see the module docstring."""

    def __init__(self, producers: Sequence[Producer], *, capacity: int = 0, name: str = "podsearch-producer",
                 quiet: tuple[type[BaseException], ...] = (), on_stop: Callable[[], None] | None = None,
                 join_timeout: float | None = None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(0, capacity))
        self.stop = threading.Event()
        self._quiet = quiet
        self._on_stop = on_stop
        self._join_timeout = join_timeout  # None: wait for every producer to end
        self._running = len(producers)
        self._closed = False
        self._threads = [threading.Thread(target=self._run, args=(p,), name=f"{name}-{n}", daemon=True)
                         for n, p in enumerate(producers)]
        for thread in self._threads:
            thread.start()

    def emit(self, item: object) -> bool:
        """Queue `item` (waiting while the queue is full); False once the consumer has stopped."""
        while not self.stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def _run(self, producer: Producer) -> None:
        try:
            producer(self.emit, self.stop)
        except self._quiet:
            pass
        except BaseException as exc:  # noqa: BLE001 - a bug must surface in the caller, not die with the thread
            self.emit(_Failure(exc))
        finally:
            self.emit(_DONE)

    def __iter__(self) -> Iterator[R]:
        """The items, in the order they were emitted, until every producer has ended."""
        try:
            while self._running:
                item = self._queue.get()
                if item is _DONE:
                    self._running -= 1
                elif isinstance(item, _Failure):
                    raise item.exc
                else:
                    yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producers and wait for them (up to `join_timeout`); idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop.set()
        if self._on_stop is not None:
            self._on_stop()
        deadline = None if self._join_timeout is None else time.monotonic() + self._join_timeout
        while any(t.is_alive() for t in self._threads) and (deadline is None or time.monotonic() < deadline):
            try:  # unblock producers waiting on a full queue
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass

    def __enter__(self) -> Producers[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim_in_order(items: Sequence[T], work: Callable[[T, object], R], *, workers: int, capacity: int,
                   on_claim: Callable[[T, int], object] | None = None, name: str = "podsearch-worker",
                   quiet: tuple[type[BaseException], ...] = (),
                   on_stop: Callable[[], None] | None = None) -> Producers[R]:
    """`workers` threads take `items` in input order and emit `work(item, ticket)`; results in completion order.

    `on_claim(item, index)` runs under the claim lock as an item is taken and
    its result is the `ticket` (so it may safely look ahead from `index`,
    e.g. start downloads of the items after it); no item is claimed once the
    consumer has stopped.
    """
    lock = threading.Lock()
    todo = iter(enumerate(items))

    def worker(emit: Emit, stop: threading.Event) -> None:
        while True:
            with lock:
                claimed = None if stop.is_set() else next(todo, None)
                if claimed is None:
                    return
                index, item = claimed
                ticket = on_claim(item, index) if on_claim is not None else None
            emit(work(item, ticket))

    return Producers([worker] * max(1, workers), capacity=capacity, name=name, quiet=quiet, on_stop=on_stop)
