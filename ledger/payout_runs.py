"""Executing a payout plan exactly once through a payment provider.

In batches fixed by the plan:

1. **Request** (one transaction per batch): each creator's receivable offset and payout
   request are written to their account book (payable -> in transit, refused if it would
   overdraw: the book is the write model), a :class:`~creator_ledger.domain.payout.Payout` is
   created with its provider idempotency key fixed from its id, and the run records the batch.
   A batch already recorded — by an earlier, interrupted execution or by a concurrent one — is
   skipped.
2. **Send** each requested payout as one provider transfer under its own key
   (:mod:`.transfers`).
3. **Record** the outcomes (paid: in transit -> cash; failed: back to payable) in one
   transaction per batch.

So whatever crashes, each payout is one transfer at the provider and a run started again
finishes what is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from creator_ledger.adapters.eventstore import WriteConflictError
from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.domain.errors import InvalidInputError, StalePlanError
from creator_ledger.domain.ids import book_shard, book_shard_hex
from creator_ledger.domain.payout import Payout, PayoutRun
from creator_ledger.ledger import transfers
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import Clock, issued
from creator_ledger.ledger.plan import PayoutPlan, staleness
from creator_ledger.ledger.planner import Planner
from creator_ledger.ledger.results import RunResult, SkippedPayout
from creator_ledger.ledger.retry import retry_on_conflict
from creator_ledger.ledger.transfers import Outcome
from creator_ledger.ledger.validation import check_actor

DEFAULT_BATCH_SIZE = 2_000
MAX_BATCH_SIZE = 5_000

Progress = Callable[[str, int], None]
#: Who issued an execution (see :func:`~creator_ledger.ledger.commands.issued`).
Meta = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Item:
    """One creator's part of a plan: an offset, a payout, or both."""

    creator_id: str
    creator_ref: str
    destination: str
    offset_minor: int
    amount_minor: int


def _items(plan: PayoutPlan) -> list[_Item]:
    offsets = {o.creator_id: o for o in plan.offsets}
    items = [
        _Item(x.creator_id, x.creator_ref, x.destination, x.offset_minor, x.amount_minor)
        for x in plan.lines
    ]
    paid = {x.creator_id for x in plan.lines}
    items += [
        _Item(o.creator_id, o.creator_ref, "", o.amount_minor, 0)
        for o in plan.offsets
        if o.creator_id not in paid
    ]
    assert all(
        offsets[i.creator_id].amount_minor == i.offset_minor for i in items if i.offset_minor
    )
    return sorted(items, key=lambda i: (i.creator_ref, i.creator_id))


class PayoutRuns:
    """Executes payout plans (see the module docstring)."""

    def __init__(self, aggregates: Aggregates, planner: Planner, clock: Clock) -> None:
        self.aggregates = aggregates
        self.planner = planner
        self.read_models = planner.projector.read_models
        self.clock = clock

    def execute(
        self,
        plan: PayoutPlan,
        provider: PaymentProvider,
        *,
        actor: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        send_concurrency: int = 1,
        progress: Progress | None = None,
    ) -> RunResult:
        """Pay exactly ``plan``, or refuse it (:class:`StalePlanError`) when the balances or
        gates it was computed from have changed.  Safe to run again after any interruption,
        and concurrently with itself: every payout is one transfer.  ``actor`` (who executes)
        is recorded on every event the execution writes."""
        check_actor(actor)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            msg = f"batch_size must be 1..{MAX_BATCH_SIZE}"
            raise InvalidInputError(msg, batch_size=batch_size)
        if not 1 <= send_concurrency <= transfers.MAX_CONCURRENCY:
            msg = f"send_concurrency must be 1..{transfers.MAX_CONCURRENCY}"
            raise InvalidInputError(msg, send_concurrency=send_concurrency)
        plan.verify()
        tick = progress or (lambda _phase, _n: None)
        meta = issued(actor, "execute", f"run:{plan.run_id}")
        run = self._start_run(plan, batch_size)
        # A run started before (not by this call) may have payouts an earlier execution left.
        resumed = not run.pending_events
        items = _items(plan)
        batches = [items[i : i + run.batch_size] for i in range(0, len(items), run.batch_size)]
        created: list[Payout] = []
        own_batches = 0
        for n, batch in enumerate(batches):
            run, made, ours = self._request_batch(run, n, batch, plan, meta)
            created.extend(made)
            own_batches += ours
            tick("requested", len(batch))
        if not batches and run.version == 0:
            self.aggregates.save(run, meta=meta)
        todo: list[tuple[Payout, bool]] = [(p, False) for p in created]
        if resumed:
            known = {p.id for p in created}
            todo += [(p, True) for p in self._requested_payouts(run.run_id, known)]
        outcomes: list[Outcome] = []
        for start in range(0, len(todo), run.batch_size):
            chunk = todo[start : start + run.batch_size]
            results = transfers.send_all(provider, chunk, send_concurrency)
            self._record_outcomes(results, meta)
            outcomes.extend(results)
            tick("sent", len(chunk))
        if resumed or own_batches < len(batches):
            # Another executor shares (or shared) this run: settle whatever still waits, its
            # payouts included.  Asking the provider first and sending under the payout's own
            # key makes this safe even while that executor is still at work.
            leftovers = [(p, True) for p in self._requested_payouts(run.run_id, set())]
            if leftovers:
                sent = transfers.send_all(provider, leftovers, send_concurrency)
                self._record_outcomes(sent, meta)
            return self._finish_from_read_models(run, plan, meta)
        return self._finish(run, plan, outcomes, meta)

    # -- starting and requesting ------------------------------------------------------------

    def _start_run(self, plan: PayoutPlan, batch_size: int) -> PayoutRun:
        run = self.aggregates.run(plan.run_id)
        if run is not None:
            if run.plan_hash != plan.content_hash:
                msg = f"run {plan.run_id} was started from another plan file"
                raise StalePlanError(msg, run_id=plan.run_id)
            return run
        current = self.planner.current(plan)
        if current.inputs_hash != plan.inputs_hash:
            # A concurrent executor of this very plan may have just started it (and so changed
            # the balances): then join its run instead of calling the plan stale.
            started = self.aggregates.run(plan.run_id)
            if started is not None and started.plan_hash == plan.content_hash:
                return started
            raise StalePlanError(staleness(plan, current), run_id=plan.run_id)
        return PayoutRun(
            run_id=plan.run_id,
            plan_hash=plan.content_hash,
            currency=plan.currency,
            lines=len(plan.lines),
            total_minor=plan.total_minor,
            batch_size=batch_size,
            effective_at=self.clock(),
        )

    def _request_batch(
        self, run: PayoutRun, n: int, batch: Sequence[_Item], plan: PayoutPlan, meta: Meta
    ) -> tuple[PayoutRun, list[Payout], int]:
        """Request batch ``n`` (unless it was already); returns the run, the payouts this call
        requested, and 1 if it requested the batch, 0 if someone else had."""
        current = [run]

        def attempt() -> tuple[PayoutRun, list[Payout], int]:
            run = current[0]
            if run.has_requested(n):
                return run, [], 0
            payouts = self._request(run, n, batch, plan, meta)
            return run, payouts, 1

        def reload_and_attempt() -> tuple[PayoutRun, list[Payout], int]:
            try:
                return attempt()
            except WriteConflictError:
                # Another executor wrote first (this run, or a book): reload and look again.
                fresh = self.aggregates.run(run.run_id)
                current[0] = fresh if fresh is not None else self._start_run(plan, run.batch_size)
                raise

        return retry_on_conflict(
            reload_and_attempt, what=f"run {run.run_id}: batch {n}", run_id=run.run_id
        )

    def _request(
        self, run: PayoutRun, n: int, batch: Sequence[_Item], plan: PayoutPlan, meta: Meta
    ) -> list[Payout]:
        """Write batch ``n``'s offsets and payout requests (one transaction)."""
        at = self.clock()
        books = self.aggregates.books(book_shard_hex(i.creator_id) for i in batch)
        skipped: list[list[str]] = []
        payouts: list[Payout] = []
        lines_by_book: dict[int, list[list[Any]]] = {}
        for item in batch:
            shard = book_shard_hex(item.creator_id)
            payable, _, receivable = books[shard].balance(item.creator_id, plan.currency)
            if payable < item.offset_minor + item.amount_minor or receivable < item.offset_minor:
                skipped.append([item.creator_id, "balance changed since the plan"])
                continue
            if item.offset_minor:
                books[shard].offset_receivable(
                    item.creator_id,
                    plan.currency,
                    item.offset_minor,
                    reference=run.run_id,
                    effective_at=at,
                )
            if item.amount_minor:
                payout = Payout.request(
                    run_id=run.run_id,
                    creator_id=UUID(hex=item.creator_id),
                    currency=plan.currency,
                    amount_minor=item.amount_minor,
                    destination=item.destination,
                    effective_at=at,
                )
                payouts.append(payout)
                lines_by_book.setdefault(shard, []).append(
                    [payout.id, item.creator_id, item.amount_minor]
                )
        for shard, lines in lines_by_book.items():
            books[shard].request_payouts(
                run_id=run.run_id, currency=plan.currency, lines=lines, effective_at=at
            )
        run.record_batch(n, len(payouts), skipped, effective_at=at)
        self.aggregates.save(run, *books.values(), *payouts, meta=meta)
        return payouts

    def _requested_payouts(self, run_id: str, known: set[UUID]) -> list[Payout]:
        """Payouts of the run still waiting for an outcome that this execution did not request
        itself (an earlier, interrupted execution did)."""
        self.planner.projector.catch_up()
        waiting = [
            row.payout_id
            for row in self.read_models.payouts(run_id=run_id)
            if row.status == "requested" and row.payout_id not in known
        ]
        return [p for p in self.aggregates.many(Payout, waiting) if p.status == "requested"]

    # -- recording outcomes -----------------------------------------------------------------

    def _record_outcomes(self, outcomes: Sequence[Outcome], meta: Meta) -> None:
        """Record paid and failed payouts (one transaction); a concurrent executor may have
        recorded some of them first, which is fine."""
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
            self._write_outcomes(batch, meta)

        retry_on_conflict(attempt, what="recording payout outcomes")

    def _write_outcomes(self, resolved: Sequence[Outcome], meta: Meta) -> None:
        at = self.clock()
        touched: list[Aggregate] = []
        failed = [o for o in resolved if o.failure is not None]
        books = self.aggregates.books(book_shard(o.payout.creator_id) for o in failed)
        for o in resolved:
            if o.payout.status != "requested":
                continue
            if o.transfer_id is not None:
                o.payout.mark_paid(o.transfer_id, effective_at=at)
            else:
                assert o.failure is not None
                code, reason = o.failure
                o.payout.mark_failed(code=code, reason=reason, effective_at=at)
                books[book_shard(o.payout.creator_id)].return_payout(
                    payout_id=o.payout.id,
                    creator_id=o.payout.creator_id.hex,
                    currency=o.payout.currency,
                    amount_minor=o.payout.amount_minor,
                    reason=f"{code}: {reason}",
                    effective_at=at,
                )
            touched.append(o.payout)
        self.aggregates.save(*touched, *books.values(), meta=meta)

    # -- results ------------------------------------------------------------------------------

    def _finish(
        self, run: PayoutRun, plan: PayoutPlan, outcomes: list[Outcome], meta: Meta
    ) -> RunResult:
        """The result of a run this call requested and sent entirely: from its own outcomes
        (the read models catch up on the next query)."""
        paid = [o for o in outcomes if o.transfer_id is not None]
        failures = [
            {
                "payout_id": str(o.payout.id),
                "creator_id": o.payout.creator_id.hex,
                "failure": ": ".join(o.failure),
            }
            for o in outcomes
            if o.failure is not None
        ]
        unresolved = len(outcomes) - len(paid) - len(failures)
        return self._result(
            run,
            plan,
            len(outcomes),
            len(paid),
            sum(o.payout.amount_minor for o in paid),
            failures,
            unresolved,
            meta,
        )

    def _finish_from_read_models(self, run: PayoutRun, plan: PayoutPlan, meta: Meta) -> RunResult:
        """The result of a resumed or shared run: the whole run, from the read models."""
        self.planner.projector.catch_up()
        rows = self.read_models.payouts(run_id=run.run_id)
        done = [r for r in rows if r.status in {"paid", "reversed"}]
        failures = [
            {"payout_id": str(r.payout_id), "creator_id": r.creator_id, "failure": r.failure or ""}
            for r in rows
            if r.status == "failed"
        ]
        unresolved = sum(1 for r in rows if r.status == "requested")
        return self._result(
            run,
            plan,
            len(rows),
            len(done),
            sum(r.amount_minor for r in done),
            failures,
            unresolved,
            meta,
        )

    def _result(
        self,
        run: PayoutRun,
        plan: PayoutPlan,
        requested: int,
        paid: int,
        paid_minor: int,
        failures: list[dict[str, str]],
        unresolved: int,
        meta: Meta,
    ) -> RunResult:
        fresh = self.aggregates.run(run.run_id)
        assert fresh is not None
        if not unresolved and not fresh.finished:
            fresh.finish(paid=paid, failed=len(failures), effective_at=self.clock())
            with contextlib.suppress(WriteConflictError):  # a concurrent executor finished it
                self.aggregates.save(fresh, meta=meta)
        return RunResult(
            run_id=run.run_id,
            currency=plan.currency,
            planned=len(plan.lines),
            requested=requested,
            paid=paid,
            failed=len(failures),
            unresolved=unresolved,
            paid_minor=paid_minor,
            skipped=[SkippedPayout(creator_id=c, reason=r) for c, r in fresh.skipped],
            failures=failures,
        )
