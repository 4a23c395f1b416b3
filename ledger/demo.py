"""``creator-ledger demo``: the seed story, played on a fresh ledger.

A US$200M creator fund; a daily pool shared among ~1,000 creators by views over a few days
(with a per-creator cap, invalid traffic removed, and usage reported late); a fixed-rate
program with a period cap; an exclusivity deal paid upfront, paid out, and breached after some
months (the clawback becomes a receivable); a production-cost reimbursement under an NDA with
one item rejected; two payout runs through the in-memory provider, each proposed by one person,
approved by another and then executed, the second recovering the receivable from June's
earnings by an offset line (and leaving out a creator whose tax forms are not verified and one
who changed their payout account two days before).  Everything is derived from the seed, and
business dates are fixed, so the same seed prints the same output.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.ledger import demo_steps as steps
from creator_ledger.ledger.demo_steps import (
    ACTOR,
    APPROVER,
    EXCLUSIVE_CREATOR,
    EXECUTOR,
    FUND,
    NDA_CREATOR,
    PROPOSER,
    START,
    at,
    creator_ref,
)
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.plan import PayoutPlan
from creator_ledger.ledger.results import RunResult, RunStatus

#: The demo's new-account wait (LEDGER_NEW_ACCOUNT_HOLD_DAYS), in days.
NEW_ACCOUNT_HOLD_DAYS = 3

__all__ = [
    "ACTOR",
    "FUND",
    "NDA_CREATOR",
    "NEW_ACCOUNT_HOLD_DAYS",
    "START",
    "DemoResult",
    "StoryClock",
    "at",
    "creator_ref",
    "play",
]


@dataclass
class DemoResult:
    """What the story did, for printing and for tests."""

    seed: int
    creators: int
    statement_creator: str
    facts: dict[str, Any] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    plan: PayoutPlan | None = None
    #: the second run's status: who proposed, approved and executed it, what it paid
    status: RunStatus | None = None


class StoryClock:
    """The story's clock: business time moves as the story does, so output is deterministic."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


def pay(cl: CreatorLedger, provider: PaymentProvider, *, as_of: date, n: int) -> RunResult:
    """A payout run as the story runs it: proposed by one person, approved by another (four
    eyes), then executed."""
    run = cl.propose(
        currency="USD", as_of=as_of, idempotency_key=f"demo/propose/{n}", actor=PROPOSER
    )
    cl.approve(run.run_id, idempotency_key=f"demo/approve/{n}", actor=APPROVER)
    return cl.execute(run.run_id, provider, actor=EXECUTOR)


STEPS = (
    "fund",
    "creators",
    "daily pool",
    "fixed-rate program",
    "exclusivity",
    "reimbursement",
    "payout run 1",
    "breach",
    "June pool",
    "payout run 2",
    "read models",
)


def play(
    cl: CreatorLedger,
    *,
    clock: StoryClock,
    provider: PaymentProvider,
    seed: int = 7,
    creators: int = 1_000,
    progress: Any = None,
) -> DemoResult:
    """Play the seed story into ``cl`` (which should be empty), paying through ``provider``."""
    rng = random.Random(seed)
    tick = progress or (lambda _msg: None)
    result = DemoResult(seed=seed, creators=creators, statement_creator=EXCLUSIVE_CREATOR)

    tick("fund")
    cl.create_fund(
        fund_key=FUND,
        name="2026 Creator Fund",
        currency="USD",
        budget_minor=20_000_000_000,  # US$200M
        effective_at=at(START, 0),
        idempotency_key="demo/fund",
        actor=ACTOR,
    )

    tick("creators")
    refs = steps.enrol(cl, rng, creators)
    tick("daily pool")
    weights = {ref: rng.paretovariate(1.16) for ref in refs}
    steps.daily_pool(cl, rng, refs, weights, result.facts)
    tick("fixed-rate program")
    steps.rate_program(cl, refs, weights)
    tick("exclusivity")
    steps.exclusivity(cl)
    tick("reimbursement")
    steps.reimbursement(cl)
    tick("payout run 1")
    clock.set(at(date(2026, 2, 28), 18))
    result.runs.append(pay(cl, provider, as_of=date(2026, 2, 28), n=1))
    tick("breach")
    breach = cl.breach_exclusivity(
        agreement_key="excl-0007",
        on=date(2026, 5, 15),
        reason="posted the same series first on another platform",
        effective_at=at(date(2026, 5, 15), 9),
        idempotency_key="demo/breach",
        actor=ACTOR,
    )
    result.facts["clawback_minor"] = breach.clawback_minor
    result.facts["clawback_to_receivable_minor"] = breach.clawback_to_receivable_minor
    tick("June pool")
    steps.june_pool(cl, refs, weights)
    steps.change_payout_account(cl)
    tick("payout run 2")
    clock.set(at(date(2026, 6, 30), 18))
    result.plan = cl.plan(currency="USD", as_of=date(2026, 6, 30))
    second = pay(cl, provider, as_of=date(2026, 6, 30), n=2)
    result.runs.append(second)
    result.status = cl.payout_status(second.run_id)
    tick("read models")
    cl.catch_up()
    return result
