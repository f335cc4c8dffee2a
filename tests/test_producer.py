"""The one producer/consumer helper: completion order, bounded queue, errors and cancellation."""

from __future__ import annotations

import threading

import pytest

from podsearch.service.producer import Producers, claim_in_order


def test_every_item_once_and_claims_in_input_order() -> None:
    claimed: list[int] = []
    feed = claim_in_order(list(range(20)), lambda item, ticket: (item, ticket), workers=3, capacity=3,
                          on_claim=lambda item, index: claimed.append(index) or index * 10)
    results = list(feed)
    assert sorted(results) == [(i, i * 10) for i in range(20)]
    assert claimed == list(range(20))  # claimed under the lock, in input order


def test_completion_order_not_input_order() -> None:
    first_may_finish = threading.Event()

    def work(item: int, _: object) -> int:
        if item == 0:
            first_may_finish.wait()
        return item

    feed = claim_in_order([0, 1], work, workers=2, capacity=2)
    it = iter(feed)
    assert next(it) == 1  # item 0 is still working
    first_may_finish.set()
    assert list(it) == [0]


def test_bounded_queue_holds_producers_back() -> None:
    emitted: list[int] = []
    blocked = threading.Event()

    def producer(emit, stop) -> None:  # noqa: ANN001
        for n in range(10):
            if n == 2:
                blocked.set()  # the third item waits for room: capacity 2, nobody consuming yet
            emit(n)
            emitted.append(n)

    feed = Producers([producer], capacity=2)
    blocked.wait()
    assert len(emitted) <= 2
    assert list(feed) == list(range(10))


def test_producer_error_is_raised_in_the_caller() -> None:
    def work(item: int, _: object) -> int:
        if item == 3:
            raise KeyError("bug in a worker")
        return item

    with pytest.raises(KeyError, match="bug in a worker"):
        list(claim_in_order(list(range(3, 4)), work, workers=2, capacity=1))


def test_quiet_exceptions_end_a_producer_silently() -> None:
    class Stopping(Exception):
        pass

    def producer(emit, stop) -> None:  # noqa: ANN001
        emit("a")
        raise Stopping

    assert list(Producers([producer, producer], quiet=(Stopping,))) == ["a", "a"]


def test_stopping_early_cancels_and_waits_for_producers() -> None:
    cancelled = threading.Event()
    started: list[int] = []

    def work(item: int, _: object) -> int:
        started.append(item)
        return item

    feed = claim_in_order(list(range(1000)), work, workers=2, capacity=1, on_stop=cancelled.set)
    it = iter(feed)
    next(it)
    it.close()  # the consumer stops listening
    assert cancelled.is_set()
    assert not any(t.is_alive() for t in feed._threads)
    assert len(started) < 1000  # no more items were claimed after the stop
