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
  ``EventStore.put`` (public; on PostgreSQL, see below), snapshotting from the aggregate in
  memory. ``Application.save`` checks every object against ``typing.Protocol`` classes (~30 us
  each) and re-reads every aggregate that crosses its snapshot interval from the database: a
  payout batch saves 2,000 payouts and up to 256 account books, and W4 execute ran ~15% slower
  through it.
* :meth:`EventStore.get_many` loads many aggregates with two queries in all (their latest
  snapshots, then the events after them), where the library's repository takes two queries per
  aggregate: a period close for 100,000 creators loads 256 account books, 512 round trips
  (~0.3 s of W1) through ``Repository.get``.

On PostgreSQL the events themselves are not written by the library's recorder either (a fix,
not a speed-up): its insert runs in psycopg pipeline mode, and one ``report_usage`` of 100,000
rows or more (one event of several MB) hung (4 of 5 tries at 250,000 rows here), as did ~8 of
20 W1 runs at 100,000 creators (issue 11 item 2, issue 9 item 3): the client waited in
``Pipeline.sync`` while the server waited in ``ClientRead``, holding ``LOCK TABLE ledger_events
IN EXCLUSIVE MODE``, so every other writer timed out. :meth:`EventStore._append` calls
``ledger_append_events`` (migration ``0006_append_events``: a ``SECURITY DEFINER`` function of
the owner role, so the application role needs no privilege that could change a stored event) as
one statement of its own transaction (autocommit: no client round trip while it holds the
lock), bounded by ``lock_timeout`` and ``statement_timeout`` (options of the event store's
connections): the server has every byte of it before it takes the lock, and a lock it cannot
get in time is a :class:`~creator_ledger.domain.errors.DatabaseBusyError` (nothing written),
never a hang. It stores exactly what the library's insert stores (same rows, same
commit-ordered notification ids, same ``NOTIFY``; checked in
``tests/integration/test_postgres_event_store.py``). Snapshots stay on the library's recorder:
its snapshot insert is one plain statement.
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
import psycopg.errors
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

from creator_ledger.domain.errors import DatabaseBusyError

__all__ = [
    "APP_ROLE_GRANTS",
    "EventStore",
    "StoreKind",
    "Waiter",
    "WriteConflictError",
    "issued_by",
]

StoreKind = Literal["sqlite", "postgres", "popo"]

#: Aggregates per batched query.
LOAD_CHUNK = 1_000
#: Aggregates kept in memory after a save, unless ``AGGREGATE_CACHE_MAXSIZE`` says otherwise.
DEFAULT_CACHE_MAXSIZE = 4_096
#: The function of migration 0006 that appends events on PostgreSQL, and the channel it
#: ``NOTIFY``s (the library's: ``recorder.channel_name``, checked when the store opens).
APPEND_FUNCTION = "ledger_append_events"
APPEND_CHANNEL = "ledger_events"
#: What the application role gets on the event store's objects (``creator-ledger migrate
#: --app-role``): it reads the events and appends them only through the function (no INSERT,
#: UPDATE, DELETE, TRUNCATE, trigger control or ownership); the library writes snapshots
#: itself (one plain INSERT), and a snapshot is only a shortcut that is checked against the
#: events when loaded.  (kind, name, privileges)
APP_ROLE_GRANTS: tuple[tuple[str, str, str], ...] = (
    ("TABLE", "ledger_events", "SELECT"),
    ("TABLE", "ledger_snapshots", "SELECT, INSERT"),
    ("FUNCTION", f"{APPEND_FUNCTION}(uuid[], bigint[], text[], bytea[])", "EXECUTE"),
)
#: Bounds of one append on PostgreSQL, unless the store is given others (settings
#: ``LEDGER_POSTGRES_LOCK_TIMEOUT_S``, ``LEDGER_POSTGRES_STATEMENT_TIMEOUT_S``).
DEFAULT_LOCK_TIMEOUT_S = 10.0
DEFAULT_STATEMENT_TIMEOUT_S = 60.0


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
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
    ) -> None:
        unnamed = [a.__qualname__ for a in aggregates if not getattr(a, "TOPIC", None)]
        assert not unnamed, f"aggregates without a stable topic: {unnamed}"
        settings = dict(env)
        settings.setdefault("AGGREGATE_CACHE_MAXSIZE", str(DEFAULT_CACHE_MAXSIZE))
        self._lock_timeout_ms = max(1, round(lock_timeout_s * 1000))
        self._statement_timeout_ms = max(1, round(statement_timeout_s * 1000))
        module = settings.get("PERSISTENCE_MODULE", "eventsourcing.popo")
        self.kind: StoreKind = (
            "postgres"
            if module.endswith("postgres")
            else "sqlite"
            if "sqlite" in module
            else "popo"
        )
        options = dict(connection_options or {})
        if self.kind == "postgres":
            # Every statement on the event store's connections is bounded (the read models
            # have their own pool): above all the append, one statement in its own transaction.
            bounds = (
                f"-c lock_timeout={self._lock_timeout_ms}"
                f" -c statement_timeout={self._statement_timeout_ms}"
            )
            options["options"] = " ".join(filter(None, (options.get("options"), bounds)))
        app_class = type(
            "LedgerApplication",
            (_LedgerApplication,),
            {
                "name": "Ledger",
                "snapshotting_intervals": dict(snapshot_intervals),
                "connection_options": options,
            },
        )
        self.env = settings
        self._app: _LedgerApplication = app_class(env=settings)
        self._intervals = dict(snapshot_intervals)
        self._lock = threading.Lock()
        self._append_sql: psycopg.sql.Composed | None = None
        if self.kind == "postgres":
            recorder: Any = self._app.recorder
            assert recorder.channel_name == APPEND_CHANNEL, recorder.channel_name
            self._append_sql = psycopg.sql.SQL(
                "SELECT {}.{}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) AS id"
            ).format(
                psycopg.sql.Identifier(recorder.datastore.schema),
                psycopg.sql.Identifier(APPEND_FUNCTION),
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
            if self._append_sql is not None:
                self._append(events)
            else:
                self._app.events.put(events)
        except IntegrityError:
            raise WriteConflictError("an aggregate was changed by another writer") from None
        self._snapshot(touched, events)
        cache = self._app.repository.cache
        if cache is not None:
            for aggregate in touched:
                cache.put(aggregate.id, aggregate)

    def _append(self, events: list[Any]) -> list[int]:
        """PostgreSQL: store ``events`` by one call of ``ledger_append_events``, a statement in
        its own transaction (the connection is in autocommit: the server commits as the
        statement ends, and never waits on this client while it holds the lock), bounded by
        the connection's ``lock_timeout`` and ``statement_timeout``; returns their
        notification ids.  Never in pipeline mode (see the module docstring)."""
        assert self._append_sql is not None
        to_stored = self._app.mapper.to_stored_event
        stored = [to_stored(e) for e in events]
        params = (
            [s.originator_id for s in stored],
            [s.originator_version for s in stored],
            [s.topic for s in stored],
            [s.state for s in stored],
        )
        datastore: Any = self._app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn, conn.cursor() as cur:
            assert conn.autocommit
            try:
                cur.execute(self._append_sql, params, prepare=True)
                ids = [int(r["id"]) for r in cur.fetchall()]
            except psycopg.errors.UniqueViolation:
                msg = "an aggregate was changed by another writer"
                raise WriteConflictError(msg) from None
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as e:
                raise self._busy(e) from e
        assert len(ids) == len(stored), (len(ids), len(stored))
        return ids

    def _busy(self, error: psycopg.Error) -> DatabaseBusyError:
        waited = isinstance(error, psycopg.errors.LockNotAvailable)
        what = (
            f"could not get the events table's lock within {self._lock_timeout_ms / 1000:g} s"
            " (LEDGER_POSTGRES_LOCK_TIMEOUT_S): other writers held it"
            if waited
            else f"did not finish within {self._statement_timeout_ms / 1000:g} s"
            " (LEDGER_POSTGRES_STATEMENT_TIMEOUT_S)"
        )
        msg = f"the event store is busy: this write {what}; nothing was written, try again"
        env = self.env
        return DatabaseBusyError(
            msg,
            host=env.get("POSTGRES_HOST", ""),
            port=env.get("POSTGRES_PORT", ""),
            database=env.get("POSTGRES_DBNAME", ""),
            bound="lock_timeout" if waited else "statement_timeout",
        )

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
        out).

        Aggregates this process saved last come from the library's aggregate cache, which hands
        each one over to the caller (a caller that changes it and then fails to save must not
        leave a changed object behind; a successful :meth:`save` puts it back); they are
        brought up to date with any newer events in one query.  The others are loaded from
        their latest snapshot and the events after it, in two queries for all of them.
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
        missing = [i for i in wanted if i not in cached]
        for start in range(0, len(missing), LOAD_CHUNK):
            out.update(self._load(missing[start : start + LOAD_CHUNK]))
        if cached and self._app.repository.fastforward:
            cached = self._fast_forward(cached)
        out.update(cached)
        return out

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

    def _load(self, ids: list[UUID]) -> dict[UUID, Aggregate]:
        snapshots, events = self._rows(ids)
        to_event = self._app.mapper.to_domain_event
        history: dict[UUID, list[Any]] = defaultdict(list)
        for stored in snapshots:
            history[_uuid(stored.originator_id)].append(to_event(stored))
        for stored in events:
            history[_uuid(stored.originator_id)].append(to_event(stored))
        out: dict[UUID, Aggregate] = {}
        for aggregate_id, domain_events in history.items():
            aggregate = _project(domain_events)
            if aggregate is not None:
                out[aggregate_id] = aggregate
        return out

    def _fast_forward(self, cached: dict[UUID, Aggregate]) -> dict[UUID, Aggregate]:
        ids = list(cached)
        to_event = self._app.mapper.to_domain_event
        after = {i: cached[i].version for i in ids}
        for stored in self._events_after(after):
            aggregate_id = _uuid(stored.originator_id)
            event: Any = to_event(stored)
            cached[aggregate_id] = event.mutate(cached[aggregate_id])
        return cached

    def _rows(self, ids: list[UUID]) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """The latest snapshot of each aggregate that has one, and the events after it.

        A snapshot is used only if the event of its own version exists: a snapshot can never
        make an aggregate claim a version it has not reached.  Otherwise the aggregate is
        loaded from its events alone."""
        snaps = {_uuid(s.originator_id): s for s in self._latest_snapshots(ids)}
        # From the snapshot's own version on, to see that its event exists.
        after = {i: snaps[i].originator_version - 1 if i in snaps else 0 for i in ids}
        by_id: dict[UUID, list[StoredEvent]] = defaultdict(list)
        for stored in self._events_after(after):
            by_id[_uuid(stored.originator_id)].append(stored)
        trusted: list[StoredEvent] = []
        events: list[StoredEvent] = []
        reload: dict[UUID, int] = {}
        for aggregate_id in ids:
            found, snap = by_id.get(aggregate_id, []), snaps.get(aggregate_id)
            if snap is None:
                events += found
            elif found and found[0].originator_version == snap.originator_version:
                trusted.append(snap)
                events += found[1:]
            else:
                reload[aggregate_id] = 0
        return trusted, events + self._events_after(reload)

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
            return [
                (r["originator_id"], r["originator_version"], r["topic"], r["state"])
                for r in cur.fetchall()
            ]

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
