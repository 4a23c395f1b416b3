"""The projector: events -> read models, in batches, exactly once.

It reads the notification log from the read models' tracking position, turns a batch of events
into rows (journal entries and postings through :func:`domain.posting.journal_entry`, plus the
entity tables), and hands the batch to :class:`adapters.readmodels.ReadModels`, which writes it
and moves the position in one transaction.  A crash mid-batch rolls the whole batch back; the
next run starts again from the last committed position.  ``rebuild`` forgets everything and
replays from the first event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Notification

from adapters.readmodels import PostingRow, ProjectionBatch, ReadModels
from adapters.readmodels.store import StaleProjectionError
from domain.creator import Creator
from domain.exclusivity import ExclusivityAgreement
from domain.fund import CreatorFund
from domain.payout import Payout
from domain.period import ProgramPeriod
from domain.posting import journal_entry
from domain.program import ViewProgram
from domain.reimbursement import ReimbursementClaim
from ledger.app import LedgerApplication

DEFAULT_BATCH_SIZE = 2_000
#: Give up after this many lost races with another projector in one catch-up.
MAX_STALE_RETRIES = 20

Handler = Callable[[Any, ProjectionBatch], None]


def _op(batch: ProjectionBatch, name: str, *params: Any) -> None:
    batch.ops.append((name, params))


def _ref(e: Any) -> str:
    return str(e.originator_id)


_HANDLERS: dict[type, Handler] = {
    CreatorFund.Created: lambda e, b: _op(b, "fund", _ref(e), e.fund_key, e.name, e.currency),
    ViewProgram.Created: lambda e, b: _op(
        b,
        "program",
        _ref(e),
        e.program_key,
        e.name,
        str(e.fund_id),
        e.currency,
        e.rule["kind"],
        1,
        json.dumps(e.rule, sort_keys=True),
    ),
    ViewProgram.RuleChanged: lambda e, b: _op(
        b, "program_rule", e.rule_version, json.dumps(e.rule, sort_keys=True), _ref(e)
    ),
    ProgramPeriod.Opened: lambda e, b: _op(
        b,
        "period_open",
        _ref(e),
        str(e.program_id),
        e.period_key,
        e.starts_on,
        e.ends_on,
        e.rule_version,
        json.dumps(e.rule, sort_keys=True),
        e.pool_minor,
    ),
    ProgramPeriod.UsageReported: lambda e, b: _op(
        b, "period_usage", sum(r[2] for r in e.rows), _ref(e)
    ),
    ProgramPeriod.InvalidTrafficDeducted: lambda e, b: _op(
        b, "period_invalid", sum(r[2] for r in e.rows), _ref(e)
    ),
    ProgramPeriod.Closed: lambda e, b: _op(
        b,
        "period_close",
        e.total_qualified_views,
        e.pool_minor,
        e.distributed_minor,
        e.returned_minor,
        e.scaled_from_minor,
        e.creators,
        e.capped,
        e.effective_at,
        _ref(e),
    ),
    Creator.Enrolled: lambda e, b: _op(
        b, "creator", e.originator_id.hex, e.creator_ref, e.display_name, e.country, e.effective_at
    ),
    Creator.PayoutAccountLinked: lambda e, b: _op(
        b, "creator_account", e.provider, e.account_ref, e.status, e.originator_id.hex
    ),
    Creator.PayoutAccountStatusChanged: lambda e, b: _op(
        b, "creator_account_status", e.status, e.originator_id.hex
    ),
    Creator.KycStatusChanged: lambda e, b: _op(
        b, "creator_kyc", e.kyc_status, e.tax_status, e.originator_id.hex
    ),
    Creator.ContractSigned: lambda e, b: _op(
        b, "contract", e.originator_id.hex, e.contract_id, e.kind, e.signed_on
    ),
    Creator.HoldPlaced: lambda e, b: _op(
        b, "hold_placed", e.originator_id.hex, e.hold_id, e.kind, e.reason, e.effective_at
    ),
    Creator.HoldReleased: lambda e, b: _op(b, "hold_released", e.originator_id.hex, e.hold_id),
    ExclusivityAgreement.Agreed: lambda e, b: _op(
        b,
        "agreement",
        _ref(e),
        e.agreement_key,
        e.creator_id.hex,
        str(e.fund_id),
        e.currency,
        e.total_minor,
        e.starts_on,
        e.ends_on,
        e.schedule,
        e.vesting,
    ),
    ExclusivityAgreement.InstalmentCredited: lambda e, b: _op(
        b, "agreement_credited", e.amount_minor, _ref(e)
    ),
    ExclusivityAgreement.Breached: lambda e, b: _op(
        b,
        "agreement_ended",
        "breached",
        e.breached_on,
        e.forfeited_minor,
        e.clawback_minor,
        _ref(e),
    ),
    ExclusivityAgreement.Terminated: lambda e, b: _op(
        b, "agreement_ended", "terminated", e.terminated_on, e.cancelled_minor, 0, _ref(e)
    ),
    ReimbursementClaim.ItemApproved: lambda e, b: _op(
        b,
        "claim_item_decided",
        "approved",
        e.amount_minor,
        e.note,
        e.effective_at,
        _ref(e),
        e.item_id,
    ),
    ReimbursementClaim.ItemRejected: lambda e, b: _op(
        b, "claim_item_decided", "rejected", 0, e.reason, e.effective_at, _ref(e), e.item_id
    ),
    Payout.Requested: lambda e, b: _op(
        b,
        "payout",
        _ref(e),
        e.run_id,
        e.creator_id.hex,
        e.currency,
        e.amount_minor,
        e.destination,
        e.effective_at,
        e.effective_at,
    ),
    Payout.Paid: lambda e, b: _op(
        b, "payout_status", "paid", e.transfer_id, None, 0, e.effective_at, _ref(e)
    ),
    Payout.Failed: lambda e, b: _op(
        b, "payout_status", "failed", None, f"{e.code}: {e.reason}", 0, e.effective_at, _ref(e)
    ),
    Payout.Reversed: lambda e, b: _op(
        b, "payout_reversed", e.amount_minor, e.amount_minor, e.effective_at, _ref(e)
    ),
}


def _claim_submitted(e: ReimbursementClaim.Submitted, b: ProjectionBatch) -> None:
    for item_id, description, amount, receipt in e.items:
        _op(
            b,
            "claim_item",
            _ref(e),
            e.claim_key,
            item_id,
            e.creator_id.hex,
            e.currency,
            description,
            receipt,
            amount,
            e.effective_at,
        )


_HANDLERS[ReimbursementClaim.Submitted] = _claim_submitted


def project(event: Any, notification_id: int, batch: ProjectionBatch) -> None:
    """Add what ``event`` changes in the read models to ``batch``."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(event, batch)
    entry = journal_entry(event)
    if entry is None:
        return
    effective_on = entry.effective_at.date()
    batch.entries.append(
        (
            notification_id,
            entry.kind,
            str(event.originator_id),
            event.originator_version,
            entry.effective_at,
            effective_on,
            event.timestamp,
            entry.description,
        )
    )
    for seq, p in enumerate(entry.postings):
        batch.postings.append(
            PostingRow(
                entry_id=notification_id,
                seq=seq,
                kind=p.account.kind,
                owner=p.account.owner,
                currency=p.currency,
                amount_minor=p.amount_minor,
                effective_on=effective_on,
                detail=json.dumps(p.detail, sort_keys=True) if p.detail else None,
            )
        )


class Projector:
    """Keeps the read models caught up with the event store."""

    def __init__(
        self,
        app: LedgerApplication,
        read_models: ReadModels,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        assert batch_size > 0
        self.app = app
        self.read_models = read_models
        self.batch_size = batch_size

    def batch(self, notifications: list[Notification]) -> ProjectionBatch:
        batch = ProjectionBatch(last_notification_id=notifications[-1].id)
        to_event = self.app.mapper.to_domain_event
        for n in notifications:
            project(to_event(n), n.id, batch)
        return batch

    def pending(self) -> int:
        """How many events the read models have not applied yet."""
        last = self.app.recorder.max_notification_id() or 0
        return max(0, last - self.read_models.position())

    def catch_up(
        self, *, max_batches: int | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply every event recorded so far (or ``max_batches`` batches); returns how many."""
        applied = 0
        batches = 0
        stale = 0
        position = self.read_models.position()
        while max_batches is None or batches < max_batches:
            notifications = self.app.recorder.select_notifications(
                start=position + 1, limit=self.batch_size
            )
            if not notifications:
                break
            batch = self.batch(list(notifications))
            try:
                self.read_models.apply(batch, expected_position=position)
            except StaleProjectionError:
                stale += 1
                if stale > MAX_STALE_RETRIES:
                    raise
                position = self.read_models.position()
                continue
            position = batch.last_notification_id
            applied += len(notifications)
            batches += 1
            if progress is not None:
                progress(len(notifications))
        return applied

    def rebuild(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Forget the read models and replay every event from the first."""
        self.read_models.reset()
        return self.catch_up(progress=progress)
