"""PostgreSQL rebuilds in one transaction: the read models' indexes and keys (but those the
audit trail's upserts need) are dropped for the load and built again after it, exactly as they
were; a rebuild that fails half-way leaves
the read models, their indexes and their positions as they were; events recorded while a
rebuild runs are caught up by it."""

from __future__ import annotations

from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.readmodels import READ_MODELS, ProjectionBatch
from creator_ledger.adapters.readmodels.schema import READ_MODEL_TABLES
from creator_ledger.adapters.readmodels.writer import BULK_MIN_ROWS, RowWriter
from creator_ledger.ledger import projections
from tests.integration.test_projection import build_history, snapshot
from tests.scenario import close, creators, fund, pay, pool_program, usage

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(pg_database: str) -> str:  # PostgreSQL only
    return pg_database


def indexes(cl: CreatorLedger) -> list[tuple[str, str]]:
    db = cl.parts.projector.read_models.db
    rows = db.query(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY indexname",
        (list(READ_MODEL_TABLES),),
    )
    return [(str(n), str(d)) for n, d in rows]


def test_a_rebuild_drops_the_indexes_and_keys_for_the_load_and_builds_them_again(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
    cl.catch_up()
    before, rows_before = indexes(cl), snapshot(cl)
    assert any(name == "postings_account_effective" for name, _ in before)
    during: list[list[str]] = []
    real_write = RowWriter.write

    def spy(self: RowWriter, cur: Any, batch: ProjectionBatch) -> None:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)",
            (list(READ_MODEL_TABLES),),
        )
        during.append(sorted(str(r[0]) for r in cur.fetchall()))
        real_write(self, cur, batch)

    monkeypatch.setattr(RowWriter, "write", spy)
    monkeypatch.setattr(projections, "REBUILD_BATCH_SIZE", 50)
    cl.parts.projector.batch_size = 50
    assert cl.parts.projector.rebuild() == cl.events_recorded()
    assert len(during) > 2  # several batches, all in one transaction
    # Only the keys the audit trail's upserts need stay through the load.
    assert all(names == ["audit_effects_pkey", "audit_entries_pkey"] for names in during)
    assert indexes(cl) == before
    assert snapshot(cl) == rows_before


def test_a_rebuild_that_fails_half_way_changes_nothing(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
    cl.catch_up()
    before, rows_before = indexes(cl), snapshot(cl)
    positions = cl.parts.projector.read_models.positions()
    real_write = RowWriter.write
    calls = 0

    def fail_on_third(self: RowWriter, cur: Any, batch: ProjectionBatch) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process dies")
        real_write(self, cur, batch)

    monkeypatch.setattr(RowWriter, "write", fail_on_third)
    monkeypatch.setattr(projections, "REBUILD_BATCH_SIZE", 50)
    cl.parts.projector.batch_size = 50
    with pytest.raises(RuntimeError, match="dies"):
        cl.parts.projector.rebuild(only=["journal", "audit"])
    assert calls == 3
    assert indexes(cl) == before
    assert snapshot(cl) == rows_before
    assert cl.parts.projector.read_models.positions() == positions


def test_events_recorded_during_a_rebuild_are_caught_up(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
    cl.catch_up()
    real_replace = type(cl.parts.projector.read_models).replace
    recorded_meanwhile = False

    def replace_then_record(self: Any, only: Any, batches: Any) -> int:
        nonlocal recorded_meanwhile
        last = real_replace(self, only, batches)
        creators(cl, 3, "late")  # after the rebuild read its events
        recorded_meanwhile = True
        return last

    monkeypatch.setattr(type(cl.parts.projector.read_models), "replace", replace_then_record)
    applied = cl.parts.projector.rebuild(only="entities")
    assert recorded_meanwhile
    assert applied == cl.events_recorded()
    rm = cl.parts.projector.read_models
    assert rm.positions()["entities"] == cl.events_recorded()
    tables = READ_MODELS["entities"]
    assert "creators" in tables
    (count,) = rm.db.query("SELECT COUNT(*) FROM creators")[0]
    assert count == 40 + 3


def test_a_rebuild_with_many_rows_per_table_gives_identical_read_models(
    cl: CreatorLedger,
) -> None:
    """Enough creators, claim items and payouts that each table's rows go in by binary COPY
    (groups of at least ``BULK_MIN_ROWS``), in a catch-up and in a rebuild alike."""
    fund(cl)
    refs = creators(cl, 2 * BULK_MIN_ROWS, payout_ready=True)
    (period,) = pool_program(cl, pool_minor=1_000_000)
    usage(cl, "pool", period, [(r, "v", 10 + n) for n, r in enumerate(refs)])
    close(cl, "pool", period)
    result = pay(cl, InMemoryProvider(), threshold_minor=1)
    assert result.paid >= BULK_MIN_ROWS
    cl.catch_up()
    rm = cl.parts.projector.read_models
    (payouts,) = rm.db.query("SELECT COUNT(*) FROM payouts")[0]
    assert payouts >= BULK_MIN_ROWS
    before = snapshot(cl)
    assert cl.parts.projector.rebuild() == cl.events_recorded()
    assert snapshot(cl) == before
