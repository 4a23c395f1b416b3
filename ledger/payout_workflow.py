"""Payout runs as a workflow: ``propose`` records a plan in the ledger, ``approve`` releases it
(four eyes), ``reject`` ends it.  Execution is :mod:`.payout_runs`.

* **Propose** computes the plan (as the dry run does) and records it as a
  :class:`~creator_ledger.domain.payout_run.PayoutRun` under its run id, with its lines, offsets
  and exclusions.  The run id is derived from the plan's inputs, so proposing the same plan
  again while its run is live (proposed, approved or executing) is the same run (nothing new is
  recorded), and proposing after something changed gives a new run.  A plan identical to a
  run that has ended (rejected; or finished without changing the balances, as when its payouts
  failed back to payable) gets the next free id (``<run id>-r2``, ...).
* **Approve** records an approval by an actor who is neither the proposer nor an earlier
  approver.  The run must still be what the ledger derives (else :class:`StalePlanError`:
  propose again) and within its currency's run limit.
* **The policy** (settings): a run needs ``LEDGER_PAYOUT_APPROVERS`` distinct approvers (0, 1
  or 2; default 1), or more above a run total (``LEDGER_PAYOUT_APPROVERS_ABOVE``,
  ``USD=10000000:2``).  The count is recorded when the run is proposed; approving and
  executing ask for the larger of that and what the settings say then, so changing the
  settings never releases a run with fewer approvals than it was proposed under.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from eventsourcing.domain import Aggregate
from pydantic import StringConstraints

from creator_ledger.domain.errors import InvalidStateError, NotFoundError, StalePlanError
from creator_ledger.domain.payout_run import APPROVED, EXECUTING, PROPOSED, PayoutRun
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.plan import PayoutPlan, plan_of, plan_rows
from creator_ledger.ledger.plan_checks import staleness
from creator_ledger.ledger.planner import Planner
from creator_ledger.ledger.results import PayoutRunSummary
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.validation import (
    Actor,
    Currency,
    Key,
    NonNegativeMinor,
    Reason,
    arguments,
    command,
)

#: A payout run id (``usd-2026-06-30-ff7063e03ebba0f7``, ``...-r2``).
RunId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9.-]*$")
]
#: Runs of one plan, at most (``-r2`` ... ``-r99``).
MAX_REPROPOSALS = 99
#: A run in these states is the run of its plan; proposing the plan again returns it.
LIVE = frozenset({PROPOSED, APPROVED, EXECUTING})


def approvals_needed(run: PayoutRun, settings: Settings) -> int:
    """What a run needs now: the larger of the count recorded at its proposal and today's
    rule for its currency and total."""
    return max(run.approvals_needed, settings.approvers_for(run.currency, run.total_minor))


def summary(run: PayoutRun, settings: Settings) -> PayoutRunSummary:
    needed = approvals_needed(run, settings)
    missing = run.approvals_missing(needed)
    status = run.status
    if status in {PROPOSED, APPROVED}:
        status = APPROVED if missing == 0 else PROPOSED
    reasons: dict[str, int] = {}
    for x in run.excluded:
        for r in x[3]:
            reasons[r] = reasons.get(r, 0) + 1
    return PayoutRunSummary(
        run_id=run.run_id,
        currency=run.currency,
        as_of=run.as_of,
        threshold_minor=run.threshold_minor,
        status=status,
        proposed_by=run.proposed_by,
        proposed_at=run.proposed_at,
        approvals_needed=needed,
        approved_by=list(run.approved_by),
        approvals_missing=missing,
        rejected_by=run.rejected_by,
        rejection_reason=run.rejection_reason,
        payouts=len(run.lines),
        total_minor=run.total_minor,
        offsets=len(run.offsets),
        offset_total_minor=run.offset_total_minor,
        excluded=len(run.excluded),
        excluded_total_minor=run.excluded_total_minor,
        excluded_by_reason=dict(sorted(reasons.items())),
        inputs_hash=run.inputs_hash,
    )


def recorded_plan(run: PayoutRun) -> PayoutPlan:
    """The plan a run recorded, as a plan (the file is this view)."""
    return plan_of(
        run_id=run.run_id,
        currency=run.currency,
        as_of=run.as_of,
        threshold_minor=run.threshold_minor,
        lines=run.lines,
        offsets=run.offsets,
        excluded=run.excluded,
        inputs_hash=run.inputs_hash,
        read_model_position=run.read_model_position,
    )


class PayoutWorkflow:
    """Propose, approve and reject payout runs (see the module docstring)."""

    def __init__(
        self, aggregates: Aggregates, runner: CommandRunner, planner: Planner, settings: Settings
    ) -> None:
        self.aggregates = aggregates
        self.runner = runner
        self.planner = planner
        self.settings = settings

    @command
    def propose(
        self,
        *,
        currency: Currency,
        as_of: date | None = None,
        threshold_minor: NonNegativeMinor | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> PayoutRunSummary:
        """Record the plan the ledger gives now (as :meth:`Planner.plan` shows it) as a payout
        run, proposed by ``actor``.  Proposing the same plan again returns the same run."""
        args = arguments(locals())
        threshold = self.planner.threshold(currency, threshold_minor)

        def work() -> tuple[list[Aggregate], PayoutRunSummary]:
            self.planner.projector.catch_up()
            now = self.runner.clock()
            plan = self.planner.compute(currency, as_of, threshold, planned_at=now)
            run_id, existing = self._run_of(plan)
            if existing is not None:  # this very plan is a live run already
                return [], summary(existing, self.settings)
            lines, offsets, excluded = plan_rows(plan)
            run = PayoutRun.propose(
                run_id=run_id,
                currency=plan.currency,
                as_of=plan.as_of,
                threshold_minor=plan.threshold_minor,
                planned_at=now,
                inputs_hash=plan.inputs_hash,
                lines=lines,
                offsets=offsets,
                excluded=excluded,
                approvals_needed=self.settings.approvers_for(plan.currency, plan.total_minor),
                proposed_by=actor,
                read_model_position=plan.read_model_position,
                effective_at=now,
            )
            return [run], summary(run, self.settings)

        return self.runner.run(
            "propose_payout_run", idempotency_key, args, PayoutRunSummary, work, actor=actor
        )

    def _run_of(self, plan: PayoutPlan) -> tuple[str, PayoutRun | None]:
        """The live run of ``plan``, or the id a new proposal of it gets."""
        candidates = [plan.run_id] + [f"{plan.run_id}-r{n}" for n in range(2, MAX_REPROPOSALS + 1)]
        for run_id in candidates:
            run = self.aggregates.run(run_id)
            if run is None:
                return run_id, None
            if run.status in LIVE and run.inputs_hash == plan.inputs_hash:
                return run_id, run
        msg = f"plan {plan.run_id} was proposed {MAX_REPROPOSALS} times: change something first"
        raise InvalidStateError(msg, run_id=plan.run_id)

    @command
    def approve(self, run_id: RunId, *, idempotency_key: Key, actor: Actor) -> PayoutRunSummary:
        """Record ``actor``'s approval of a proposed run.  Refused for the proposer, for a
        second approval by the same actor, for a run over its currency's run limit, and for a
        run whose balances, gates or payout settings changed since it was proposed."""
        args = arguments(locals())

        def work() -> tuple[list[Aggregate], PayoutRunSummary]:
            run = self.run(run_id)
            needed = approvals_needed(run, self.settings)
            if run.status in {PROPOSED, APPROVED}:
                current = self.planner.derive(run)
                if current.inputs_hash != run.inputs_hash:
                    msg = staleness(recorded_plan(run), current)
                    raise StalePlanError(msg, run_id=run_id)
            run.approve(
                actor,
                approvals_needed=needed,
                run_limit_minor=self.settings.payout_run_limits.get(run.currency),
                effective_at=self.runner.clock(),
            )
            return [run], summary(run, self.settings)

        return self.runner.run(
            "approve_payout_run", idempotency_key, args, PayoutRunSummary, work, actor=actor
        )

    @command
    def reject(
        self, run_id: RunId, *, reason: Reason, idempotency_key: Key, actor: Actor
    ) -> PayoutRunSummary:
        """End a run that has not started paying, with the reason; it pays nothing."""
        args = arguments(locals())

        def work() -> tuple[list[Aggregate], PayoutRunSummary]:
            run = self.run(run_id)
            run.reject(actor, reason=reason, effective_at=self.runner.clock())
            return [run], summary(run, self.settings)

        return self.runner.run(
            "reject_payout_run", idempotency_key, args, PayoutRunSummary, work, actor=actor
        )

    # -- queries ------------------------------------------------------------------------------

    def run(self, run_id: str) -> PayoutRun:
        found = self.aggregates.run(run_id)
        if found is None:
            msg = (
                f"no payout run {run_id!r} has been proposed: propose one first"
                " (creator-ledger payouts propose)"
            )
            raise NotFoundError(msg, run_id=run_id)
        return found

    @command
    def payout_run(self, run_id: RunId) -> PayoutRunSummary:
        """A run's state: who proposed and approved it, what it pays and leaves out."""
        return summary(self.run(run_id), self.settings)

    @command
    def run_plan(self, run_id: RunId) -> PayoutPlan:
        """The plan a run recorded (what ``payouts propose --out`` writes)."""
        return recorded_plan(self.run(run_id))
