"""A payout: money leaving the platform to one creator through the payment provider.

Life: ``requested`` (payable -> in transit, on the creator's book) -> the provider transfer ->
``paid`` (in transit -> cash) or ``failed`` (back to payable, with the reason).  A paid payout
may later be ``reversed`` by the provider.

A reversal the provider reports while the payout is still ``requested`` (the transfer was made,
but the executor died before it recorded the answer) is recorded at once
(``ReversalReported``) and takes effect when the payout's outcome is recorded: it is never
acknowledged without taking effect.  The payout run lives in :mod:`domain.payout_run`.

The provider idempotency key is derived from the payout id and fixed in the ``Requested``
event, before the first attempt; every retry, after any crash, reuses it.  An unknown outcome
is resolved by asking the provider (``find_transfer``), never by sending under a new key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.errors import InvalidStateError
from creator_ledger.domain.ids import stable_id


class Payout(Aggregate):
    TOPIC = "creator-ledger/Payout"

    class Requested(Aggregate.Created):
        TOPIC = "creator-ledger/Payout.Requested"
        run_id: str
        creator_id: UUID
        currency: str
        amount_minor: int
        destination: str
        idempotency_key: str
        effective_at: datetime

    class Paid(Aggregate.Event):
        TOPIC = "creator-ledger/Payout.Paid"
        transfer_id: str
        currency: str
        amount_minor: int
        effective_at: datetime

    class Failed(Aggregate.Event):
        TOPIC = "creator-ledger/Payout.Failed"
        code: str
        reason: str
        effective_at: datetime

    class Reversed(Aggregate.Event):
        TOPIC = "creator-ledger/Payout.Reversed"
        reversal_id: str
        amount_minor: int
        fully_reversed: bool
        reason: str
        effective_at: datetime

    class ReversalReported(Aggregate.Event):
        """The provider reported ``amount_reversed_minor`` (in all) of transfer
        ``transfer_id`` reversed while this payout's outcome was not recorded yet; it is
        applied (as ``Reversed``) once the payout is recorded as paid by that transfer."""

        TOPIC = "creator-ledger/Payout.ReversalReported"
        reversal_id: str
        transfer_id: str
        amount_reversed_minor: int
        reason: str
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Requested`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/Payout.Created"

    @staticmethod
    def create_id(run_id: str, creator_id: UUID, currency: str) -> UUID:
        return stable_id("payout", run_id, creator_id, currency)

    @staticmethod
    def idempotency_key_for(payout_id: UUID) -> str:
        """The provider idempotency key of a payout: a function of its id alone."""
        return f"creator-ledger-payout-{payout_id}"

    @event(Requested)
    def __init__(
        self,
        run_id: str,
        creator_id: UUID,
        currency: str,
        amount_minor: int,
        destination: str,
        idempotency_key: str,
        effective_at: datetime,
    ) -> None:
        self.run_id = run_id
        self.creator_id = creator_id
        self.currency = currency
        self.amount_minor = amount_minor
        self.destination = destination
        self.idempotency_key = idempotency_key
        self.requested_at = effective_at
        self.status = "requested"
        self.transfer_id: str | None = None
        self.failure: str | None = None
        self.reversed_minor = 0
        #: [reversal id, transfer id, amount reversed in all] reported before the outcome
        self.reported_reversal: list[Any] | None = None
        self.reported_reversal_at: datetime | None = None

    @classmethod
    def request(
        cls,
        *,
        run_id: str,
        creator_id: UUID,
        currency: str,
        amount_minor: int,
        destination: str,
        effective_at: datetime,
    ) -> Payout:
        payout_id = cls.create_id(run_id, creator_id, currency)
        return cls(
            run_id=run_id,
            creator_id=creator_id,
            currency=currency,
            amount_minor=amount_minor,
            destination=destination,
            idempotency_key=cls.idempotency_key_for(payout_id),
            effective_at=effective_at,
        )

    def mark_paid(self, transfer_id: str, *, effective_at: datetime) -> None:
        self._check("requested")
        self._paid(
            transfer_id=transfer_id,
            currency=self.currency,
            amount_minor=self.amount_minor,
            effective_at=effective_at,
        )

    def mark_failed(self, *, code: str, reason: str, effective_at: datetime) -> None:
        self._check("requested")
        self._failed(code=code, reason=reason, effective_at=effective_at)

    def mark_reversed(
        self, reversal_id: str, amount_minor: int, *, reason: str, effective_at: datetime
    ) -> None:
        self._check("paid")
        if not 0 < amount_minor <= self.amount_minor - self.reversed_minor:
            msg = f"payout {self.id} cannot have {amount_minor} reversed"
            raise InvalidStateError(msg, payout_id=str(self.id))
        self._reversed(
            reversal_id=reversal_id,
            amount_minor=amount_minor,
            fully_reversed=self.reversed_minor + amount_minor == self.amount_minor,
            reason=reason,
            effective_at=effective_at,
        )

    def report_reversal(
        self,
        reversal_id: str,
        transfer_id: str,
        amount_reversed_minor: int,
        *,
        reason: str,
        effective_at: datetime,
    ) -> bool:
        """Record a reversal reported while the outcome is unknown; False if it says nothing
        new (the same or a smaller amount was reported already)."""
        self._check("requested")
        if not 0 < amount_reversed_minor <= self.amount_minor:
            msg = f"payout {self.id} cannot have {amount_reversed_minor} reversed"
            raise InvalidStateError(msg, payout_id=str(self.id))
        known = self.reported_reversal
        if known is not None and known[1] == transfer_id and known[2] >= amount_reversed_minor:
            return False
        self._reversal_reported(
            reversal_id=reversal_id,
            transfer_id=transfer_id,
            amount_reversed_minor=amount_reversed_minor,
            reason=reason,
            effective_at=effective_at,
        )
        return True

    def pending_reversal_minor(self) -> int:
        """What a reversal reported before the outcome still has to take back, once this
        payout is paid by the transfer it names (0: nothing)."""
        known = self.reported_reversal
        if known is None or self.status != "paid" or known[1] != self.transfer_id:
            return 0
        return max(0, min(int(known[2]), self.amount_minor) - self.reversed_minor)

    def _check(self, status: str) -> None:
        if self.status != status:
            msg = f"payout {self.id} is {self.status}, not {status}"
            raise InvalidStateError(msg, payout_id=str(self.id), status=self.status)

    @event(ReversalReported)
    def _reversal_reported(
        self,
        reversal_id: str,
        transfer_id: str,
        amount_reversed_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self.reported_reversal = [reversal_id, transfer_id, amount_reversed_minor]
        self.reported_reversal_at = effective_at

    @event(Paid)
    def _paid(
        self, transfer_id: str, currency: str, amount_minor: int, effective_at: datetime
    ) -> None:
        self.status = "paid"
        self.transfer_id = transfer_id

    @event(Failed)
    def _failed(self, code: str, reason: str, effective_at: datetime) -> None:
        self.status = "failed"
        self.failure = f"{code}: {reason}"

    @event(Reversed)
    def _reversed(
        self,
        reversal_id: str,
        amount_minor: int,
        fully_reversed: bool,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self.reversed_minor += amount_minor
        if fully_reversed:
            self.status = "reversed"
