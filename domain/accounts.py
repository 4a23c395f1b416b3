"""The chart of accounts and journal entries (double entry).

Amounts in postings are signed: a debit is positive, a credit negative.  Every journal entry
sums to zero per currency, so the trial balance (the sum of every balance) is always zero.

| kind                          | owner      | class     | normal side |
|-------------------------------|------------|-----------|-------------|
| fund:budget                   | fund id    | memo      | credit      |
| fund:available                | fund id    | memo      | debit       |
| fund:committed                | fund id    | memo      | debit       |
| fund:spent                    | fund id    | memo      | debit       |
| expense:creator-fund          | fund id    | expense   | debit       |
| expense:exclusivity           | fund id    | expense   | debit       |
| expense:reimbursements        | -          | expense   | debit       |
| creator:payable               | creator id | liability | credit      |
| creator:held                  | creator id | liability | credit      |
| creator:receivable            | creator id | asset     | debit       |
| clearing:payouts-in-transit   | -          | asset     | debit       |
| cash:provider                 | -          | asset     | debit       |

The fund memo accounts balance among themselves: a budget of B puts B on ``available`` and
-B on ``budget``; commitments move available -> committed, spending committed -> spent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

FUND_BUDGET = "fund:budget"
FUND_AVAILABLE = "fund:available"
FUND_COMMITTED = "fund:committed"
FUND_SPENT = "fund:spent"
EXPENSE_CREATOR_FUND = "expense:creator-fund"
EXPENSE_EXCLUSIVITY = "expense:exclusivity"
EXPENSE_REIMBURSEMENTS = "expense:reimbursements"
CREATOR_PAYABLE = "creator:payable"
CREATOR_HELD = "creator:held"
CREATOR_RECEIVABLE = "creator:receivable"
IN_TRANSIT = "clearing:payouts-in-transit"
CASH_PROVIDER = "cash:provider"

#: kind -> (class, normal side)
KINDS: Mapping[str, tuple[str, str]] = {
    FUND_BUDGET: ("memo", "credit"),
    FUND_AVAILABLE: ("memo", "debit"),
    FUND_COMMITTED: ("memo", "debit"),
    FUND_SPENT: ("memo", "debit"),
    EXPENSE_CREATOR_FUND: ("expense", "debit"),
    EXPENSE_EXCLUSIVITY: ("expense", "debit"),
    EXPENSE_REIMBURSEMENTS: ("expense", "debit"),
    CREATOR_PAYABLE: ("liability", "credit"),
    CREATOR_HELD: ("liability", "credit"),
    CREATOR_RECEIVABLE: ("asset", "debit"),
    IN_TRANSIT: ("asset", "debit"),
    CASH_PROVIDER: ("asset", "debit"),
}

CREATOR_KINDS = (CREATOR_PAYABLE, CREATOR_HELD, CREATOR_RECEIVABLE)


class Account(NamedTuple):
    """An account: its kind and, for per-creator and per-fund accounts, the owner's id (hex)."""

    kind: str
    owner: str = ""

    def __str__(self) -> str:
        if not self.owner:
            return self.kind
        prefix, _, rest = self.kind.partition(":")
        return f"{prefix}:{self.owner}:{rest}"


def normal_balance(kind: str, balance_minor: int) -> int:
    """A balance as people read it: credit-normal accounts (payable, held, budget) positive."""
    return -balance_minor if KINDS[kind][1] == "credit" else balance_minor


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    currency: str
    amount_minor: int  # debit > 0, credit < 0
    #: Why, for the creator's statement (views, share, instalment, item...).  Optional.
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal entry per money event, balanced per currency."""

    kind: str
    effective_at: datetime
    description: str
    postings: Sequence[Posting] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        postings = self.postings
        assert postings, f"{self.kind}: an entry needs postings"
        # Most entries are in one currency: their sum says it (a rebuild checks every entry).
        currency = postings[0].currency
        total = 0
        for p in postings:
            if p.currency != currency:
                break
            total += p.amount_minor
        else:
            assert not total, f"{self.kind} is unbalanced: {unbalanced(postings)}"
            return
        assert not unbalanced(postings), f"{self.kind} is unbalanced: {unbalanced(postings)}"


def unbalanced(postings: Sequence[Posting]) -> dict[str, int]:
    """Per currency, what the postings fail to net to zero by (empty when balanced)."""
    sums: dict[str, int] = defaultdict(int)
    for p in postings:
        sums[p.currency] += p.amount_minor
    return {c: s for c, s in sums.items() if s}


def transfer(
    debit: Account,
    credit: Account,
    currency: str,
    amount_minor: int,
    detail: Mapping[str, Any] | None = None,
) -> tuple[Posting, Posting]:
    """Two postings that move ``amount_minor`` from ``credit`` to ``debit``."""
    return (
        Posting(debit, currency, amount_minor, detail),
        Posting(credit, currency, -amount_minor, detail),
    )
