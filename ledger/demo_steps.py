"""The seed story's steps: the fund, creators, programs, a deal and a claim (see :mod:`.demo`)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.programs import PoolShareRule, RatePerMilleRule

FUND = "creator-fund-2026"
POOL_PROGRAM = "daily-pool"
RATE_PROGRAM = "rate-per-mille"
START = date(2026, 1, 1)
POOL_DAYS = 3
DAILY_POOL_MINOR = 5_000_000  # US$50,000 a day
CREATOR_CAP_MINOR = 250_000  # US$2,500 per creator per day
EXCLUSIVE_CREATOR = "creator-0007"
NDA_CREATOR = "creator-0003"
#: Who plays the story.
ACTOR = "op:demo"
#: Who proposes the payout runs, who approves them (four eyes), and what executes them.
PROPOSER = "op:ana@finance.example"
APPROVER = "op:ben@controller.example"
EXECUTOR = "svc:payout-runner"
#: The creator who changes their payout account two days before the second run.
NEW_ACCOUNT_CREATOR = "creator-0029"


def at(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def creator_ref(n: int) -> str:
    return f"creator-{n:04d}"


def change_payout_account(cl: CreatorLedger) -> None:
    """Two days before the second run a creator links a new payout account: their first payout
    to it waits (LEDGER_NEW_ACCOUNT_HOLD_DAYS, 3 days in the demo)."""
    cl.link_payout_account(
        creator_ref=NEW_ACCOUNT_CREATOR,
        account_ref="acct_demo_new0029",
        status="active",
        effective_at=at(date(2026, 6, 28), 10),
        idempotency_key="demo/account/new-0029",
        actor=ACTOR,
    )


def june_pool(cl: CreatorLedger, refs: list[str], weights: dict[str, float]) -> None:
    day = date(2026, 6, 1)
    cl.open_period(
        program_key=POOL_PROGRAM,
        period_key=day.isoformat(),
        starts_on=day,
        ends_on=day,
        pool_minor=25_000_000,  # a US$250,000 summer special
        effective_at=at(day, 0),
        idempotency_key="demo/open/june",
        actor=ACTOR,
    )
    cl.report_usage(
        program_key=POOL_PROGRAM,
        period_key=day.isoformat(),
        report_id="usage-june",
        rows=[(ref, f"summer-{ref[-4:]}", int(weights[ref] * 1_000)) for ref in refs],
        effective_at=at(day, 23),
        idempotency_key="demo/usage/june",
        actor=ACTOR,
    )
    cl.close_period(
        program_key=POOL_PROGRAM,
        period_key=day.isoformat(),
        effective_at=at(day + timedelta(days=1), 1),
        idempotency_key="demo/close/june",
        actor=ACTOR,
    )


def enrol(cl: CreatorLedger, rng: random.Random, creators: int) -> list[str]:
    countries = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "MX", "CA", "AU"]
    refs = [creator_ref(n) for n in range(1, creators + 1)]
    cl.enrol_creators(
        creators=[(r, f"Creator {r[-4:]}", rng.choice(countries)) for r in refs],
        effective_at=at(START, 1),
        idempotency_key="demo/enrol",
        actor=ACTOR,
    )
    for n, ref in enumerate(refs, start=1):
        if n % 50 == 0:
            continue  # no payout account yet
        cl.link_payout_account(
            creator_ref=ref,
            account_ref=f"acct_demo{n:06d}",
            status="active",
            effective_at=at(START, 2),
            idempotency_key=f"demo/account/{ref}",
            actor=ACTOR,
        )
        pending = n % 37 == 0
        tax_unverified = pending or n % 41 == 0  # tax forms submitted, not verified yet
        cl.set_kyc_status(
            creator_ref=ref,
            kyc_status="pending" if pending else "verified",
            tax_status="submitted" if tax_unverified else "verified",
            effective_at=at(START, 2),
            idempotency_key=f"demo/kyc/{ref}",
            actor=ACTOR,
        )
    cl.place_hold(
        creator_ref=creator_ref(13),
        hold_id="risk-review-1",
        kind="payout",
        reason="unusual view pattern under review",
        effective_at=at(START, 3),
        idempotency_key="demo/hold/13",
        actor=ACTOR,
    )
    cl.place_hold(
        creator_ref=creator_ref(21),
        hold_id="fraud-2",
        kind="accrual",
        reason="suspected view farm; earnings held pending investigation",
        effective_at=at(START, 3),
        idempotency_key="demo/hold/21",
        actor=ACTOR,
    )
    return refs


def daily_pool(
    cl: CreatorLedger,
    rng: random.Random,
    refs: list[str],
    weights: dict[str, float],
    facts: dict[str, Any],
) -> None:
    cl.create_program(
        program_key=POOL_PROGRAM,
        name="Daily Views Pool",
        fund_key=FUND,
        rule=PoolShareRule(pool_minor=DAILY_POOL_MINOR, creator_cap_minor=CREATOR_CAP_MINOR),
        effective_at=at(START, 4),
        idempotency_key="demo/program/pool",
        actor=ACTOR,
    )
    days = [START + timedelta(days=i) for i in range(POOL_DAYS)]
    for d in days:
        cl.open_period(
            program_key=POOL_PROGRAM,
            period_key=d.isoformat(),
            starts_on=d,
            ends_on=d,
            effective_at=at(d, 0),
            idempotency_key=f"demo/open/{d}",
            actor=ACTOR,
        )
    for i, d in enumerate(days):
        rows = []
        for ref in refs:
            views = int(weights[ref] * rng.randint(400, 1_600))
            rows.append((ref, f"video-{ref[-4:]}-{i}", views))
        cl.report_usage(
            program_key=POOL_PROGRAM,
            period_key=d.isoformat(),
            report_id=f"usage-{d}",
            rows=rows,
            effective_at=at(d, 23),
            idempotency_key=f"demo/usage/{d}",
            actor=ACTOR,
        )
        if i == 1:
            # Half of two creators' views that day were bots.
            reported = {ref: (content, views) for ref, content, views in rows}
            bots = [(ref, *reported[ref]) for ref in (creator_ref(2), creator_ref(5))]
            cl.deduct_invalid_traffic(
                program_key=POOL_PROGRAM,
                period_key=d.isoformat(),
                adjustment_id=f"ivt-{d}",
                rows=[(ref, content, views // 2) for ref, content, views in bots],
                reason="bot traffic detected by the integrity team",
                effective_at=at(d, 23),
                idempotency_key=f"demo/ivt/{d}",
                actor=ACTOR,
            )
        cl.close_period(
            program_key=POOL_PROGRAM,
            period_key=d.isoformat(),
            effective_at=at(d + timedelta(days=1), 1),
            idempotency_key=f"demo/close/{d}",
            actor=ACTOR,
        )
        if i == 1:
            # A partner's report for day 1 arrives after day 1 closed: it counts in day 3.
            late = cl.report_usage(
                program_key=POOL_PROGRAM,
                period_key=days[0].isoformat(),
                report_id=f"late-usage-{days[0]}",
                rows=[(creator_ref(n), f"video-{n:04d}-late", 5_000) for n in range(1, 11)],
                effective_at=at(d + timedelta(days=1), 2),
                idempotency_key="demo/usage/late",
                actor=ACTOR,
            )
            facts["late_usage_counted_in"] = late.recorded_in_period


def rate_program(cl: CreatorLedger, refs: list[str], weights: dict[str, float]) -> None:
    cl.create_program(
        program_key=RATE_PROGRAM,
        name="Shorts at $0.04 per 1,000 views",
        fund_key=FUND,
        rule=RatePerMilleRule(rate_micros_per_mille=4_000_000, period_cap_minor=250_000),
        effective_at=at(START, 4),
        idempotency_key="demo/program/rate",
        actor=ACTOR,
    )
    week = START + timedelta(days=7)
    cl.open_period(
        program_key=RATE_PROGRAM,
        period_key="2026-W02",
        starts_on=week,
        ends_on=week + timedelta(days=6),
        effective_at=at(week, 0),
        idempotency_key="demo/open/rate",
        actor=ACTOR,
    )
    cl.report_usage(
        program_key=RATE_PROGRAM,
        period_key="2026-W02",
        report_id="shorts-2026-W02",
        rows=[(ref, f"short-{ref[-4:]}", int(weights[ref] * 20_000)) for ref in refs[:400]],
        effective_at=at(week + timedelta(days=6), 23),
        idempotency_key="demo/usage/rate",
        actor=ACTOR,
    )
    cl.close_period(
        program_key=RATE_PROGRAM,
        period_key="2026-W02",
        effective_at=at(week + timedelta(days=7), 1),
        idempotency_key="demo/close/rate",
        actor=ACTOR,
    )


def exclusivity(cl: CreatorLedger) -> None:
    cl.agree_exclusivity(
        agreement_key="excl-0007",
        creator_ref=EXCLUSIVE_CREATOR,
        fund_key=FUND,
        total_minor=12_000_000,  # US$120,000
        starts_on=START,
        ends_on=date(2027, 1, 1),
        schedule="upfront",
        vesting="linear",
        effective_at=at(START, 5),
        idempotency_key="demo/exclusivity",
        actor=ACTOR,
    )


def reimbursement(cl: CreatorLedger) -> None:
    cl.sign_contract(
        creator_ref=NDA_CREATOR,
        contract_id="nda-0003",
        kind="nda",
        signed_on=START,
        reimbursement_currency="USD",
        reimbursement_budget_minor=500_000,
        effective_at=at(START, 6),
        idempotency_key="demo/nda",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="claim-0003-1",
        creator_ref=NDA_CREATOR,
        currency="USD",
        items=[
            ("camera", "Cinema camera rental, 3 days", 120_000, "receipt-88121"),
            ("travel", "Train tickets to the shoot", 80_000, "receipt-88122"),
            ("dinner", "Team dinner after wrap", 45_000, "receipt-88123"),
        ],
        effective_at=at(date(2026, 2, 2), 10),
        idempotency_key="demo/claim",
        actor=ACTOR,
    )
    cl.approve_claim_item(
        claim_key="claim-0003-1",
        item_id="camera",
        effective_at=at(date(2026, 2, 3), 10),
        idempotency_key="demo/approve/camera",
        actor=ACTOR,
    )
    cl.approve_claim_item(
        claim_key="claim-0003-1",
        item_id="travel",
        effective_at=at(date(2026, 2, 3), 10),
        idempotency_key="demo/approve/travel",
        actor=ACTOR,
    )
    cl.reject_claim_item(
        claim_key="claim-0003-1",
        item_id="dinner",
        reason="meals are not production costs under the NDA programme",
        effective_at=at(date(2026, 2, 3), 10),
        idempotency_key="demo/reject/dinner",
        actor=ACTOR,
    )
