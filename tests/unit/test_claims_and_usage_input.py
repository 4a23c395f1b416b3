"""Input the README refuses rather than guesses at: a claim in a currency the creator has no
reimbursement budget in (it could never be approved), and a usage report that repeats a
(creator, content) row (summing it silently could double-count a resent line)."""

from __future__ import annotations

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.domain.errors import CurrencyMismatchError, InvalidInputError, NotEligibleError
from creator_ledger.domain.period import check_usage_rows
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund, pool_program, usage


@pytest.fixture
def ready(cl: CreatorLedger) -> CreatorLedger:
    fund(cl)
    creators(cl, 3)
    for ref, budget in (("c0", 5_000), ("c1", 0)):
        cl.sign_contract(
            creator_ref=ref,
            contract_id="nda",
            kind="nda",
            signed_on=DAY,
            reimbursement_currency="USD" if budget else None,
            reimbursement_budget_minor=budget,
            idempotency_key=f"nda-{ref}",
            actor=ACTOR,
        )
    pool_program(cl)
    return cl


def claim(cl: CreatorLedger, creator: str, currency: str) -> None:
    cl.submit_claim(
        claim_key=f"claim-{creator}-{currency}",
        creator_ref=creator,
        currency=currency,
        items=[("cam", "camera", 100, "r-1")],
        idempotency_key=f"claim-{creator}-{currency}",
        actor=ACTOR,
    )


def test_a_claim_in_another_currency_than_the_budget_is_refused_at_submission(
    ready: CreatorLedger,
) -> None:
    before = event_count(ready)
    with pytest.raises(CurrencyMismatchError, match="budget in USD, not in JPY: claim in USD"):
        claim(ready, "c0", "JPY")
    assert event_count(ready) == before
    claim(ready, "c0", "USD")  # in the budget's currency it is accepted, and can be approved
    ready.approve_claim_item(
        claim_key="claim-c0-USD", item_id="cam", idempotency_key="ok", actor=ACTOR
    )


def test_a_claim_from_a_creator_without_any_reimbursement_budget_is_refused(
    ready: CreatorLedger,
) -> None:
    before = event_count(ready)
    with pytest.raises(NotEligibleError, match="has no reimbursement budget"):
        claim(ready, "c1", "USD")
    assert event_count(ready) == before


def test_a_usage_report_that_repeats_a_creator_and_content_is_refused_naming_it(
    ready: CreatorLedger,
) -> None:
    before = event_count(ready)
    rows = [("c0", "v1", 10), ("c1", "v1", 5), ("c0", "v2", 1), ("c0", "v1", 10)]
    with pytest.raises(
        InvalidInputError, match=r"usage row 3 repeats creator 'c0' content 'v1' \(first in row 0\)"
    ):
        usage(ready, "pool", "2026-01-01", rows)
    with pytest.raises(InvalidInputError, match="adjustment row 1 repeats creator 'c0'"):
        ready.deduct_invalid_traffic(
            program_key="pool",
            period_key="2026-01-01",
            adjustment_id="a",
            rows=[("c0", "v1", 1), ("c0", "v1", 1)],
            reason="bots",
            idempotency_key="adj",
            actor=ACTOR,
        )
    assert event_count(ready) == before
    usage(ready, "pool", "2026-01-01", rows[:3])  # the same content for two creators is fine


def test_the_domain_refuses_repeated_rows_too() -> None:
    with pytest.raises(InvalidInputError, match="row 1 repeats"):
        check_usage_rows([["ab", "v", 1], ["ab", "v", 2]])
