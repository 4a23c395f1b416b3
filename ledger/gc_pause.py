"""One pause of the cyclic garbage collector, for batch work: a bulk enrolment, a period close,
projecting a batch of events.

A batch allocates hundreds of thousands of objects (events, their fields, rows) that all live
until it is saved and free themselves by reference counting; it makes almost no cycles.  The
collector would scan them again and again and free nothing: ~0.45 s of a 100,000-creator close,
~40% of a rebuild's CPU (0.5 of 1.25 s for 63,000 events), measured.

``with gc_paused():`` (or ``@gc_paused()``) turns it off while any thread is inside, and gives it
back as it found it when the last one leaves, even on error: on, or off when someone else had
turned it off.  Cycles made meanwhile wait for its next full collection.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


class _CyclicGcPause:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._restore = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._restore = gc.isenabled()
                gc.disable()
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._restore:
                    _promote_survivors()
                    gc.enable()


def _promote_survivors() -> None:
    """What the batch left alive (loaded aggregates, ...) joins the oldest generation directly:
    counted as newly promoted, it would set off a full collection at once in whatever runs next
    (0.1-0.4 s after a 20,000-creator close).  Nothing stays frozen: the next full collection
    scans it as usual.  A process that froze objects itself is left alone."""
    if not gc.get_freeze_count():
        gc.freeze()
        gc.unfreeze()


gc_paused = _CyclicGcPause()
