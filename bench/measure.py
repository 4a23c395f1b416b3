"""Timers, latency percentiles and a peak-RSS sampler."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

SAMPLE_EVERY_S = 0.02


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by nearest rank."""
    assert values
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class PeakRss:
    """Samples this process's resident memory in a thread; ``peak_mib`` since ``reset``."""

    _peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        proc = psutil.Process()

        def sample() -> None:
            while not self._stop.is_set():
                self._peak = max(self._peak, proc.memory_info().rss)
                time.sleep(SAMPLE_EVERY_S)

        self._peak = proc.memory_info().rss
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self._peak = psutil.Process().memory_info().rss

    @property
    def peak_mib(self) -> float:
        self._peak = max(self._peak, psutil.Process().memory_info().rss)
        return self._peak / 2**20

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (the limit rows allocate as much as the
    ledger's projector, which pauses it too: a limit is the most direct way, GC tuning
    included)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
