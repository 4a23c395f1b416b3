"""Plain, frozen results returned by the Python API (never aggregates).

Each is a pydantic model so that the first result of a command can be stored under its
idempotency key and returned again, identical, on a replay.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Done(Result):
    """A command that returns nothing but the id of what it touched."""

    id: str


class FundFigures(Result):
    fund_key: str
    fund_id: str
    name: str
    currency: str
    budget_minor: int
    committed_minor: int
    spent_minor: int
    available_minor: int


class CreatorRef(Result):
    creator_ref: str
    creator_id: str


class EnrolledCreators(Result):
    enrolled: int
    already_enrolled: int


class UsageRecorded(Result):
    program_key: str
    period_key: str
    report_id: str
    rows: int
    #: Usage for a closed period is counted in the next open one; this says which.
    recorded_in_period: str
    late_from_period: str | None = None


class SplitLine(Result):
    creator_id: str
    qualified_views: int
    amount_minor: int
    capped: bool


class PeriodFigures(Result):
    program_key: str
    period_key: str
    status: str  # "estimate" while open, "final" once closed
    currency: str
    rule_version: int
    pool_minor: int
    total_qualified_views: int
    distributed_minor: int
    returned_minor: int
    scaled_from_minor: int | None
    creators: int
    capped: int


class PeriodEstimate(Result):
    figures: PeriodFigures
    lines: list[SplitLine]


class AgreementFigures(Result):
    agreement_key: str
    agreement_id: str
    creator_ref: str
    currency: str
    total_minor: int
    credited_minor: int
    status: str
    starts_on: date
    ends_on: date
    forfeited_minor: int = 0
    clawback_minor: int = 0
    clawback_from_payable_minor: int = 0
    clawback_from_held_minor: int = 0
    clawback_to_receivable_minor: int = 0


class ClaimItemDecision(Result):
    claim_key: str
    item_id: str
    status: str
    approved_minor: int
    reason: str


class CurrencyBalance(Result):
    """A creator's balances in one currency, as the creator reads them (all non-negative in
    normal operation): owed to them (payable), owed but blocked (held), owed by them
    (receivable)."""

    currency: str
    payable_minor: int
    held_minor: int
    receivable_minor: int


class CreatorBalances(Result):
    creator_ref: str
    creator_id: str
    as_of: date | None  # None: now, from the write model
    balances: list[CurrencyBalance]


class CreatorOwed(Result):
    creator_ref: str
    creator_id: str
    payable_minor: int


class Owed(Result):
    """What creators are owed in one currency: how many, in total, and who the most."""

    currency: str
    creators: int
    total_minor: int
    largest: list[CreatorOwed]


class TrialBalance(Result):
    #: currency -> account kind -> sum of balances (debit positive)
    by_currency: dict[str, dict[str, int]]
    #: currency -> what the currency fails to net to zero by (empty when balanced)
    imbalance: dict[str, int]

    @property
    def balanced(self) -> bool:
        return not self.imbalance


class StatementLine(Result):
    effective_on: date
    kind: str
    description: str
    account: str  # payable | held | receivable
    currency: str
    #: Signed as the creator reads the account: + means more owed to them (payable, held) or
    #: more owed by them (receivable).
    amount_minor: int
    explanation: dict[str, object]
    #: who issued the command that posted the line (None: recorded before actors were kept)
    actor: str | None = None


class VestingLine(Result):
    agreement_key: str
    currency: str
    total_minor: int
    credited_minor: int
    vested_minor: int
    vesting: str
    starts_on: date
    ends_on: date
    status: str
    forfeited_minor: int | None
    clawback_minor: int | None


class ReimbursementLine(Result):
    claim_key: str
    item_id: str
    description: str
    receipt_ref: str
    currency: str
    claimed_minor: int
    status: str
    approved_minor: int
    reason: str


class Statement(Result):
    creator_ref: str
    creator_id: str
    since: date
    until: date
    opening: list[CurrencyBalance]
    closing: list[CurrencyBalance]
    lines: list[StatementLine]
    bonuses: list[VestingLine]
    reimbursements: list[ReimbursementLine]
    holds: list[dict[str, str]]


class SkippedPayout(Result):
    creator_id: str
    reason: str


class RunResult(Result):
    """What one ``execute`` call did (a resumed run reports the whole run)."""

    run_id: str
    currency: str
    planned: int
    requested: int
    paid: int
    failed: int
    unresolved: int  # outcome still unknown after asking the provider: run execute again
    paid_minor: int
    skipped: list[SkippedPayout]
    failures: list[dict[str, str]]

    @property
    def complete(self) -> bool:
        return self.unresolved == 0


class PayoutRunSummary(Result):
    """A payout run as the workflow knows it: its state, who proposed, approved or rejected
    it, what it pays and leaves out."""

    run_id: str
    currency: str
    as_of: date | None
    threshold_minor: int
    #: proposed | approved (released: enough approvals, or none needed) | executing |
    #: finished | rejected
    status: str
    proposed_by: str
    proposed_at: datetime
    approvals_needed: int
    approved_by: list[str]
    approvals_missing: int
    rejected_by: str | None = None
    rejection_reason: str | None = None
    payouts: int
    total_minor: int
    offsets: int
    offset_total_minor: int
    excluded: int
    excluded_total_minor: int
    excluded_by_reason: dict[str, int]
    inputs_hash: str


class RunStatus(Result):
    run_id: str
    by_status: dict[str, int]
    amount_by_status_minor: dict[str, int]
    currency: str | None
    failures: list[dict[str, str]]
    unresolved: list[str]
    #: the run's workflow (None for payouts of a run the ledger has no record of)
    run: PayoutRunSummary | None = None
    #: who executed it (each actor whose execution wrote to it, in order)
    executed_by: list[str] = []


class PayoutSettled(Result):
    """What settling a payout stuck in transit did: ``paid`` (the provider has its transfer)
    or ``failed`` (no transfer, after the provider's idempotency key expired: back to
    payable)."""

    payout_id: str
    run_id: str
    creator_id: str
    currency: str
    amount_minor: int
    status: str
    transfer_id: str | None = None
    detail: str


class AuditEntry(Result):
    """One command in the audit trail."""

    position: int  # the cursor: its first event's notification id
    recorded_at: datetime
    actor: str
    command: str
    idempotency_key: str
    run_id: str | None
    #: what it did, in a line: its result's main fields, then the events it wrote
    effect: str
    result: dict[str, Any] | None
    events: dict[str, int]


class AuditPage(Result):
    entries: list[AuditEntry]
    #: pass as ``cursor`` for the next page; None when this page is the last
    next_cursor: str | None


class ProviderEventResult(Result):
    event_id: str
    type: str
    #: reversal_recorded | reversal_reported (waits for the payout's outcome) |
    #: bank_payout_recorded | already_recorded | ignored
    action: str
    payout_id: str | None = None
    creator_id: str | None = None
    amount_minor: int | None = None
    detail: str = ""
