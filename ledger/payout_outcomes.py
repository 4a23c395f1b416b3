"""Recording what the provider did with payouts: paid (in transit -> cash) or failed (back to
payable), each once.

A reversal the provider reported while a payout was still waiting for its outcome
(``Payout.ReversalReported``) takes effect in the same transaction that records the payout as
paid by the transfer it names: the cash comes back and the creator is owed it again (after
settling what they owe), so a reversal is never acknowledged without taking effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from eventsourcing.domain import Aggregate

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.ids import book_shard
from creator_ledger.domain.payout import Payout
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import Clock
from creator_ledger.ledger.retry import retry_on_conflict
from creator_ledger.ledger.transfers import Outcome

#: Who issued the work (see :func:`~creator_ledger.ledger.commands.issued`).
Meta = Mapping[str, str]


def books_for(outcomes: Sequence[Outcome]) -> set[int]:
    """The account books recording ``outcomes`` changes: failures, and reported reversals."""
    return {
        book_shard(o.payout.creator_id)
        for o in outcomes
        if o.failure is not None or o.payout.reported_reversal is not None
    }


def apply_outcomes(
    resolved: Sequence[Outcome], books: Mapping[int, AccountBook], at: datetime
) -> list[Aggregate]:
    """Record each outcome of a payout still ``requested`` on it (and on its creator's book);
    returns what changed."""
    touched: list[Aggregate] = []
    for o in resolved:
        payout = o.payout
        if payout.status != "requested":
            continue  # recorded already (by a concurrent executor)
        book = books.get(book_shard(payout.creator_id))
        if o.transfer_id is not None:
            payout.mark_paid(o.transfer_id, effective_at=at)
            pending = payout.pending_reversal_minor()
            if pending:
                assert book is not None
                assert payout.reported_reversal is not None
                reversal_id = str(payout.reported_reversal[0])
                reason = f"transfer {o.transfer_id} reversed at the provider ({reversal_id})"
                payout.mark_reversed(reversal_id, pending, reason=reason, effective_at=at)
                book.credit_reversal(
                    payout_id=payout.id,
                    creator_id=payout.creator_id.hex,
                    currency=payout.currency,
                    amount_minor=pending,
                    reason=reason,
                    effective_at=at,
                )
        else:
            assert o.failure is not None
            assert book is not None
            code, reason = o.failure
            payout.mark_failed(code=code, reason=reason, effective_at=at)
            book.return_payout(
                payout_id=payout.id,
                creator_id=payout.creator_id.hex,
                currency=payout.currency,
                amount_minor=payout.amount_minor,
                reason=f"{code}: {reason}",
                effective_at=at,
            )
        touched.append(payout)
    return touched


class PayoutOutcomes:
    """Records outcomes in one transaction, retried on fresh payouts when a concurrent
    executor recorded some of them first."""

    def __init__(self, aggregates: Aggregates, clock: Clock) -> None:
        self.aggregates = aggregates
        self.clock = clock

    def record(self, outcomes: Sequence[Outcome], meta: Meta) -> None:
        resolved = [o for o in outcomes if o.resolved]
        first = [True]

        def attempt() -> None:
            batch = resolved
            if not first[0]:
                # A concurrent executor recorded some of these: record from fresh payouts.
                fresh = {
                    p.id: p for p in self.aggregates.many(Payout, (o.payout.id for o in batch))
                }
                batch = [Outcome(fresh[o.payout.id], o.transfer_id, o.failure) for o in batch]
            first[0] = False
            books = self.aggregates.books(books_for(batch))
            touched = apply_outcomes(batch, books, self.clock())
            self.aggregates.save(*touched, *books.values(), meta=meta)

        retry_on_conflict(attempt, what="recording payout outcomes")
