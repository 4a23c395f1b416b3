"""The rows the read models answer with: frozen, typed, their values already converted.

:mod:`.queries` builds every one of them from the database's raw values (dates and times parsed
from SQLite's text, integers from PostgreSQL's ``numeric`` sums, UUIDs from SQLite's text), so
no caller indexes a tuple, strips a code or parses a date.  Amounts are ``int`` minor units,
signed as stored (debit-positive); the ledger turns them into what a user reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

#: (kind, owner, currency): one account of the journal.
AccountKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One account's balance (or the sum of its postings, from
    :meth:`~.queries.ReadModelQueries.postings_sum_by_account`)."""

    kind: str
    owner: str
    currency: str
    balance_minor: int

    @property
    def account(self) -> AccountKey:
        return (self.kind, self.owner, self.currency)


@dataclass(frozen=True, slots=True)
class JournalCount:
    entries: int
    postings: int


@dataclass(frozen=True, slots=True)
class UnbalancedEntry:
    """A journal entry whose postings do not sum to zero in ``currency``."""

    entry_id: int
    currency: str
    total_minor: int


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One posting, for the general ledger's export (fields in the export's column order)."""

    entry_id: int
    effective_on: date
    entry_kind: str
    account_kind: str
    owner: str
    currency: str
    amount_minor: int
    description: str
    #: the posting's place in its entry (from 0)
    seq: int = 0
    #: the creator's own reference, for a creator's account
    creator_ref: str | None = None
    #: the event the entry was posted from: "<aggregate id>/<version>"
    event_id: str = ""
    recorded_at: datetime | None = None
    #: who issued the command that posted the entry (None: recorded before actors were kept)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class StatementPosting:
    """One of a creator's postings, with its entry, for a statement."""

    entry_id: int
    effective_on: date
    entry_kind: str
    account_kind: str
    currency: str
    amount_minor: int
    #: why (views, share, instalment, item ...), parsed from the posting's JSON; empty if none
    detail: dict[str, Any]
    description: str
    originator_id: UUID
    originator_version: int
    #: who issued the command that posted it (None: recorded before actors were kept)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class FundRow:
    fund_id: UUID
    fund_key: str
    name: str
    currency: str


@dataclass(frozen=True, slots=True)
class HoldRow:
    hold_id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class CreatorRow:
    creator_id: str
    creator_ref: str
    display_name: str
    country: str
    payout_account: str | None
    account_status: str
    kyc_status: str
    tax_status: str
    holds: tuple[HoldRow, ...]


@dataclass(frozen=True, slots=True)
class CreatorGate:
    """What a payout plan checks of a creator besides the balance."""

    creator_id: str
    creator_ref: str
    payout_account: str | None
    account_status: str
    kyc_status: str
    #: "hold id: reason" of every payout hold, by hold id
    payout_holds: tuple[str, ...]
    tax_status: str
    #: when the current payout account was linked (business time); None: no account, or
    #: linked before the ledger kept it
    payout_account_linked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PeriodFacts:
    """A program period's figures, to explain the view earnings it credited."""

    program_id: str
    period_key: str
    program_key: str
    program: str  # the program's name
    currency: str
    pool_minor: int
    total_qualified_views: int | None
    rule_version: int
    rule: dict[str, Any]
    distributed_minor: int | None
    returned_minor: int | None
    scaled_from_minor: int | None
    status: str


@dataclass(frozen=True, slots=True)
class ClaimItemRow:
    """One item of a reimbursement claim and its decision."""

    claim_key: str
    item_id: str
    description: str
    receipt_ref: str
    currency: str
    claimed_minor: int
    status: str
    approved_minor: int
    reason: str
    submitted_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class AgreementRow:
    """An exclusivity agreement, for a statement's vesting lines."""

    agreement_key: str
    currency: str
    total_minor: int
    credited_minor: int
    starts_on: date
    ends_on: date
    schedule: str
    vesting: str
    status: str
    ended_on: date | None
    forfeited_minor: int | None
    clawback_minor: int | None


@dataclass(frozen=True, slots=True)
class PayoutRow:
    """A payout as the read models know it."""

    payout_id: UUID
    run_id: str
    creator_id: str
    currency: str
    amount_minor: int
    destination: str
    status: str  # requested | paid | failed | reversed
    transfer_id: str | None
    failure: str | None
    reversed_minor: int
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One command as the audit trail knows it: every event written under one idempotency key
    by one actor (an execution's batches, written under ``run:<run id>``, are one command)."""

    position: int  # the notification id of its first event: the audit trail's order
    last_position: int
    recorded_at: datetime  # when its first event was recorded
    last_recorded_at: datetime
    actor: str
    command: str
    idempotency_key: str
    run_id: str | None
    events: int
    #: the command's first result (what its idempotency record keeps), if it has one
    result: dict[str, Any] | None
    #: event kind (``Payout.Paid``) -> how many of them it wrote
    effects: dict[str, int]
