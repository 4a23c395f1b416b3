"""Small builders for tests: a fund, creators, a pool program with open periods."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from creator_ledger import CreatorLedger, PoolShareRule, RatePerMilleRule
from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.ledger.plan import PayoutPlan
from creator_ledger.ledger.results import RunResult

DAY = date(2026, 1, 1)
#: Who issues the tests' commands.
ACTOR = "op:tester@example.com"
#: Who proposes the tests' payout runs, and who approves them (four eyes).
PROPOSER = "op:proposer@example.com"
APPROVER = "op:approver@example.com"
_keys = itertools.count()


def at(d: date = DAY, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def fund(
    cl: CreatorLedger, key: str = "fund", budget_minor: int = 100_000_000, currency: str = "USD"
) -> str:
    cl.create_fund(
        fund_key=key,
        name=key,
        currency=currency,
        budget_minor=budget_minor,
        effective_at=at(),
        idempotency_key=f"fund/{key}",
        actor=ACTOR,
    )
    return key


def creators(
    cl: CreatorLedger, n: int, prefix: str = "c", *, payout_ready: bool = False
) -> list[str]:
    refs = [f"{prefix}{i}" for i in range(n)]
    cl.enrol_creators(
        creators=[(r, r.upper(), "US") for r in refs],
        effective_at=at(),
        idempotency_key=f"enrol/{prefix}/{n}",
        actor=ACTOR,
    )
    if payout_ready:
        for i, r in enumerate(refs):
            cl.link_payout_account(
                creator_ref=r,
                account_ref=f"acct_{prefix}{i:05d}",
                status="active",
                effective_at=at(),
                idempotency_key=f"acct/{r}",
                actor=ACTOR,
            )
            cl.set_kyc_status(
                creator_ref=r,
                kyc_status="verified",
                tax_status="verified",
                effective_at=at(),
                idempotency_key=f"kyc/{r}",
                actor=ACTOR,
            )
    return refs


def pool_program(
    cl: CreatorLedger,
    key: str = "pool",
    *,
    fund_key: str = "fund",
    pool_minor: int = 100_000,
    cap_minor: int | None = None,
    days: int = 1,
) -> list[str]:
    cl.create_program(
        program_key=key,
        name=key,
        fund_key=fund_key,
        rule=PoolShareRule(pool_minor=pool_minor, creator_cap_minor=cap_minor),
        effective_at=at(),
        idempotency_key=f"program/{key}",
        actor=ACTOR,
    )
    return [open_day(cl, key, DAY + timedelta(days=i)) for i in range(days)]


def rate_program(
    cl: CreatorLedger,
    key: str = "rate",
    *,
    rate: int = 4_000_000,
    period_cap_minor: int | None = None,
) -> str:
    cl.create_program(
        program_key=key,
        name=key,
        fund_key="fund",
        rule=RatePerMilleRule(rate_micros_per_mille=rate, period_cap_minor=period_cap_minor),
        effective_at=at(),
        idempotency_key=f"program/{key}",
        actor=ACTOR,
    )
    return open_day(cl, key, DAY)


def open_day(cl: CreatorLedger, program: str, d: date) -> str:
    cl.open_period(
        program_key=program,
        period_key=d.isoformat(),
        starts_on=d,
        ends_on=d,
        effective_at=at(d, 0),
        idempotency_key=f"open/{program}/{d}",
        actor=ACTOR,
    )
    return d.isoformat()


def usage(
    cl: CreatorLedger,
    program: str,
    period: str,
    rows: list[tuple[str, str, int]],
    report: str = "r1",
) -> None:
    cl.report_usage(
        program_key=program,
        period_key=period,
        report_id=report,
        rows=rows,
        effective_at=at(),
        idempotency_key=f"usage/{program}/{period}/{report}",
        actor=ACTOR,
    )


def close(cl: CreatorLedger, program: str, period: str, d: date | None = None) -> None:
    when = at(d or date.fromisoformat(period) + timedelta(days=1), 1) if "-" in period else at()
    cl.close_period(
        program_key=program,
        period_key=period,
        effective_at=when,
        idempotency_key=f"close/{program}/{period}",
        actor=ACTOR,
    )


def release(
    cl: CreatorLedger,
    currency: str = "USD",
    *,
    as_of: date | None = None,
    threshold_minor: int | None = None,
    approvers: tuple[str, ...] = (APPROVER,),
) -> PayoutPlan:
    """Propose the plan the ledger gives now (as PROPOSER) and approve it (as each of
    ``approvers``); the run's recorded plan."""
    n = next(_keys)
    run = cl.propose(
        currency=currency,
        as_of=as_of,
        threshold_minor=threshold_minor,
        idempotency_key=f"propose/{n}",
        actor=PROPOSER,
    )
    for approver in approvers:
        cl.approve(run.run_id, idempotency_key=f"approve/{n}/{approver}", actor=approver)
    return cl.run_plan(run.run_id)


def pay(
    cl: CreatorLedger,
    provider: PaymentProvider,
    currency: str = "USD",
    *,
    as_of: date | None = None,
    threshold_minor: int | None = None,
    actor: str = ACTOR,
) -> RunResult:
    """A whole payout run: proposed, approved by another actor, executed."""
    plan = release(cl, currency, as_of=as_of, threshold_minor=threshold_minor)
    return cl.execute(plan.run_id, provider, actor=actor)
