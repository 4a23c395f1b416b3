"""The money supply of one currency: all the money that can ever reach creators in it.

Money reaches creators from two sources: a fund's budget (view earnings and exclusivity
bonuses are spent from it) and a creator's reimbursement budget (approved production costs).
Every balance, every fund figure and every trial-balance line of a currency is a part of that
money — payouts, offsets, clawbacks and reversals only move it between accounts — so when the
supply stays within ``bigint`` (see :mod:`domain.money`), every sum the ledger keeps does too,
however many funds and creators there are.

One aggregate per currency (a deterministic id), changed in the same transaction as the fund
or the contract that adds to it: a fund created, a budget topped up, a contract with a
reimbursement budget signed.  Concurrent additions are serialised by its version (optimistic
concurrency), so two funds created at once cannot both pass the bound.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import (
    BIGINT_MAX,
    check_amount,
    check_currency,
    check_sum_in_range,
    format_minor,
)

SOURCES = ("fund_budget", "reimbursement_budget")


class MoneySupply(Aggregate):
    """All the money that can ever reach creators in one currency (see the module doc)."""

    TOPIC = "creator-ledger/MoneySupply"

    class Opened(Aggregate.Created):
        TOPIC = "creator-ledger/MoneySupply.Opened"
        currency: str
        effective_at: datetime

    class Increased(Aggregate.Event):
        TOPIC = "creator-ledger/MoneySupply.Increased"
        source: str  # fund_budget | reimbursement_budget
        reference: str  # the fund key or the creator and contract
        amount_minor: int
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Opened`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/MoneySupply.Created"

    @staticmethod
    def create_id(currency: str) -> UUID:
        return stable_id("money-supply", currency)

    @event(Opened)
    def __init__(self, currency: str, effective_at: datetime) -> None:
        self.currency = currency
        self.total_minor = 0

    @classmethod
    def open(cls, currency: str, *, effective_at: datetime) -> MoneySupply:
        return cls(currency=check_currency(currency), effective_at=effective_at)

    @property
    def room_minor(self) -> int:
        """How much more money the currency can take."""
        return BIGINT_MAX - self.total_minor

    def increase(
        self, amount_minor: int, *, source: str, reference: str, effective_at: datetime
    ) -> None:
        """Add ``amount_minor`` from ``source``; refused (nothing changes) when the currency's
        money would pass ``bigint``."""
        assert source in SOURCES, source
        check_amount(amount_minor)
        check_sum_in_range(
            self.total_minor,
            amount_minor,
            what=(
                f"all the money that can reach creators in {self.currency} (fund budgets and"
                f" reimbursement budgets, now {format_minor(self.total_minor, self.currency)})"
            ),
            currency=self.currency,
            amount_minor=amount_minor,
        )
        self._increased(
            source=source, reference=reference, amount_minor=amount_minor, effective_at=effective_at
        )

    @event(Increased)
    def _increased(
        self, source: str, reference: str, amount_minor: int, effective_at: datetime
    ) -> None:
        self.total_minor += amount_minor
