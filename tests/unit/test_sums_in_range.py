"""Every sum the ledger keeps stays within ``bigint``: a command that would take a budget, a
balance, a fund total, a trial-balance line or a period's views (or their total at a rate) out
of range is refused, nothing is written, and every read keeps working."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from creator_ledger import CreatorLedger, RatePerMilleRule
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.errors import InvalidAmountError
from creator_ledger.domain.money import BIGINT_MAX, check_sum_in_range
from creator_ledger.domain.period import ProgramPeriod
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund, open_day

T = datetime(2026, 1, 1, tzinfo=UTC)


def reads_work(cl: CreatorLedger) -> None:
    assert cl.trial_balance().balanced
    report = cl.reconcile_internal()
    assert report.clean, report.discrepancies
    cl.plan(currency="USD")
    cl.rebuild_read_models()
    assert cl.reconcile_internal().clean


def refused(cl: CreatorLedger, call: Callable[[], Any], match: str) -> None:
    before = event_count(cl)
    with pytest.raises(InvalidAmountError, match=match):
        call()
    assert event_count(cl) == before
    reads_work(cl)


def test_a_top_up_beyond_bigint_is_refused(cl: CreatorLedger) -> None:
    fund(cl, budget_minor=BIGINT_MAX)
    refused(
        cl,
        lambda: cl.top_up_fund(fund_key="fund", amount_minor=1, idempotency_key="t", actor=ACTOR),
        "the budget of fund 'fund' would reach 9223372036854775808, beyond the 64-bit range",
    )
    assert cl.fund("fund").budget_minor == BIGINT_MAX


def test_funds_in_one_currency_together_stay_within_bigint(cl: CreatorLedger) -> None:
    fund(cl, "a", budget_minor=5 * 10**18)
    refused(
        cl,
        lambda: fund(cl, "b", budget_minor=5 * 10**18),
        "all the money that can reach creators in USD",
    )
    fund(cl, "b", budget_minor=BIGINT_MAX - 5 * 10**18)  # up to the bound is fine
    fund(cl, "eur", budget_minor=5 * 10**18, currency="EUR")  # each currency has its own
    refused(
        cl,
        lambda: cl.top_up_fund(fund_key="a", amount_minor=1, idempotency_key="t", actor=ACTOR),
        "at most 0 more can be added",
    )
    tb = cl.trial_balance().by_currency
    assert tb["USD"]["fund:budget"] == -BIGINT_MAX
    reads_work(cl)


def test_reimbursement_budgets_count_towards_the_currency_s_money(cl: CreatorLedger) -> None:
    fund(cl, budget_minor=BIGINT_MAX - 1_000)
    creators(cl, 2)

    def nda(creator: str, budget: int) -> Any:
        return cl.sign_contract(
            creator_ref=creator,
            contract_id="nda",
            kind="nda",
            signed_on=DAY,
            reimbursement_currency="USD",
            reimbursement_budget_minor=budget,
            idempotency_key=f"nda-{creator}",
            actor=ACTOR,
        )

    nda("c0", 1_000)
    refused(cl, lambda: nda("c1", 1), "all the money that can reach creators in USD")


def test_usage_whose_total_at_the_rate_passes_bigint_is_refused(cl: CreatorLedger) -> None:
    fund(cl)
    creators(cl, 1)
    cl.create_program(
        program_key="rate",
        name="rate",
        fund_key="fund",
        rule=RatePerMilleRule(rate_micros_per_mille=BIGINT_MAX),
        idempotency_key="p",
        actor=ACTOR,
    )
    period = open_day(cl, "rate", DAY)

    def report(views: int, n: int) -> Any:
        return cl.report_usage(
            program_key="rate",
            period_key=period,
            report_id=f"r{n}",
            rows=[("c0", "v", views)],
            idempotency_key=f"u{n}",
            actor=ACTOR,
        )

    report(10**9, 1)  # 10^9 views at the rate: BIGINT_MAX minor units, at the bound
    refused(cl, lambda: report(1, 2), "the earnings at the rate of period")
    assert cl.estimate_period(program_key="rate", period_key=period).figures.creators == 1


def test_a_period_s_views_stay_within_bigint() -> None:
    period = ProgramPeriod(
        program_id=ProgramPeriod.create_id(AccountBook.create_id(0), "x"),
        program_key="p",
        period_key="x",
        starts_on=DAY,
        ends_on=DAY,
        fund_id=AccountBook.create_id(1),
        currency="USD",
        rule_version=1,
        rule={"kind": "pool_share", "pool_minor": 1, "creator_cap_minor": None},
        pool_minor=1,
        commitment_id="c",
        effective_at=T,
    )
    period.report_usage("r1", [["ab", "v", BIGINT_MAX - 1]], effective_at=T)
    period.report_usage("r2", [["cd", "v", 1]], effective_at=T)
    with pytest.raises(InvalidAmountError, match="the views reported in period 'x'"):
        period.report_usage("r3", [["cd", "w", 1]], effective_at=T)
    assert period.reported_views() == BIGINT_MAX
    del period.reported_views_total  # as in a snapshot from before the total was kept
    assert period.reported_views() == sum(r for c in period.usage.values() for r, _ in c.values())


def test_the_account_book_refuses_a_credit_that_would_overflow_a_balance() -> None:
    book = AccountBook(shard=0, effective_at=T)
    book.open_accounts(["ab"], effective_at=T)

    def credit(amount: int, instalment: str) -> None:
        book.credit_bonus(
            agreement_id=AccountBook.create_id(9),
            agreement_key="x",
            instalment_id=instalment,
            fund_id=AccountBook.create_id(8),
            creator_id="ab",
            currency="USD",
            amount_minor=amount,
            effective_at=T,
        )

    credit(BIGINT_MAX, "a")
    with pytest.raises(InvalidAmountError, match="the payable USD balance of creator ab"):
        credit(1, "b")
    assert book.balance("ab", "USD") == (BIGINT_MAX, 0, 0)


def test_check_sum_in_range_says_how_much_room_is_left() -> None:
    assert check_sum_in_range(BIGINT_MAX - 1, 1, what="x") == BIGINT_MAX
    with pytest.raises(InvalidAmountError, match="at most 1 more can be added"):
        check_sum_in_range(BIGINT_MAX - 1, 2, what="x")
