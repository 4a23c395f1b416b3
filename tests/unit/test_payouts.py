"""Payout plans (the dry run), execution against the in-memory provider, stale plans,
receivable offsets, and provider webhooks — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from creator_ledger import CreatorLedger, PoolShareRule
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.webhooks import sign_stripe_payload
from creator_ledger.domain.errors import InvalidInputError, StalePlanError, WebhookSignatureError
from creator_ledger.ledger.plan import PayoutPlan
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, at, close, creators, fund, open_day, pay, release, usage

SECRET = "whsec_test_secret"


def earn(
    cl: CreatorLedger, amounts: dict[str, int], *, ready: bool = True, day: date = DAY
) -> None:
    """Give each creator (enrolled, payout-ready) exactly ``amounts[ref]`` in one pool period."""
    total = sum(amounts.values())
    key = f"pool-{day}"
    cl.create_program(
        program_key=key,
        name=key,
        fund_key="fund",
        rule=PoolShareRule(pool_minor=total),
        idempotency_key=key,
        actor=ACTOR,
    )
    period = open_day(cl, key, day)
    usage(
        cl, key, period, [(r, "v", a) for r, a in amounts.items()]
    )  # views = amount: exact shares
    close(cl, key, period)


@pytest.fixture
def ledger(cl: CreatorLedger) -> CreatorLedger:
    fund(cl)
    creators(cl, 8, payout_ready=True)
    return cl


def paid_bonus(cl: CreatorLedger, total_minor: int, ends_on: date) -> InMemoryProvider:
    """c0 agrees an upfront bonus starting on DAY, and a payout run pays it out."""
    cl.agree_exclusivity(
        agreement_key="x",
        creator_ref="c0",
        fund_key="fund",
        total_minor=total_minor,
        starts_on=DAY,
        ends_on=ends_on,
        schedule="upfront",
        effective_at=at(),
        idempotency_key="x",
        actor=ACTOR,
    )
    provider = InMemoryProvider()
    pay(cl, provider)
    return provider


def paid_then_breached(cl: CreatorLedger) -> InMemoryProvider:
    """c0 is paid a US$1,000 upfront bonus, then breaches on its first day: all of it is owed
    back, as a receivable."""
    provider = paid_bonus(cl, 100_000, date(2026, 4, 11))
    cl.breach_exclusivity(
        agreement_key="x",
        on=DAY,
        reason="breach",
        effective_at=at(),
        idempotency_key="b",
        actor=ACTOR,
    )
    return provider


def balances(cl: CreatorLedger, ref: str) -> tuple[int, int, int]:
    for b in cl.balances(ref).balances:
        return b.payable_minor, b.held_minor, b.receivable_minor
    return 0, 0, 0


def test_the_plan_pays_eligible_creators_and_says_why_the_others_are_left_out(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    cl.enrol_creator(
        creator_ref="noacct", display_name="N", country="US", idempotency_key="noacct", actor=ACTOR
    )
    earn(
        cl,
        {
            "c0": 5_000,
            "c1": 5_000,
            "c2": 999,
            "c3": 5_000,
            "c4": 5_000,
            "c5": 5_000,
            "noacct": 5_000,
        },
    )
    cl.place_hold(
        creator_ref="c1",
        hold_id="risk",
        kind="payout",
        reason="manual review",
        idempotency_key="h",
        actor=ACTOR,
    )
    cl.set_payout_account_status(
        creator_ref="c3", status="restricted", reason="docs", idempotency_key="s", actor=ACTOR
    )
    cl.set_kyc_status(
        creator_ref="c4",
        kyc_status="pending",
        tax_status="submitted",
        idempotency_key="k",
        actor=ACTOR,
    )
    plan = cl.plan(currency="USD", threshold_minor=1_000)
    assert [(x.creator_ref, x.amount_minor) for x in plan.lines] == [("c0", 5_000), ("c5", 5_000)]
    reasons = {x.creator_ref: x.reasons for x in plan.excluded}
    assert reasons == {
        "c1": ["payout_hold"],
        "c2": ["below_threshold"],
        "c3": ["payout_account_not_active"],
        "c4": ["kyc_incomplete", "tax_info_missing"],
        "noacct": ["no_payout_account", "kyc_incomplete", "tax_info_missing"],
    }
    assert "manual review" in next(x.detail for x in plan.excluded if x.creator_ref == "c1")
    assert "rolls over" in next(x.detail for x in plan.excluded if x.creator_ref == "c2")
    assert plan.total_minor == 10_000


def test_a_dry_run_writes_nothing_and_is_deterministic(ledger: CreatorLedger) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000, "c1": 7_000})
    cl.catch_up()
    events = event_count(cl)
    read_models = (
        cl.parts.projector.read_models.all_balances(),
        cl.parts.projector.read_models.journal_count(),
        cl.parts.projector.read_models.position(),
    )
    first = cl.plan(currency="USD")
    second = cl.plan(currency="USD")
    assert first == second
    assert first.run_id == second.run_id
    assert event_count(cl) == events
    assert (
        cl.parts.projector.read_models.all_balances(),
        cl.parts.projector.read_models.journal_count(),
        cl.parts.projector.read_models.position(),
    ) == read_models


def test_execute_pays_exactly_the_plan_and_running_it_again_pays_nobody_twice(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000, "c1": 7_000, "c2": 2_500})
    plan = release(cl)
    provider = InMemoryProvider()
    result = cl.execute(plan, provider, actor=ACTOR)
    paid = {t.payout_id: (t.destination, t.amount_minor) for t in provider.transfers()}
    assert sorted(v for v in paid.values()) == sorted(
        (x.destination, x.amount_minor) for x in plan.lines
    )
    assert (result.paid, result.failed, result.unresolved, result.paid_minor) == (3, 0, 0, 14_500)
    again = cl.execute(plan, provider, actor=ACTOR)
    assert again.paid == 3
    assert len(provider.transfers()) == 3
    assert balances(cl, "c0") == (0, 0, 0)
    assert cl.plan(currency="USD").lines == []
    assert cl.reconcile_internal().clean


def test_a_plan_is_refused_when_its_balances_have_changed(ledger: CreatorLedger) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000, "c1": 7_000})
    plan = release(cl)
    cl.place_hold(
        creator_ref="c1",
        hold_id="late",
        kind="payout",
        reason="late review",
        idempotency_key="h",
        actor=ACTOR,
    )
    provider = InMemoryProvider()
    before = event_count(cl)
    with pytest.raises(StalePlanError, match="have changed"):
        cl.execute(plan, provider, actor=ACTOR)
    assert event_count(cl) == before
    assert provider.transfers() == []


def test_a_plan_file_carries_a_hash_and_an_edited_file_is_refused(
    ledger: CreatorLedger, tmp_path: Path
) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000})
    plan = cl.plan(currency="USD")
    path = tmp_path / "plan.json"
    plan.save(path)
    assert PayoutPlan.load(path) == plan
    body = json.loads(path.read_text())
    body["lines"][0]["amount_minor"] += 1_000_000
    path.write_text(json.dumps(body))
    with pytest.raises(InvalidInputError, match="edited or damaged"):
        PayoutPlan.load(path)


def test_a_clawback_after_payout_becomes_a_receivable_recovered_by_an_offset_line(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    provider = paid_bonus(cl, 365_000, date(2027, 1, 1))
    assert balances(cl, "c0") == (0, 0, 0)
    breach = cl.breach_exclusivity(
        agreement_key="x",
        on=date(2026, 4, 11),
        reason="breach",
        effective_at=at(date(2026, 4, 11)),
        idempotency_key="b",
        actor=ACTOR,
    )
    assert (breach.clawback_from_payable_minor, breach.clawback_to_receivable_minor) == (0, 265_000)
    assert balances(cl, "c0") == (0, 0, 265_000)
    earn(cl, {"c0": 300_000, "c1": 1_000}, day=date(2026, 5, 1))
    plan = release(cl)
    [offset] = plan.offsets
    assert (offset.creator_ref, offset.amount_minor, offset.receivable_minor) == (
        "c0",
        265_000,
        265_000,
    )
    line = next(x for x in plan.lines if x.creator_ref == "c0")
    assert (line.payable_minor, line.offset_minor, line.amount_minor) == (300_000, 265_000, 35_000)
    cl.execute(plan, provider, actor=ACTOR)
    assert balances(cl, "c0") == (0, 0, 0)
    assert cl.reconcile_internal().clean


def test_an_offset_with_nothing_left_to_pay_is_still_applied(ledger: CreatorLedger) -> None:
    cl = ledger
    provider = paid_then_breached(cl)
    earn(cl, {"c0": 40_000}, day=date(2026, 2, 1))
    plan = release(cl)
    assert plan.lines == []
    assert [(o.creator_ref, o.amount_minor) for o in plan.offsets] == [("c0", 40_000)]
    cl.execute(plan, provider, actor=ACTOR)
    assert balances(cl, "c0") == (0, 0, 60_000)


def _signed(event: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    return body, sign_stripe_payload(body, SECRET, int(datetime.now(UTC).timestamp()))


def _reversal_event(
    transfer: Any, reversed_minor: int, event_id: str = "evt_rev_1"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": "transfer.reversed",
        "created": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()),
        "livemode": False,
        "data": {
            "object": {
                "id": transfer.transfer_id,
                "object": "transfer",
                "amount": transfer.amount_minor,
                "amount_reversed": reversed_minor,
                "currency": transfer.currency.lower(),
                "destination": transfer.destination,
                "metadata": dict(transfer.metadata),
                "reversed": reversed_minor == transfer.amount_minor,
            }
        },
    }


def test_a_webhook_with_a_bad_signature_is_rejected_and_writes_nothing(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000})
    provider = InMemoryProvider()
    pay(cl, provider)
    body, header = _signed(_reversal_event(provider.transfers()[0], 5_000))
    before = event_count(cl)
    with pytest.raises(WebhookSignatureError):
        cl.handle_stripe_webhook(body.replace(b"5000", b"9000"), header, secret=SECRET)
    with pytest.raises(WebhookSignatureError):
        cl.handle_stripe_webhook(body, header, secret="whsec_other")
    assert event_count(cl) == before


def test_a_reversed_transfer_makes_the_amount_payable_again_and_a_replay_changes_nothing(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000})
    provider = InMemoryProvider()
    pay(cl, provider)
    transfer = provider.transfers()[0]
    body, header = _signed(_reversal_event(transfer, 2_000))
    result = cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert (result.action, result.amount_minor) == ("reversal_recorded", 2_000)
    assert balances(cl, "c0") == (2_000, 0, 0)
    events = event_count(cl)
    assert cl.handle_stripe_webhook(body, header, secret=SECRET) == result
    assert event_count(cl) == events
    # The rest of the transfer is reversed later: only the difference is new.
    body2, header2 = _signed(_reversal_event(transfer, 5_000, "evt_rev_2"))
    assert cl.handle_stripe_webhook(body2, header2, secret=SECRET).amount_minor == 3_000
    assert balances(cl, "c0") == (5_000, 0, 0)
    assert cl.payout_status(cl.parts.projector.read_models.payouts()[0].run_id).by_status == {
        "reversed": 1
    }
    assert cl.reconcile_internal().clean


def test_a_reversal_first_settles_what_the_creator_owes(ledger: CreatorLedger) -> None:
    cl = ledger
    provider = paid_then_breached(cl)
    assert balances(cl, "c0") == (0, 0, 100_000)
    body, header = _signed(_reversal_event(provider.transfers()[0], 100_000))
    cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert balances(cl, "c0") == (0, 0, 0)  # the platform has its money back: nothing owed
    assert cl.reconcile_internal().clean


def test_a_failed_bank_payout_is_recorded_and_holds_the_creator_s_payouts(
    ledger: CreatorLedger,
) -> None:
    cl = ledger
    earn(cl, {"c0": 5_000, "c1": 5_000})
    event = {
        "id": "evt_po_failed",
        "object": "event",
        "type": "payout.failed",
        "account": "acct_c00000",
        "created": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()),
        "data": {
            "object": {
                "id": "po_123",
                "object": "payout",
                "amount": 5_000,
                "currency": "usd",
                "status": "failed",
                "failure_code": "account_closed",
                "failure_message": "The bank account has been closed.",
            }
        },
    }
    body, header = _signed(event)
    result = cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert result.action == "bank_payout_recorded"
    plan = cl.plan(currency="USD")
    [excluded] = plan.excluded
    assert excluded.creator_ref == "c0"
    assert excluded.reasons == ["payout_hold"]
    assert "account_closed" in excluded.detail
    events = event_count(cl)
    cl.handle_stripe_webhook(body, header, secret=SECRET)
    assert event_count(cl) == events


def test_an_execution_keeps_the_account_books_in_memory_and_not_its_payouts(
    ledger: CreatorLedger,
) -> None:
    """An execution writes a payout per line and holds them itself: kept in the aggregate cache
    too, thousands of them pushed the account books out, and every batch reloaded every book
    from its events (issue 9: the cost per payout grew with the run).  Payouts are not cached;
    the books the run touched stay, and are not loaded again batch after batch."""
    cl = ledger
    earn(cl, {"c0": 5_000, "c1": 7_000, "c2": 2_500})
    plan = release(cl)
    store = cl.parts.store
    cache = store.application.repository.cache
    assert cache is not None
    loaded: list[Any] = []
    real_load = type(store)._load

    def spy(self: Any, known: dict[Any, Any], cached: Any) -> Any:
        loaded.extend(i for i, v in known.items() if v is None)  # not in memory: from the store
        return real_load(self, known, cached)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(store), "_load", spy)
        result = cl.execute(plan.run_id, InMemoryProvider(), actor=ACTOR, batch_size=1)
    assert result.paid == 3
    cl.catch_up()
    payout_ids = [row.payout_id for row in cl.parts.projector.read_models.payouts()]
    assert len(payout_ids) == 3
    for payout_id in payout_ids:
        with pytest.raises(KeyError):
            cache.get(payout_id)
    assert not set(loaded) & set(payout_ids)  # the run's own payouts: never read back
    assert len(loaded) == len(set(loaded))  # nothing (no book) loaded twice over 3 batches
