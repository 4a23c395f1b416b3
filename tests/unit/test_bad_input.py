"""Bad input gets a clear error saying what was wrong and what is accepted, and nothing is
written (the event count does not move)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from creator_ledger import CreatorLedger, PoolShareRule
from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InsufficientBudgetError,
    InvalidAmountError,
    InvalidInputError,
    LedgerError,
    NotEligibleError,
    NotFoundError,
    UnknownCurrencyError,
)
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund, pool_program

BIG = 2**63


@pytest.fixture
def ready(cl: CreatorLedger) -> CreatorLedger:
    fund(cl, budget_minor=1_000_000)
    creators(cl, 2)  # c0 has an NDA with a budget, c1 has none
    cl.sign_contract(
        creator_ref="c0",
        contract_id="nda",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=500,
        idempotency_key="nda",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="claim",
        creator_ref="c0",
        currency="USD",
        items=[("big", "camera", 900, "r1")],
        idempotency_key="claim",
        actor=ACTOR,
    )
    pool_program(cl, pool_minor=1_000)
    return cl


Case = tuple[str, Callable[[CreatorLedger], Any], type[LedgerError], str]

CASES: list[Case] = [
    (
        "zero budget",
        lambda c: c.create_fund(
            fund_key="z", name="Z", currency="USD", budget_minor=0, idempotency_key="k", actor=ACTOR
        ),
        InvalidAmountError,
        "more than zero",
    ),
    (
        "negative top-up",
        lambda c: c.top_up_fund(fund_key="fund", amount_minor=-5, idempotency_key="k", actor=ACTOR),
        InvalidAmountError,
        "more than zero",
    ),
    (
        "float budget",
        lambda c: c.create_fund(
            fund_key="z",
            name="Z",
            currency="USD",
            budget_minor=10.5,
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidAmountError,
        "integer number of minor units",
    ),
    (
        "float that looks whole",
        lambda c: c.top_up_fund(
            fund_key="fund", amount_minor=100.0, idempotency_key="k", actor=ACTOR
        ),
        InvalidAmountError,
        "got float",
    ),
    (
        "string amount",
        lambda c: c.top_up_fund(
            fund_key="fund", amount_minor="100", idempotency_key="k", actor=ACTOR
        ),
        InvalidAmountError,
        "got str",
    ),
    (
        "unknown currency",
        lambda c: c.create_fund(
            fund_key="z", name="Z", currency="XYZ", budget_minor=1, idempotency_key="k", actor=ACTOR
        ),
        UnknownCurrencyError,
        "accepted are ISO 4217",
    ),
    (
        "metal is not payable",
        lambda c: c.create_fund(
            fund_key="z", name="Z", currency="XAU", budget_minor=1, idempotency_key="k", actor=ACTOR
        ),
        UnknownCurrencyError,
        "minor unit",
    ),
    (
        "beyond bigint",
        lambda c: c.create_fund(
            fund_key="z",
            name="Z",
            currency="USD",
            budget_minor=BIG,
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidAmountError,
        "64-bit",
    ),
    (
        "top-up beyond bigint",
        lambda c: c.top_up_fund(
            fund_key="fund", amount_minor=BIG, idempotency_key="k", actor=ACTOR
        ),
        InvalidAmountError,
        "64-bit",
    ),
    (
        "unknown fund",
        lambda c: c.top_up_fund(fund_key="nope", amount_minor=1, idempotency_key="k", actor=ACTOR),
        NotFoundError,
        "unknown fund 'nope'",
    ),
    (
        "program on an unknown fund",
        lambda c: c.create_program(
            program_key="q",
            name="Q",
            fund_key="nope",
            rule=PoolShareRule(pool_minor=1),
            idempotency_key="k",
            actor=ACTOR,
        ),
        NotFoundError,
        "unknown fund",
    ),
    (
        "unknown creator",
        lambda c: c.place_hold(
            creator_ref="ghost",
            hold_id="h",
            kind="payout",
            reason="r",
            idempotency_key="k",
            actor=ACTOR,
        ),
        NotFoundError,
        "unknown creator 'ghost'",
    ),
    (
        "usage for an unknown creator",
        lambda c: c.report_usage(
            program_key="pool",
            period_key="2026-01-01",
            report_id="r",
            rows=[("c0", "v", 1), ("ghost", "v", 1)],
            idempotency_key="k",
            actor=ACTOR,
        ),
        NotFoundError,
        "unknown creator 'ghost'",
    ),
    (
        "negative views",
        lambda c: c.report_usage(
            program_key="pool",
            period_key="2026-01-01",
            report_id="r",
            rows=[("c0", "v", -1)],
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "views must be an integer from 0",
    ),
    (
        "views as a float",
        lambda c: c.report_usage(
            program_key="pool",
            period_key="2026-01-01",
            report_id="r",
            rows=[("c0", "v", 1.5)],
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "valid integer",
    ),
    (
        "unknown period",
        lambda c: c.close_period(
            program_key="pool", period_key="2030-01-01", idempotency_key="k", actor=ACTOR
        ),
        NotFoundError,
        "no period",
    ),
    (
        "reimbursement without an NDA",
        lambda c: c.submit_claim(
            claim_key="c2",
            creator_ref="c1",
            currency="USD",
            items=[("i", "x", 5, "r")],
            idempotency_key="k",
            actor=ACTOR,
        ),
        NotEligibleError,
        "NDA or production contract",
    ),
    (
        "approval beyond the budget",
        lambda c: c.approve_claim_item(
            claim_key="claim", item_id="big", idempotency_key="k", actor=ACTOR
        ),
        InsufficientBudgetError,
        "budget",
    ),
    (
        "commitment beyond the fund",
        lambda c: c.open_period(
            program_key="pool",
            period_key="huge",
            starts_on=date(2026, 2, 1),
            ends_on=date(2026, 2, 1),
            pool_minor=10**9,
            idempotency_key="k",
            actor=ACTOR,
        ),
        InsufficientBudgetError,
        "cannot commit",
    ),
    (
        "exclusivity beyond the fund",
        lambda c: c.agree_exclusivity(
            agreement_key="x",
            creator_ref="c0",
            fund_key="fund",
            total_minor=10**9,
            starts_on=DAY,
            ends_on=date(2027, 1, 1),
            schedule="upfront",
            idempotency_key="k",
            actor=ACTOR,
        ),
        InsufficientBudgetError,
        "cannot commit",
    ),
    (
        "a term that ends before it starts",
        lambda c: c.agree_exclusivity(
            agreement_key="x",
            creator_ref="c0",
            fund_key="fund",
            total_minor=10,
            starts_on=DAY,
            ends_on=DAY,
            schedule="upfront",
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "must end after it starts",
    ),
    (
        "milestones that do not sum to the total",
        lambda c: c.agree_exclusivity(
            agreement_key="x",
            creator_ref="c0",
            fund_key="fund",
            total_minor=10,
            starts_on=DAY,
            ends_on=date(2027, 1, 1),
            schedule="milestones",
            milestones=[("a", 3)],
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "sum to 3, not the total 10",
    ),
    (
        "a naive datetime",
        lambda c: c.top_up_fund(
            fund_key="fund",
            amount_minor=1,
            effective_at=__import__("datetime").datetime(2026, 1, 1),
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "timezone",
    ),
    (
        "unknown hold kind",
        lambda c: c.place_hold(
            creator_ref="c0",
            hold_id="h",
            kind="forever",
            reason="r",
            idempotency_key="k",
            actor=ACTOR,
        ),
        InvalidInputError,
        "'payout' or 'accrual'",
    ),
    (
        "an empty idempotency key",
        lambda c: c.top_up_fund(fund_key="fund", amount_minor=1, idempotency_key="", actor=ACTOR),
        InvalidInputError,
        "idempotency_key",
    ),
    (
        "enrolling twice",
        lambda c: c.enrol_creator(
            creator_ref="c0", display_name="x", country="US", idempotency_key="k", actor=ACTOR
        ),
        AlreadyExistsError,
        "enrolled already",
    ),
    (
        "a lower-case country",
        lambda c: c.enrol_creator(
            creator_ref="n", display_name="x", country="us", idempotency_key="k", actor=ACTOR
        ),
        InvalidInputError,
        "country",
    ),
    (
        "a duplicate in a bulk enrolment",
        lambda c: c.enrol_creators(
            creators=[("n", "x", "US"), ("n", "x", "US")], idempotency_key="k", actor=ACTOR
        ),
        InvalidInputError,
        "more than once",
    ),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly_and_nothing_is_written(
    ready: CreatorLedger,
    what: str,
    call: Callable[[CreatorLedger], Any],
    error: type[LedgerError],
    message: str,
) -> None:
    before = event_count(ready)
    with pytest.raises(error, match=message):
        call(ready)
    assert event_count(ready) == before, f"{what}: something was written"
