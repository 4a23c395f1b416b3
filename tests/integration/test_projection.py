"""Read models apply each event exactly once, each with its own tracking position, even when
stopped mid-batch or raced by another projector; a rebuild — of all of them or of one — from
zero gives the same read models."""

from __future__ import annotations

import contextlib
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.readmodels import (
    READ_MODEL_NAMES,
    READ_MODELS,
    PostingRow,
    ProjectionBatch,
    StaleProjectionError,
)
from creator_ledger.adapters.readmodels.writer import RowWriter
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.projections import Projector
from tests.scenario import ACTOR, close, creators, fund, pay, pool_program, usage


def build_history(cl: CreatorLedger) -> None:
    fund(cl)
    refs = creators(cl, 40, payout_ready=True)
    periods = pool_program(cl, pool_minor=10_000, cap_minor=700, days=3)
    for i, period in enumerate(periods):
        usage(
            cl,
            "pool",
            period,
            [(r, "v", (n * 37 + i) % 11) for n, r in enumerate(refs)],
            report=f"r{i}",
        )
        close(cl, "pool", period)
    cl.place_hold(
        creator_ref=refs[0],
        hold_id="h",
        kind="accrual",
        reason="review",
        idempotency_key="h",
        actor=ACTOR,
    )
    cl.release_hold(creator_ref=refs[0], hold_id="h", idempotency_key="rh", actor=ACTOR)
    cl.place_hold(
        creator_ref=refs[1],
        hold_id="p",
        kind="payout",
        reason="review",
        idempotency_key="p",
        actor=ACTOR,
    )
    result = pay(cl, InMemoryProvider(), threshold_minor=1)
    assert result.paid > 0


def tables(cl: CreatorLedger, names: tuple[str, ...] = READ_MODEL_NAMES) -> dict[str, Any]:
    """Every row of the read models ``names``, in a stable order."""
    db = cl.parts.projector.read_models.db
    return {
        table: sorted(map(repr, db.query(f"SELECT * FROM {table}")))
        for name in names
        for table in READ_MODELS[name]
    }


def snapshot(cl: CreatorLedger) -> dict[str, Any]:
    rm = cl.parts.projector.read_models
    return {
        "tables": tables(cl),
        "balances": rm.all_balances(),
        "journal": rm.journal(limit=1_000_000),
        "trial": rm.trial_balance(),
        "creators": rm.creator_gates(),
        "payouts": rm.payouts(),
        "positions": rm.positions(),
    }


def test_a_projection_stopped_mid_batch_and_resumed_applies_every_event_exactly_once(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
    cl.parts.projector.rebuild()
    expected = snapshot(cl)
    cl.parts.projector.read_models.reset()
    cl.parts.projector.batch_size = 50
    calls = {"n": 0}
    real_write = RowWriter.write_postings

    def crash_on_third(self: RowWriter, cur: Any, postings: Any) -> None:
        calls["n"] += 1
        real_write(self, cur, postings)  # the rows are written ... then the process "dies"
        if calls["n"] == 3:
            raise RuntimeError("killed mid-batch")

    monkeypatch.setattr(RowWriter, "write_postings", crash_on_third)
    with pytest.raises(RuntimeError, match="killed mid-batch"):
        cl.catch_up()
    stopped_at = cl.parts.projector.read_models.position()
    assert 0 < stopped_at < cl.events_recorded()
    monkeypatch.setattr(RowWriter, "write_postings", real_write)
    cl.catch_up()
    assert snapshot(cl) == expected
    assert cl.reconcile_internal().clean  # replay == read model: nothing doubled, nothing lost


def test_a_crash_between_read_models_leaves_every_one_where_it_was(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
    cl.parts.projector.rebuild()
    expected = snapshot(cl)
    rm = cl.parts.projector.read_models
    rm.reset()
    cl.parts.projector.batch_size = 50
    real_changes = RowWriter.write_changes

    def crash_at_payouts(self: RowWriter, cur: Any, table: str, changes: Any) -> None:
        if table == "payouts":  # journal and entities rows are written by now
            raise RuntimeError("killed between read models")
        real_changes(self, cur, table, changes)

    monkeypatch.setattr(RowWriter, "write_changes", crash_at_payouts)
    with pytest.raises(RuntimeError, match="killed between read models"):
        cl.catch_up()
    positions = rm.positions()
    assert len(set(positions.values())) == 1, positions  # all moved together, or none did
    [position] = set(positions.values())
    assert 0 < position < cl.events_recorded()
    [[newest]] = rm.db.query("SELECT MAX(entry_id) FROM journal_entries")
    assert newest <= position  # nothing of the failed batch was kept
    assert rm.payouts() == []
    monkeypatch.setattr(RowWriter, "write_changes", real_changes)
    cl.catch_up()
    assert snapshot(cl) == expected
    assert cl.reconcile_internal().clean


def test_two_projectors_racing_apply_each_batch_once(open_ledger: Any) -> None:
    first: CreatorLedger = open_ledger()
    second: CreatorLedger = open_ledger()
    build_history(first)
    first.parts.projector.rebuild()
    expected = snapshot(first)
    first.parts.projector.read_models.reset()
    first.parts.projector.batch_size = second.parts.projector.batch_size = 25
    # Interleave two catch-ups batch by batch: each batch lands once, the loser moves on.
    while first.parts.projector.pending():
        first.parts.projector.catch_up(max_batches=1)
        second.parts.projector.catch_up(max_batches=1)
    assert first.reconcile_internal().clean
    assert snapshot(first) == snapshot(second) == expected


def test_a_batch_is_refused_whole_when_any_read_model_it_covers_has_moved(
    open_ledger: Any,
) -> None:
    first: CreatorLedger = open_ledger()
    second: CreatorLedger = open_ledger()
    build_history(first)
    first.parts.projector.rebuild()
    expected = snapshot(first)
    rm = first.parts.projector.read_models
    rm.reset(["journal", "payouts"])  # entities stay where they are
    positions = rm.positions()
    assert positions["journal"] == positions["payouts"] == 0 < positions["entities"]
    notifications = first.parts.store.notifications(1, 100)
    batch = first.parts.projector.batch(notifications, {"journal": 0, "payouts": 0})
    assert batch.entries
    assert set(batch.changes) <= set(READ_MODELS["payouts"])
    # Another projector moves only the payouts first: the whole batch is refused, the journal's
    # part too, and nothing is written.
    second.parts.projector.batch_size = 10
    second.parts.projector.catch_up(only="payouts", max_batches=1)
    moved = rm.positions()
    assert moved["payouts"] > 0 == moved["journal"]
    with pytest.raises(StaleProjectionError):
        rm.apply(batch)
    assert rm.positions() == moved
    assert rm.journal_count().entries == 0
    first.catch_up()
    assert snapshot(first) == expected
    assert first.reconcile_internal().clean


def test_projectors_racing_in_threads_never_apply_an_event_twice(open_ledger: Any) -> None:
    ledgers: list[CreatorLedger] = [open_ledger() for _ in range(3)]
    build_history(ledgers[0])
    ledgers[0].parts.projector.rebuild()
    expected = snapshot(ledgers[0])
    ledgers[0].parts.projector.read_models.reset()
    start = threading.Barrier(len(ledgers))

    def race(cl: CreatorLedger) -> None:
        cl.parts.projector.batch_size = 20
        start.wait(timeout=60)
        with contextlib.suppress(StaleProjectionError):  # lost too many races in a row: the
            while cl.parts.projector.pending():  # others go on
                cl.parts.projector.catch_up(max_batches=5)

    with ThreadPoolExecutor(max_workers=len(ledgers)) as pool:
        for done in [pool.submit(race, cl) for cl in ledgers]:
            done.result(timeout=300)  # re-raises anything else a projector raised
    ledgers[0].catch_up()
    assert snapshot(ledgers[0]) == expected
    assert ledgers[0].reconcile_internal().clean


def test_a_rebuild_from_zero_gives_identical_read_models(cl: CreatorLedger) -> None:
    build_history(cl)
    cl.catch_up()
    before = snapshot(cl)
    applied = cl.parts.projector.rebuild()
    assert applied == cl.events_recorded()
    assert snapshot(cl) == before


@pytest.mark.parametrize("name", READ_MODEL_NAMES)
def test_rebuilding_one_read_model_gives_identical_rows_and_leaves_the_others_alone(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    build_history(cl)
    cl.catch_up()
    before = snapshot(cl)
    written: list[ProjectionBatch] = []
    real_write = RowWriter.write

    def spy(self: RowWriter, cur: Any, batch: ProjectionBatch) -> None:
        written.append(batch)
        real_write(self, cur, batch)

    monkeypatch.setattr(RowWriter, "write", spy)
    applied = cl.rebuild_read_models(only=name)
    assert applied == cl.events_recorded()
    assert written
    assert all(set(b.positions) == {name} for b in written)
    own_tables = set(READ_MODELS[name])
    assert all(set(b.changes) <= own_tables for b in written)
    assert all(not b.entries and not b.postings for b in written) or name == "journal"
    assert snapshot(cl) == before


def test_read_models_at_different_positions_catch_up_in_one_pass(cl: CreatorLedger) -> None:
    build_history(cl)
    cl.catch_up()
    before = snapshot(cl)
    rm = cl.parts.projector.read_models
    rm.reset("payouts")
    assert rm.position("payouts") == 0 < rm.position("journal")
    assert rm.position() == 0  # what every read model has applied
    assert cl.parts.projector.pending() == cl.events_recorded()
    assert cl.parts.projector.pending(only="journal") == 0
    cl.parts.projector.batch_size = 30
    read = cl.catch_up()
    assert read == cl.events_recorded()  # each event read once, applied to payouts only
    assert snapshot(cl) == before
    assert cl.reconcile_internal().clean


def test_positions_and_pending_say_whether_an_event_lies_past_the_lowest_position(
    cl: CreatorLedger, open_ledger: Any
) -> None:
    rm = cl.parts.projector.read_models
    table = cl.parts.store.events_table  # None on SQLite: pending is then always assumed
    assert rm.positions_and_pending(READ_MODEL_NAMES, table) == (
        dict.fromkeys(READ_MODEL_NAMES, 0),
        table is None,  # nothing recorded yet: nothing to read
    )
    build_history(cl)
    assert rm.positions_and_pending(READ_MODEL_NAMES, table)[1]
    cl.catch_up()
    positions, pending = rm.positions_and_pending(READ_MODEL_NAMES, table)
    assert positions == rm.positions()
    assert pending == (table is None)
    rm.reset("payouts")  # no position row: at 0, with events after it
    assert rm.positions_and_pending(["payouts"], table)[1]
    assert rm.positions_and_pending(["journal"], table)[1] == (table is None)
    cl.catch_up()
    other = open_ledger()  # another process's write is seen at once
    fund(other, key="f2")
    assert rm.positions_and_pending(["journal"], table)[1]
    assert cl.catch_up() > 0
    assert rm.positions_and_pending(READ_MODEL_NAMES, table)[1] == (table is None)


def test_a_read_with_nothing_new_to_project_asks_the_database_once(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the check is one query on the read models' connection and the events are
    not read; on SQLite (events in the library's own file) the positions, then the events."""
    build_history(cl)
    cl.catch_up()
    on_postgres = cl.parts.store.events_table is not None
    db = cl.parts.projector.read_models.db
    real_query, real_notifications = db.query, cl.parts.store.notifications
    queries: list[str] = []
    reads: list[int] = []

    def counted(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        queries.append(sql)
        return real_query(sql, params)

    def notifications(start: int, limit: int) -> list[tuple[int, Any]]:
        reads.append(start)
        return real_notifications(start, limit)

    monkeypatch.setattr(db, "query", counted)
    monkeypatch.setattr(cl.parts.store, "notifications", notifications)
    assert cl.catch_up() == 0
    assert (len(queries), len(reads)) == ((1, 0) if on_postgres else (1, 1))
    [gate, *_] = cl.parts.projector.read_models.creator_gates().values()
    queries.clear()
    reads.clear()
    cl.balances(gate.creator_ref)
    assert (len(queries), len(reads)) == ((2, 0) if on_postgres else (2, 1))


def test_an_unknown_read_model_is_refused(cl: CreatorLedger) -> None:
    with pytest.raises(InvalidInputError, match="unknown read model"):
        cl.rebuild_read_models(only="ledger")
    with pytest.raises(InvalidInputError, match="unknown read model"):
        cl.catch_up(only=["journal", "balances"])


def test_a_batch_that_goes_back_and_forward_in_business_time_keeps_running_balances_right(
    cl: CreatorLedger,
) -> None:
    """In one batch an account gets a posting, an earlier one, then a later one; a later batch
    adds one in between.  Every as-of balance still sums the postings up to that day."""
    rm = cl.parts.projector.read_models
    day = [date(2026, 3, d) for d in range(1, 6)]

    def posting(entry: int, amount: int, on: date) -> PostingRow:
        return (entry, 0, "creator:payable", "c", "USD", amount, on, None)

    first = ProjectionBatch(last_notification_id=3, positions={"journal": 0})
    first.postings += [posting(1, 100, day[3]), posting(2, 10, day[2]), posting(3, 1, day[4])]
    rm.apply(first)
    second = ProjectionBatch(last_notification_id=4, positions={"journal": 3})
    second.postings.append(posting(4, 1_000, day[3]))
    rm.apply(second)
    as_of = [rm.balance_as_of("creator:payable", "c", "USD", d) for d in day]
    assert as_of == [0, 0, 10, 1_110, 1_111]
    assert rm.balance("creator:payable", "c", "USD") == 1_111


def test_decoding_and_projecting_a_history_makes_no_reference_cycles(cl: CreatorLedger) -> None:
    """A rebuild pauses the cyclic collector and never collects between its batches: that holds
    only while the events it decodes and the rows it folds them into free themselves by
    reference counting.  Every event of a history, decoded and projected into every read
    model, leaves nothing for the collector."""
    build_history(cl)
    store = cl.parts.store
    Projector.batch(store.notifications(1, 10), dict.fromkeys(READ_MODEL_NAMES, 0))  # caches
    gc.collect()
    gc.disable()
    try:
        rows = list(store.stored_rows(1))
        assert len(rows) > 100
        batch = Projector.batch(store.decode_rows(rows), dict.fromkeys(READ_MODEL_NAMES, 0))
        assert batch.entries
        assert batch.postings
        assert batch.changes
        assert batch.audit
        del rows, batch
        assert gc.collect() == 0
    finally:
        gc.enable()
