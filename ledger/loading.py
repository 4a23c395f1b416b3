"""Loading many aggregates at once.

The library's repository loads one aggregate with two queries (its latest snapshot, then the
events after it).  Batch work (a period close touches up to 256 account books) loads them all
with two queries in total, reading the same event store tables and decoding with the same
mapper, then projecting each aggregate as the repository would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from creator_ledger.adapters.sql import Database
from creator_ledger.ledger.app import LedgerApplication

#: Aggregates per query.
CHUNK = 1_000


class AggregateLoader:
    def __init__(self, app: LedgerApplication, db: Database) -> None:
        self.app = app
        self.db = db
        if db.dialect == "postgres":
            prefix = app.name.lower()
            self.events_table, self.snapshots_table = f"{prefix}_events", f"{prefix}_snapshots"
        else:
            self.events_table, self.snapshots_table = "stored_events", "stored_snapshots"

    def get_many(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """The current state of each existing aggregate among ``ids`` (missing ones left out).

        Aggregates this process saved last are taken from the application's cache and brought
        up to date with any newer events (one query); the others are loaded from their latest
        snapshot and the events after it (two queries).
        """
        wanted = list(dict.fromkeys(ids))
        out: dict[UUID, Aggregate] = {}
        cached: dict[UUID, Aggregate] = {}
        for aggregate_id in wanted:
            aggregate = self.app.cache.take(aggregate_id)
            if aggregate is not None:
                cached[aggregate_id] = aggregate
        missing = [i for i in wanted if i not in cached]
        for start in range(0, len(missing), CHUNK):
            out.update(self._load(missing[start : start + CHUNK]))
        if cached:
            out.update(self._fast_forward(cached))
        return out

    def _fast_forward(self, cached: dict[UUID, Aggregate]) -> dict[UUID, Aggregate]:
        ids = list(cached)
        versions = [cached[i].version for i in ids]
        to_event = self.app.mapper.to_domain_event
        for row in self._events_after(ids, versions):
            aggregate_id = self._id(row[0])
            event: Any = to_event(self._stored(row))
            cached[aggregate_id] = event.mutate(cached[aggregate_id])
        return cached

    def _load(self, ids: list[UUID]) -> dict[UUID, Aggregate]:
        snapshots, events = self._rows(ids)
        to_event = self.app.mapper.to_domain_event
        history: dict[UUID, list[Any]] = defaultdict(list)
        for row in snapshots:
            history[self._id(row[0])].append(to_event(self._stored(row)))
        for row in events:
            history[self._id(row[0])].append(to_event(self._stored(row)))
        out: dict[UUID, Aggregate] = {}
        for aggregate_id, domain_events in history.items():
            # As the library's ``project_aggregate``, without its per-event Protocol check.
            aggregate: Any = None
            for domain_event in domain_events:
                aggregate = domain_event.mutate(aggregate)
            assert isinstance(aggregate, Aggregate)
            out[aggregate_id] = aggregate
        return out

    def _rows(self, ids: list[UUID]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        if self.db.dialect == "postgres":
            snapshots = self.db.query(
                f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic,"
                f" state FROM {self.snapshots_table} WHERE originator_id = ANY(%s)"
                " ORDER BY originator_id, originator_version DESC",
                (ids,),
            )
            after = {row[0]: row[1] for row in snapshots}
            return snapshots, self._events_after(ids, [after.get(i, 0) for i in ids])
        snapshots, events = [], []
        for aggregate_id in ids:
            snap = self.db.query(
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {self.snapshots_table} WHERE originator_id = %s"
                " ORDER BY originator_version DESC LIMIT 1",
                (aggregate_id.hex,),
            )
            snapshots.extend(snap)
            events.extend(
                self.db.query(
                    "SELECT originator_id, originator_version, topic, state"
                    f" FROM {self.events_table} WHERE originator_id = %s"
                    " AND originator_version > %s"
                    " ORDER BY originator_version",
                    (aggregate_id.hex, snap[0][1] if snap else 0),
                )
            )
        return snapshots, events

    def _events_after(self, ids: list[UUID], versions: list[int]) -> list[tuple[Any, ...]]:
        """Events of each aggregate in ``ids`` after the matching version, in order."""
        if self.db.dialect == "postgres":
            return self.db.query(
                f"SELECT e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM {self.events_table} e"
                " JOIN unnest(%s::uuid[], %s::bigint[]) AS v(id, version)"
                " ON e.originator_id = v.id AND e.originator_version > v.version"
                " ORDER BY e.originator_id, e.originator_version",
                (ids, versions),
            )
        rows: list[tuple[Any, ...]] = []
        for aggregate_id, version in zip(ids, versions, strict=True):
            rows.extend(
                self.db.query(
                    "SELECT originator_id, originator_version, topic, state"
                    f" FROM {self.events_table} WHERE originator_id = %s"
                    " AND originator_version > %s ORDER BY originator_version",
                    (aggregate_id.hex, version),
                )
            )
        return rows

    @staticmethod
    def _id(value: Any) -> UUID:
        return value if isinstance(value, UUID) else UUID(hex=str(value))

    def _stored(self, row: tuple[Any, ...]) -> StoredEvent:
        return StoredEvent(
            originator_id=self._id(row[0]),
            originator_version=int(row[1]),
            topic=str(row[2]),
            state=bytes(row[3]),
        )
