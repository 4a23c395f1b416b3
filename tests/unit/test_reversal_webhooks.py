"""A reversal webhook takes effect only on the payout whose transfer it names — the payout's
own transfer id, currency, destination and amount — and never on another; a reversal that
arrives before the payout's outcome is recorded waits on the payout and takes effect then; the
webhook endpoint refuses events from the other Stripe mode than its key's.  On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from creator_ledger import CreatorLedger, InvalidInputError, Settings, WebhookSignatureError
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import Transfer, TransferRequest
from tests.conftest import Clock, event_count
from tests.scenario import ACTOR, creators, fund, pay, release
from tests.unit.test_payouts import SECRET, _reversal_event, _signed, balances, earn


@pytest.fixture
def paid(cl: CreatorLedger) -> tuple[CreatorLedger, Any]:
    """c0 paid 5,000 USD; the transfer."""
    fund(cl)
    creators(cl, 2, payout_ready=True)
    earn(cl, {"c0": 5_000})
    provider = InMemoryProvider()
    pay(cl, provider)
    return cl, provider.transfers()[0]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"id": "tr_someone_else"}, "transfer tr_someone_else, not the payout's"),
        ({"currency": "eur"}, "currency EUR, not USD"),
        ({"destination": "acct_attacker"}, "destination 'acct_attacker'"),
        ({"amount": 9_000, "amount_reversed": 9_000}, "amount 9000, not 5000"),
    ],
)
def test_a_reversal_that_does_not_match_the_payout_is_refused_and_records_nothing(
    paid: tuple[CreatorLedger, Any], change: dict[str, Any], why: str
) -> None:
    cl, transfer = paid
    event = _reversal_event(transfer, 5_000, "evt_forged")
    event["data"]["object"].update(change)
    body, header = _signed(event)
    written = event_count(cl)
    with pytest.raises(InvalidInputError, match="does not match it") as refused:
        cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert why in refused.value.message
    assert event_count(cl) == written
    assert balances(cl, "c0") == (0, 0, 0)
    # The genuine event is still recorded: the forged one left no answer under its id.
    body, header = _signed(_reversal_event(transfer, 5_000, "evt_forged"))
    assert cl.handle_stripe_webhook(body, header, secret=SECRET).action == "reversal_recorded"
    assert balances(cl, "c0") == (5_000, 0, 0)


class DiesAfterCommit(InMemoryProvider):
    """The executor dies between the provider's commit and its answer, the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.dead = False

    def create_transfer(self, request: TransferRequest) -> Transfer:
        transfer = super().create_transfer(request)
        if not self.dead:
            self.dead = True
            raise KeyboardInterrupt("killed after the provider's commit")
        return transfer


def test_a_reversal_before_the_payout_s_outcome_takes_effect_when_it_is_recorded(
    cl: CreatorLedger,
) -> None:
    fund(cl)
    creators(cl, 2, payout_ready=True)
    earn(cl, {"c0": 55_099})
    provider = DiesAfterCommit()
    plan = release(cl)
    with pytest.raises(KeyboardInterrupt):
        cl.execute(plan.run_id, provider, actor=ACTOR)
    [transfer] = provider.transfers()
    provider.reverse_transfer(transfer.transfer_id, 55_099, "reverse-it")
    body, header = _signed(_reversal_event(transfer, 55_099, "evt_early"))
    first = cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert first.action == "reversal_reported"  # kept on the payout, not acknowledged idly
    assert cl.handle_stripe_webhook(body, header, secret=SECRET) == first  # a redelivery
    assert balances(cl, "c0") == (0, 0, 0)  # in transit until the outcome is known
    result = cl.execute(plan.run_id, provider, actor=ACTOR)
    assert (result.paid, result.complete) == (1, True)
    assert balances(cl, "c0") == (55_099, 0, 0)
    assert cl.payout_status(plan.run_id).by_status == {"reversed": 1}
    assert len(provider.transfers()) == 1
    assert cl.trial_balance().balanced
    assert cl.reconcile_internal().clean


def test_the_webhook_endpoint_refuses_events_from_the_other_stripe_mode(
    database_url: str,
) -> None:
    with CreatorLedger.open(
        Settings(database_url=database_url, stripe_secret_key="sk_test_creator_ledger"),
        clock=Clock(),
    ) as cl:
        live = {
            "id": "evt_live",
            "object": "event",
            "type": "payout.paid",
            "created": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()),
            "livemode": True,
            "data": {"object": {"id": "po_1", "object": "payout", "amount": 1, "currency": "usd"}},
        }
        body, header = _signed(live)
        written = event_count(cl)
        with pytest.raises(WebhookSignatureError, match="livemode"):
            cl.handle_stripe_webhook(body, header, secret=SECRET)
        assert event_count(cl) == written
        body, header = _signed({**live, "id": "evt_test", "livemode": False})
        assert cl.handle_stripe_webhook(body, header, secret=SECRET).action == "ignored"
        assert json.loads(body)["livemode"] is False
