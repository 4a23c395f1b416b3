"""PostgreSQL itself refuses to change stored events; migrations are idempotent; events are
appended by the function of migration 0006 (never in pipeline mode), exactly as the library
stores them, bounded by a lock timeout, and never with the lock held while waiting on the
client."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import psycopg
import pytest
from eventsourcing.domain import Aggregate

from creator_ledger import CreatorLedger, DatabaseBusyError, Settings
from creator_ledger.adapters.eventstore import EventStore, WriteConflictError
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.period import MAX_ROWS_PER_REPORT
from creator_ledger.ledger.cli_support import ExitCode, exit_code_for
from creator_ledger.ledger.migrate import applied, migrate
from tests import scenario
from tests.conftest import Clock, pg_admin, pg_url
from tests.integration.test_event_store import AT, busy_book
from tests.scenario import ACTOR

pytestmark = pytest.mark.postgres
FINGERPRINT = (
    "SELECT count(*), md5(string_agg(state::text, ',' ORDER BY notification_id)) FROM ledger_events"
)


@pytest.fixture
def url_with_events(pg_database: str) -> str:
    with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
        cl.create_fund(
            fund_key="f",
            name="F",
            currency="USD",
            budget_minor=100,
            idempotency_key="f",
            actor=ACTOR,
        )
    return pg_database


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET state = 'x'::bytea",
        "UPDATE ledger_events SET originator_version = originator_version + 100",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events",
    ],
)
def test_postgresql_refuses_to_update_or_delete_stored_events(
    url_with_events: str, statement: str
) -> None:
    with psycopg.connect(url_with_events) as conn:
        before = conn.execute(FINGERPRINT).fetchone()
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="stored events are immutable"
        ):
            conn.execute(statement)
        conn.rollback()
        after = conn.execute(FINGERPRINT).fetchone()
    assert before == after
    assert before is not None
    assert before[0] > 0


def test_migrate_is_idempotent_and_records_what_it_applied(pg_database: str) -> None:
    settings = Settings(database_url=pg_database)
    assert migrate(settings) == []  # the template was migrated already
    assert applied(settings) == [
        "0001_event_store",
        "0002_read_models",
        "0003_read_model_tuning",
        "0004_code_columns_as_text",
        "0005_tracking_per_read_model",
        "0006_append_events",
        "0007_tamper_evidence",
        "0010_payout_controls",
        "0011_load_aggregates",
        "0012_faster_event_seals",
    ]


# -- the append function (migration 0006) -------------------------------------------------------

ROWS = (
    "SELECT originator_id, originator_version, topic, state, notification_id FROM ledger_events"
    " ORDER BY notification_id"
)


@pytest.fixture
def other_pg_database(pg_template: str) -> Iterator[str]:
    """A second fresh database, beside ``pg_database``."""
    name = f"{pg_template}_other_{os.getpid()}"
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_url(name)
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def store_on(url: str, **bounds: float) -> EventStore:
    settings = Settings(database_url=url)
    return EventStore(
        settings.eventsourcing_env(),
        aggregates=AGGREGATES,
        snapshot_intervals=SNAPSHOT_INTERVALS,
        connection_options=settings.postgres_session_options(),
        **bounds,
    )


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(ROWS).fetchall()]


def test_the_append_function_stores_exactly_what_the_librarys_insert_stores(
    pg_database: str, other_pg_database: str
) -> None:
    """The same events, in the same saves, through ``EventStore.save`` (the function) on one
    database and through the library's own ``EventStore.put`` (its pipelined insert) on the
    other: the same rows, topics, states, versions and notification ids, in the same order."""
    ours, theirs = store_on(pg_database), store_on(other_pg_database)
    try:
        saves: list[list[Aggregate]] = [
            [busy_book(1, 30)],
            [
                Creator.enrol(creator_ref="a", display_name="A", country="US", effective_at=AT),
                busy_book(2, 7),
                Creator.enrol(creator_ref="b", display_name="B", country="FR", effective_at=AT),
            ],
            [busy_book(3, 3)],
        ]
        for n, aggregates in enumerate(saves):
            pending = [e for a in aggregates for e in a._pending_events]  # what save writes
            ours.save(
                *aggregates, meta={"actor": "op:t", "command": "c", "idempotency_key": f"{n}"}
            )
            theirs.application.events.put(pending)  # the same event objects, stamped
        assert rows(pg_database) == rows(other_pg_database)
        assert [r[4] for r in rows(pg_database)] == list(range(1, 42 + 1))
        assert ours.max_notification_id() == 42
    finally:
        ours.close()
        theirs.close()


def test_an_append_notifies_the_channel_the_worker_listens_on(pg_database: str) -> None:
    store = store_on(pg_database)
    try:
        with store.listen() as waiter:
            assert waiter.listening
            store.save(busy_book(1, 3))
            assert waiter.wait(10.0)
    finally:
        store.close()


def test_a_conflicting_append_writes_nothing_and_is_a_write_conflict(pg_database: str) -> None:
    store = store_on(pg_database)
    try:
        store.save(busy_book(1, 3))
        before = rows(pg_database)
        with pytest.raises(WriteConflictError):
            store.save(busy_book(1, 5))  # versions 1-3 exist: nothing of the five is written
        assert rows(pg_database) == before
    finally:
        store.close()


# -- the load function (migration 0011) ---------------------------------------------------------

LOAD = "SELECT * FROM ledger_load_aggregates(%s::uuid[], %s::bigint[], %s)"


def test_the_load_function_returns_each_latest_snapshot_and_the_events_from_it_on(
    pg_database: str,
) -> None:
    """For each id, in the order given: an aggregate not in memory (known -1) gets its latest
    snapshot with its seal, then its events from the snapshot's own version on; one known at
    a version gets only its events after it; an unknown id, nothing.  The same rows as plain
    queries of the tables."""
    store = store_on(pg_database)
    snapshotted, small, known = busy_book(1, 120), busy_book(2, 5), busy_book(3, 12)
    try:
        store.save(snapshotted, small, known)
    finally:
        store.close()
    missing = uuid5(NAMESPACE_URL, "nobody")
    ids = [small.id, snapshotted.id, missing, known.id]
    with psycopg.connect(pg_database) as conn:
        snap = conn.execute(
            "SELECT s.originator_version, s.topic, s.state, z.seal FROM ledger_snapshots s"
            " JOIN ledger_snapshot_seals z USING (originator_id, originator_version)"
            " WHERE s.originator_id = %s ORDER BY 1 DESC LIMIT 1",
            (snapshotted.id,),
        ).fetchone()
        assert snap is not None, "120 events cross the book's snapshot interval"

        def events(aggregate_id: Any, after: int) -> list[tuple[Any, ...]]:
            return [
                (aggregate_id, *r, False, None)
                for r in conn.execute(
                    "SELECT originator_version, topic, state FROM ledger_events"
                    " WHERE originator_id = %s AND originator_version > %s ORDER BY 1",
                    (aggregate_id, after),
                ).fetchall()
            ]

        got = [tuple(r) for r in conn.execute(LOAD, (ids, [-1, -1, -1, 7], True)).fetchall()]
        assert got == [
            *events(small.id, 0),
            (snapshotted.id, snap[0], snap[1], snap[2], True, snap[3]),
            *events(snapshotted.id, snap[0] - 1),
            *events(known.id, 7),
        ]
        without = [tuple(r) for r in conn.execute(LOAD, (ids, [-1] * 4, False)).fetchall()]
        assert without == [
            *events(small.id, 0),
            *events(snapshotted.id, 0),
            *events(known.id, 0),
        ]
        assert conn.execute(LOAD, ([], [], True)).fetchall() == []
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="2 ids, 1 known"):
            conn.execute(LOAD, (ids[:2], [-1], True))


def test_the_load_function_reads_with_the_callers_rights_from_a_pinned_search_path(
    pg_database: str,
) -> None:
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(
            "SELECT p.prosecdef, p.provolatile, p.proconfig,"
            " has_function_privilege('public', p.oid, 'EXECUTE')"
            " FROM pg_proc p WHERE p.proname = 'ledger_load_aggregates'"
        ).fetchone()
    assert row == (False, "s", ["search_path=public, pg_temp"], False)


@pytest.mark.parametrize(
    ("bounds", "bound", "setting"),
    [
        ({"lock_timeout_s": 0.3}, "lock_timeout", "LEDGER_POSTGRES_LOCK_TIMEOUT_S"),
        (
            {"lock_timeout_s": 30, "statement_timeout_s": 0.3},
            "statement_timeout",
            "LEDGER_POSTGRES_STATEMENT_TIMEOUT_S",
        ),
    ],
)
def test_a_writer_that_cannot_get_the_lock_in_time_is_busy_and_writes_nothing(
    pg_database: str, bounds: dict[str, float], bound: str, setting: str
) -> None:
    store = store_on(pg_database, **bounds)
    try:
        store.save(busy_book(1, 3))
        before = rows(pg_database)
        with psycopg.connect(pg_database) as holder:
            holder.execute("LOCK TABLE ledger_events IN EXCLUSIVE MODE")  # another writer
            started = time.monotonic()
            with pytest.raises(DatabaseBusyError, match=setting) as info:
                store.save(busy_book(2, 3))
            waited = time.monotonic() - started
            holder.rollback()
        assert 0.25 <= waited < 5
        assert info.value.fields["bound"] == bound
        assert "nothing was written" in info.value.message
        assert rows(pg_database) == before
        store.save(busy_book(2, 3))  # the lock released: the same write goes through
        assert len(rows(pg_database)) == len(before) + 3
    finally:
        store.close()


def test_a_busy_write_is_exit_code_3_and_a_command_writes_nothing(pg_database: str) -> None:
    settings = Settings(database_url=pg_database, postgres_lock_timeout_s=0.3)
    with CreatorLedger.open(settings, clock=Clock()) as cl:
        before = cl.events_recorded()
        with psycopg.connect(pg_database) as holder:
            holder.execute("LOCK TABLE ledger_events IN EXCLUSIVE MODE")
            with pytest.raises(DatabaseBusyError) as info:
                scenario.fund(cl)
            holder.rollback()
        assert exit_code_for(info.value) == ExitCode.UNAVAILABLE == 3
        assert cl.events_recorded() == before
        scenario.fund(cl)  # tried again, it goes through
        assert cl.events_recorded() > before
        assert cl.fund("fund").budget_minor == 100_000_000


@dataclass
class LockWatch:
    """What a second connection saw of the events table's locks while a write ran."""

    samples: int = 0
    held: int = 0
    waiting_on_client: list[tuple[Any, ...]] = field(default_factory=list)


HOLDERS = (
    "SELECT a.pid, a.xact_start, a.state, a.wait_event FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.relation = 'ledger_events'::regclass AND l.mode = 'ExclusiveLock' AND l.granted"
)


def watch_locks(url: str, stop: threading.Event, seen: LockWatch) -> None:
    """Sample who holds the events table's lock; a holder that waits on its client (idle in
    transaction, or in ClientRead) counts if it still does, in the same transaction, 0.1 s
    later: pg_locks and pg_stat_activity are not read at one instant, so one sample can pair
    a lock with the state its session reached just after releasing it."""

    def on_client(rows: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        return {(r[0], r[1]) for r in rows if r[2] != "active" or r[3] == "ClientRead"}

    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            found = [tuple(r) for r in conn.execute(HOLDERS).fetchall()]
            seen.samples += 1
            seen.held += bool(found)
            suspects = on_client(found)
            if suspects:
                time.sleep(0.1)
                again = on_client([tuple(r) for r in conn.execute(HOLDERS).fetchall()])
                seen.waiting_on_client += sorted(suspects & again)
            time.sleep(0.002)


def test_the_largest_usage_report_completes_and_never_holds_the_lock_waiting_on_the_client(
    pg_database: str,
) -> None:
    """A report of the most rows a report takes (250,000: one event of several MB) hung in the
    library's pipelined insert, the events table locked; through the append function it
    completes within a bound, and no session ever holds the lock while it waits on its
    client, so another writer waits at most for the insert itself."""
    n = MAX_ROWS_PER_REPORT
    settings = Settings(database_url=pg_database)
    with (
        CreatorLedger.open(settings, clock=Clock()) as cl,
        CreatorLedger.open(settings, clock=Clock()) as other,
    ):
        scenario.fund(cl)
        refs = scenario.creators(cl, 500)
        [day] = scenario.pool_program(cl, pool_minor=1_000_000)
        report = [(refs[i % len(refs)], f"v{i}", 1 + i % 5) for i in range(n)]
        stop, seen = threading.Event(), LockWatch()
        watcher = threading.Thread(target=watch_locks, args=(pg_database, stop, seen))
        watcher.start()
        done: list[float] = []
        errors: list[BaseException] = []

        def big() -> None:
            started = time.monotonic()
            try:
                scenario.usage(cl, "pool", day, report)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
            done.append(time.monotonic() - started)

        reporter = threading.Thread(target=big, daemon=True)
        reporter.start()
        other_waits = []
        while reporter.is_alive() and len(other_waits) < 200:
            started = time.monotonic()
            other.create_fund(
                fund_key=f"side{len(other_waits)}",
                name="side",
                currency="USD",
                budget_minor=1,
                idempotency_key=f"side{len(other_waits)}",
                actor=scenario.ACTOR,
            )
            other_waits.append(time.monotonic() - started)
        reporter.join(timeout=120)
        stop.set()
        watcher.join()
        assert not reporter.is_alive(), "a 250,000-row report did not complete within 120 s"
        assert errors == []
        assert seen.samples > 10
        assert seen.waiting_on_client == []  # never idle in transaction or in ClientRead
        assert other_waits, "the other writer never ran while the report was written"
        assert max(other_waits) <= done[0] + 1.0
        # The events and the read models are right.
        estimate = cl.estimate_period(program_key="pool", period_key=day)
        assert estimate.figures.total_qualified_views == sum(r[2] for r in report)
        scenario.close(cl, "pool", day)
        assert cl.reconcile_internal().clean
        assert cl.balances(refs[0]).balances[0].payable_minor > 0
