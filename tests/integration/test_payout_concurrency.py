"""Two payout executions at once on PostgreSQL never overdraw a creator or pay one payout twice.

Each executor has its own ledger object (its own connection pools), as two processes would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.errors import StalePlanError
from creator_ledger.ledger.plan import PayoutPlan
from tests.scenario import ACTOR, creators, fund, open_day, release, usage

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(pg_database: str) -> str:  # PostgreSQL only
    return pg_database


def setup(cl: CreatorLedger, n: int, day: date = date(2026, 1, 1)) -> list[str]:
    fund(cl)
    refs = creators(cl, n, payout_ready=True)
    earn(cl, refs, day, 1)
    return refs


def earn(cl: CreatorLedger, refs: list[str], day: date, views: int) -> None:
    from creator_ledger import PoolShareRule

    key = f"p-{day}"
    cl.create_program(
        program_key=key,
        name=key,
        fund_key="fund",
        rule=PoolShareRule(pool_minor=len(refs) * 10_000),
        idempotency_key=key,
        actor=ACTOR,
    )
    period = open_day(cl, key, day)
    usage(cl, key, period, [(r, "v", views) for r in refs])
    cl.close_period(program_key=key, period_key=period, idempotency_key=f"close-{key}", actor=ACTOR)


def run_at_once(*jobs: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def go(i: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = job()
        except Exception as e:  # noqa: BLE001 - reported to the test below
            results[i] = e

    threads = [threading.Thread(target=go, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def paid_per_creator(provider: InMemoryProvider) -> Counter[str]:
    out: Counter[str] = Counter()
    for t in provider.transfers():
        out[t.metadata["creator_id"]] += t.amount_minor
    return out


def test_two_executions_of_one_plan_at_once_pay_each_payout_once(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    first, second = open_ledger(), open_ledger()
    refs = setup(first, 60)
    plan = release(first)
    provider = InMemoryProvider()
    results = run_at_once(
        lambda: first.execute(plan, provider, actor=ACTOR, batch_size=7),
        lambda: second.execute(plan, provider, actor=ACTOR, batch_size=7),
    )
    assert not any(isinstance(r, Exception) for r in results), results
    counts = provider.transfer_counts()
    assert len(counts) == len(plan.lines) == len(refs)
    assert set(counts.values()) == {1}
    assert sum(t.amount_minor for t in provider.transfers()) == plan.total_minor
    assert first.payout_status(plan.run_id).by_status == {"paid": len(refs)}
    assert all(b.payable_minor == 0 for r in refs for b in first.balances(r).balances)
    assert first.reconcile_internal().clean


def test_two_different_plans_at_once_never_overdraw_a_creator(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    first, second = open_ledger(), open_ledger()
    refs = setup(first, 40)
    earned = {b.creator_id: b.balances[0].payable_minor for b in (first.balances(r) for r in refs)}
    plan_a = release(first)
    plan_b = release(first, threshold_minor=1)  # same balances, another run id
    assert plan_a.run_id != plan_b.run_id
    provider = InMemoryProvider()
    results = run_at_once(
        lambda: first.execute(plan_a, provider, actor=ACTOR, batch_size=5),
        lambda: second.execute(plan_b, provider, actor=ACTOR, batch_size=5),
    )
    for r in results:
        assert not isinstance(r, Exception) or isinstance(r, StalePlanError), r
    paid = paid_per_creator(provider)
    assert all(paid[c] <= earned[c] for c in paid), "a creator was paid more than their balance"
    first.catch_up()
    requested = sum(p.amount_minor for p in first.parts.projector.read_models.payouts())
    assert sum(paid.values()) == requested
    assert set(provider.transfer_counts().values()) <= {1}
    for r in refs:
        for b in first.balances(r).balances:
            assert b.payable_minor >= 0
            assert (
                b.payable_minor + paid[first.balances(r).creator_id]
                == earned[first.balances(r).creator_id]
            )
    assert first.reconcile_internal().clean
    skipped = sum(len(r.skipped) for r in results if not isinstance(r, Exception))
    stale = sum(isinstance(r, StalePlanError) for r in results)
    assert skipped or stale, "the second run should have found the balances gone"


def test_a_plan_whose_creator_was_paid_meanwhile_skips_them(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    cl = open_ledger()
    refs = setup(cl, 4)
    plan_a: PayoutPlan = release(cl)
    plan_b: PayoutPlan = release(cl, threshold_minor=1)
    provider = InMemoryProvider()
    cl.execute(plan_a, provider, actor=ACTOR)
    # plan_b was computed from the same balances; a run started now is stale ...
    with pytest.raises(StalePlanError):
        cl.execute(plan_b, provider, actor=ACTOR)
    assert len(provider.transfers()) == len(refs)
