"""The four money flows end to end through the Python API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InsufficientBudgetError,
    InvalidStateError,
    NotEligibleError,
)
from tests.scenario import ACTOR, DAY, at, close, creators, fund, pool_program, rate_program, usage


def payable(cl: CreatorLedger, ref: str, currency: str = "USD") -> tuple[int, int, int]:
    for b in cl.balances(ref).balances:
        if b.currency == currency:
            return b.payable_minor, b.held_minor, b.receivable_minor
    return 0, 0, 0


def test_closing_a_pool_period_credits_each_creator_their_share_and_spends_the_fund(
    cl: CreatorLedger,
) -> None:
    fund(cl)
    a, b, c = creators(cl, 3)
    [period] = pool_program(cl, pool_minor=100_000)
    assert cl.fund("fund").committed_minor == 100_000
    usage(cl, "pool", period, [(a, "v1", 600), (a, "v2", 400), (b, "v1", 1_000), (c, "v1", 1_000)])
    estimate = cl.estimate_period(program_key="pool", period_key=period)
    assert estimate.figures.status == "estimate"
    assert payable(cl, a) == (0, 0, 0)
    close(cl, "pool", period)
    amounts = [payable(cl, r)[0] for r in (a, b, c)]
    assert sum(amounts) == 100_000
    assert sorted(amounts) == [33_333, 33_333, 33_334]
    assert {ln.creator_id: ln.amount_minor for ln in estimate.lines} == {
        ln.creator_id: ln.amount_minor
        for ln in cl.estimate_period(program_key="pool", period_key=period).lines
    }
    f = cl.fund("fund")
    assert (f.committed_minor, f.spent_minor, f.available_minor) == (
        0,
        100_000,
        100_000_000 - 100_000,
    )
    assert cl.trial_balance().balanced
    assert cl.reconcile_internal().clean


def test_caps_return_what_nobody_can_take_to_the_fund(cl: CreatorLedger) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    [period] = pool_program(cl, pool_minor=100_000, cap_minor=30_000)
    usage(cl, "pool", period, [(a, "v", 10), (b, "v", 30)])
    close(cl, "pool", period)
    assert payable(cl, a)[0] == payable(cl, b)[0] == 30_000
    f = cl.fund("fund")
    assert f.spent_minor == 60_000
    assert f.available_minor == 100_000_000 - 60_000


def test_invalid_traffic_is_removed_before_the_split(cl: CreatorLedger) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    [period] = pool_program(cl, pool_minor=1_000)
    usage(cl, "pool", period, [(a, "v", 500), (b, "v", 500)])
    cl.deduct_invalid_traffic(
        program_key="pool",
        period_key=period,
        adjustment_id="ivt-1",
        rows=[(a, "v", 250)],
        reason="bots",
        idempotency_key="ivt",
        actor=ACTOR,
    )
    close(cl, "pool", period)
    # a: 250 qualified views, b: 500 -> 1/3 and 2/3 of 1,000
    assert (payable(cl, a)[0], payable(cl, b)[0]) == (333, 667)


def test_more_invalid_traffic_than_was_reported_is_refused(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    [period] = pool_program(cl)
    usage(cl, "pool", period, [(a, "v", 100)])
    with pytest.raises(Exception, match="only 100 qualified views"):
        cl.deduct_invalid_traffic(
            program_key="pool",
            period_key=period,
            adjustment_id="x",
            rows=[(a, "v", 101)],
            reason="bots",
            idempotency_key="x",
            actor=ACTOR,
        )


def test_usage_reported_late_counts_in_the_next_open_period(cl: CreatorLedger) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    day1, day2 = pool_program(cl, pool_minor=1_000, days=2)
    usage(cl, "pool", day1, [(a, "v", 10)])
    close(cl, "pool", day1)
    late = cl.report_usage(
        program_key="pool",
        period_key=day1,
        report_id="late",
        rows=[(b, "v", 30)],
        idempotency_key="late",
        actor=ACTOR,
    )
    assert (late.recorded_in_period, late.late_from_period) == (day2, day1)
    usage(cl, "pool", day2, [(a, "v", 10)], report="r2")
    close(cl, "pool", day2)
    # day 1: a alone -> 1,000; day 2: a 10 and b 30 (late) -> 250 / 750
    assert payable(cl, a)[0] == 1_250
    assert payable(cl, b)[0] == 750


def test_late_usage_without_a_later_open_period_is_refused(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    [day1] = pool_program(cl)
    close(cl, "pool", day1)
    with pytest.raises(InvalidStateError, match=r"no\s+later open period"):
        cl.report_usage(
            program_key="pool",
            period_key=day1,
            report_id="late",
            rows=[(a, "v", 3)],
            idempotency_key="late",
            actor=ACTOR,
        )


def test_a_rate_program_pays_per_thousand_views_and_a_period_cap_scales_it_down(
    cl: CreatorLedger,
) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    period = rate_program(cl, rate=4_000_000, period_cap_minor=1_000)
    usage(cl, "rate", period, [(a, "v", 300_000), (b, "v", 100_000)])  # owed 1,200 + 400
    close(cl, "rate", period)
    assert (payable(cl, a)[0], payable(cl, b)[0]) == (750, 250)
    assert cl.fund("fund").spent_minor == 1_000


def test_an_uncapped_rate_program_commits_at_close_what_it_pays(cl: CreatorLedger) -> None:
    fund(cl, budget_minor=1_000)
    a, b = creators(cl, 2)
    period = rate_program(cl, rate=4_000_000)
    usage(cl, "rate", period, [(a, "v", 200_000)])  # 800
    close(cl, "rate", period)
    assert payable(cl, a)[0] == 800
    assert cl.fund("fund").available_minor == 200
    cl.open_period(
        program_key="rate",
        period_key="d2",
        starts_on=date(2026, 1, 2),
        ends_on=date(2026, 1, 2),
        idempotency_key="o2",
        actor=ACTOR,
    )
    usage(cl, "rate", "d2", [(b, "v", 100_000)])  # 400 > 200 available
    with pytest.raises(InsufficientBudgetError, match="cannot commit"):
        cl.close_period(program_key="rate", period_key="d2", idempotency_key="c2", actor=ACTOR)


def test_an_accrual_hold_credits_to_held_until_released(cl: CreatorLedger) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    [period] = pool_program(cl, pool_minor=1_000)
    cl.place_hold(
        creator_ref=a,
        hold_id="h1",
        kind="accrual",
        reason="fraud review",
        idempotency_key="h1",
        actor=ACTOR,
    )
    usage(cl, "pool", period, [(a, "v", 1), (b, "v", 1)])
    close(cl, "pool", period)
    assert payable(cl, a) == (0, 500, 0)
    cl.release_hold(
        creator_ref=a, hold_id="h1", reason="cleared", idempotency_key="r1", actor=ACTOR
    )
    assert payable(cl, a) == (500, 0, 0)
    assert cl.reconcile_internal().clean


def test_balances_can_be_asked_as_of_a_business_date(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    day1, day2 = pool_program(cl, pool_minor=1_000, days=2)
    usage(cl, "pool", day1, [(a, "v", 1)])
    close(cl, "pool", day1, date(2026, 1, 2))
    usage(cl, "pool", day2, [(a, "v", 1)], report="r2")
    close(cl, "pool", day2, date(2026, 1, 5))

    def as_of(d: date) -> int:
        [b] = cl.balances(a, as_of=d).balances or [None]
        return 0 if b is None else b.payable_minor

    assert as_of(date(2026, 1, 1)) == 0
    assert as_of(date(2026, 1, 2)) == 1_000
    assert as_of(date(2026, 1, 4)) == 1_000
    assert as_of(date(2026, 1, 5)) == 2_000


def test_a_back_dated_entry_moves_every_later_as_of_balance(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    day1, day2 = pool_program(cl, pool_minor=1_000, days=2)
    usage(cl, "pool", day2, [(a, "v", 1)], report="r2")
    close(cl, "pool", day2, date(2026, 1, 10))
    cl.catch_up()
    usage(cl, "pool", day1, [(a, "v", 1)])
    close(cl, "pool", day1, date(2026, 1, 3))  # recorded later, effective earlier
    assert cl.balances(a, as_of=date(2026, 1, 5)).balances[0].payable_minor == 1_000
    assert cl.balances(a, as_of=date(2026, 1, 10)).balances[0].payable_minor == 2_000
    assert cl.reconcile_internal().clean


def test_an_upfront_bonus_breached_is_clawed_back_pro_rata(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    deal = cl.agree_exclusivity(
        agreement_key="x1",
        creator_ref=a,
        fund_key="fund",
        total_minor=365_000,
        starts_on=DAY,
        ends_on=date(2027, 1, 1),
        schedule="upfront",
        effective_at=at(),
        idempotency_key="x1",
        actor=ACTOR,
    )
    assert deal.credited_minor == 365_000
    assert payable(cl, a)[0] == 365_000
    breach = cl.breach_exclusivity(
        agreement_key="x1",
        on=date(2026, 4, 11),
        reason="posted elsewhere first",
        effective_at=at(date(2026, 4, 11)),
        idempotency_key="b1",
        actor=ACTOR,
    )
    # 100 of 365 days vested: 100,000 vested, 265,000 clawed back from payable.
    assert (breach.forfeited_minor, breach.clawback_minor) == (0, 265_000)
    assert breach.clawback_from_payable_minor == 265_000
    assert payable(cl, a)[0] == 100_000
    f = cl.fund("fund")
    assert f.spent_minor == 100_000
    assert f.committed_minor == 0
    assert cl.reconcile_internal().clean


def test_monthly_instalments_vest_and_a_breach_forfeits_the_rest(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    cl.agree_exclusivity(
        agreement_key="m1",
        creator_ref=a,
        fund_key="fund",
        total_minor=120_000,
        starts_on=DAY,
        ends_on=date(2027, 1, 1),
        schedule="monthly",
        instalments=12,
        effective_at=at(),
        idempotency_key="m1",
        actor=ACTOR,
    )
    assert payable(cl, a)[0] == 10_000  # the first instalment is due on the start date
    figures = cl.credit_due_instalments(
        agreement_key="m1", on=date(2026, 3, 1), idempotency_key="due-mar", actor=ACTOR
    )
    assert figures.credited_minor == 30_000
    breach = cl.breach_exclusivity(
        agreement_key="m1", on=date(2026, 3, 1), reason="breach", idempotency_key="b", actor=ACTOR
    )
    assert breach.forfeited_minor == 90_000
    # vested by 1 March: 120,000 * 59 / 365 = 19,397; credited 30,000 -> 10,603 back
    assert breach.clawback_minor == 30_000 - 120_000 * 59 // 365
    assert cl.fund("fund").committed_minor == 0
    # A daily job crediting due instalments leaves an ended agreement alone.
    later = cl.credit_due_instalments(
        agreement_key="m1", on=date(2026, 6, 1), idempotency_key="due-jun", actor=ACTOR
    )
    assert (later.status, later.credited_minor) == ("breached", 30_000)
    with pytest.raises(InvalidStateError, match="breached"):
        cl.reach_milestone(
            agreement_key="m1", milestone_id="month-006", idempotency_key="ms", actor=ACTOR
        )


def test_a_good_leaver_keeps_what_was_credited(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    cl.agree_exclusivity(
        agreement_key="g1",
        creator_ref=a,
        fund_key="fund",
        total_minor=90_000,
        starts_on=DAY,
        ends_on=date(2026, 12, 31),
        schedule="milestones",
        milestones=[("launch", 30_000), ("season-2", 60_000)],
        idempotency_key="g1",
        actor=ACTOR,
    )
    cl.reach_milestone(agreement_key="g1", milestone_id="launch", idempotency_key="ms", actor=ACTOR)
    result = cl.terminate_exclusivity(
        agreement_key="g1", on=date(2026, 2, 1), reason="amicable", idempotency_key="t", actor=ACTOR
    )
    assert (result.status, result.forfeited_minor, result.clawback_minor) == (
        "terminated",
        60_000,
        0,
    )
    assert payable(cl, a)[0] == 30_000
    assert cl.fund("fund").available_minor == 100_000_000 - 30_000


def test_reimbursement_items_are_approved_or_rejected_within_the_budget(cl: CreatorLedger) -> None:
    [a] = creators(cl, 1)
    cl.sign_contract(
        creator_ref=a,
        contract_id="nda-1",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=1_000,
        idempotency_key="nda",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="cl1",
        creator_ref=a,
        currency="USD",
        items=[
            ("cam", "camera", 600, "r-1"),
            ("food", "dinner", 100, "r-2"),
            ("mic", "mic", 500, "r-3"),
        ],
        idempotency_key="claim",
        actor=ACTOR,
    )
    cl.approve_claim_item(claim_key="cl1", item_id="cam", idempotency_key="a1", actor=ACTOR)
    cl.reject_claim_item(
        claim_key="cl1",
        item_id="food",
        reason="not a production cost",
        idempotency_key="r1",
        actor=ACTOR,
    )
    with pytest.raises(InsufficientBudgetError, match=r"4\.00 USD is left"):
        cl.approve_claim_item(claim_key="cl1", item_id="mic", idempotency_key="a2", actor=ACTOR)
    cl.approve_claim_item(
        claim_key="cl1",
        item_id="mic",
        amount_minor=400,
        note="capped at the budget left",
        idempotency_key="a3",
        actor=ACTOR,
    )
    assert payable(cl, a)[0] == 1_000
    s = cl.statement(a, since=DAY, until=date(2026, 12, 31))
    decisions = {r.item_id: (r.status, r.approved_minor, r.reason) for r in s.reimbursements}
    assert decisions["food"] == ("rejected", 0, "not a production cost")
    assert decisions["mic"] == ("approved", 400, "capped at the budget left")


def test_a_creator_without_an_nda_cannot_claim(cl: CreatorLedger) -> None:
    [a] = creators(cl, 1)
    with pytest.raises(NotEligibleError, match="NDA or production contract"):
        cl.submit_claim(
            claim_key="c",
            creator_ref=a,
            currency="USD",
            items=[("i", "x", 1, "r")],
            idempotency_key="c",
            actor=ACTOR,
        )


def test_the_statement_explains_view_earnings(cl: CreatorLedger) -> None:
    fund(cl)
    a, b = creators(cl, 2)
    [period] = pool_program(cl, pool_minor=1_000, cap_minor=600)
    usage(cl, "pool", period, [(a, "v", 900), (b, "v", 100)])
    close(cl, "pool", period)
    s = cl.statement(a, since=DAY, until=date(2026, 1, 31))
    [line] = s.lines
    assert line.amount_minor == 600
    e = line.explanation
    assert e["pool_minor"] == 1_000
    assert e["qualified_views"] == 900
    assert e["total_qualified_views"] == 1_000
    assert e["share"] == "9/10"
    assert e["rule_version"] == 1
    assert e["creator_cap_minor"] == 600
    assert e["capped"] is True
    assert s.closing[0].payable_minor == 600
    assert [b.payable_minor for b in s.opening] == [0]


def test_an_accrual_hold_has_one_owner_the_account_book(cl: CreatorLedger) -> None:
    fund(cl)
    [a] = creators(cl, 1)
    creator_version = cl.parts.aggregates.creator(a).version
    cl.place_hold(
        creator_ref=a,
        hold_id="ivt",
        kind="accrual",
        reason="invalid traffic review",
        idempotency_key="hold",
        actor=ACTOR,
    )
    assert cl.parts.aggregates.creator(a).version == creator_version  # not the creator's fact
    book = cl.parts.aggregates.book(cl.parts.aggregates.creator(a).id, creator_ref=a)
    assert book.accrual_hold_reasons(cl.parts.aggregates.creator(a).id.hex) == {
        "ivt": "invalid traffic review"
    }
    statement = cl.statement(a, since=DAY, until=DAY)
    assert statement.holds == [
        {"hold_id": "ivt", "kind": "accrual", "reason": "invalid traffic review"}
    ]
    with pytest.raises(AlreadyExistsError):
        cl.place_hold(
            creator_ref=a,
            hold_id="ivt",
            kind="payout",
            reason="x",
            idempotency_key="h2",
            actor=ACTOR,
        )
    cl.release_hold(creator_ref=a, hold_id="ivt", idempotency_key="rel", actor=ACTOR)
    assert cl.statement(a, since=DAY, until=DAY).holds == []
