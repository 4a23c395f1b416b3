"""Executing a payout run exactly once through a payment provider.

Only a run the ledger recorded (``propose``) and released (``approve``, by as many distinct
approvers as the policy asks; see :mod:`.payout_workflow`) is paid, and only what the ledger
re-derives for it: before the first payout is requested the plan is computed again with the
run's currency, date, threshold and planning time, and the run is refused
(:class:`StalePlanError`: propose again) unless that gives the inputs hash it was proposed with.
Then, in batches fixed by the run's recorded lines:

1. **Request** (one transaction per batch): each creator's receivable offset and payout
   request are written to their account book (payable -> in transit, refused if it would
   overdraw: the book is the write model), a :class:`~creator_ledger.domain.payout.Payout` is
   created with its provider idempotency key fixed from its id, and the run records the batch.
   The first batch is saved with the run's ``ExecutionStarted``, so an approval, a rejection
   and the start of an execution are ordered by the run's version.  A batch already recorded —
   by an earlier, interrupted execution or by a concurrent one — is skipped.
2. **Send** each requested payout as one provider transfer under its own key
   (:mod:`.transfers`), paced to the provider's rate (``LEDGER_PROVIDER_RATE_PER_S``).
3. **Record** the outcomes (paid: in transit -> cash; failed: back to payable) in one
   transaction per batch of outcomes, while the next payouts are being sent.  A payout whose
   outcome stays unknown stays ``requested``; the next execution resolves it.  A reversal the
   provider reported while the payout was waiting takes effect when it is recorded as paid.

Sending starts as soon as the first batch is requested, and goes on while the next batches are
requested and the outcomes recorded.

So whatever crashes, each payout is one transfer at the provider and a run started again
finishes what is left.  A plan file is a view: given one, execution compares it line by line
with the run it names and refuses any difference.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from creator_ledger.adapters.eventstore import WriteConflictError
from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.domain.errors import InvalidInputError, StalePlanError
from creator_ledger.domain.ids import book_shard_hex
from creator_ledger.domain.payout import Payout
from creator_ledger.domain.payout_run import PayoutRun
from creator_ledger.ledger import transfers
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import Clock, issued
from creator_ledger.ledger.payout_outcomes import Meta, PayoutOutcomes
from creator_ledger.ledger.payout_workflow import PayoutWorkflow, approvals_needed, recorded_plan
from creator_ledger.ledger.plan import PayoutPlan
from creator_ledger.ledger.plan_checks import differences, staleness
from creator_ledger.ledger.planner import Planner
from creator_ledger.ledger.results import RunResult, SkippedPayout
from creator_ledger.ledger.retry import retry_on_conflict
from creator_ledger.ledger.transfers import Outcome
from creator_ledger.ledger.validation import check_actor

DEFAULT_BATCH_SIZE = 2_000
MAX_BATCH_SIZE = 5_000

Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class _Item:
    """One creator's part of a run: an offset, a payout, or both."""

    creator_id: str
    creator_ref: str
    destination: str
    offset_minor: int
    amount_minor: int


def _items(run: PayoutRun) -> list[_Item]:
    """The run's recorded lines and offsets, one item per creator, in a fixed order."""
    offsets = {o[1]: o for o in run.offsets}
    items = [_Item(x[1], x[0], x[2], x[4], x[5]) for x in run.lines]
    paid = {x[1] for x in run.lines}
    items += [_Item(o[1], o[0], "", o[3], 0) for o in run.offsets if o[1] not in paid]
    assert all(offsets[i.creator_id][3] == i.offset_minor for i in items if i.offset_minor)
    return sorted(items, key=lambda i: (i.creator_ref, i.creator_id))


class PayoutRuns:
    """Executes payout runs (see the module docstring)."""

    def __init__(
        self, aggregates: Aggregates, planner: Planner, workflow: PayoutWorkflow, clock: Clock
    ) -> None:
        self.aggregates = aggregates
        self.planner = planner
        self.workflow = workflow
        self.settings = workflow.settings
        self.read_models = planner.projector.read_models
        self.clock = clock
        self.outcomes = PayoutOutcomes(aggregates, clock)

    def execute(
        self,
        run: str | PayoutPlan,
        provider: PaymentProvider,
        *,
        actor: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        send_concurrency: int = 1,
        progress: Progress | None = None,
    ) -> RunResult:
        """Pay the proposed and approved run ``run`` (its id; or a plan file's plan, which must
        be the run's recorded plan line by line).  Refused when the run is not released
        (:class:`RunNotApprovedError`), rejected, over its run limit, or when what it was
        computed from has changed since it was proposed (:class:`StalePlanError`: propose
        again).  Safe to run again after any interruption, and concurrently with itself: every
        payout is one transfer.  ``actor`` (who executes) is recorded on every event the
        execution writes."""
        check_actor(actor)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            msg = f"batch_size must be 1..{MAX_BATCH_SIZE}"
            raise InvalidInputError(msg, batch_size=batch_size)
        if not 1 <= send_concurrency <= transfers.MAX_CONCURRENCY:
            msg = f"send_concurrency must be 1..{transfers.MAX_CONCURRENCY}"
            raise InvalidInputError(msg, send_concurrency=send_concurrency)
        run_id = self._run_id(run)
        tick = progress or (lambda _phase, _n: None)
        meta = issued(actor, "execute", f"run:{run_id}")
        started = self._start(run_id, batch_size, actor)
        # A run started before (not by this call) may have payouts an earlier execution left.
        resumed = not started.pending_events
        items = _items(started)
        size = started.batch_size
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        created: list[Payout] = []
        own_batches = [0]
        current = [started]

        def requested() -> Iterator[Payout]:
            """Request batch after batch, handing each batch's payouts to the senders as soon
            as it is saved (so sending overlaps requesting the next batch)."""
            for n, batch in enumerate(batches):
                current[0], made, ours = self._request_batch(current[0], n, batch, actor, meta)
                created.extend(made)
                own_batches[0] += ours
                tick("requested", len(batch))
                yield from made
            if not batches and not resumed:
                self._save_started(current[0], batch_size, actor, meta)
            if resumed:
                known = {p.id for p in created}
                yield from self._requested_payouts(run_id, known)

        pacer = transfers.Pacer(
            getattr(provider, "rate_limit_per_s", self.settings.provider_rate_per_s)
        )
        send = functools.partial(
            transfers.send_all,
            provider,
            concurrency=send_concurrency,
            pacer=pacer,
            now=self.clock,
            batch_size=size or DEFAULT_BATCH_SIZE,
        )

        def record(results: list[Outcome]) -> None:
            self.outcomes.record(results, meta)
            tick("sent", len(results))

        outcomes = send(requested(), record=record)
        run_now = current[0]
        if resumed or own_batches[0] < len(batches):
            # Another executor shares (or shared) this run: settle whatever still waits, its
            # payouts included.  Sending under the payout's own key (the provider replays its
            # first answer; an old key is looked up first) makes this safe even while that
            # executor is still at work.
            leftovers = self._requested_payouts(run_id, set())
            send(leftovers, record=lambda results: self.outcomes.record(results, meta))
            return self._finish_from_read_models(run_now, meta)
        return self._finish(run_now, outcomes, meta)

    # -- starting and requesting ------------------------------------------------------------

    def _run_id(self, run: str | PayoutPlan) -> str:
        """The id of the run to execute; a plan file must be exactly the run's recorded plan."""
        if not isinstance(run, PayoutPlan):
            if not isinstance(run, str) or not run:
                msg = f"run must be a payout run id or a PayoutPlan, got {run!r}"
                raise InvalidInputError(msg)
            return run
        run.verify()
        recorded = recorded_plan(self.workflow.run(run.run_id))
        found = differences(run, recorded)
        if found:
            msg = (
                f"the plan file of run {run.run_id} differs from the run recorded in the ledger"
                f" ({'; '.join(found)}): nothing was paid; a plan file is only a view of its"
                " run — execute the run by its id"
            )
            raise InvalidInputError(msg, run_id=run.run_id, differences=found)
        return run.run_id

    def _start(self, run_id: str, batch_size: int, actor: str) -> PayoutRun:
        """The run, started by this call (``ExecutionStarted`` pending, saved with the first
        batch) if it had not started: released, within its limit, and what the ledger
        re-derives for it."""
        run = self.workflow.run(run_id)
        if run.started:
            return run
        needed = approvals_needed(run, self.settings)
        limit = self.settings.payout_run_limits.get(run.currency)
        run.check_executable(approvals_needed=needed, run_limit_minor=limit)
        current = self.planner.derive(run)
        if current.inputs_hash != run.inputs_hash:
            # A concurrent executor of this very run may have just started it (and so changed
            # the balances): then join it instead of calling the run stale.
            again = self.workflow.run(run_id)
            if again.started:
                return again
            raise StalePlanError(staleness(recorded_plan(run), current), run_id=run_id)
        run.start_execution(
            batch_size=batch_size,
            executed_by=actor,
            approvals_needed=needed,
            run_limit_minor=limit,
            effective_at=self.clock(),
        )
        return run

    def _save_started(self, run: PayoutRun, batch_size: int, actor: str, meta: Meta) -> None:
        """A run with nothing to request: record that its execution started."""
        current = [run]

        def attempt() -> None:
            try:
                self.aggregates.save(current[0], meta=meta)
            except WriteConflictError:
                current[0] = self._start(run.run_id, batch_size, actor)
                if current[0].pending_events:
                    raise
                # a concurrent executor started it: nothing to record

        retry_on_conflict(attempt, what=f"run {run.run_id}: start", run_id=run.run_id)

    def _request_batch(
        self, run: PayoutRun, n: int, batch: Sequence[_Item], actor: str, meta: Meta
    ) -> tuple[PayoutRun, list[Payout], int]:
        """Request batch ``n`` (unless it was already); returns the run, the payouts this call
        requested, and 1 if it requested the batch, 0 if someone else had."""
        current = [run]

        def attempt() -> tuple[PayoutRun, list[Payout], int]:
            run = current[0]
            if run.has_requested(n):
                return run, [], 0
            payouts = self._request(run, n, batch, meta)
            return run, payouts, 1

        def reload_and_attempt() -> tuple[PayoutRun, list[Payout], int]:
            try:
                return attempt()
            except WriteConflictError:
                # Another writer got there first (an executor, an approver or a rejecter of this
                # run, or a book's writer): reload and decide again (a run not started yet is
                # checked and re-derived again).
                current[0] = self._start(run.run_id, run.batch_size, actor)
                raise

        return retry_on_conflict(
            reload_and_attempt, what=f"run {run.run_id}: batch {n}", run_id=run.run_id
        )

    def _request(self, run: PayoutRun, n: int, batch: Sequence[_Item], meta: Meta) -> list[Payout]:
        """Write batch ``n``'s offsets and payout requests (one transaction)."""
        at = self.clock()
        books = self.aggregates.books(book_shard_hex(i.creator_id) for i in batch)
        skipped: list[list[str]] = []
        payouts: list[Payout] = []
        lines_by_book: dict[int, list[list[Any]]] = {}
        for item in batch:
            shard = book_shard_hex(item.creator_id)
            payable, _, receivable = books[shard].balance(item.creator_id, run.currency)
            if payable < item.offset_minor + item.amount_minor or receivable < item.offset_minor:
                skipped.append([item.creator_id, "balance changed since the run was proposed"])
                continue
            if item.offset_minor:
                books[shard].offset_receivable(
                    item.creator_id,
                    run.currency,
                    item.offset_minor,
                    reference=run.run_id,
                    effective_at=at,
                )
            if item.amount_minor:
                payout = Payout.request(
                    run_id=run.run_id,
                    creator_id=UUID(hex=item.creator_id),
                    currency=run.currency,
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
                run_id=run.run_id, currency=run.currency, lines=lines, effective_at=at
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

    # -- results ------------------------------------------------------------------------------

    def _finish(self, run: PayoutRun, outcomes: list[Outcome], meta: Meta) -> RunResult:
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
            len(outcomes),
            len(paid),
            sum(o.payout.amount_minor for o in paid),
            failures,
            unresolved,
            meta,
        )

    def _finish_from_read_models(self, run: PayoutRun, meta: Meta) -> RunResult:
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
            currency=run.currency,
            planned=len(run.lines),
            requested=requested,
            paid=paid,
            failed=len(failures),
            unresolved=unresolved,
            paid_minor=paid_minor,
            skipped=[SkippedPayout(creator_id=c, reason=r) for c, r in fresh.skipped],
            failures=failures,
        )
