"""What operators and their tools ask of a running ledger: is it reachable, how far behind are
its read models, how many payouts are in each status; and the scheduled duties a worker runs.

:meth:`Operations.status` feeds ``/readyz`` and the scrape-time metrics; the read models' lag
is counted in events (per read model) and in seconds (the age of the oldest event some read
model has not applied yet: zero when caught up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from creator_ledger.adapters.readmodels.journal_queries import PayoutCount
from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.exclusivity import Exclusivity
from creator_ledger.ledger.logs import logger
from creator_ledger.ledger.projections import Projector

#: Who the worker's duties are recorded as.
WORKER_ACTOR = "system:creator-ledger-worker"

_log = logger("worker")


@dataclass(frozen=True)
class OperationalStatus:
    checked_at: datetime
    last_event: int
    positions: dict[str, int]
    lag_events: dict[str, int]
    lag_s: float
    payouts: list[PayoutCount] = field(default_factory=list)

    @property
    def max_lag_events(self) -> int:
        return max(self.lag_events.values(), default=0)


@dataclass(frozen=True)
class DutyResult:
    duty: str
    on: date
    done: int  # items acted on
    failed: list[str]  # "<item>: <error>" of the items that failed


class Operations:
    """Status for probes and metrics, and the worker's scheduled duties."""

    def __init__(
        self,
        aggregates: Aggregates,
        projector: Projector,
        exclusivity: Exclusivity,
    ) -> None:
        self.aggregates = aggregates
        self.projector = projector
        self.read_models = projector.read_models
        self.exclusivity = exclusivity

    def status(self) -> OperationalStatus:
        """Where the read models are against the event log, and payouts by status."""
        store = self.projector.store
        positions = self.read_models.positions()
        last = store.max_notification_id()
        lag = {name: max(0, last - p) for name, p in positions.items()}
        now = datetime.now(UTC)  # events are stamped with the wall clock when they are stored
        lag_s = 0.0
        lowest = min(positions.values(), default=last)
        if lowest < last:
            first = store.notifications(lowest + 1, 1)
            stamp = getattr(first[0][1], "timestamp", None) if first else None
            if isinstance(stamp, datetime):
                lag_s = max(0.0, (now - stamp).total_seconds())
        return OperationalStatus(
            checked_at=now,
            last_event=last,
            positions=positions,
            lag_events=lag,
            lag_s=lag_s,
            payouts=self.read_models.payout_counts(),
        )

    def ping(self) -> None:
        """One round trip to the read models' database and one to the event store."""
        self.read_models.ping()
        self.projector.store.max_notification_id()

    def credit_due_instalments_everywhere(self, *, on: date) -> DutyResult:
        """The daily duty: credit every scheduled exclusivity instalment due by ``on``, for every
        active agreement.  Idempotent per agreement and day (the key names both), so two
        workers, or a rerun after a crash, credit each instalment once."""
        self.projector.catch_up(only="entities")
        done = 0
        failed: list[str] = []
        for key in self.read_models.agreements_with_credit_due():
            if not self.aggregates.agreement(key).due_instalments(on):
                continue
            try:
                self.exclusivity.credit_due_instalments(
                    agreement_key=key,
                    on=on,
                    idempotency_key=f"worker:instalments:{key}:{on.isoformat()}",
                    actor=WORKER_ACTOR,
                )
            except LedgerError as e:
                failed.append(f"{key}: {e.message}")
                _log.warning("instalments of %s not credited: %s", key, e.message)
                continue
            done += 1
        return DutyResult("credit_due_instalments", on, done, failed)
