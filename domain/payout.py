"""A payout: money leaving the platform to one creator through the payment provider.

Life: ``requested`` (payable -> in transit, on the creator's book) -> the provider transfer ->
``paid`` (in transit -> cash) or ``failed`` (back to payable, with the reason).  A paid payout
may later be ``reversed`` by the provider.

The provider idempotency key is derived from the payout id and fixed in the ``Requested``
event, before the first attempt; every retry, after any crash, reuses it.  An unknown outcome
is resolved by asking the provider (``find_transfer``), never by sending under a new key.
"""

from __future__ import annotations

from datetime import datetime
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
        self.status = "requested"
        self.transfer_id: str | None = None
        self.failure: str | None = None
        self.reversed_minor = 0

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

    def _check(self, status: str) -> None:
        if self.status != status:
            msg = f"payout {self.id} is {self.status}, not {status}"
            raise InvalidStateError(msg, payout_id=str(self.id), status=self.status)

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


class PayoutRun(Aggregate):
    """The execution of one payout plan: which batches of it have been requested.

    Batches are fixed by the plan (its lines in order, cut every ``batch_size``), so a run that
    is interrupted and started again skips the batches it has requested and goes on with the
    rest; two executors of the same plan race on this aggregate's version, and the loser
    moves on to the next batch.
    """

    TOPIC = "creator-ledger/PayoutRun"

    class Started(Aggregate.Created):
        TOPIC = "creator-ledger/PayoutRun.Started"
        run_id: str
        plan_hash: str
        currency: str
        lines: int
        total_minor: int
        batch_size: int
        effective_at: datetime

    class BatchRequested(Aggregate.Event):
        TOPIC = "creator-ledger/PayoutRun.BatchRequested"
        batch: int
        requested: int
        skipped: list[list[str]]  # [creator_id, reason] left out because their balance changed
        effective_at: datetime

    class Finished(Aggregate.Event):
        TOPIC = "creator-ledger/PayoutRun.Finished"
        paid: int
        failed: int
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Started`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/PayoutRun.Created"

    @staticmethod
    def create_id(run_id: str) -> UUID:
        return stable_id("payout-run", run_id)

    @event(Started)
    def __init__(
        self,
        run_id: str,
        plan_hash: str,
        currency: str,
        lines: int,
        total_minor: int,
        batch_size: int,
        effective_at: datetime,
    ) -> None:
        self.run_id = run_id
        self.plan_hash = plan_hash
        self.currency = currency
        self.lines = lines
        self.total_minor = total_minor
        self.batch_size = batch_size
        self.batches: dict[str, int] = {}  # batch number (str) -> payouts requested
        self.skipped: list[list[str]] = []
        self.finished = False

    def has_requested(self, batch: int) -> bool:
        return str(batch) in self.batches

    def record_batch(
        self, batch: int, requested: int, skipped: list[list[str]], *, effective_at: datetime
    ) -> None:
        assert not self.has_requested(batch), batch
        self._batch_requested(
            batch=batch, requested=requested, skipped=skipped, effective_at=effective_at
        )

    def finish(self, *, paid: int, failed: int, effective_at: datetime) -> None:
        if not self.finished:
            self._finished(paid=paid, failed=failed, effective_at=effective_at)

    @event(BatchRequested)
    def _batch_requested(
        self, batch: int, requested: int, skipped: list[list[str]], effective_at: datetime
    ) -> None:
        self.batches[str(batch)] = requested
        self.skipped.extend(skipped)

    @event(Finished)
    def _finished(self, paid: int, failed: int, effective_at: datetime) -> None:
        self.finished = True
