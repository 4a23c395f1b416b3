"""Exactly-once payment under faults: the real StripeClient, over real HTTP, against the
Stripe-compatible fake.  For each fault, running the plan again leaves exactly one transfer per
payout at the provider, and provider reconciliation comes back clean."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from creator_ledger import CreatorLedger
from creator_ledger.adapters.payments.port import PaymentProvider, Transfer, TransferRequest
from creator_ledger.adapters.payments.stripe_connect import StripeConnectProvider
from creator_ledger.adapters.payments.webhooks import sign_stripe_payload
from creator_ledger.ledger.plan import PayoutPlan
from tests.fakes.stripe_server import FakeStripeServer, Fault, fake_stripe
from tests.scenario import ACTOR, at, close, creators, fund, pool_program, release, usage

SINCE = datetime(2025, 12, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 1, tzinfo=UTC)
N = 6
WEBHOOK_SECRET = "whsec_exactly_once"


@pytest.fixture(autouse=True)
def fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.05)


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with fake_stripe() as fake:
        yield fake


@pytest.fixture
def provider(server: FakeStripeServer) -> Iterator[StripeConnectProvider]:
    p = StripeConnectProvider(
        server.api_key,
        base_url=server.base_url,
        max_network_retries=1,
        connect_timeout_s=0.5,
        read_timeout_s=0.5,
        rate_limit_retries=2,
        rate_limit_backoff_s=0.01,
        rate_limit_backoff_max_s=0.02,
        sleep=lambda _s: None,
    )
    yield p
    p.close()


def earn(cl: CreatorLedger, server: FakeStripeServer, n: int = N) -> list[str]:
    """``n`` payout-ready creators with connected accounts at the fake, each with earnings."""
    fund(cl)
    refs = creators(cl, n)
    for i, ref in enumerate(refs):
        cl.link_payout_account(
            creator_ref=ref,
            account_ref=server.create_account(),
            status="active",
            effective_at=at(),
            idempotency_key=f"acct/{ref}",
            actor=ACTOR,
        )
        cl.set_kyc_status(
            creator_ref=ref,
            kyc_status="verified",
            tax_status="verified",
            effective_at=at(),
            idempotency_key=f"kyc/{ref}",
            actor=ACTOR,
        )
        assert i >= 0
    [period] = pool_program(cl, pool_minor=600_000)
    usage(cl, "pool", period, [(r, "v", 10 + i) for i, r in enumerate(refs)])
    close(cl, "pool", period)
    return refs


def assert_exactly_once(
    cl: CreatorLedger, plan: PayoutPlan, server: FakeStripeServer, provider: PaymentProvider
) -> None:
    counts = server.transfer_counts_by_payout()
    status = cl.payout_status(plan.run_id)
    assert status.by_status == {"paid": len(plan.lines)}, status
    assert len(counts) == len(plan.lines)
    assert set(counts.values()) == {1}, counts
    assert sum(t["amount"] for t in server.transfers()) == plan.total_minor
    report = cl.reconcile_provider(provider, since=SINCE, until=UNTIL)
    assert report.clean, report.discrepancies
    assert cl.reconcile_internal().clean


@pytest.mark.parametrize(
    "fault",
    [
        Fault.ERROR_500_AFTER_COMMIT,
        Fault.TIMEOUT_AFTER_COMMIT,
        Fault.RESET_AFTER_COMMIT,
        Fault.RESET_BEFORE_COMMIT,
        Fault.ERROR_500_BEFORE_COMMIT,
        Fault.TIMEOUT_BEFORE_COMMIT,
        Fault.RATE_LIMIT,
    ],
)
def test_each_fault_leaves_exactly_one_transfer_per_payout(
    cl: CreatorLedger, server: FakeStripeServer, provider: StripeConnectProvider, fault: Fault
) -> None:
    earn(cl, server)
    plan = release(cl)
    assert len(plan.lines) == N
    server.faults.push(fault, times=3, delay_s=0.8)
    results = [cl.execute(plan, provider, actor=ACTOR)]
    # As an operator (or a cron job) would: run it again until it reports complete.  A request
    # the provider is still processing stays unresolved, never sent under another key.
    for _ in range(5):
        if results[-1].complete:
            break
        time.sleep(0.5)
        results.append(cl.execute(plan, provider, actor=ACTOR))
    assert results[-1].complete, results
    assert_exactly_once(cl, plan, server, provider)


class Killed(BaseException):
    """The executor process dying (not an Exception: nothing catches it)."""


class DiesAt:
    """A provider that kills the executor before or after the N-th real transfer."""

    def __init__(
        self, inner: PaymentProvider, *, before: int | None = None, after: int | None = None
    ) -> None:
        self.inner = inner
        self.before = before
        self.after = after
        self.calls = 0

    def create_transfer(self, request: TransferRequest) -> Transfer:
        self.calls += 1
        if self.calls == self.before:
            raise Killed("killed between the payout request and the provider call")
        transfer = self.inner.create_transfer(request)
        if self.calls == self.after:
            raise Killed("killed between the provider call and recording its result")
        return transfer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_executor_killed_mid_run_is_finished_by_the_next_run_paying_nobody_twice(
    open_ledger: Any, server: FakeStripeServer, provider: StripeConnectProvider, where: str
) -> None:
    cl: CreatorLedger = open_ledger()
    earn(cl, server)
    plan = release(cl)
    dying = DiesAt(provider, **{where: 3})
    with pytest.raises(Killed):
        cl.execute(plan, dying, actor=ACTOR)  # type: ignore[arg-type]
    assert len(server.transfers()) == (2 if where == "before" else 3)
    survivor: CreatorLedger = open_ledger()  # a new process: nothing in memory survives
    result = survivor.execute(plan, provider, actor=ACTOR)
    assert result.complete
    assert result.paid == N
    assert_exactly_once(survivor, plan, server, provider)


def test_a_rejected_transfer_fails_the_payout_and_returns_the_money_to_payable(
    cl: CreatorLedger, server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    refs = earn(cl, server)
    plan = release(cl)
    victim = next(x for x in plan.lines if x.creator_ref == refs[1])
    server.set_account_state(victim.destination, transfers="inactive")
    result = cl.execute(plan, provider, actor=ACTOR)
    assert (result.paid, result.failed, result.unresolved) == (N - 1, 1, 0)
    assert "insufficient_capabilities_for_transfer" in result.failures[0]["failure"]
    assert cl.balances(refs[1]).balances[0].payable_minor == victim.amount_minor
    report = cl.reconcile_provider(provider, since=SINCE, until=UNTIL)
    assert report.clean, report.discrepancies
    assert cl.reconcile_internal().clean
    # The failed payout is owed again: the next plan includes it once the account works.
    server.set_account_state(victim.destination, transfers="active")
    retry = cl.plan(currency="USD")
    assert [(x.creator_ref, x.amount_minor) for x in retry.lines] == [
        (refs[1], victim.amount_minor)
    ]


def test_insufficient_platform_balance_fails_payouts_cleanly(
    cl: CreatorLedger, server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    earn(cl, server)
    plan = release(cl)
    server.set_balance("usd", plan.lines[0].amount_minor)  # enough for the first only
    result = cl.execute(plan, provider, actor=ACTOR)
    assert result.paid == 1
    assert result.failed == N - 1
    assert all("balance_insufficient" in f["failure"] for f in result.failures)
    assert cl.reconcile_provider(provider, since=SINCE, until=UNTIL).clean
    assert cl.trial_balance().balanced


def test_provider_reconciliation_lists_every_discrepancy(
    cl: CreatorLedger, server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    refs = earn(cl, server)
    plan = release(cl)
    cl.execute(plan, provider, actor=ACTOR)
    # Someone pays a creator outside the ledger, twice.
    stranger = server.create_account()
    for i in range(2):
        provider.create_transfer(
            TransferRequest(
                payout_id=f"manual-{i}",
                idempotency_key=f"manual-{i}",
                destination=stranger,
                amount_minor=500,
                currency="USD",
            )
        )
    report = cl.reconcile_provider(provider, since=SINCE, until=UNTIL)
    assert not report.clean
    assert report.checks["unknown_to_ledger"] == 2
    assert len(report.discrepancies) == 2
    assert refs


def test_a_reversal_delivered_while_its_payout_waits_takes_effect_when_the_run_resumes(
    open_ledger: Any, server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    """The executor is killed between the provider's commit and its answer; the transfer is
    reversed at the provider and its signed ``transfer.reversed`` delivered (twice) while the
    payout is still requested.  The reversal is kept, not acknowledged idly: when the run
    resumes, the creator is owed the reversed amount again."""
    cl: CreatorLedger = open_ledger()
    earn(cl, server)
    plan = release(cl)
    with pytest.raises(Killed):
        cl.execute(plan, DiesAt(provider, after=1), actor=ACTOR)  # type: ignore[arg-type]
    [sent] = server.transfers()
    provider.reverse_transfer(sent["id"], sent["amount"], "reverse-after-the-crash")
    [reversed_transfer] = server.transfers()
    event = {
        "id": "evt_reversed_early",
        "object": "event",
        "type": "transfer.reversed",
        "created": server.now(),
        "livemode": False,
        "data": {"object": reversed_transfer},
    }
    body = json.dumps(event).encode()
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))
    first = cl.handle_stripe_webhook(body, header, secret=WEBHOOK_SECRET)
    assert (first.action, first.amount_minor) == ("reversal_reported", sent["amount"])
    assert cl.handle_stripe_webhook(body, header, secret=WEBHOOK_SECRET) == first
    line = next(x for x in plan.lines if x.destination == sent["destination"])
    assert cl.balances(line.creator_ref).balances[0].payable_minor == 0
    survivor: CreatorLedger = open_ledger()  # a new process
    result = survivor.execute(plan.run_id, provider, actor=ACTOR)
    assert (result.complete, result.paid) == (True, N)
    assert survivor.balances(line.creator_ref).balances[0].payable_minor == sent["amount"]
    assert set(server.transfer_counts_by_payout().values()) == {1}
    assert survivor.payout_status(plan.run_id).by_status == {"paid": N - 1, "reversed": 1}
    assert survivor.reconcile_provider(provider, since=SINCE, until=UNTIL).clean
    assert survivor.reconcile_internal().clean
