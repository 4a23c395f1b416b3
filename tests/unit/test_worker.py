"""The worker's loop in-process: catch-up, the daily instalment duty (once per agreement and
day, however often it runs), a stop request between batches."""

from __future__ import annotations

from datetime import UTC, date, datetime

from creator_ledger import CreatorLedger
from creator_ledger.ledger.worker import Worker
from tests import scenario


def agree_monthly(cl: CreatorLedger) -> None:
    scenario.fund(cl)
    scenario.creators(cl, 1)
    cl.agree_exclusivity(
        agreement_key="deal-1",
        creator_ref="c0",
        fund_key="fund",
        total_minor=12_000,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        schedule="monthly",
        instalments=12,
        effective_at=scenario.at(),
        idempotency_key="deal-1",
        actor=scenario.ACTOR,
    )


def test_the_worker_catches_up_and_credits_due_instalments_once_a_day(cl: CreatorLedger) -> None:
    agree_monthly(cl)
    before = cl.events_recorded()
    march = datetime(2026, 3, 15, 6, tzinfo=UTC)
    stats = Worker(cl, clock=lambda: march).run(once=True)
    assert stats.events_applied >= before
    credited = cl.agreement("deal-1").credited_minor
    assert credited == 3_000  # January, February and March
    after_first = cl.events_recorded()

    Worker(cl, clock=lambda: march).run(once=True)  # again the same day: nothing new
    assert cl.events_recorded() == after_first
    assert cl.agreement("deal-1").credited_minor == credited

    april = datetime(2026, 4, 2, 6, tzinfo=UTC)
    Worker(cl, clock=lambda: april).run(once=True)
    assert cl.agreement("deal-1").credited_minor == 4_000
    assert cl.parts.projector.read_models.position() == cl.events_recorded()


def test_a_stop_request_ends_the_loop_after_the_batch_in_progress(cl: CreatorLedger) -> None:
    scenario.fund(cl)
    scenario.creators(cl, 5)
    cl.parts.projector.batch_size = 1
    worker = Worker(cl, duties=())
    calls = []
    real = cl.parts.projector.catch_up

    def one_batch_then_stop(**kwargs: object) -> int:
        calls.append(kwargs)
        n = real(max_batches=1)
        worker.stop()  # as SIGTERM's handler does, in the middle of the catch-up
        return n

    cl.parts.projector.catch_up = one_batch_then_stop  # type: ignore[method-assign]
    stats = worker.run()
    assert stats.batches == 1
    assert len(calls) == 1
    position = cl.parts.projector.read_models.position()
    assert 0 < position < cl.events_recorded()  # the batch committed whole; the rest waits
