"""A payout the provider will never settle can be ended by an operator, safely and on the
record: failed back to payable once the provider has no transfer for it after its idempotency
key expired, or recorded as paid if it has one; never re-sent under a new key.  On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from creator_ledger import CreatorLedger, InvalidStateError, NotFoundError, Settings
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import Transfer, TransferRequest
from creator_ledger.ledger.payout_settlement import SETTLE_AFTER
from tests.conftest import Clock, event_count
from tests.scenario import ACTOR, creators, fund, pay, release
from tests.unit.test_payouts import balances, earn

OPERATOR = "op:payments-lead@example.com"


@pytest.fixture
def ledger(database_url: str) -> Iterator[tuple[CreatorLedger, Clock]]:
    clock = Clock()
    cl = CreatorLedger.open(Settings(database_url=database_url), clock=clock)
    fund(cl)
    creators(cl, 2, payout_ready=True)
    earn(cl, {"c0": 5_000})
    yield cl, clock
    cl.close()


class StoredFailure(InMemoryProvider):
    """A provider that stored a failure under the payout's key: every repeat of it fails with
    an unknown outcome (as Stripe answers a stored 500 for 24 hours), and nothing is made."""

    def __init__(self) -> None:
        super().__init__()
        self.sends = 0

    def create_transfer(self, request: TransferRequest) -> Transfer:
        self.sends += 1
        self.fail_before_commit()
        return super().create_transfer(request)


class DiesAfterCommit(InMemoryProvider):
    """The executor dies between the provider's commit and its answer (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.dead = False

    def create_transfer(self, request: TransferRequest) -> Transfer:
        transfer = super().create_transfer(request)
        if not self.dead:
            self.dead = True
            raise KeyboardInterrupt("killed after the provider's commit")
        return transfer


def stuck(cl: CreatorLedger, provider: InMemoryProvider) -> str:
    """A released run whose payout stays in transit; its payout id."""
    plan = release(cl)
    for _ in range(3):  # run after run, it stays requested
        result = cl.execute(plan.run_id, provider, actor=ACTOR)
        assert (result.paid, result.unresolved) == (0, 1)
    [payout_id] = cl.payout_status(plan.run_id).unresolved
    return payout_id


def settle(cl: CreatorLedger, payout_id: str, provider: Any, key: str = "settle") -> Any:
    return cl.settle_payout(
        payout_id,
        provider,
        reason="Stripe stored a 500 for its key; no transfer after 25 hours",
        idempotency_key=key,
        actor=OPERATOR,
    )


def test_a_payout_with_no_transfer_is_failed_back_to_payable_once_its_key_expired(
    ledger: tuple[CreatorLedger, Clock],
) -> None:
    cl, clock = ledger
    provider = StoredFailure()
    payout_id = stuck(cl, provider)
    assert balances(cl, "c0") == (0, 0, 0)  # in transit
    written = event_count(cl)
    with pytest.raises(InvalidStateError, match="can be settled from") as early:
        settle(cl, payout_id, provider)
    assert "payouts execute" in early.value.message
    assert event_count(cl) == written
    clock.now += SETTLE_AFTER
    sends = provider.sends
    done = settle(cl, payout_id, provider)
    assert (done.status, done.transfer_id, done.amount_minor) == ("failed", None, 5_000)
    assert provider.sends == sends  # asked, never sent again
    assert provider.transfers() == []
    assert balances(cl, "c0") == (5_000, 0, 0)
    status = cl.payout_status(done.run_id)
    assert status.by_status == {"failed": 1}
    assert "settled by op:payments-lead@example.com" in status.failures[0]["failure"]
    assert cl.trial_balance().balanced
    assert cl.reconcile_internal().clean
    # Recorded with its actor, idempotent on its key; the run finishes; a new run pays the
    # creator under a new payout id (and so a new key).
    written = event_count(cl)
    assert settle(cl, payout_id, provider) == done
    assert event_count(cl) == written
    [entry] = [e for e in cl.audit(run_id=done.run_id).entries if e.command == "settle_payout"]
    assert (entry.actor, entry.idempotency_key) == (OPERATOR, "settle")
    assert cl.execute(done.run_id, provider, actor=ACTOR).complete
    fresh = InMemoryProvider()
    again = pay(cl, fresh)
    assert again.paid == 1
    assert fresh.transfers()[0].payout_id != payout_id


def test_a_payout_whose_transfer_exists_is_settled_as_paid_whatever_its_age(
    ledger: tuple[CreatorLedger, Clock],
) -> None:
    cl, _ = ledger
    provider = DiesAfterCommit()
    plan = release(cl)
    with pytest.raises(KeyboardInterrupt):
        cl.execute(plan.run_id, provider, actor=ACTOR)
    [payout_id] = cl.payout_status(plan.run_id).unresolved
    done = settle(cl, payout_id, provider)
    assert (done.status, done.transfer_id) == ("paid", provider.transfers()[0].transfer_id)
    assert cl.payout_status(plan.run_id).by_status == {"paid": 1}
    assert len(provider.transfers()) == 1
    assert cl.reconcile_internal().clean


def test_only_a_payout_in_transit_is_settled(ledger: tuple[CreatorLedger, Clock]) -> None:
    cl, _ = ledger
    provider = InMemoryProvider()
    result = pay(cl, provider)
    cl.catch_up()
    [row] = cl.parts.projector.read_models.payouts(run_id=result.run_id)
    with pytest.raises(InvalidStateError, match="is paid"):
        settle(cl, str(row.payout_id), provider)
    with pytest.raises(NotFoundError):
        settle(cl, "00000000-0000-0000-0000-000000000000", provider, key="other")


def test_settling_needs_an_actor_and_a_reason(ledger: tuple[CreatorLedger, Clock]) -> None:
    cl, _ = ledger
    provider = StoredFailure()
    payout_id = stuck(cl, provider)
    call: Callable[..., Any] = cl.settle_payout
    with pytest.raises(Exception, match="--actor or LEDGER_ACTOR"):
        call(payout_id, provider, reason="r", idempotency_key="k", actor="")
    with pytest.raises(Exception, match="reason"):
        call(payout_id, provider, reason="", idempotency_key="k", actor=OPERATOR)
    assert timedelta(hours=24) < SETTLE_AFTER
