"""Approvals, rejections and executions of one payout run at once, on PostgreSQL: the run's
version orders them, so each payout is paid at most once and nothing is paid unless the run
was approved (and not rejected) when its execution started.

Each actor has its own ledger object (its own connection pools), as separate processes would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from creator_ledger import CreatorLedger, InvalidStateError, RunNotApprovedError
from creator_ledger.adapters.payments.memory import InMemoryProvider
from tests.integration.test_payout_concurrency import earn, run_at_once
from tests.scenario import ACTOR, APPROVER, PROPOSER, creators, fund

pytestmark = pytest.mark.postgres
#: One race per round; the second party starts this much later in each round, so that the
#: races end both ways (which way each goes is up to the scheduler).
STAGGER_S = (0.0, 0.02, 0.05, 0.15)
ROUNDS = len(STAGGER_S)


def later(delay_s: float, job: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        time.sleep(delay_s)
        return job()

    return run


@pytest.fixture
def database_url(pg_database: str) -> str:  # PostgreSQL only
    return pg_database


def test_an_approval_and_an_execution_at_once_pay_once_and_only_once_approved(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    approver, executor = open_ledger(), open_ledger()
    fund(approver)
    refs = creators(approver, 20, payout_ready=True)
    provider = InMemoryProvider()
    for n in range(ROUNDS):
        earn(approver, refs, date(2026, 1, 1) + timedelta(days=n), 1)
        run = approver.propose(currency="USD", idempotency_key=f"p{n}", actor=PROPOSER).run_id
        approval, execution = run_at_once(
            lambda run=run, n=n: approver.approve(run, idempotency_key=f"a{n}", actor=APPROVER),
            later(
                STAGGER_S[n],
                lambda run=run: executor.execute(run, provider, actor=ACTOR, batch_size=3),
            ),
        )
        assert not isinstance(approval, Exception), approval
        if isinstance(execution, Exception):
            assert isinstance(execution, RunNotApprovedError), execution
            paid_now = [t for t in provider.transfers() if t.metadata["run_id"] == run]
            assert paid_now == []  # refused before anything was requested
            execution = executor.execute(run, provider, actor=ACTOR, batch_size=3)
        assert execution.paid == len(refs)
        status = executor.payout_status(run)
        assert status.run is not None
        assert status.run.approved_by == [APPROVER]
    counts = provider.transfer_counts()
    assert len(counts) == ROUNDS * len(refs)
    assert set(counts.values()) == {1}
    assert approver.reconcile_internal().clean


def test_a_rejection_and_an_execution_at_once_either_pay_all_or_nothing(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    rejecter, executor = open_ledger(), open_ledger()
    fund(rejecter)
    refs = creators(rejecter, 20, payout_ready=True)
    provider = InMemoryProvider()
    for n in range(ROUNDS):
        earn(rejecter, refs, date(2026, 1, 1) + timedelta(days=n), 1)
        run = rejecter.propose(currency="USD", idempotency_key=f"p{n}", actor=PROPOSER).run_id
        rejecter.approve(run, idempotency_key=f"a{n}", actor=APPROVER)
        rejection, execution = run_at_once(
            later(
                STAGGER_S[n],
                lambda run=run, n=n: rejecter.reject(
                    run, reason="stop", idempotency_key=f"r{n}", actor=APPROVER
                ),
            ),
            lambda run=run: executor.execute(run, provider, actor=ACTOR, batch_size=3),
        )
        paid = [t for t in provider.transfers() if t.metadata["run_id"] == run]
        if isinstance(rejection, Exception):
            assert isinstance(rejection, InvalidStateError), rejection
            assert not isinstance(execution, Exception), execution
            assert len(paid) == len(refs)
        else:
            assert isinstance(execution, InvalidStateError), execution
            assert paid == []
            assert executor.payout_status(run).by_status == {}
    assert set(provider.transfer_counts().values()) <= {1}
    assert rejecter.reconcile_internal().clean
