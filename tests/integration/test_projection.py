"""Read models apply each event exactly once, even when stopped mid-batch, and a rebuild from
zero gives the same read models."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.readmodels import PostingRow, ProjectionBatch
from creator_ledger.adapters.readmodels.writer import RowWriter
from tests.scenario import close, creators, fund, pool_program, usage


def build_history(cl: CreatorLedger) -> None:
    fund(cl)
    refs = creators(cl, 40)
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
        creator_ref=refs[0], hold_id="h", kind="accrual", reason="review", idempotency_key="h"
    )
    cl.release_hold(creator_ref=refs[0], hold_id="h", idempotency_key="rh")


def snapshot(cl: CreatorLedger) -> dict[str, Any]:
    rm = cl.parts.projector.read_models
    return {
        "balances": rm.all_balances(),
        "journal": rm.journal(limit=1_000_000),
        "trial": rm.trial_balance(),
        "creators": rm.creator_gates(),
        "position": rm.position(),
    }


def test_a_projection_stopped_mid_batch_and_resumed_applies_every_event_exactly_once(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(cl)
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
    resumed = snapshot(cl)
    assert cl.reconcile_internal().clean  # replay == read model: nothing doubled, nothing lost
    cl.parts.projector.rebuild()
    assert snapshot(cl) == resumed


def test_two_projectors_racing_apply_each_batch_once(open_ledger: Any) -> None:
    first: CreatorLedger = open_ledger()
    second: CreatorLedger = open_ledger()
    build_history(first)
    first.parts.projector.batch_size = second.parts.projector.batch_size = 25
    # Interleave two catch-ups batch by batch: each batch lands once, the loser moves on.
    while first.parts.projector.pending():
        first.parts.projector.catch_up(max_batches=1)
        second.parts.projector.catch_up(max_batches=1)
    assert first.reconcile_internal().clean
    assert snapshot(first) == snapshot(second)


def test_a_rebuild_from_zero_gives_identical_read_models(cl: CreatorLedger) -> None:
    build_history(cl)
    cl.catch_up()
    before = snapshot(cl)
    applied = cl.parts.projector.rebuild()
    assert applied == cl.events_recorded()
    assert snapshot(cl) == before


def test_a_batch_that_goes_back_and_forward_in_business_time_keeps_running_balances_right(
    cl: CreatorLedger,
) -> None:
    """In one batch an account gets a posting, an earlier one, then a later one; a later batch
    adds one in between.  Every as-of balance still sums the postings up to that day."""
    rm = cl.parts.projector.read_models
    day = [date(2026, 3, d) for d in range(1, 6)]

    def posting(entry: int, amount: int, on: date) -> PostingRow:
        return (entry, 0, "creator:payable", "c", "USD", amount, on, None)

    first = ProjectionBatch(last_notification_id=3)
    first.postings += [posting(1, 100, day[3]), posting(2, 10, day[2]), posting(3, 1, day[4])]
    rm.apply(first, expected_position=0)
    second = ProjectionBatch(last_notification_id=4)
    second.postings.append(posting(4, 1_000, day[3]))
    rm.apply(second, expected_position=3)
    as_of = [rm.balance_as_of("creator:payable", "c", "USD", d) for d in day]
    assert as_of == [0, 0, 10, 1_110, 1_111]
    assert rm.balance("creator:payable", "c", "USD") == 1_111
