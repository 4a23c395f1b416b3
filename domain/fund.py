"""The creator fund: a budget, committed to program periods and contracts, never over-committed.

``budget = available + committed + spent`` at all times; ``available`` never goes below zero.
A commitment is outstanding until it is spent (money credited to creators) or released
(returned to ``available``).  A clawback returns spent money to the fund (``SpendReturned``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InsufficientBudgetError,
    InvalidStateError,
)
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import (
    check_amount,
    check_currency,
    check_sum_in_range,
    format_minor,
)
from creator_ledger.domain.text import check_key, check_name, check_text


class CreatorFund(Aggregate):
    """A fund with a fixed budget in one currency (e.g. a US$200M creator fund)."""

    TOPIC = "creator-ledger/CreatorFund"

    class Created(Aggregate.Created):
        TOPIC = "creator-ledger/CreatorFund.Created"
        fund_key: str
        name: str
        currency: str
        budget_minor: int
        effective_at: datetime

    class BudgetToppedUp(Aggregate.Event):
        TOPIC = "creator-ledger/CreatorFund.BudgetToppedUp"
        currency: str
        amount_minor: int
        reference: str
        effective_at: datetime

    class BudgetCommitted(Aggregate.Event):
        TOPIC = "creator-ledger/CreatorFund.BudgetCommitted"
        currency: str
        commitment_id: str
        purpose: str
        amount_minor: int
        effective_at: datetime

    class CommitmentSpent(Aggregate.Event):
        TOPIC = "creator-ledger/CreatorFund.CommitmentSpent"
        currency: str
        commitment_id: str
        amount_minor: int
        reference: str
        effective_at: datetime

    class CommitmentReleased(Aggregate.Event):
        TOPIC = "creator-ledger/CreatorFund.CommitmentReleased"
        currency: str
        commitment_id: str
        amount_minor: int
        reason: str
        effective_at: datetime

    class SpendReturned(Aggregate.Event):
        TOPIC = "creator-ledger/CreatorFund.SpendReturned"
        currency: str
        commitment_id: str
        amount_minor: int
        reason: str
        effective_at: datetime

    @staticmethod
    def create_id(fund_key: str) -> UUID:
        return stable_id("fund", fund_key)

    @event(Created)
    def __init__(
        self, fund_key: str, name: str, currency: str, budget_minor: int, effective_at: datetime
    ) -> None:
        self.fund_key = fund_key
        self.name = name
        self.currency = currency
        self.budget_minor = budget_minor
        self.committed_minor = 0
        self.spent_minor = 0
        #: commitment id -> [outstanding_minor, spent_minor, purpose]
        self.commitments: dict[str, list[Any]] = {}

    @classmethod
    def open(
        cls, *, fund_key: str, name: str, currency: str, budget_minor: int, effective_at: datetime
    ) -> CreatorFund:
        check_key(fund_key, field="fund_key")
        check_name(name, field="name")
        check_currency(currency)
        check_amount(budget_minor, field="budget_minor")
        return cls(
            fund_key=fund_key,
            name=name,
            currency=currency,
            budget_minor=budget_minor,
            effective_at=effective_at,
        )

    # -- queries -------------------------------------------------------------------------

    @property
    def available_minor(self) -> int:
        return self.budget_minor - self.committed_minor - self.spent_minor

    def outstanding_minor(self, commitment_id: str) -> int:
        return int(self._commitment(commitment_id)[0])

    # -- commands ------------------------------------------------------------------------

    def top_up(self, amount_minor: int, *, reference: str, effective_at: datetime) -> None:
        check_amount(amount_minor)
        check_text(reference, field="reference")
        check_sum_in_range(
            self.budget_minor,
            amount_minor,
            what=f"the budget of fund {self.fund_key!r}",
            fund_key=self.fund_key,
        )
        self._topped_up(
            currency=self.currency,
            amount_minor=amount_minor,
            reference=reference,
            effective_at=effective_at,
        )

    def commit(
        self, commitment_id: str, amount_minor: int, *, purpose: str, effective_at: datetime
    ) -> None:
        check_amount(amount_minor, allow_zero=True)
        if commitment_id in self.commitments:
            msg = f"commitment {commitment_id!r} exists already in fund {self.fund_key!r}"
            raise AlreadyExistsError(msg, commitment_id=commitment_id)
        if amount_minor > self.available_minor:
            msg = (
                f"fund {self.fund_key!r} cannot commit {format_minor(amount_minor, self.currency)}:"
                f" only {format_minor(self.available_minor, self.currency)} is available"
            )
            raise InsufficientBudgetError(
                msg,
                fund_key=self.fund_key,
                amount_minor=amount_minor,
                available_minor=self.available_minor,
            )
        self._committed(
            currency=self.currency,
            commitment_id=commitment_id,
            purpose=purpose,
            amount_minor=amount_minor,
            effective_at=effective_at,
        )

    def spend(
        self, commitment_id: str, amount_minor: int, *, reference: str, effective_at: datetime
    ) -> None:
        """Record ``amount_minor`` of a commitment as credited to creators."""
        check_amount(amount_minor)
        outstanding = self.outstanding_minor(commitment_id)
        if amount_minor > outstanding:
            msg = (
                f"commitment {commitment_id!r} has {format_minor(outstanding, self.currency)}"
                f" outstanding, cannot spend {format_minor(amount_minor, self.currency)}"
            )
            raise InsufficientBudgetError(
                msg, commitment_id=commitment_id, amount_minor=amount_minor, outstanding=outstanding
            )
        self._spent(
            currency=self.currency,
            commitment_id=commitment_id,
            amount_minor=amount_minor,
            reference=reference,
            effective_at=effective_at,
        )

    def release(self, commitment_id: str, *, reason: str, effective_at: datetime) -> int:
        """Return what is still outstanding on a commitment to ``available``; returns it."""
        outstanding = self.outstanding_minor(commitment_id)
        if outstanding:
            self._released(
                currency=self.currency,
                commitment_id=commitment_id,
                amount_minor=outstanding,
                reason=reason,
                effective_at=effective_at,
            )
        return outstanding

    def settle(
        self, commitment_id: str, paid_minor: int, *, reference: str, effective_at: datetime
    ) -> None:
        """Settle a commitment that has ended (a closed period): spend what was paid out of it,
        then return the rest to ``available``.

        What was paid beyond the commitment (only a rate program without a period cap, which
        commits nothing when its period opens) is committed and spent now, under
        ``<commitment>/settlement``; refused, like any commitment, if the fund cannot cover it.
        """
        from_commitment = min(paid_minor, self.outstanding_minor(commitment_id))
        if from_commitment:
            self.spend(
                commitment_id, from_commitment, reference=reference, effective_at=effective_at
            )
        extra = paid_minor - from_commitment
        if extra:
            settlement = f"{commitment_id}/settlement"
            self.commit(
                settlement, extra, purpose=f"{reference} settlement", effective_at=effective_at
            )
            self.spend(settlement, extra, reference=reference, effective_at=effective_at)
        self.release(commitment_id, reason=f"{reference} closed", effective_at=effective_at)

    def return_spend(
        self, commitment_id: str, amount_minor: int, *, reason: str, effective_at: datetime
    ) -> None:
        """Money spent under a commitment came back (a clawback): it is available again."""
        check_amount(amount_minor)
        spent = int(self._commitment(commitment_id)[1])
        if amount_minor > spent:
            msg = f"commitment {commitment_id!r} spent {spent}, cannot return {amount_minor}"
            raise InvalidStateError(msg, commitment_id=commitment_id)
        self._spend_returned(
            currency=self.currency,
            commitment_id=commitment_id,
            amount_minor=amount_minor,
            reason=reason,
            effective_at=effective_at,
        )

    def _commitment(self, commitment_id: str) -> list[Any]:
        try:
            return self.commitments[commitment_id]
        except KeyError:
            msg = f"fund {self.fund_key!r} has no commitment {commitment_id!r}"
            raise InvalidStateError(msg, commitment_id=commitment_id) from None

    # -- events (assign state only: these run again on every replay) ----------------------

    @event(BudgetToppedUp)
    def _topped_up(
        self, currency: str, amount_minor: int, reference: str, effective_at: datetime
    ) -> None:
        self.budget_minor += amount_minor

    @event(BudgetCommitted)
    def _committed(
        self,
        currency: str,
        commitment_id: str,
        purpose: str,
        amount_minor: int,
        effective_at: datetime,
    ) -> None:
        self.commitments[commitment_id] = [amount_minor, 0, purpose]
        self.committed_minor += amount_minor

    @event(CommitmentSpent)
    def _spent(
        self,
        currency: str,
        commitment_id: str,
        amount_minor: int,
        reference: str,
        effective_at: datetime,
    ) -> None:
        c = self.commitments[commitment_id]
        c[0] -= amount_minor
        c[1] += amount_minor
        self.committed_minor -= amount_minor
        self.spent_minor += amount_minor

    @event(CommitmentReleased)
    def _released(
        self,
        currency: str,
        commitment_id: str,
        amount_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self.commitments[commitment_id][0] -= amount_minor
        self.committed_minor -= amount_minor

    @event(SpendReturned)
    def _spend_returned(
        self,
        currency: str,
        commitment_id: str,
        amount_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self.commitments[commitment_id][1] -= amount_minor
        self.spent_minor -= amount_minor
