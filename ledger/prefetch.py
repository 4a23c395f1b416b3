"""Build the next item of a batch job while the caller is still busy with the current one.

A PostgreSQL rebuild reads, decodes and projects a batch of events in Python, then writes its
rows; while the rows stream into the database (the server's work: parsing ``COPY`` data,
heap and TOAST writes), the Python thread mostly waits on the socket.  :func:`prefetched`
runs the producing generator in a thread of its own, so the next batch is built on one core
while the database takes the current one on the other (issue 9, W5).

At most ``slots`` items are alive at once (the one the caller holds and the ones built ahead),
so memory stays bounded; items arrive in order; an exception of the producer is raised in the
caller at the point it would have been raised without the thread; and when the caller stops
early (an error while writing, or ``close``), the producer is stopped and its generator closed
in its own thread (its ``finally`` blocks run there) before :func:`prefetched` returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_DONE = object()
#: Seconds between the producer's checks that the caller still wants items.
_POLL_S = 0.1


def prefetched(source: Iterator[T], *, slots: int = 2) -> Iterator[T]:
    """The items of ``source``, produced in a thread of its own, ``slots - 1`` ahead of the
    caller at most (see the module docstring)."""
    assert slots >= 2, "one item held by the caller and at least one built ahead"
    free = threading.Semaphore(slots)
    ready: queue.Queue[object] = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not free.acquire(timeout=_POLL_S):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    item = next(source)
                except StopIteration:
                    ready.put(_DONE)
                    return
                ready.put(item)
        except BaseException as e:  # noqa: BLE001 - handed to the caller and raised there
            ready.put(_Failure(e))
        finally:
            if isinstance(source, Generator):
                source.close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
            del item
            free.release()  # the caller is done with it: build one more
    finally:
        stop.set()
        free.release()  # wake a producer waiting for a slot
        worker.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
