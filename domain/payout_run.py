"""A payout run: a plan recorded in the ledger, released by other people, then executed.

Life::

    proposed --approve (enough distinct approvers)--> approved --execute--> executing --> finished
        \\--reject--> rejected          \\--reject--> rejected

* ``Proposed`` records the whole plan under its run id: the lines, the receivable offsets and
  every creator left out with the reasons, as compact lists (a run of 100,000 creators is one
  event of plain lists), with the inputs hash it was computed from and the time it was
  planned at.  The proposer is ``proposed_by`` (also the actor stamped on the event).
* ``Approved`` records one approval.  An approver is never the proposer and never approves
  twice; a run above the run limit of its currency cannot be approved.  How many approvals a
  run needs is decided by the caller (the settings) and passed in; the run records what it
  needed when it was proposed, and the caller asks for the larger of that and today's rule.
* ``Rejected`` ends a run that has not started paying.
* ``ExecutionStarted`` is saved together with the first batch of payout requests (one
  transaction), so an approval, a rejection and the start of an execution are ordered by this
  aggregate's version (optimistic concurrency): nothing is paid unless the run was released
  when its execution started.  Then the batches (``BatchRequested``) and ``Finished`` as
  before: batches are fixed by the run's lines in order, cut every ``batch_size``, so an
  interrupted execution skips the batches it has requested and goes on with the rest.

``Started`` is what versions before this workflow recorded when an execution created a run
from a plan file; such a run is still read (as ``executing``, with its lines unknown), so its
payouts waiting for an outcome can be resolved.

This module passes ~400 lines for a reason: it is one aggregate, the payout run's workflow with
its eight explicit event classes (declared, so they can be upcast) and the checks that refuse
each step with a message saying how to proceed; splitting it would split one state machine.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.errors import (
    ApprovalRefusedError,
    InvalidStateError,
    RunNotApprovedError,
)
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import format_minor

PROPOSED, APPROVED, EXECUTING, FINISHED, REJECTED = (
    "proposed",
    "approved",
    "executing",
    "finished",
    "rejected",
)
#: A line: [creator_ref, creator_id, destination, payable_minor, offset_minor, amount_minor].
#: An offset: [creator_ref, creator_id, receivable_minor, amount_minor].
#: An exclusion: [creator_ref, creator_id, payable_minor, reasons, detail].
Row = list[Any]


class PayoutRun(Aggregate):
    """One payout run (see the module docstring)."""

    TOPIC = "creator-ledger/PayoutRun"

    class Proposed(Aggregate.Created):
        TOPIC = "creator-ledger/PayoutRun.Proposed"
        run_id: str
        currency: str
        as_of: date | None
        threshold_minor: int
        planned_at: datetime
        inputs_hash: str
        lines: list[Row]
        offsets: list[Row]
        excluded: list[Row]
        total_minor: int
        offset_total_minor: int
        excluded_total_minor: int
        approvals_needed: int
        proposed_by: str
        read_model_position: int
        effective_at: datetime

    class Approved(Aggregate.Event):
        TOPIC = "creator-ledger/PayoutRun.Approved"
        run_id: str
        approved_by: str
        approvals: int  # how many distinct approvals the run has with this one
        effective_at: datetime

    class Rejected(Aggregate.Event):
        TOPIC = "creator-ledger/PayoutRun.Rejected"
        run_id: str
        rejected_by: str
        reason: str
        effective_at: datetime

    class ExecutionStarted(Aggregate.Event):
        TOPIC = "creator-ledger/PayoutRun.ExecutionStarted"
        run_id: str
        batch_size: int
        executed_by: str
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

    class Started(Aggregate.Created):
        """Recorded before runs were proposed: an execution created the run from a plan file.
        Read as a run that is ``executing`` and whose lines are unknown (``legacy``)."""

        TOPIC = "creator-ledger/PayoutRun.Started"
        run_id: str
        plan_hash: str
        currency: str
        lines: int
        total_minor: int
        batch_size: int
        effective_at: datetime

        def mutate(self, aggregate: Any) -> Any:
            assert aggregate is None
            run = PayoutRun.__new__(PayoutRun)
            run.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            run._legacy(self)
            return run

    class Created(Aggregate.Created):
        """Not recorded: ``Proposed`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/PayoutRun.Created"

    @staticmethod
    def create_id(run_id: str) -> UUID:
        return stable_id("payout-run", run_id)

    @event(Proposed)
    def __init__(
        self,
        run_id: str,
        currency: str,
        as_of: date | None,
        threshold_minor: int,
        planned_at: datetime,
        inputs_hash: str,
        lines: list[Row],
        offsets: list[Row],
        excluded: list[Row],
        total_minor: int,
        offset_total_minor: int,
        excluded_total_minor: int,
        approvals_needed: int,
        proposed_by: str,
        read_model_position: int,
        effective_at: datetime,
    ) -> None:
        self.run_id = run_id
        self.currency = currency
        self.as_of = as_of
        self.threshold_minor = threshold_minor
        self.planned_at = planned_at
        self.inputs_hash = inputs_hash
        self.lines = lines
        self.offsets = offsets
        self.excluded = excluded
        self.total_minor = total_minor
        self.offset_total_minor = offset_total_minor
        self.excluded_total_minor = excluded_total_minor
        self.approvals_needed = approvals_needed
        self.proposed_by = proposed_by
        self.read_model_position = read_model_position
        self.proposed_at = effective_at
        self.status = PROPOSED
        self.approved_by: list[str] = []
        self.rejected_by: str | None = None
        self.rejection_reason: str | None = None
        self.executed_by: str | None = None
        self.batch_size = 0
        self.batches: dict[str, int] = {}  # batch number (str) -> payouts requested
        self.skipped: list[list[str]] = []
        self.finished = False
        self.legacy = False

    def _legacy(self, e: PayoutRun.Started) -> None:
        """The state of a run an earlier version started from a plan file."""
        self.run_id = e.run_id
        self.currency = e.currency
        self.as_of = None
        self.threshold_minor = 0
        self.planned_at = e.effective_at
        self.inputs_hash = ""
        self.lines = []
        self.offsets = []
        self.excluded = []
        self.total_minor = e.total_minor
        self.offset_total_minor = 0
        self.excluded_total_minor = 0
        self.approvals_needed = 0
        self.proposed_by = ""
        self.read_model_position = 0
        self.proposed_at = e.effective_at
        self.status = EXECUTING
        self.approved_by = []
        self.rejected_by = None
        self.rejection_reason = None
        self.executed_by = None
        self.batch_size = e.batch_size
        self.batches = {}
        self.skipped = []
        self.finished = False
        self.legacy = True

    @classmethod
    def propose(
        cls,
        *,
        run_id: str,
        currency: str,
        as_of: date | None,
        threshold_minor: int,
        planned_at: datetime,
        inputs_hash: str,
        lines: list[Row],
        offsets: list[Row],
        excluded: list[Row],
        approvals_needed: int,
        proposed_by: str,
        read_model_position: int,
        effective_at: datetime,
    ) -> PayoutRun:
        assert 0 <= approvals_needed <= 2, approvals_needed
        return cls(
            run_id=run_id,
            currency=currency,
            as_of=as_of,
            threshold_minor=threshold_minor,
            planned_at=planned_at,
            inputs_hash=inputs_hash,
            lines=lines,
            offsets=offsets,
            excluded=excluded,
            total_minor=sum(x[5] for x in lines),
            offset_total_minor=sum(x[3] for x in offsets),
            excluded_total_minor=sum(x[2] for x in excluded),
            approvals_needed=approvals_needed,
            proposed_by=proposed_by,
            read_model_position=read_model_position,
            effective_at=effective_at,
        )

    # -- queries -------------------------------------------------------------------------

    def approvals_missing(self, needed: int) -> int:
        """How many more distinct approvals the run needs, when ``needed`` are required."""
        return max(0, needed - len(self.approved_by))

    def has_requested(self, batch: int) -> bool:
        return str(batch) in self.batches

    @property
    def started(self) -> bool:
        """Whether an execution has started (payouts may have been requested)."""
        return self.status in {EXECUTING, FINISHED}

    # -- the workflow ----------------------------------------------------------------------

    def approve(
        self,
        approver: str,
        *,
        approvals_needed: int,
        run_limit_minor: int | None,
        effective_at: datetime,
    ) -> None:
        """Record ``approver``'s approval.  Refused (:class:`ApprovalRefusedError`) for the
        proposer, for a second approval by the same actor, and for a run over the limit."""
        if self.status not in {PROPOSED, APPROVED}:
            msg = f"run {self.run_id} is {self.status}: only a proposed run can be approved"
            raise InvalidStateError(msg, run_id=self.run_id, status=self.status)
        if approver == self.proposed_by:
            msg = (
                f"{approver} proposed run {self.run_id} and cannot approve it too: four eyes,"
                " another person must approve it"
            )
            raise ApprovalRefusedError(msg, run_id=self.run_id, actor=approver, rule="own_run")
        if approver in self.approved_by:
            msg = (
                f"{approver} has approved run {self.run_id} already; an approval counts once"
                f" (it has {len(self.approved_by)} of {approvals_needed})"
            )
            raise ApprovalRefusedError(
                msg, run_id=self.run_id, actor=approver, rule="already_approved"
            )
        self.check_run_limit(run_limit_minor)
        self._approved(
            run_id=self.run_id,
            approved_by=approver,
            approvals=len(self.approved_by) + 1,
            effective_at=effective_at,
        )

    def check_run_limit(self, run_limit_minor: int | None) -> None:
        if run_limit_minor is not None and self.total_minor > run_limit_minor:
            msg = (
                f"run {self.run_id} pays {format_minor(self.total_minor, self.currency)}, over"
                f" the run limit of {format_minor(run_limit_minor, self.currency)}"
                " (LEDGER_PAYOUT_RUN_LIMITS): it cannot be approved or paid; reject it and"
                " propose a smaller run (lower line limits, or fewer creators)"
            )
            raise ApprovalRefusedError(
                msg,
                run_id=self.run_id,
                rule="run_limit",
                total_minor=self.total_minor,
                run_limit_minor=run_limit_minor,
            )

    def reject(self, rejected_by: str, *, reason: str, effective_at: datetime) -> None:
        if self.status not in {PROPOSED, APPROVED}:
            msg = (
                f"run {self.run_id} is {self.status}: only a run that has not started paying"
                " can be rejected"
            )
            raise InvalidStateError(msg, run_id=self.run_id, status=self.status)
        if not reason.strip():
            raise InvalidStateError("a rejection needs a reason", run_id=self.run_id)
        self._rejected(
            run_id=self.run_id, rejected_by=rejected_by, reason=reason, effective_at=effective_at
        )

    def check_executable(self, *, approvals_needed: int, run_limit_minor: int | None) -> None:
        """Refuse to start paying a run that is rejected, not released, or over the limit."""
        if self.status == REJECTED:
            msg = (
                f"run {self.run_id} was rejected by {self.rejected_by}"
                f" ({self.rejection_reason}): it pays nothing; propose a new run"
            )
            raise InvalidStateError(msg, run_id=self.run_id, status=self.status)
        missing = self.approvals_missing(approvals_needed)
        if missing:
            have = ", ".join(self.approved_by) or "none"
            msg = (
                f"run {self.run_id} needs {approvals_needed} approval(s) by someone other than"
                f" its proposer {self.proposed_by} and has {len(self.approved_by)} ({have}):"
                f" approve it first (creator-ledger payouts approve {self.run_id} --actor ...)"
            )
            raise RunNotApprovedError(
                msg,
                run_id=self.run_id,
                approvals_needed=approvals_needed,
                approved_by=list(self.approved_by),
            )
        self.check_run_limit(run_limit_minor)

    def start_execution(
        self,
        *,
        batch_size: int,
        executed_by: str,
        approvals_needed: int,
        run_limit_minor: int | None,
        effective_at: datetime,
    ) -> None:
        assert not self.started, self.status
        self.check_executable(approvals_needed=approvals_needed, run_limit_minor=run_limit_minor)
        self._execution_started(
            run_id=self.run_id,
            batch_size=batch_size,
            executed_by=executed_by,
            effective_at=effective_at,
        )

    def record_batch(
        self, batch: int, requested: int, skipped: list[list[str]], *, effective_at: datetime
    ) -> None:
        assert self.status == EXECUTING, self.status
        assert not self.has_requested(batch), batch
        self._batch_requested(
            batch=batch, requested=requested, skipped=skipped, effective_at=effective_at
        )

    def finish(self, *, paid: int, failed: int, effective_at: datetime) -> None:
        if not self.finished:
            self._finished(paid=paid, failed=failed, effective_at=effective_at)

    # -- events --------------------------------------------------------------------------

    @event(Approved)
    def _approved(
        self, run_id: str, approved_by: str, approvals: int, effective_at: datetime
    ) -> None:
        self.approved_by.append(approved_by)
        # The count needed is the caller's rule; the run is "approved" once it reached the
        # count recorded at its proposal (the caller also checks today's rule before paying).
        if len(self.approved_by) >= self.approvals_needed:
            self.status = APPROVED

    @event(Rejected)
    def _rejected(self, run_id: str, rejected_by: str, reason: str, effective_at: datetime) -> None:
        self.status = REJECTED
        self.rejected_by = rejected_by
        self.rejection_reason = reason

    @event(ExecutionStarted)
    def _execution_started(
        self, run_id: str, batch_size: int, executed_by: str, effective_at: datetime
    ) -> None:
        self.status = EXECUTING
        self.batch_size = batch_size
        self.executed_by = executed_by

    @event(BatchRequested)
    def _batch_requested(
        self, batch: int, requested: int, skipped: list[list[str]], effective_at: datetime
    ) -> None:
        self.batches[str(batch)] = requested
        self.skipped.extend(skipped)

    @event(Finished)
    def _finished(self, paid: int, failed: int, effective_at: datetime) -> None:
        self.finished = True
        self.status = FINISHED
