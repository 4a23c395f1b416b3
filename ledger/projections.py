"""The projector: events -> read models, in batches, exactly once.

It reads the notification log from the read models' tracking position, turns a batch of events
into rows (:mod:`.projection_handlers`: journal entries and postings, the entity tables, the
payouts), and hands the batch to :class:`adapters.readmodels.ReadModels`, which writes it
and moves the position in one transaction.  A crash mid-batch rolls the whole batch back; the
next run starts again from the last committed position.  ``rebuild`` forgets everything and
replays from the first event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from creator_ledger.adapters.readmodels import ProjectionBatch, StaleProjectionError
from creator_ledger.ledger.projection_handlers import PROJECTIONS

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import EventStore
    from creator_ledger.adapters.readmodels import ReadModels

DEFAULT_BATCH_SIZE = 2_000
#: A rebuild reads larger batches: fewer round trips, and nothing waits on it.
REBUILD_BATCH_SIZE = 10_000
#: Give up after this many lost races with another projector in one catch-up.
MAX_STALE_RETRIES = 20


class Projector:
    """Keeps the read models caught up with the event store."""

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModels,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        assert batch_size > 0
        self.store = store
        self.read_models = read_models
        self.batch_size = batch_size

    @staticmethod
    def batch(notifications: list[tuple[int, Any]]) -> ProjectionBatch:
        batch = ProjectionBatch(last_notification_id=notifications[-1][0])
        projections = list(PROJECTIONS.values())
        for notification_id, event in notifications:
            for project in projections:
                project(event, notification_id, batch)
        return batch

    def pending(self) -> int:
        """How many events the read models have not applied yet."""
        return max(0, self.store.max_notification_id() - self.read_models.position())

    def catch_up(
        self, *, max_batches: int | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply every event recorded so far (or ``max_batches`` batches); returns how many."""
        applied = 0
        batches = 0
        stale = 0
        position = self.read_models.position()
        while max_batches is None or batches < max_batches:
            notifications = self.store.notifications(position + 1, self.batch_size)
            if not notifications:
                break
            batch = self.batch(notifications)
            try:
                self.read_models.apply(batch, expected_position=position)
            except StaleProjectionError:
                stale += 1
                if stale > MAX_STALE_RETRIES:
                    raise
                position = self.read_models.position()
                continue
            position = batch.last_notification_id
            applied += len(notifications)
            batches += 1
            if progress is not None:
                progress(len(notifications))
        return applied

    def rebuild(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Forget the read models and replay every event from the first."""
        self.read_models.reset()
        size, self.batch_size = self.batch_size, max(self.batch_size, REBUILD_BATCH_SIZE)
        try:
            return self.catch_up(progress=progress)
        finally:
            self.batch_size = size
