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

Three fast paths replace library calls where the benchmark shows the supported way is too slow;
each says which workload needs it and by how much, and ``tests/integration/test_event_store.py``
(``test_event_decoding.py`` for the reader) checks that each agrees with the library's own path
(this module passes ~400 lines because it is the one module allowed to know the library's
internals: they stay in one place):

* :meth:`EventStore.save` collects pending events and puts them with the library's
  ``EventStore.put`` (public), snapshotting from the aggregate in memory.  ``Application.save``
  checks every object against ``typing.Protocol`` classes (~30 us each) and re-reads every
  aggregate that crosses its snapshot interval from the database: a payout batch saves 2,000
  payouts and up to 256 account books, and W4 execute ran ~15% slower through it.
* :meth:`EventStore.get_many` loads many aggregates with two queries in all (their latest
  snapshots, then the events after them), where the library's repository takes two queries per
  aggregate: a period close for 100,000 creators loads 256 account books, 512 round trips
  (~0.3 s of W1) through ``Repository.get``.
* :meth:`EventStore.notifications` (the projector's reader) reads stored rows as plain tuples
  (:meth:`EventStore.stored_rows`, a page per query) and decodes them with
  :class:`_EventDecoder` (orjson), where the library's ``select_notifications`` builds a dict
  and a ``Notification`` per row and its mapper decodes with the ``json`` module: the W5
  rebuild reads and decodes every event.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
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
    Mapper,
    Notification,
    StoredEvent,
    Transcoding,
    find_id_convertor,
)
from eventsourcing.utils import Environment, resolve_topic
from psycopg.rows import tuple_row

__all__ = ["EventStore", "StoreKind", "StoredRow", "Waiter", "WriteConflictError", "issued_by"]

StoreKind = Literal["sqlite", "postgres", "popo"]

#: Aggregates per batched query.
LOAD_CHUNK = 1_000
#: Stored events fetched per query when reading the notification log.
READ_CHUNK = 10_000

#: (notification id, topic, state, originator id, originator version)
StoredRow = tuple[int, str, bytes, Any, int]
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
        self._lock = threading.Lock()
        self._decoder = _EventDecoder(self._app.mapper)
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
        cache = self._app.repository.cache
        if cache is not None:
            for aggregate in touched:
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


try:  # the JSON parser for stored events: orjson when installed (a dependency), else json
    from orjson import JSONDecodeError as _OrjsonError
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _OrjsonError = ValueError  # type: ignore[assignment,misc]
    _loads = json.loads  # type: ignore[assignment]

_TYPE_KEY = b'"_type_":'


class _EventDecoder:
    """Stored event -> domain event, as the library's ``Mapper.to_domain_event`` makes it,
    about twice as fast (the W5 rebuild decodes every event; issue 9 measured the library's
    read and decode at 2.7 s where plain tuples and orjson took 1.2 s).

    The state is parsed with orjson and only its top-level values are transcoded
    (``{"_type_": ..., "_data_": ...}``: datetimes, dates, UUIDs), which is where the ledger's
    events keep them; a state with a transcoded value anywhere else (its ``"_type_":`` count
    says so), one orjson refuses (an integer beyond 64 bits), and a mapper with a cipher or
    compressor take the library's own decoder.  ``tests/integration/test_event_store.py``
    compares the two on every event of a ledger's history."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        names: dict[str, Transcoding] = getattr(transcoder, "names", {})
        self.decoders: dict[str, Callable[[Any], Any]] = {n: t.decode for n, t in names.items()}
        self.plain = mapper.cipher is None and mapper.compressor is None and bool(names)
        self.classes: dict[str, tuple[type, Any, int]] = {}
        #: topic -> the top-level keys its states were last seen to transcode (tried first)
        self.transcoded: dict[str, list[str]] = {}

    def decode(self, topic: str, state: bytes, originator_id: Any, version: int) -> Any:
        if not self.plain:
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
        event_state = self._state(topic, state)
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    def _state(self, topic: str, state: bytes) -> dict[str, Any]:
        try:
            decoded: dict[str, Any] = _loads(state)
        except _OrjsonError:
            return self.mapper.transcoder.decode(state)  # type: ignore[no-any-return]
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
        if done != expected:  # transcoded values nested deeper, or unknown: the library's
            return self.mapper.transcoder.decode(state)  # type: ignore[no-any-return]
        return decoded

    def _transcode(self, decoded: dict[str, Any], key: str, value: Any) -> bool:
        """Decode ``value`` in place if it is a transcoded value (as the library's
        ``_decode_obj`` would); whether it was."""
        if type(value) is not dict or len(value) != 2 or "_data_" not in value:
            return False
        decode = self.decoders.get(value.get("_type_"))  # type: ignore[arg-type]
        if decode is None:
            return False
        decoded[key] = decode(value["_data_"])
        return True
