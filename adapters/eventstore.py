"""The event store: every aggregate of the ledger, in one ``eventsourcing`` application.

This is the only module that knows the library's application, recorders and tables.  The rest
of the ledger sees :class:`EventStore`: ``save`` a unit of work, ``get_many`` aggregates, read
an aggregate's ``events``, read the ``notifications`` (every event in commit order) for the
projections.

It uses the library as designed: its ``Application`` (configured from the environment: SQLite,
PostgreSQL or the in-memory POPO store), its mapper and transcoder, its event and snapshot
stores, its aggregate cache (an ``LRUCache`` of ``AGGREGATE_CACHE_MAXSIZE`` aggregates,
fast-forwarded as ``AGGREGATE_CACHE_FASTFORWARD`` says), its snapshotting intervals and its
explicit topics (every stored topic is a stable name declared on its class in ``domain/``, see
:mod:`creator_ledger.domain.catalog`, not a module path).

Two fast paths replace library calls where the benchmark shows the supported way is too slow;
each says which workload needs it and by how much, and ``tests/integration/test_event_store.py``
checks that each agrees with the library's own path (this module passes ~400 lines because it
is the one module allowed to know the library's internals: they stay in one place):

* :meth:`EventStore.save` collects pending events and puts them with the library's
  ``EventStore.put`` (public), snapshotting from the aggregate in memory.  ``Application.save``
  checks every object against ``typing.Protocol`` classes (~30 us each) and re-reads every
  aggregate that crosses its snapshot interval from the database: a payout batch saves 2,000
  payouts and up to 256 account books, and W4 execute ran ~15% slower through it.
* :meth:`EventStore.get_many` loads many aggregates with one query on PostgreSQL (their latest
  snapshots, the events after them, and the newer events of those this process has cached:
  the cache's fast-forward), where the library's repository takes two queries per aggregate:
  a period close for 100,000 creators loads 256 account books, 512 round trips (~0.3 s of W1)
  through ``Repository.get``, and a reimbursement approval (W2) took four to seven round trips
  for its three aggregates and its idempotency record, now one (see
  :class:`~creator_ledger.ledger.aggregates.Aggregates`).  SQLite and the in-memory store keep
  two or three queries (no network between them).

On PostgreSQL every read is a server-side prepared statement (``prepare=True``; the library's
pool keeps psycopg's default threshold).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, ClassVar, Literal
from uuid import UUID

import psycopg
import psycopg.sql
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Notification,
    StoredEvent,
    Transcoding,
)
from eventsourcing.utils import Environment

__all__ = ["EventStore", "StoreKind", "Waiter", "WriteConflictError", "issued_by"]

StoreKind = Literal["sqlite", "postgres", "popo"]

#: Aggregates per batched query.
LOAD_CHUNK = 1_000
#: Aggregates kept in memory after a save, unless ``AGGREGATE_CACHE_MAXSIZE`` says otherwise.
DEFAULT_CACHE_MAXSIZE = 4_096


class WriteConflictError(Exception):
    """Another writer saved a newer version of one of the aggregates first (optimistic
    concurrency): nothing was written; reload and decide again."""


class _DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class _LedgerApplication(Application[UUID]):
    """The library's application, with the ledger's transcodings.  Snapshot intervals and
    connection options are set per store (see :class:`EventStore`)."""

    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}
    #: libpq options beyond the ones the library passes (sslmode, application_name, ...).
    connection_options: ClassVar[dict[str, str]] = {}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_DateAsISO())

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        """The library's factory; on PostgreSQL its pool also gets the URL's options, before
        it opens its first connection (the library itself passes only host, port, database,
        user and password)."""
        factory = super().construct_factory(env)
        datastore = getattr(factory, "datastore", None)
        if self.connection_options and datastore is not None:
            datastore.pool.kwargs.update(self.connection_options)
        return factory


class EventStore:
    """The ledger's event store (see the module docstring)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        aggregates: Sequence[type[Aggregate]],
        snapshot_intervals: Mapping[type[Aggregate], int],
        connection_options: Mapping[str, str] | None = None,
        uncached: Sequence[type[Aggregate]] = (),
    ) -> None:
        unnamed = [a.__qualname__ for a in aggregates if not getattr(a, "TOPIC", None)]
        assert not unnamed, f"aggregates without a stable topic: {unnamed}"
        settings = dict(env)
        settings.setdefault("AGGREGATE_CACHE_MAXSIZE", str(DEFAULT_CACHE_MAXSIZE))
        app_class = type(
            "LedgerApplication",
            (_LedgerApplication,),
            {
                "name": "Ledger",
                "snapshotting_intervals": dict(snapshot_intervals),
                "connection_options": dict(connection_options or {}),
            },
        )
        self.env = settings
        self._app: _LedgerApplication = app_class(env=settings)
        self._intervals = dict(snapshot_intervals)
        self._uncached = tuple(uncached)
        self._load_sql_text: str | None = None
        self._lock = threading.Lock()
        module = settings.get("PERSISTENCE_MODULE", "eventsourcing.popo")
        self.kind: StoreKind = (
            "postgres"
            if module.endswith("postgres")
            else "sqlite"
            if "sqlite" in module
            else "popo"
        )

    @property
    def application(self) -> Application[UUID]:
        """The library's application underneath (for tests that compare the fast paths with
        the library's own)."""
        return self._app

    # -- writing --------------------------------------------------------------------------

    def save(self, *aggregates: Aggregate | None, meta: Mapping[str, str] | None = None) -> None:
        """Write the pending events of ``aggregates`` in one transaction (all or nothing).

        ``meta`` (who issued the unit of work: actor, command, idempotency key) is stored with
        every event, as its ``issued`` attribute: metadata beside the event's own fields, read
        back with :func:`issued_by`.

        Raises :class:`WriteConflictError` when another writer got there first; the aggregates
        are then spent (their events collected) and must be loaded again.
        """
        touched = [a for a in aggregates if a is not None]
        events: list[Any] = []
        for aggregate in touched:
            events.extend(aggregate.collect_events())
        if not events:
            return
        if meta is not None:
            stamp = dict(meta)
            for e in events:
                object.__setattr__(e, "issued", stamp)  # events are frozen: metadata only
        try:
            self._app.events.put(events)
        except IntegrityError:
            raise WriteConflictError("an aggregate was changed by another writer") from None
        self._snapshot(touched, events)
        self.keep(touched)

    def keep(self, aggregates: Iterable[Aggregate]) -> None:
        """Put these aggregates (saved, or loaded and left unchanged) in this process's cache,
        except those of the ``uncached`` types (written once, read once: command records)."""
        cache = self._app.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            assert not aggregate.pending_events, "only saved state goes in the cache"
            if not isinstance(aggregate, self._uncached):
                cache.put(aggregate.id, aggregate)

    def _snapshot(self, touched: list[Aggregate], events: list[Any]) -> None:
        """Snapshot each aggregate whose new events crossed its type's interval (as the
        library's ``Application.save`` does, but from the aggregate in memory)."""
        snapshots = self._app.snapshots
        if snapshots is None:
            return
        by_id = {a.id: a for a in touched}
        due: dict[UUID, Aggregate] = {}
        for e in events:
            aggregate = by_id[e.originator_id]
            interval = self._intervals.get(type(aggregate))
            if interval and e.originator_version % interval == 0:
                due[aggregate.id] = aggregate
        if due:
            snapshots.put([Snapshot.take(a) for a in due.values()])

    # -- reading --------------------------------------------------------------------------

    def get_many(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """The current state of each existing aggregate among ``ids`` (missing ones are left
        out), in one query on PostgreSQL (per ``LOAD_CHUNK`` aggregates).

        Aggregates this process saved last come from the library's aggregate cache, which hands
        each one over to the caller (a caller that changes it and then fails to save must not
        leave a changed object behind; a successful :meth:`save` puts it back); they are
        brought up to date with any newer events.  The others are loaded from their latest
        snapshot and the events after it.  Both kinds are read by the same query.
        """
        wanted = list(dict.fromkeys(ids))
        cached: dict[UUID, Aggregate] = {}
        cache = self._app.repository.cache
        if cache is not None:
            for aggregate_id in wanted:
                try:
                    aggregate = cache.get(aggregate_id, evict=True)
                except KeyError:
                    continue
                assert isinstance(aggregate, Aggregate)
                cached[aggregate_id] = aggregate
        out: dict[UUID, Aggregate] = {}
        # The version each aggregate is known at: a cached one's, or None (load it whole).
        known: dict[UUID, int | None] = {i: None for i in wanted if i not in cached}
        if self._app.repository.fastforward:
            known.update((i, a.version) for i, a in cached.items())
        else:
            out.update(cached)
        batch = list(known.items())
        for start in range(0, len(batch), LOAD_CHUNK):
            out.update(self._load(dict(batch[start : start + LOAD_CHUNK]), cached))
        return out

    def peek(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate this process's cache holds under ``aggregate_id`` (not handed over,
        possibly behind the store), or None: only for reading what never changes once an
        aggregate exists (such as the ids it was created with), to know what else to load."""
        cache = self._app.repository.cache
        if cache is None:
            return None
        try:
            aggregate = cache.get(aggregate_id)
        except KeyError:
            return None
        return aggregate if isinstance(aggregate, Aggregate) else None

    def forget(self, ids: Iterable[UUID]) -> None:
        """Drop these aggregates from this process's cache (the next load reads the store)."""
        cache = self._app.repository.cache
        if cache is not None:
            for aggregate_id in ids:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.get_many([aggregate_id]).get(aggregate_id)

    def contains(self, aggregate_id: UUID) -> bool:
        return bool(self._app.recorder.select_events(aggregate_id, limit=1))

    def events(
        self, aggregate_id: UUID, *, gt: int | None = None, lte: int | None = None
    ) -> list[Any]:
        """The events of one aggregate, in order, optionally after version ``gt`` and up to
        version ``lte``."""
        return list(self._app.events.get(aggregate_id, gt=gt, lte=lte))

    def notifications(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` events from notification id ``start`` on, in commit order, each with
        its notification id."""
        to_event = self._app.mapper.to_domain_event
        return [
            (n.id, to_event(n))
            for n in self._app.recorder.select_notifications(start=start, limit=limit)
        ]

    def stored_notifications(self, start: int, limit: int) -> Sequence[Notification]:
        """As :meth:`notifications`, undecoded: the stored bytes (for the hash chain)."""
        return self._app.recorder.select_notifications(start=start, limit=limit)

    def max_notification_id(self) -> int:
        return self._app.recorder.max_notification_id() or 0

    @contextlib.contextmanager
    def listen(self) -> Iterator[Waiter]:
        """A :class:`Waiter` woken when events are recorded: on PostgreSQL, ``LISTEN`` on the
        channel the library's insert ``NOTIFY``s (``recorder.channel_name``), on a connection
        of the library's pool held until the block ends; elsewhere (SQLite, in memory) it
        only sleeps, for a polling loop."""
        if self.kind != "postgres":
            yield Waiter(None)
            return
        recorder: Any = self._app.recorder
        with recorder.datastore.get_connection() as conn:
            conn.execute(
                psycopg.sql.SQL("LISTEN {0}").format(psycopg.sql.Identifier(recorder.channel_name))
            )
            waiter = Waiter(conn)
            try:
                yield waiter
            finally:
                if not waiter.broken:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("UNLISTEN *")

    def close(self) -> None:
        self._app.close()

    # -- batched loading (the fast path of get_many) ----------------------------------------

    def _load(
        self, known: dict[UUID, int | None], cached: Mapping[UUID, Aggregate]
    ) -> dict[UUID, Aggregate]:
        """The aggregates of ``known``: those known at a version (``cached``) brought up to
        date, the others projected from their latest snapshot and the events after it."""
        snapshots, events = self._rows(known)
        to_event = self._app.mapper.to_domain_event
        history: dict[UUID, list[Any]] = defaultdict(list)
        for stored in snapshots:
            history[_uuid(stored.originator_id)].append(to_event(stored))
        for stored in events:
            history[_uuid(stored.originator_id)].append(to_event(stored))
        out: dict[UUID, Aggregate] = {}
        for aggregate_id, version in known.items():
            domain_events = history.get(aggregate_id, [])
            if version is not None:
                aggregate: Any = cached[aggregate_id]
                for e in domain_events:
                    aggregate = e.mutate(aggregate)
                out[aggregate_id] = aggregate
                continue
            loaded = _project(domain_events)
            if loaded is not None:
                out[aggregate_id] = loaded
        return out

    def _rows(self, known: dict[UUID, int | None]) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """The latest snapshot of each aggregate not known at a version that has one, and the
        events after the version each aggregate is known at (its snapshot's, or the given one).

        A snapshot is used only if the event of its own version exists: a snapshot can never
        make an aggregate claim a version it has not reached.  Otherwise the aggregate is
        loaded from its events alone (one more query, only then)."""
        if self.kind == "postgres":
            snap_list, found_events = self._pg_rows(known)
            snaps = {_uuid(s.originator_id): s for s in snap_list}
        else:
            unknown = [i for i, v in known.items() if v is None]
            snaps = {_uuid(s.originator_id): s for s in self._latest_snapshots(unknown)}
            # From the snapshot's own version on, to see that its event exists.
            after = {
                i: v if v is not None else snaps[i].originator_version - 1 if i in snaps else 0
                for i, v in known.items()
            }
            found_events = self._events_after(after)
        by_id: dict[UUID, list[StoredEvent]] = defaultdict(list)
        for stored in found_events:
            by_id[_uuid(stored.originator_id)].append(stored)
        trusted: list[StoredEvent] = []
        events: list[StoredEvent] = []
        reload: dict[UUID, int] = {}
        for aggregate_id in known:
            found, snap = by_id.get(aggregate_id, []), snaps.get(aggregate_id)
            if snap is None:
                events += found
            elif found and found[0].originator_version == snap.originator_version:
                trusted.append(snap)
                events += found[1:]
            else:
                reload[aggregate_id] = 0
        return trusted, events + self._events_after(reload)

    def _pg_rows(
        self, known: dict[UUID, int | None]
    ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """:meth:`_rows` on PostgreSQL in one query: each aggregate's latest snapshot (if it
        is not known at a version) and its events after the known version or from the
        snapshot's own version on."""
        ids = list(known)
        rows = self._pg_query(
            self._load_sql(), (ids, [-1 if v is None else v for v in known.values()])
        )
        snaps: list[StoredEvent] = []
        events: list[StoredEvent] = []
        for row in rows:
            (snaps if row[4] else events).append(_stored(row))
        return snaps, events

    def _load_sql(self) -> str:
        sql = self._load_sql_text
        if sql is None:
            recorder: Any = self._app.recorder
            schema = recorder.datastore.schema
            events_table = f"{schema}.{recorder.events_table_name}"
            snaps_store = self._app.snapshots
            # A store without snapshots: the snapshot side reads nothing.
            snapshot_rows = (
                "SELECT NULL::uuid AS id, 0::bigint AS version, ''::text AS topic,"
                " ''::bytea AS state WHERE false"
                if snaps_store is None
                else "SELECT v.id, s.originator_version AS version, s.topic, s.state FROM v"
                " CROSS JOIN LATERAL (SELECT originator_version, topic, state FROM"
                f" {schema}.{snaps_store.recorder.events_table_name}"  # type: ignore[attr-defined]
                " WHERE originator_id = v.id ORDER BY originator_version DESC LIMIT 1) s"
                " WHERE v.known < 0"
            )
            sql = (
                "WITH v(id, known) AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[])),"
                f" snap AS MATERIALIZED ({snapshot_rows})"
                " SELECT id, version, topic, state, true FROM snap"
                " UNION ALL"
                " SELECT e.originator_id, e.originator_version, e.topic, e.state, false"
                f" FROM v LEFT JOIN snap ON snap.id = v.id JOIN {events_table} e"
                " ON e.originator_id = v.id AND e.originator_version > CASE WHEN v.known >= 0"
                " THEN v.known ELSE COALESCE(snap.version - 1, 0) END"
                " ORDER BY 1, 2"
            )
            self._load_sql_text = sql
        return sql

    def _latest_snapshots(self, ids: list[UUID]) -> list[StoredEvent]:
        store = self._app.snapshots
        if store is None or not ids:
            return []
        recorder: Any = store.recorder
        if self.kind == "postgres":
            rows = self._pg_query(
                f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic,"
                f" state FROM {recorder.datastore.schema}.{recorder.events_table_name}"
                " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC",
                (ids,),
            )
            return [_stored(r) for r in rows]
        if self.kind == "sqlite":
            marks = ",".join("?" * len(ids))
            rows = self._sqlite_query(
                "SELECT originator_id, MAX(originator_version), topic, state"
                f" FROM {recorder.events_table_name} WHERE originator_id IN ({marks})"
                " GROUP BY originator_id",
                [i.hex for i in ids],
            )
            return [_stored(r) for r in rows]
        return [s for i in ids for s in recorder.select_events(i, desc=True, limit=1)]

    def _events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """The stored events of each aggregate after its version in ``after``, in order."""
        if not after:
            return []
        recorder: Any = self._app.recorder
        ids = list(after)
        if self.kind == "postgres":
            rows = self._pg_query(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM {recorder.datastore.schema}.{recorder.events_table_name} e"
                " JOIN unnest(%s::uuid[], %s::bigint[]) AS v(id, version)"
                " ON e.originator_id = v.id AND e.originator_version > v.version"
                " ORDER BY e.originator_id, e.originator_version",
                (ids, [after[i] for i in ids]),
            )
            return [_stored(r) for r in rows]
        if self.kind == "sqlite":
            values = ",".join(["(?,?)"] * len(ids))
            params: list[Any] = []
            for i in ids:
                params += [i.hex, after[i]]
            rows = self._sqlite_query(
                f"WITH v(id, version) AS (VALUES {values})"
                " SELECT e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM {recorder.events_table_name} e"
                " JOIN v ON e.originator_id = v.id AND e.originator_version > v.version"
                " ORDER BY e.originator_id, e.originator_version",
                params,
            )
            return [_stored(r) for r in rows]
        return [e for i in ids for e in recorder.select_events(i, gt=after[i])]

    def _pg_query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        datastore = self._app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params, prepare=True)
            return [tuple(r.values()) for r in cur.fetchall()]

    def _sqlite_query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        datastore = self._app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as cur:
            cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]


class Waiter:
    """Waits for the next notification of the event store (see :meth:`EventStore.listen`).

    ``wait`` returns True when woken by a notification, False after ``timeout_s`` without one;
    a connection that fails marks the waiter ``broken`` (the caller polls, and listens anew)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.broken = conn is None
        self.listening = conn is not None

    def wait(self, timeout_s: float) -> bool:
        if self.broken:
            time.sleep(timeout_s)
            return False
        try:
            for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
                return True
        except psycopg.Error:
            self.broken = True
        return False


def issued_by(event: object) -> Mapping[str, str]:
    """Who issued the unit of work that wrote ``event`` (``actor``, ``command``,
    ``idempotency_key``), or nothing for an event written without it."""
    meta = getattr(event, "issued", None)
    return meta if isinstance(meta, dict) else {}


def _project(events: list[Any]) -> Aggregate | None:
    """As the library's ``project_aggregate``, without its per-event ``Protocol`` check."""
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate if isinstance(aggregate, Aggregate) else None


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(hex=str(value))


def _stored(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=_uuid(row[0]),
        originator_version=int(row[1]),
        topic=str(row[2]),
        state=bytes(row[3]),
    )
