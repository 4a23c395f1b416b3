"""The event store: every aggregate of the ledger, in one ``eventsourcing`` application.

This is the only module that knows the library's application, recorders and tables (its
transcoder, how events are encoded, is :mod:`.event_codec`). The rest of the ledger sees
:class:`EventStore`: ``save`` a unit of work, ``get_many`` aggregates, read an aggregate's
``events``, read the ``notifications`` (every event in commit order) for the projections.

It uses the library as designed: its ``Application`` (configured from the environment: SQLite,
PostgreSQL or the in-memory POPO store), its mapper and transcoder, its event and snapshot
stores, its aggregate cache (an ``LRUCache`` of ``AGGREGATE_CACHE_MAXSIZE`` aggregates,
fast-forwarded as ``AGGREGATE_CACHE_FASTFORWARD`` says), its snapshotting intervals and its
explicit topics (every stored topic is a stable name declared on its class in ``domain/``, see
:mod:`creator_ledger.domain.catalog`, not a module path).

Four fast paths replace library calls where the benchmark shows the supported way is too slow;
each says which workload needs it and by how much, and ``tests/integration/test_event_store.py``
(``test_event_decoding.py`` for the reader) checks that each agrees with the library's own path
(this module passes ~400 lines because it is the one module allowed to know the library's
internals: they stay in one place):

* :meth:`EventStore.save` collects pending events and puts them with the library's
  ``EventStore.put`` (public; on PostgreSQL, see below), snapshotting from the aggregate in
  memory. ``Application.save`` checks every object against ``typing.Protocol`` classes (~30 us
  each) and re-reads every aggregate that crosses its snapshot interval from the database: a
  payout batch saves 2,000 payouts and up to 256 account books, and W4 execute ran ~15% slower
  through it.  :meth:`EventStore.prepare_save` is the same save in two halves (collected and
  encoded now; written now, or in the store's one writer thread while the caller prepares its
  next unit: the bulk enrolment's pipeline, :mod:`creator_ledger.ledger.enrolment`).
* :meth:`EventStore.get_many` loads many aggregates with one query on PostgreSQL (their latest
  snapshots, the events after them, and the newer events of those this process has cached:
  the cache's fast-forward), where the library's repository takes two queries per aggregate:
  a period close for 100,000 creators loads 256 account books, 512 round trips (~0.3 s of W1)
  through ``Repository.get``, and a reimbursement approval (W2) took four to seven round trips
  for its three aggregates and its idempotency record, now one (see
  :class:`~creator_ledger.ledger.aggregates.Aggregates`).  SQLite and the in-memory store keep
  two or three queries (no network between them).
* :meth:`EventStore.notifications` (the projector's reader) reads stored rows as plain tuples
  (:meth:`EventStore.stored_rows`, a page per query) and decodes them with
  :class:`_EventDecoder` (orjson), where the library's ``select_notifications`` builds a dict
  and a ``Notification`` per row and its mapper decodes with the ``json`` module: the W5
  rebuild reads and decodes every event.
* Events are encoded by the application's transcoder, the library's ``JSONTranscoder`` with
  an orjson ``encode`` that writes the same bytes
  (:class:`~creator_ledger.adapters.event_codec.LedgerTranscoder`), and the append's and the
  load's arrays go in PostgreSQL's binary array format (:func:`~.event_codec.pg_array`): the
  two took ~0.1 ms of a W2 approval's ~0.8 ms of CPU.

On PostgreSQL every read is a server-side prepared statement (``prepare=True``; the library's
pool keeps psycopg's default threshold).

Tamper evidence (:mod:`creator_ledger.domain.seals`): every stored event is sealed in the
transaction that stores it, into a hash chain (``ledger_event_seals``), and every snapshot
gets a seal of its own (``ledger_snapshot_seals``).  On PostgreSQL the owner's triggers write
them (``migrations/0007_tamper_evidence.sql``), however the events are inserted; on SQLite,
triggers calling a Python function this module registers on every connection of the
library's pool (a connection without it cannot insert an event); in memory, :meth:`save` seals
in Python.  A snapshot whose seal is missing or differs is never loaded: the aggregate is
loaded from its events instead, with a warning.  :meth:`EventStore.chain` and
:meth:`EventStore.check_snapshots` read them back for ``creator-ledger verify``.

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
import json
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

import psycopg
import psycopg.errors
import psycopg.sql
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
    Transcoder,
    Transcoding,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import Environment, get_topic, resolve_topic
from psycopg.rows import tuple_row

from creator_ledger.adapters.event_codec import (
    DateAsISO,
    LedgerTranscoder,
    PgArray,
    bytea_array,
    int8_array,
    text_array,
    uuid_array,
)
from creator_ledger.adapters.sql import most_recent_first
from creator_ledger.domain.errors import DatabaseBusyError, UnreadableEventError
from creator_ledger.domain.seals import (
    GENESIS,
    ChainRow,
    SealedEvent,
    event_seal,
    snapshot_seal,
)

__all__ = [
    "APP_ROLE_GRANTS",
    "EventStore",
    "PreparedSave",
    "SnapshotProblem",
    "StoreKind",
    "StoredRow",
    "Waiter",
    "WriteConflictError",
    "issued_by",
]

StoreKind = Literal["sqlite", "postgres", "popo"]

#: Aggregates per batched query.
LOAD_CHUNK = 1_000
#: Stored events fetched per query when reading the notification log.
READ_CHUNK = 10_000

#: (notification id, topic, state, originator id, originator version)
StoredRow = tuple[int, str, bytes, Any, int]
#: Aggregates kept in memory after a save, unless ``AGGREGATE_CACHE_MAXSIZE`` says otherwise.
DEFAULT_CACHE_MAXSIZE = 4_096
#: Notification ids per query when reading the chain back.
CHAIN_CHUNK = 5_000

_log = logging.getLogger("creator_ledger.eventstore")

#: The seal tables (PostgreSQL: ``migrations/0007_tamper_evidence.sql``).
EVENT_SEALS = "ledger_event_seals"
SNAPSHOT_SEALS = "ledger_snapshot_seals"

#: SQLite's sealing: triggers calling the functions :func:`_register_seal_functions` adds to
#: every connection; seals (and snapshots) refuse UPDATE and DELETE.
_SQLITE_EVENT_SEALS = (
    f"CREATE TABLE IF NOT EXISTS {EVENT_SEALS} (notification_id INTEGER PRIMARY KEY,"
    " seal BLOB NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS ledger_events_sealed AFTER INSERT ON stored_events BEGIN"
    f" INSERT INTO {EVENT_SEALS} (notification_id, seal) VALUES (NEW.rowid, ledger_event_seal("
    f"(SELECT seal FROM {EVENT_SEALS} ORDER BY notification_id DESC LIMIT 1), NEW.rowid,"
    " NEW.originator_id, NEW.originator_version, NEW.topic, NEW.state)); END",
)
_SQLITE_SNAPSHOT_SEALS = (
    f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_SEALS} (originator_id TEXT NOT NULL,"
    " originator_version INTEGER NOT NULL, seal BLOB NOT NULL,"
    " PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID",
    "CREATE TRIGGER IF NOT EXISTS ledger_snapshots_sealed AFTER INSERT ON stored_snapshots"
    f" BEGIN INSERT INTO {SNAPSHOT_SEALS} (originator_id, originator_version, seal) VALUES"
    " (NEW.originator_id, NEW.originator_version, ledger_snapshot_seal(NEW.originator_id,"
    " NEW.originator_version, NEW.topic, NEW.state)); END",
)


def _sqlite_immutable(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN"
        f" SELECT RAISE(ABORT, '{table} is immutable: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    )


def _sqlite_event_seal(
    previous: bytes | None, nid: int, oid: str, version: int, topic: str | None, state: bytes
) -> bytes:
    return event_seal(previous, nid, UUID(hex=oid), version, topic or "", bytes(state or b""))


def _sqlite_snapshot_seal(oid: str, version: int, topic: str | None, state: bytes) -> bytes:
    return snapshot_seal(UUID(hex=oid), version, topic or "", bytes(state or b""))


def _register_seal_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("ledger_event_seal", 6, _sqlite_event_seal, deterministic=True)
    conn.create_function("ledger_snapshot_seal", 4, _sqlite_snapshot_seal, deterministic=True)


@dataclass(frozen=True)
class SnapshotProblem:
    """A stored snapshot that cannot be trusted: ``kind`` (``unsealed``, ``seal_mismatch``,
    ``differs``; ``unchecked`` when an event before it cannot be replayed), the aggregate, its
    version, and what is wrong."""

    kind: str
    originator_id: UUID
    version: int
    message: str


#: The function of migration 0006 that appends events on PostgreSQL, and the channel it
#: ``NOTIFY``s (the library's: ``recorder.channel_name``, checked when the store opens).
APPEND_FUNCTION = "ledger_append_events"
APPEND_CHANNEL = "ledger_events"
#: The function of migration 0011 that loads the aggregates of one command on PostgreSQL.
LOAD_FUNCTION = "ledger_load_aggregates"
#: What the application role gets on the event store's objects (``creator-ledger migrate
#: --app-role``): it reads the events and appends them only through the function (no INSERT,
#: UPDATE, DELETE, TRUNCATE, trigger control or ownership); the library writes snapshots
#: itself (one plain INSERT), and a snapshot is only a shortcut that is checked against the
#: events when loaded.  (kind, name, privileges)
APP_ROLE_GRANTS: tuple[tuple[str, str, str], ...] = (
    ("TABLE", "ledger_events", "SELECT"),
    ("TABLE", "ledger_snapshots", "SELECT, INSERT"),
    # The seals are written by the owner's triggers alone; the application reads them (a
    # snapshot is loaded only when its seal holds; ``verify`` walks the chain).
    ("TABLE", EVENT_SEALS, "SELECT"),
    ("TABLE", SNAPSHOT_SEALS, "SELECT"),
    ("FUNCTION", f"{APPEND_FUNCTION}(uuid[], bigint[], text[], bytea[])", "EXECUTE"),
    ("FUNCTION", f"{LOAD_FUNCTION}(uuid[], bigint[], boolean)", "EXECUTE"),
)
#: Bounds of one append on PostgreSQL, unless the store is given others (settings
#: ``LEDGER_POSTGRES_LOCK_TIMEOUT_S``, ``LEDGER_POSTGRES_STATEMENT_TIMEOUT_S``).
DEFAULT_LOCK_TIMEOUT_S = 10.0
DEFAULT_STATEMENT_TIMEOUT_S = 60.0


class WriteConflictError(Exception):
    """Another writer saved a newer version of one of the aggregates first (optimistic
    concurrency): nothing was written; reload and decide again."""


@dataclass(frozen=True, slots=True)
class _AppendParams:
    """Events encoded for ``ledger_append_events``: how many, and its four arrays."""

    count: int
    arrays: tuple[PgArray, PgArray, PgArray, PgArray]


class PreparedSave:
    """A unit of work's events, collected and encoded by :meth:`EventStore.prepare_save`, to be
    written once, as :meth:`EventStore.save` writes them (the same transaction, errors and
    cache), by one of:

    * :meth:`write`: now, in this thread;
    * :meth:`start`, then :meth:`wait`: on PostgreSQL, in the store's one writer thread, so the
      caller can prepare its next unit of work while the server stores this one (the thread
      mostly waits on the socket, without the GIL).  Elsewhere ``start`` writes now.  ``wait``
      returns once it is stored, or raises what ``write`` would have raised.  Writes started
      run one at a time, in order; a caller that starts the next unit before this one is
      confirmed must throw that unit away (:meth:`discard`) if ``wait`` raises.
    """

    __slots__ = ("_future", "_settled", "_store", "due", "events", "keep", "params", "touched")

    def __init__(
        self,
        store: EventStore,
        touched: list[Aggregate],
        events: list[Any],
        due: list[tuple[Aggregate, int, int]],
        keep: Sequence[Aggregate],
        params: _AppendParams | None,
    ) -> None:
        self._store = store
        self.touched = touched
        self.events = events
        self.due = due
        self.keep = keep
        self.params = params
        self._future: Future[object] | None = None
        self._settled = False

    @property
    def _used(self) -> bool:
        return self._settled or self._future is not None

    def write(self) -> None:
        assert not self._used, "written once"
        self._settled = True
        if self.events:
            store = self._store
            store._settle(self, lambda: store._put(self.events, self.params))

    def start(self) -> None:
        assert not self._used, "written once"
        if self.params is None:  # nothing to write, or not PostgreSQL: now
            self.write()
            return
        store = self._store
        self._future = store._writer().submit(store._put, self.events, self.params)

    def wait(self) -> None:
        if self._settled:
            return
        assert self._future is not None, "start first"
        self._settled = True
        self._store._settle(self, self._future.result)

    def discard(self) -> None:
        """Never to be written: its aggregates are spent, and stay out of the cache."""
        assert not self._used, "not written"
        self._settled = True
        self._store.forget(a.id for a in self.touched)


class _LedgerApplication(Application[UUID]):
    """The library's application, with the ledger's transcodings.  Snapshot intervals and
    connection options are set per store (see :class:`EventStore`)."""

    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}
    #: libpq options beyond the ones the library passes (sslmode, application_name, ...).
    connection_options: ClassVar[dict[str, str]] = {}

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder with an orjson fast path for encoding (the same
        bytes: :class:`~creator_ledger.adapters.event_codec.LedgerTranscoder`)."""
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

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
        self._writer_pool: ThreadPoolExecutor | None = None
        self._uncached = tuple(uncached)
        # Statements rendered once, as bytes: psycopg renders a ``Composed`` and encodes a
        # ``str`` on every execute (~5% of a W2 command's CPU), where bytes go straight to
        # its cache of converted queries.
        self._load_sql_text: bytes | None = None
        self._decoder = _EventDecoder(self._app.mapper)
        self._append_sql: bytes | None = None
        if self.kind == "postgres":
            recorder: Any = self._app.recorder
            assert recorder.channel_name == APPEND_CHANNEL, recorder.channel_name
            most_recent_first(recorder.datastore.pool)  # a command's next write on a warm backend
            self._append_sql = (
                psycopg.sql.SQL(
                    "SELECT {}.{}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) AS id"
                )
                .format(
                    psycopg.sql.Identifier(recorder.datastore.schema),
                    psycopg.sql.Identifier(APPEND_FUNCTION),
                )
                .as_bytes()
            )
        #: In memory: the chain (notification id -> seal), sealed by :meth:`save`.
        self._memory_seals: dict[int, bytes] = {}
        self._seal_lock = threading.Lock()
        if self.kind == "sqlite":
            self._install_sqlite_seals()

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
        back with :func:`issued_by`.  The saved aggregates go in the cache (see :meth:`keep`).

        Raises :class:`WriteConflictError` when another writer got there first; the aggregates
        are then spent (their events collected), dropped from the cache, and must be loaded
        again.
        """
        self.prepare_save(*aggregates, meta=meta).write()

    def prepare_save(
        self,
        *aggregates: Aggregate | None,
        meta: Mapping[str, str] | None = None,
        keep: Sequence[Aggregate] | None = None,
    ) -> PreparedSave:
        """:meth:`save` in two halves: this one, in the caller's thread, collects the pending
        events, stamps them with ``meta`` and (on PostgreSQL) encodes them; the
        :class:`PreparedSave` it returns writes them, now (``write``) or in the store's writer
        thread (``start``, then ``wait``), while the caller prepares its next unit of work.
        The saved aggregates go in the cache, or only those of ``keep`` when it is given (a
        bulk enrolment's books, not its many thousands of new creators, each written once and
        unlikely to be read soon)."""
        touched = [a for a in aggregates if a is not None]
        events: list[Any] = []
        #: the aggregates whose new events may call for a snapshot: (aggregate, its type's
        #: interval, how many new events), checked against its version once they are stored
        due: list[tuple[Aggregate, int, int]] = []
        intervals = self._intervals
        for aggregate in touched:
            new = aggregate.collect_events()
            if not new:
                continue
            interval = intervals.get(type(aggregate))
            if interval:
                due.append((aggregate, interval, len(new)))
            events.extend(new)
        if events and meta is not None:
            stamp = dict(meta)
            for e in events:
                object.__setattr__(e, "issued", stamp)  # events are frozen: metadata only
        try:
            params = self._append_params(events) if events and self._append_sql else None
        except BaseException:  # an event the transcoder refuses: nothing is written
            self.forget(a.id for a in touched)
            raise
        return PreparedSave(self, touched, events, due, touched if keep is None else keep, params)

    def _put(self, events: list[Any], params: _AppendParams | None) -> None:
        """Store ``events`` (``params``: the same, encoded for PostgreSQL's append)."""
        if self.kind == "popo":
            with self._seal_lock:
                self._seal_in_memory(self._app.events.put(events))
        elif params is not None:
            self._append(params)  # sealed by the database's trigger
        else:
            self._app.events.put(events)  # sealed by the database's trigger

    def _writer(self) -> ThreadPoolExecutor:
        """The thread that runs :meth:`PreparedSave.start`'s writes (one: they stay in order)."""
        with self._lock:
            if self._writer_pool is None:
                self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
            return self._writer_pool

    def _settle(self, prepared: PreparedSave, outcome: Callable[[], object]) -> None:
        """Finish a write whose result ``outcome`` returns (or raises): on success, snapshots
        and the cache; on failure, the aggregates are forgotten and the error raised."""
        try:
            outcome()
        except IntegrityError:
            # A caller may have kept an object it saved before (so it is in the cache too) and
            # changed it again: that change was never stored, so the next load reads the store.
            self.forget(a.id for a in prepared.touched)
            raise WriteConflictError("an aggregate was changed by another writer") from None
        except BaseException:  # a conflict found by the append function, a busy store, ...:
            self.forget(a.id for a in prepared.touched)  # nothing was stored, as above
            raise
        self._snapshot(prepared.due)
        # An aggregate its caller changed again since (a pipelined caller's next unit of work,
        # see PreparedSave.start) is not put back: it goes in with that unit's save.
        self.keep(a for a in prepared.keep if not a.pending_events)

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

    def _append_params(self, events: list[Any]) -> _AppendParams:
        """``events`` encoded as the four array parameters of ``ledger_append_events``."""
        to_stored = self._app.mapper.to_stored_event
        stored = [to_stored(e) for e in events]
        return _AppendParams(
            len(stored),
            (
                uuid_array([s.originator_id for s in stored]),
                int8_array([s.originator_version for s in stored]),
                text_array([s.topic for s in stored]),
                bytea_array([s.state for s in stored]),
            ),
        )

    def _append(self, params: _AppendParams) -> list[int]:
        """PostgreSQL: store the events of ``params`` by one call of ``ledger_append_events``, a
        statement in its own transaction (the connection is in autocommit: the server commits
        as the statement ends, and never waits on this client while it holds the lock), bounded
        by the connection's ``lock_timeout`` and ``statement_timeout``; returns their
        notification ids.  Never in pipeline mode (see the module docstring)."""
        assert self._append_sql is not None
        datastore: Any = self._app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            assert conn.autocommit
            try:
                cur.execute(self._append_sql, params.arrays, prepare=True)
                ids = [int(r[0]) for r in cur.fetchall()]
            except psycopg.errors.UniqueViolation:
                msg = "an aggregate was changed by another writer"
                raise WriteConflictError(msg) from None
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as e:
                raise self._busy(e) from e
        assert len(ids) == params.count, (len(ids), params.count)
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

    def _snapshot(self, due: list[tuple[Aggregate, int, int]]) -> None:
        """Snapshot each aggregate whose ``new`` events (its last versions, up to its version
        now) crossed its type's ``interval`` (as the library's ``Application.save`` does, but
        from the aggregate in memory)."""
        snapshots = self._app.snapshots
        if snapshots is None:
            return
        taken = [
            Snapshot.take(aggregate)
            for aggregate, interval, new in due
            if aggregate.version // interval > (aggregate.version - new) // interval
        ]
        if taken:
            snapshots.put(taken)

    # -- seals ------------------------------------------------------------------------------

    def _seal_in_memory(self, recordings: Sequence[Recording[UUID]]) -> None:
        """The in-memory store's chain, sealed as the databases' triggers seal theirs."""
        seals = self._memory_seals
        previous = seals[max(seals)] if seals else GENESIS
        for r in sorted(recordings, key=lambda r: r.notification.id):
            n = r.notification
            previous = event_seal(
                previous, n.id, _uuid(n.originator_id), n.originator_version, n.topic, n.state
            )
            seals[n.id] = previous

    def _install_sqlite_seals(self) -> None:
        """Register the seal functions on every connection of the library's SQLite pool (its
        triggers call them), and create the seal tables and triggers; a file stored before
        them has its events and snapshots sealed now, in the same transaction."""
        datastore: Any = self._app.recorder.datastore  # type: ignore[attr-defined]
        pool = datastore.pool
        create = pool._create_connection

        def create_with_seals() -> Any:
            conn = create()
            _register_seal_functions(conn._sqlite_conn)
            return conn

        pool._create_connection = create_with_seals
        for conn in [*pool._pool, *pool._in_use.values()]:
            _register_seal_functions(conn._sqlite_conn)
        snapshots = self._app.snapshots is not None
        statements = [
            *_SQLITE_EVENT_SEALS,
            *_sqlite_immutable(EVENT_SEALS),
            *_sqlite_immutable("stored_events"),  # as on PostgreSQL: corrections are new events
        ]
        if snapshots:
            statements += [
                *_SQLITE_SNAPSHOT_SEALS,
                *_sqlite_immutable(SNAPSHOT_SEALS),
                *_sqlite_immutable("stored_snapshots"),
            ]
        with datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            raw.execute("BEGIN IMMEDIATE")
            try:
                new = not raw.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (EVENT_SEALS,),
                ).fetchone()
                for statement in statements:
                    raw.execute(statement)
                if new:
                    self._sqlite_backfill(raw, snapshots=snapshots)
                raw.execute("COMMIT")
            except BaseException:
                raw.execute("ROLLBACK")
                raise

    @staticmethod
    def _sqlite_backfill(raw: sqlite3.Connection, *, snapshots: bool) -> None:
        previous = GENESIS
        rows = raw.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
            " ORDER BY rowid"
        )
        sealed = []
        for nid, oid, version, topic, state in rows:
            previous = _sqlite_event_seal(previous, nid, oid, version, topic, state)
            sealed.append((nid, previous))
        raw.executemany(f"INSERT INTO {EVENT_SEALS} (notification_id, seal) VALUES (?, ?)", sealed)
        if snapshots:
            raw.execute(
                f"INSERT INTO {SNAPSHOT_SEALS} (originator_id, originator_version, seal)"
                " SELECT originator_id, originator_version,"
                " ledger_snapshot_seal(originator_id, originator_version, topic, state)"
                " FROM stored_snapshots"
            )

    def chain_extent(self) -> int:
        """The highest notification id that has an event or a seal (0: none)."""
        if self.kind == "popo":
            return max([self.max_notification_id(), *self._memory_seals])
        if self.kind == "postgres":
            events, seals = self._pg_names("events", EVENT_SEALS)
            rows = self._pg_dict_rows(
                f"SELECT greatest((SELECT max(notification_id) FROM {events}),"
                f" (SELECT max(notification_id) FROM {seals})) AS n",
                (),
            )
            return int(rows[0]["n"] or 0)
        rows = self._sqlite_query(
            "SELECT max((SELECT coalesce(max(rowid), 0) FROM stored_events),"
            f" (SELECT coalesce(max(notification_id), 0) FROM {EVENT_SEALS}))",
            (),
        )
        return int(rows[0][0] or 0)

    def chain(self, *, chunk: int = CHAIN_CHUNK) -> Iterator[ChainRow]:
        """Every notification id that has a stored event or a seal, in order: the event's
        stored bytes and the seal (either may be missing), for ``verify``."""
        end = self.chain_extent()
        after = 0
        while after < end:
            until = min(after + chunk, end)
            yield from self._chain_rows(after, until)
            after = until

    def _chain_rows(self, after: int, until: int) -> list[ChainRow]:
        if self.kind == "popo":
            stored = {
                n.id: n
                for n in self._app.recorder.select_notifications(
                    start=after + 1, limit=until - after, stop=until
                )
            }
            ids = sorted(set(stored) | {i for i in self._memory_seals if after < i <= until})
            return [
                ChainRow(
                    i,
                    _sealed_event(stored[i]) if i in stored else None,
                    self._memory_seals.get(i),
                )
                for i in ids
            ]
        if self.kind == "postgres":
            events, seals = self._pg_names("events", EVENT_SEALS)
            rows = self._pg_dict_rows(
                "SELECT coalesce(e.notification_id, s.notification_id) AS nid,"
                " e.originator_id, e.originator_version, e.topic, e.state, s.seal FROM"
                " (SELECT notification_id, originator_id, originator_version, topic, state"
                f" FROM {events} WHERE notification_id > %s AND notification_id <= %s) e"
                f" FULL JOIN (SELECT notification_id, seal FROM {seals}"
                " WHERE notification_id > %s AND notification_id <= %s) s"
                " ON e.notification_id = s.notification_id ORDER BY 1",
                (after, until, after, until),
            )
            tuples = [
                (
                    r["nid"],
                    r["originator_id"],
                    r["originator_version"],
                    r["topic"],
                    r["state"],
                    r["seal"],
                )
                for r in rows
            ]
        else:
            tuples = self._sqlite_query(
                "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, s.seal"
                f" FROM stored_events e LEFT JOIN {EVENT_SEALS} s ON s.notification_id = e.rowid"
                " WHERE e.rowid > ? AND e.rowid <= ?"
                " UNION ALL SELECT s.notification_id, NULL, NULL, NULL, NULL, s.seal"
                f" FROM {EVENT_SEALS} s WHERE s.notification_id > ? AND s.notification_id <= ?"
                " AND NOT EXISTS (SELECT 1 FROM stored_events e WHERE e.rowid = s.notification_id)"
                " ORDER BY 1",
                (after, until, after, until),
            )
        return [
            ChainRow(
                int(nid),
                None
                if oid is None
                else SealedEvent(_uuid(oid), int(version), topic or "", bytes(state or b"")),
                None if seal is None else bytes(seal),
            )
            for nid, oid, version, topic, state, seal in tuples
        ]

    def check_snapshots(self) -> list[SnapshotProblem]:
        """Every stored snapshot that is unsealed, does not match its seal, or differs from
        its aggregate rebuilt from the events up to its version (in memory, snapshots are
        the process's own objects: none are checked)."""
        if self._app.snapshots is None or self.kind == "popo":
            return []
        if self.kind == "postgres":
            (snaps,) = self._pg_names("snapshots")
            ids = [
                _uuid(r["originator_id"])
                for r in self._pg_dict_rows(f"SELECT DISTINCT originator_id FROM {snaps}", ())
            ]
        else:
            ids = [
                _uuid(r[0])
                for r in self._sqlite_query(
                    "SELECT DISTINCT originator_id FROM stored_snapshots", ()
                )
            ]
        problems: list[SnapshotProblem] = []
        for start in range(0, len(ids), LOAD_CHUNK):
            chunk = ids[start : start + LOAD_CHUNK]
            snapshots: dict[UUID, list[tuple[StoredEvent, bytes | None]]] = defaultdict(list)
            for stored, seal in self._snapshot_rows(chunk, latest=False):
                snapshots[_uuid(stored.originator_id)].append((stored, seal))
            history: dict[UUID, list[StoredEvent]] = defaultdict(list)
            for stored in self._events_after(dict.fromkeys(chunk, 0)):
                history[_uuid(stored.originator_id)].append(stored)
            for aggregate_id in chunk:
                problems += self._check_snapshots_of(
                    aggregate_id, snapshots[aggregate_id], history[aggregate_id]
                )
        return problems

    def _check_snapshots_of(
        self,
        aggregate_id: UUID,
        snapshots: list[tuple[StoredEvent, bytes | None]],
        events: list[StoredEvent],
    ) -> list[SnapshotProblem]:
        mapper = self._app.mapper
        problems = []
        at_version: dict[int, StoredEvent] = {}
        for stored, seal in snapshots:
            v = stored.originator_version
            if seal is None:
                problems.append(
                    SnapshotProblem("unsealed", aggregate_id, v, "the snapshot has no seal")
                )
            elif seal != _snapshot_seal_of(stored):
                problems.append(
                    SnapshotProblem(
                        "seal_mismatch",
                        aggregate_id,
                        v,
                        "the snapshot's stored bytes differ from what was sealed",
                    )
                )
            else:
                at_version[v] = stored
        aggregate: Any = None
        for stored in events:
            try:
                event: Any = self._decoder.decode(
                    stored.topic, stored.state, stored.originator_id, stored.originator_version
                )
                aggregate = event.mutate(aggregate)
            except Exception as e:  # noqa: BLE001 - a changed event: the chain check reports it
                reason = (
                    "it cannot be read" if isinstance(e, UnreadableEventError) else repr(e)[:200]
                )
                return [
                    *problems,
                    *(
                        SnapshotProblem(
                            "unchecked",
                            aggregate_id,
                            v,
                            f"its aggregate's event at version {stored.originator_version}"
                            f" cannot be replayed ({reason}): the snapshot cannot be checked",
                        )
                        for v in sorted(at_version)
                    ),
                ]
            snap = at_version.pop(stored.originator_version, None)
            if snap is None or aggregate is None:
                continue
            rebuilt: Any = mapper.to_domain_event(mapper.to_stored_event(Snapshot.take(aggregate)))
            try:
                kept: Any = mapper.to_domain_event(snap)
                same = kept.topic == rebuilt.topic and kept.state == rebuilt.state
            except Exception:  # noqa: BLE001 - a snapshot that does not even decode differs
                same = False
            if not same:
                problems.append(
                    SnapshotProblem(
                        "differs",
                        aggregate_id,
                        snap.originator_version,
                        "the snapshot differs from the aggregate rebuilt from its events",
                    )
                )
        problems += [
            SnapshotProblem("differs", aggregate_id, v, "the snapshot is at a version no event has")
            for v in at_version
        ]
        return problems

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
        cached = self.take_cached(wanted)
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

    def take_cached(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """Those of ``ids`` this process's cache holds, handed over as :meth:`get_many` hands
        them (out of the cache until saved or kept), without reading the store: they may be
        behind it, which only a write at their next version can tell (see
        :meth:`~creator_ledger.ledger.aggregates.Aggregates.check_all_written`)."""
        cache = self._app.repository.cache
        out: dict[UUID, Aggregate] = {}
        if cache is None:
            return out
        for aggregate_id in ids:
            try:
                aggregate = cache.get(aggregate_id, evict=True)
            except KeyError:
                continue
            assert isinstance(aggregate, Aggregate)
            out[aggregate_id] = aggregate
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
        return self.decode_rows(self.stored_rows(start, limit))

    def stored_rows(self, start: int, limit: int | None = None) -> Generator[StoredRow]:
        """The stored events from notification id ``start`` on (up to ``limit``; all without),
        in commit order, undecoded: ``(notification id, topic, state, originator id,
        version)``, read a page (:data:`READ_CHUNK` rows) per query.  On PostgreSQL plain
        tuples in binary (the library's ``select_notifications`` builds a dict per row and a
        ``Notification`` from it); elsewhere the library's ``select_notifications``.

        Pages, not one server-side cursor: a cursor lives in a transaction, and the library's
        connections end a transaction left idle for ``idle_in_transaction_session_timeout``
        (5 s), as one is while a rebuild writes a large batch on a loaded machine."""
        recorder: Any = self._app.recorder
        done = 0
        while limit is None or done < limit:
            size = READ_CHUNK if limit is None else min(READ_CHUNK, limit - done)
            page = self._page(recorder, start, size)
            yield from page
            done += len(page)
            if len(page) < size:
                return
            start = page[-1][0] + 1

    def _page(self, recorder: Any, start: int, size: int) -> list[StoredRow]:
        if self.kind != "postgres":
            return [
                (n.id, n.topic, n.state, n.originator_id, n.originator_version)
                for n in recorder.select_notifications(start=start, limit=size)
            ]
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            cur.execute(
                "SELECT notification_id, topic, state, originator_id, originator_version"
                f" FROM {recorder.datastore.schema}.{recorder.events_table_name}"
                " WHERE notification_id >= %s ORDER BY notification_id LIMIT %s",
                (start, size),
                prepare=True,
            )
            return cur.fetchall()  # type: ignore[no-any-return]

    def decode_rows(self, rows: Iterable[StoredRow]) -> list[tuple[int, Any]]:
        """Stored rows (:meth:`stored_rows`) as ``(notification id, domain event)``: the
        events the library's mapper makes (see :class:`_EventDecoder`)."""
        decode = self._decoder.decode
        return [(row[0], decode(row[1], row[2], row[3], row[4])) for row in rows]

    def stored_notifications(self, start: int, limit: int) -> Sequence[Notification]:
        """As :meth:`notifications`, undecoded: the stored bytes (for the hash chain)."""
        return self._app.recorder.select_notifications(start=start, limit=limit)

    def max_notification_id(self) -> int:
        return self._app.recorder.max_notification_id() or 0

    @property
    def events_table(self) -> str | None:
        """The events table, schema-qualified, where a query on the read models' connection can
        read it (PostgreSQL: the same database); None elsewhere (SQLite keeps the events in the
        library's own file, the in-memory store in Python)."""
        if self.kind != "postgres":
            return None
        recorder: Any = self._app.recorder
        return f"{recorder.datastore.schema}.{recorder.events_table_name}"

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
        with self._lock:
            writer, self._writer_pool = self._writer_pool, None
        if writer is not None:
            writer.shutdown(wait=True)  # a write started is finished, never cut off
        self._app.close()

    # -- batched loading (the fast path of get_many) ----------------------------------------

    def _load(
        self, known: dict[UUID, int | None], cached: Mapping[UUID, Aggregate]
    ) -> dict[UUID, Aggregate]:
        """The aggregates of ``known``: those known at a version (``cached``) brought up to
        date, the others projected from their latest snapshot and the events after it."""
        snapshots, events = self._rows(known)
        decode = self._decoder.decode
        history: dict[UUID, list[Any]] = defaultdict(list)
        for stored in (*snapshots, *events):
            history[_uuid(stored.originator_id)].append(
                decode(stored.topic, stored.state, stored.originator_id, stored.originator_version)
            )
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
        distrusted: set[UUID] = set()
        if self.kind == "postgres":
            snap_list, found_events, distrusted = self._pg_rows(known)
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
            if aggregate_id in distrusted:  # its snapshot's seal failed: from its events alone
                reload[aggregate_id] = 0
            elif snap is None:
                events += found
            elif found and found[0].originator_version == snap.originator_version:
                trusted.append(snap)
                events += found[1:]
            else:
                reload[aggregate_id] = 0
        return trusted, events + self._events_after(reload)

    def _pg_rows(
        self, known: dict[UUID, int | None]
    ) -> tuple[list[StoredEvent], list[StoredEvent], set[UUID]]:
        """:meth:`_rows` on PostgreSQL in one query: each aggregate's latest snapshot (if it
        is not known at a version) with its seal, and its events after the known version or
        from the snapshot's own version on.  Also the ids whose latest snapshot's seal is
        missing or differs (logged: they are loaded from their events alone)."""
        ids = list(known)
        rows = self._pg_query(
            self._load_sql(),
            (uuid_array(ids), int8_array([-1 if v is None else v for v in known.values()])),
        )
        snaps: list[StoredEvent] = []
        events: list[StoredEvent] = []
        distrusted: set[UUID] = set()
        for row in rows:
            stored = _stored(row)
            if not row[4]:
                events.append(stored)
            elif row[5] is not None and bytes(row[5]) == _snapshot_seal_of(stored):
                snaps.append(stored)
            else:
                distrusted.add(_uuid(stored.originator_id))
                _warn_snapshot_ignored(stored, sealed=row[5] is not None)
        return snaps, events, distrusted

    def _load_sql(self) -> bytes:
        """The call of migration 0011's ``ledger_load_aggregates`` (see :meth:`_pg_rows`)."""
        sql = self._load_sql_text
        if sql is None:
            recorder: Any = self._app.recorder
            sql = self._load_sql_text = (
                psycopg.sql.SQL(
                    "SELECT id, version, topic, state, snapshot, seal"
                    " FROM {}.{}(%b::uuid[], %b::bigint[], {})"
                )
                .format(
                    psycopg.sql.Identifier(recorder.datastore.schema),
                    psycopg.sql.Identifier(LOAD_FUNCTION),
                    psycopg.sql.Literal(self._app.snapshots is not None),
                )
                .as_bytes()
            )
        return sql

    def _latest_snapshots(self, ids: list[UUID]) -> list[StoredEvent]:
        """The latest snapshot of each of ``ids`` that has one and whose seal holds; one whose
        seal is missing or differs is left out (with a warning): loaded from its events."""
        if self._app.snapshots is None or not ids:
            return []
        if self.kind == "popo":
            recorder: Any = self._app.snapshots.recorder
            return [s for i in ids for s in recorder.select_events(i, desc=True, limit=1)]
        trusted = []
        for stored, seal in self._snapshot_rows(ids, latest=True):
            if seal is not None and seal == _snapshot_seal_of(stored):
                trusted.append(stored)
            else:
                _warn_snapshot_ignored(stored, sealed=seal is not None)
        return trusted

    def _snapshot_rows(
        self, ids: list[UUID], *, latest: bool
    ) -> list[tuple[StoredEvent, bytes | None]]:
        """The snapshots of ``ids`` (only the latest of each, with ``latest``), each with its
        seal (None: none)."""
        if self.kind == "postgres":
            snaps, seals = self._pg_names("snapshots", SNAPSHOT_SEALS)
            rows = self._pg_dict_rows(
                ("SELECT DISTINCT ON (s.originator_id)" if latest else "SELECT")
                + " s.originator_id, s.originator_version, s.topic, s.state, z.seal"
                f" FROM {snaps} s LEFT JOIN {seals} z"
                " ON z.originator_id = s.originator_id"
                " AND z.originator_version = s.originator_version"
                " WHERE s.originator_id = ANY(%s)"
                " ORDER BY s.originator_id, s.originator_version" + (" DESC" if latest else ""),
                (ids,),
            )
            tuples = [
                (r["originator_id"], r["originator_version"], r["topic"], r["state"], r["seal"])
                for r in rows
            ]
        else:
            marks = ",".join("?" * len(ids))
            tuples = self._sqlite_query(
                "SELECT s.originator_id, "
                + ("MAX(s.originator_version)" if latest else "s.originator_version")
                + f", s.topic, s.state, z.seal FROM stored_snapshots s LEFT JOIN {SNAPSHOT_SEALS} z"
                " ON z.originator_id = s.originator_id"
                " AND z.originator_version = s.originator_version"
                f" WHERE s.originator_id IN ({marks})"
                + (" GROUP BY s.originator_id" if latest else "")
                + " ORDER BY s.originator_id, s.originator_version",
                [i.hex for i in ids],
            )
        return [(_stored(r), None if r[4] is None else bytes(r[4])) for r in tuples]

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

    def _pg_names(self, *tables: str) -> list[str]:
        """Schema-qualified names: ``events`` / ``snapshots`` are the library's tables, others
        are the ledger's own (in the same schema)."""
        recorder: Any = self._app.recorder
        names = {"events": recorder.events_table_name}
        if self._app.snapshots is not None:
            snapshots: Any = self._app.snapshots.recorder
            names["snapshots"] = snapshots.events_table_name
        return [f"{recorder.datastore.schema}.{names.get(t, t)}" for t in tables]

    def _pg_dict_rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        datastore = self._app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params, prepare=True)
            return list(cur.fetchall())

    def _pg_query(
        self, sql: bytes | str | psycopg.sql.Composable, params: Sequence[Any]
    ) -> list[Any]:
        """The rows of a query of stored events, as tuples, in binary: a state arrives as its
        bytes, not as hex text twice its size that psycopg then decodes (a cold account book's
        load at 100,000 creators, ~45 KB of states: 0.29-0.33 ms against 0.50-0.61 ms in text,
        0.12 ms of client CPU against 0.21)."""
        datastore = self._app.recorder.datastore  # type: ignore[attr-defined]
        with (
            datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            cur.execute(sql, params, prepare=True)
            rows: list[Any] = cur.fetchall()
            return rows

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


def _sealed_event(n: Notification) -> SealedEvent:
    return SealedEvent(_uuid(n.originator_id), n.originator_version, n.topic, n.state)


def _unreadable(
    topic: Any, originator_id: Any, version: Any, error: BaseException
) -> UnreadableEventError:
    """The error for a stored event (or snapshot) that cannot be decoded: it names the event
    (its topic as a quoted, bounded literal: the stored text is not trusted) and the cause."""
    what = "snapshot" if topic == SNAPSHOT_TOPIC else "event"
    bounded = str(topic)[:120]
    while error.__cause__ is not None:  # the library's errors wrap the parser's: say that one
        error = error.__cause__
    cause = (str(error).strip().splitlines() or [""])[0][:200]
    return UnreadableEventError(
        f"the stored {what} {bounded!r} of {originator_id} at version {version} cannot be read"
        f" ({type(error).__name__}: {cause!r}): it was changed outside the ledger, or written by"
        " a newer version of creator-ledger; nothing was written. Run `creator-ledger verify`"
        " to check the hash chain",
        originator_id=str(originator_id),
        version=version,
        topic=bounded,
    )


def _warn_snapshot_ignored(stored: StoredEvent, *, sealed: bool) -> None:
    _log.warning(
        "snapshot of %s at version %d ignored (%s): loading it from its events"
        " instead; run `creator-ledger verify`",
        stored.originator_id,
        stored.originator_version,
        "it differs from its seal" if sealed else "it has no seal",
    )


def _snapshot_seal_of(stored: StoredEvent) -> bytes:
    return snapshot_seal(
        _uuid(stored.originator_id), stored.originator_version, stored.topic, stored.state
    )


def _stored(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=_uuid(row[0]),
        originator_version=int(row[1]),
        topic=str(row[2]),
        state=bytes(row[3]),
    )


try:  # the JSON parser for stored events: orjson when installed (a dependency), else json
    from orjson import JSONDecodeError as _OrjsonError
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _OrjsonError = ValueError  # type: ignore[assignment,misc]
    _loads = json.loads  # type: ignore[assignment]

_TYPE_KEY = b'"_type_":'
SNAPSHOT_TOPIC = get_topic(Snapshot)
#: The library's transcodings (and ours) whose ``decode`` only calls a constructor: called
#: directly (one Python frame less for each of the ~700,000 values a rebuild decodes).  What the
#: library's would refuse (its ``assert isinstance(data, str)``) these refuse too.
_DIRECT_DECODERS: dict[type, Callable[[Any], Any]] = {
    DatetimeAsISO: datetime.fromisoformat,
    DateAsISO: date.fromisoformat,
    UUIDAsHex: UUID,
}
#: Plain dicts and lists :meth:`_EventDecoder._transcode_nested` looks in before it leaves a
#: state to the library.
_NESTED_LIMIT = 64


class _EventDecoder:
    """Stored event -> domain event, as the library's ``Mapper.to_domain_event`` makes it,
    about twice as fast (the W5 rebuild decodes every event; issue 9 measured the library's
    read and decode at 2.7 s where plain tuples and orjson took 1.2 s).

    The state is parsed with orjson and its transcoded values (``{"_type_": ..., "_data_":
    ...}``: datetimes, dates, UUIDs) are decoded where they are: at the top level, where the
    ledger's events keep them, then breadth first below it until the ``"_type_":`` count is
    reached (a snapshot keeps its aggregate's timestamps in ``state``: a 21 KB account book's
    snapshot decoded in ~0.12 ms this way, ~0.36 ms the library's, which calls a hook for each
    of its hundreds of dicts).  A state whose count is not reached that way (a transcoded
    value inside another, or too deep), one orjson refuses (an integer beyond 64 bits), and a
    mapper with a cipher or compressor take the library's own way (``Mapper.to_domain_event``,
    with its errors), as does a state that is not a JSON object.  The projector's reader and
    every load (:meth:`EventStore.get_many`, snapshots included) decode this way.
    ``tests/integration/test_event_decoding.py`` compares the two on every event and snapshot
    of a ledger's history."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        names: dict[str, Transcoding] = getattr(transcoder, "names", {})
        self.decoders: dict[str, Callable[[Any], Any]] = {
            n: _DIRECT_DECODERS.get(type(t), t.decode) for n, t in names.items()
        }
        self.plain = mapper.cipher is None and mapper.compressor is None and bool(names)
        self.classes: dict[str, tuple[type, Any, int]] = {}
        #: topic -> the top-level keys its states were last seen to transcode (tried first)
        self.transcoded: dict[str, list[str]] = {}

    def decode(self, topic: str, state: bytes, originator_id: Any, version: int) -> Any:
        """The domain event of a stored one; :class:`UnreadableEventError` when its bytes do
        not decode into the event its topic names (whatever the library or the upcasters
        raised), never a library error."""
        try:
            event_state = self._state(topic, state) if self.plain else None
            if event_state is None:  # the library's way, with its errors for a bad state
                return self.mapper.to_domain_event(
                    StoredEvent(
                        originator_id=originator_id,
                        originator_version=version,
                        topic=topic,
                        state=state,
                    )
                )
            found = self.classes.get(topic)
            if found is None:
                cls = resolve_topic(topic)
                convert = find_id_convertor(cls, type(originator_id))  # type: ignore[arg-type]
                found = self.classes[topic] = (cls, convert, getattr(cls, "class_version", 1))
            cls, convert, class_version = found
            event_state["originator_id"] = convert(originator_id)
            event_state["originator_version"] = version
            from_version = event_state.pop("class_version", 1)
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
                from_version += 1
        except Exception as e:  # every way a stored state can fail to decode
            raise _unreadable(topic, originator_id, version, e) from e
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    def _state(self, topic: str, state: bytes) -> dict[str, Any] | None:
        """The decoded state, or None for one to take the library's way."""
        try:
            decoded: dict[str, Any] = _loads(state)
        except _OrjsonError:
            return None
        if type(decoded) is not dict:
            return None
        expected = state.count(_TYPE_KEY)
        if not expected:
            return decoded
        done = 0
        for key in self.transcoded.get(topic, ()):  # where this topic's states had them
            if self._transcode(decoded, key, decoded.get(key)):
                done += 1
        if done != expected:
            seen = []
            for key, value in decoded.items():  # already transcoded values are no dicts
                if self._transcode(decoded, key, value):
                    done += 1
                    seen.append(key)
            self.transcoded[topic] = [*self.transcoded.get(topic, ()), *seen]
        if done != expected:
            done += self._transcode_nested(decoded, expected - done)
        if done != expected:  # transcoded values inside one, too deep, or unknown: the library's
            return None
        return decoded

    def _transcode_nested(self, top: dict[str, Any], wanted: int) -> int:
        """Decode the transcoded values below the top level in place (a snapshot keeps its
        aggregate's timestamps one level down, in ``state``): breadth first through the plain
        dicts and lists, as far as ``wanted`` of them are found (the ``"_type_":`` count says
        how many there are, so a snapshot's accounts are never walked) or ``_NESTED_LIMIT``
        containers were looked in; how many it decoded.  A transcoded value inside another
        one's ``_data_`` is not looked for (the library decodes those inner first): the count
        then falls short and the state takes the library's way."""
        found = 0
        level = [v for v in top.values() if type(v) is dict or type(v) is list]
        looked = 0
        while level and found < wanted:
            deeper: list[Any] = []
            for container in level:
                looked += 1
                if looked > _NESTED_LIMIT:
                    return found
                pairs = list(container.items()) if type(container) is dict else enumerate(container)
                for key, value in pairs:
                    if self._transcode(container, key, value):
                        found += 1
                    elif type(value) is dict or type(value) is list:
                        deeper.append(value)
            level = deeper
        return found

    def _transcode(self, decoded: Any, key: Any, value: Any) -> bool:
        """Decode ``value`` in place if it is a transcoded value (as the library's
        ``_decode_obj`` would); whether it was."""
        if type(value) is not dict or len(value) != 2 or "_data_" not in value:
            return False
        decode = self.decoders.get(value.get("_type_"))  # type: ignore[arg-type]
        if decode is None:
            return False
        decoded[key] = decode(value["_data_"])
        return True
