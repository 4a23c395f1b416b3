"""The event store: one ``eventsourcing`` application named ``ledger``.

All aggregates live in it, so one notification log orders every event and one projection
follows it.  Long-lived aggregates snapshot, so loading one stays cheap as history grows.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import JSONTranscoder, Recording, Transcoding

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.period import ProgramPeriod
from creator_ledger.domain.program import ViewProgram


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class LedgerApplication(Application[UUID]):
    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Creator: 100,
        AccountBook: 50,
        CreatorFund: 200,
        ViewProgram: 200,
        ProgramPeriod: 25,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        #: Aggregates as last saved by this process (see :class:`AggregateCache`).
        self.cache = AggregateCache(types=(AccountBook,))

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save``, collecting pending events from our (concrete) aggregates
        without its ``typing.Protocol`` checks, which cost ~30 us per object (a payout batch
        saves thousands)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._snapshot_in_memory(processing_event)
        self._notify(recordings)
        for aggregate in processing_event.aggregates.values():
            if isinstance(aggregate, Aggregate):
                self.cache.put(aggregate)
        return recordings

    def _snapshot_in_memory(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot an aggregate whose new events crossed its snapshot interval, from the
        aggregate in memory (the library reloads it from the database to do this)."""
        if self.snapshots is None:
            return
        crossed: set[UUID] = set()
        for e in processing_event.events:
            aggregate = processing_event.aggregates.get(e.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and e.originator_version % interval == 0:
                crossed.add(e.originator_id)
        for aggregate_id in crossed:
            aggregate = processing_event.aggregates[aggregate_id]
            assert isinstance(aggregate, Aggregate)
            self.snapshots.put([Snapshot.take(aggregate)])


class AggregateCache:
    """Aggregates of the given types as this process last saved them.

    ``take`` hands an aggregate over to the caller (it leaves the cache: a caller that changes
    it and then fails to save must not leave a changed object behind); a successful ``save``
    puts it back.  Whoever takes one still checks the store for newer events, so other
    processes' writes are never missed, and the save's optimistic concurrency check stays the
    final word.
    """

    def __init__(self, *, types: tuple[type[Aggregate], ...], max_size: int = 4_096) -> None:
        self.types = types
        self.max_size = max_size
        self._items: dict[UUID, Aggregate] = {}
        self._lock = threading.Lock()

    def put(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, self.types) and not aggregate.pending_events:
            with self._lock:
                if len(self._items) >= self.max_size:
                    self._items.pop(next(iter(self._items)))
                self._items[aggregate.id] = aggregate

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        with self._lock:
            return self._items.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
