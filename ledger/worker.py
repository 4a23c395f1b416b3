"""``creator-ledger worker``: keeps the read models caught up as events arrive, and runs the
scheduled duties.

* **Following the events.** On PostgreSQL the worker ``LISTEN``s on the channel the event store
  ``NOTIFY``s on every write (:meth:`EventStore.listen`), and catches up when woken; it also
  polls every ``poll_interval_s``, so a lost notification or a dead listening connection (the
  library's issue #305) only delays it: a broken connection is noticed, logged and listened on
  anew.  SQLite has no notifications: the worker polls.
* **Exactly once.** Each batch is one transaction that moves the read models' tracking
  positions compare-and-set (:mod:`.projections`): two workers, or a worker and a query that
  catches up on demand, never apply an event twice; the loser of a race reads the positions
  again and goes on from there.
* **Duties.** Every ``duty_interval_s`` (and at start) the worker runs its duties: by default
  crediting the exclusivity instalments due today, idempotent per agreement and day, so two
  workers or a restart credit each instalment once.
* **Stopping.** SIGTERM (or SIGINT) asks it to stop: the batch in progress commits as a whole,
  and the worker exits 0.  A second signal abandons the batch: its transaction rolls back, and
  the next worker applies it again.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.logs import logger
from creator_ledger.ledger.metrics import DUTIES, EVENTS_APPLIED

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import Waiter
    from creator_ledger.ledger.facade import CreatorLedger

_log = logger("worker")
#: The longest the worker sleeps at once, so it notices a stop request quickly.
WAKE_SLICE_S = 0.5


@dataclass(frozen=True)
class Duty:
    """A scheduled duty: ``run(ledger, now)`` returns how many items it acted on."""

    name: str
    run: Callable[[CreatorLedger, datetime], int]


def credit_due_instalments(ledger: CreatorLedger, now: datetime) -> int:
    result = ledger.credit_due_instalments_everywhere(on=now.date())
    return result.done


DEFAULT_DUTIES: tuple[Duty, ...] = (Duty("credit_due_instalments", credit_due_instalments),)


@dataclass
class WorkerStats:
    batches: int = 0
    events_applied: int = 0
    duties_run: dict[str, int] = field(default_factory=dict)
    errors: int = 0


class Worker:
    """See the module docstring.  ``run()`` returns when :meth:`stop` is called (or a signal
    asks), or, with ``once``, after one catch-up and one round of duties."""

    def __init__(
        self,
        ledger: CreatorLedger,
        *,
        poll_interval_s: float = 1.0,
        duty_interval_s: float = 3_600.0,
        duties: Sequence[Duty] = DEFAULT_DUTIES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert poll_interval_s > 0
        assert duty_interval_s > 0
        self.ledger = ledger
        self.poll_interval_s = poll_interval_s
        self.duty_interval_s = duty_interval_s
        self.duties = tuple(duties)
        self.clock = clock
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._signals = 0

    # -- stopping ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            _log.warning("second signal: abandoning the batch in progress (it rolls back)")
            raise SystemExit(128 + signum)
        _log.info("signal %s: stopping after the batch in progress", signum)
        self.stop()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # -- the loop ---------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply batches until the read models are caught up or a stop is asked for; returns the
        events applied."""
        applied = 0
        while not self.stopping:
            n = self.ledger.parts.projector.catch_up(max_batches=1)
            if not n:
                break
            applied += n
            self.stats.batches += 1
            self.stats.events_applied += n
            EVENTS_APPLIED.inc(n)
            _log.debug("applied a batch of %d events", n, extra={"events": n})
        return applied

    def run_duties(self) -> None:
        now = self.clock()
        for duty in self.duties:
            if self.stopping:
                return
            try:
                done = duty.run(self.ledger, now)
            except LedgerError as e:
                DUTIES.labels(duty.name, "failed").inc()
                _log.error("duty %s failed: %s", duty.name, e.message, extra={"duty": duty.name})
                continue
            DUTIES.labels(duty.name, "ok").inc()
            self.stats.duties_run[duty.name] = self.stats.duties_run.get(duty.name, 0) + 1
            _log.info("duty %s: %d done", duty.name, done, extra={"duty": duty.name, "done": done})

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def run(self, *, once: bool = False) -> WorkerStats:
        _log.info("worker started", extra={"poll_interval_s": self.poll_interval_s})
        next_duties = time.monotonic()
        while not self.stopping:
            try:
                with self.ledger.parts.store.listen() as waiter:
                    if waiter.listening:
                        _log.info("listening for new events")
                    while not self.stopping:
                        self.catch_up()
                        if time.monotonic() >= next_duties:
                            self.run_duties()
                            next_duties = time.monotonic() + self.duty_interval_s
                            self.catch_up()  # what the duties wrote
                        if once:
                            self.stop()
                            break
                        self._wait(waiter, next_duties)
                        if waiter.listening and waiter.broken:
                            _log.warning("the listening connection failed: listening anew")
                            break
            except LedgerError as e:
                self._failed(e.message)
            except Exception as e:
                translated = self.ledger.parts.translate_error(e)
                if translated is None:
                    raise
                self._failed(translated.message)
        _log.info(
            "worker stopped",
            extra={"events": self.stats.events_applied, "batches": self.stats.batches},
        )
        return self.stats

    def _wait(self, waiter: Waiter, next_duties: float) -> None:
        """Until a notification, the poll interval, the next duties or a stop request."""
        deadline = min(time.monotonic() + self.poll_interval_s, next_duties)
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if waiter.broken:
                self._sleep(min(left, WAKE_SLICE_S))
            elif waiter.wait(min(left, WAKE_SLICE_S)):
                return

    def _failed(self, message: str) -> None:
        self.stats.errors += 1
        _log.error("worker: %s; retrying in %.1f s", message, self.poll_interval_s)
        self._sleep(self.poll_interval_s)
