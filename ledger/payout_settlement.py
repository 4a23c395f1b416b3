"""Settling a payout the provider will never answer for: an operator's recorded way out.

A payout whose transfer request got an unknown outcome stays ``requested``: the executor only
asks the provider and re-sends under the payout's own idempotency key, never under a new one.
If the provider stored a failure under that key (Stripe keeps a 500 for 24 hours and answers
every repeat with it), no run can finish the payout, and no new key may be used while a
transfer could still appear.  ``settle_payout`` ends it safely:

* it asks the provider for the payout's transfer (by the payout id): if there is one, the
  payout is recorded as **paid** by it, whatever its age;
* if there is none, the payout is **failed** back to payable only once
  :data:`SETTLE_AFTER` (25 hours) has passed since it was requested — Stripe keeps an
  idempotency key for at least 24 hours — so the request can no longer create a transfer by a
  replay of its key.  Before that it is refused, saying when it can be settled.

The money that comes back is paid by a later run, as a new payout with a new id (and so its own
key).  Settle only a payout no executor is sending right now (a run that is still resuming it
would send it under its key); should a transfer for it appear after all, provider
reconciliation reports it.  The command is recorded with its actor and reason like any other.
"""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.domain import Aggregate

from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.domain.errors import InvalidStateError, NotFoundError
from creator_ledger.domain.ids import book_shard
from creator_ledger.domain.money import format_minor
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.payout_outcomes import apply_outcomes, books_for
from creator_ledger.ledger.results import PayoutSettled
from creator_ledger.ledger.transfers import Outcome
from creator_ledger.ledger.validation import Actor, Key, Reason, command

#: How long after its request a payout with no transfer at the provider may be failed.
SETTLE_AFTER = timedelta(hours=25)
#: The failure code a settled payout is recorded with.
SETTLED_CODE = "settled_no_transfer"


@command
def _checked(
    *, payout_id: Key, reason: Reason, idempotency_key: Key, actor: Actor
) -> tuple[str, str, str, str]:
    """The command's arguments, validated as every command's are (the provider is not an
    argument pydantic can check, so the method itself is not decorated)."""
    return payout_id, reason, idempotency_key, actor


class PayoutSettlement:
    """Settles payouts stuck in transit (see the module docstring)."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    def settle_payout(
        self,
        payout_id: str,
        provider: PaymentProvider,
        *,
        reason: str,
        idempotency_key: str,
        actor: str,
    ) -> PayoutSettled:
        """Resolve a payout still waiting for its outcome: paid if the provider has its
        transfer, else failed back to payable once :data:`SETTLE_AFTER` has passed since it
        was requested (refused before).  ``reason`` says why, for the audit trail."""
        payout_id, reason, idempotency_key, actor = _checked(
            payout_id=payout_id, reason=reason, idempotency_key=idempotency_key, actor=actor
        )
        args = {"payout_id": payout_id, "reason": reason}

        def work() -> tuple[list[Aggregate], PayoutSettled]:
            payout = self.aggregates.payout(payout_id)
            if payout is None:
                raise NotFoundError(f"unknown payout {payout_id!r}", payout_id=payout_id)
            if payout.status != "requested":
                msg = f"payout {payout_id} is {payout.status}: only a payout in transit is settled"
                raise InvalidStateError(msg, payout_id=payout_id, status=payout.status)
            found = provider.find_transfer(str(payout.id))
            now = self.runner.clock()
            if found is not None:
                if (found.amount_minor, found.currency, found.destination) != (
                    payout.amount_minor,
                    payout.currency,
                    payout.destination,
                ):
                    msg = (
                        f"the provider's transfer {found.transfer_id} for payout {payout_id}"
                        f" pays {format_minor(found.amount_minor, found.currency)} to"
                        f" {found.destination}, not what the payout asked: reconcile it first"
                        " (creator-ledger reconcile provider)"
                    )
                    raise InvalidStateError(msg, payout_id=payout_id)
                outcome = Outcome(payout, transfer_id=found.transfer_id)
                status, detail = "paid", f"the provider has transfer {found.transfer_id}"
            else:
                settle_from = payout.requested_at + SETTLE_AFTER
                if now < settle_from:
                    msg = (
                        f"payout {payout_id} was requested at {payout.requested_at:%Y-%m-%d %H:%M}"
                        " UTC and the provider has no transfer for it yet: its idempotency key"
                        " may still replay, so it can be settled from"
                        f" {settle_from:%Y-%m-%d %H:%M} UTC; until then run its payout run"
                        " again (creator-ledger payouts execute RUN)"
                    )
                    raise InvalidStateError(
                        msg, payout_id=payout_id, settle_from=settle_from.isoformat()
                    )
                detail = f"no transfer at the provider; settled by {actor}: {reason}"
                outcome = Outcome(payout, failure=(SETTLED_CODE, detail))
                status = "failed"
            books = self.aggregates.books(books_for([outcome]))
            assert not books or book_shard(payout.creator_id) in books
            touched = apply_outcomes([outcome], books, now)
            return [*touched, *books.values()], PayoutSettled(
                payout_id=str(payout.id),
                run_id=payout.run_id,
                creator_id=payout.creator_id.hex,
                currency=payout.currency,
                amount_minor=payout.amount_minor,
                status=status,
                transfer_id=found.transfer_id if found is not None else None,
                detail=detail,
            )

        return self.runner.run(
            "settle_payout", idempotency_key, args, PayoutSettled, work, actor=actor
        )
