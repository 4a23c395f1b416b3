"""``prefetched``: the items of a generator, built in a thread of its own a bounded number ahead,
in order; the producer's errors raised in the caller; a caller that stops early stops the
producer and closes its generator before going on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from creator_ledger.ledger.prefetch import prefetched


class Tracked:
    """A producer that counts the items alive (built and not yet released by the caller)."""

    def __init__(self, n: int, *, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.alive = 0
        self.most_alive = 0
        self.closed_in: str | None = None
        self.lock = threading.Lock()

    def items(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise ValueError(f"item {i} cannot be built")
                with self.lock:
                    self.alive += 1
                    self.most_alive = max(self.most_alive, self.alive)
                yield i
        finally:
            self.closed_in = threading.current_thread().name

    def release(self) -> None:
        with self.lock:
            self.alive -= 1


@pytest.mark.parametrize("slots", [2, 3])
def test_items_come_in_order_with_at_most_slots_alive(slots: int) -> None:
    producer = Tracked(40)
    got = []
    for item in prefetched(producer.items(), slots=slots):
        time.sleep(0.001)  # the caller is slower: the producer runs ahead as far as allowed
        got.append(item)
        producer.release()
    assert got == list(range(40))
    assert producer.most_alive == slots
    assert producer.closed_in == "prefetch"


def test_an_error_of_the_producer_is_raised_in_the_caller_after_the_items_before_it() -> None:
    producer = Tracked(10, fail_at=4)
    got: list[int] = []

    def consume() -> None:
        for item in prefetched(producer.items()):
            got.append(item)
            producer.release()

    with pytest.raises(ValueError, match="item 4 cannot be built"):
        consume()
    assert got == [0, 1, 2, 3]
    assert producer.closed_in == "prefetch"


def test_a_caller_that_fails_stops_the_producer_and_closes_its_generator() -> None:
    producer = Tracked(1_000_000)

    def consume() -> None:
        for item in prefetched(producer.items()):
            producer.release()
            if item == 3:
                raise RuntimeError("the write failed")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="the write failed"):
        consume()
    assert producer.closed_in == "prefetch"  # closed in its thread, before the error got here
    assert threading.active_count() == before
    assert producer.most_alive <= 2


def test_a_caller_that_stops_early_stops_the_producer() -> None:
    producer = Tracked(1_000_000)
    items = prefetched(producer.items())
    assert next(items) == 0
    items.close()  # type: ignore[attr-defined]
    assert producer.closed_in == "prefetch"


def test_an_empty_source_gives_nothing() -> None:
    assert list(prefetched(iter([]))) == []


def test_fewer_than_two_slots_is_refused() -> None:
    with pytest.raises(AssertionError):
        list(prefetched(iter([1]), slots=1))
