"""Event -> row handlers: what each event changes in each read model.

One projection function per read model (:data:`PROJECTIONS`, keyed by the names of
:data:`creator_ledger.adapters.readmodels.READ_MODELS`): ``journal`` turns an event into its
journal entry and postings through :func:`domain.posting.journal_entry` (with the actor who
issued it); ``entities`` and ``payouts`` fold the event into their tables' rows; ``audit``
folds every event into the row of the command that wrote it (its ``issued`` stamp: actor,
command, idempotency key), with the payout run and the creators it names.  Each writes only
its own read model's tables, so the projector can apply an event to the read models that have
not seen it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from creator_ledger.adapters.eventstore import issued_by
from creator_ledger.adapters.readmodels import ProjectionBatch, json_text
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.payout import Payout
from creator_ledger.domain.period import ProgramPeriod
from creator_ledger.domain.posting import journal_entry
from creator_ledger.domain.program import ViewProgram
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.ledger.audit_projection import project_audit

Handler = Callable[[Any, ProjectionBatch], None]
#: (event, its notification id, the batch to add its rows to)
Projection = Callable[[Any, int, ProjectionBatch], None]


def _ref(e: Any) -> UUID:
    """The id of ``e``'s aggregate, as the ``uuid`` key columns take it: the ``UUID`` itself
    (binary ``COPY`` sends its 16 bytes; SQLite stores its text, as ``str`` would give).  A
    text id here cost a ``str`` in the projection and a ``UUID`` back in the writer: ~2 us of
    each of a rebuild's 200,000 payout events."""
    return e.originator_id  # type: ignore[no-any-return]


def _fund_created(e: CreatorFund.Created, b: ProjectionBatch) -> None:
    b.insert(
        "funds",
        {"fund_id": _ref(e), "fund_key": e.fund_key, "name": e.name, "currency": e.currency},
    )


def _program_created(e: ViewProgram.Created, b: ProjectionBatch) -> None:
    b.insert(
        "programs",
        {
            "program_id": _ref(e),
            "program_key": e.program_key,
            "name": e.name,
            "fund_id": e.fund_id,
            "currency": e.currency,
            "rule_kind": e.rule["kind"],
            "rule_version": 1,
            "rule": json_text(e.rule),
        },
    )


def _rule_changed(e: ViewProgram.RuleChanged, b: ProjectionBatch) -> None:
    b.update(
        "programs",
        {"program_id": _ref(e)},
        set_={"rule_version": e.rule_version, "rule": json_text(e.rule)},
    )


def _period_opened(e: ProgramPeriod.Opened, b: ProjectionBatch) -> None:
    b.insert(
        "periods",
        {
            "period_id": _ref(e),
            "program_id": e.program_id,
            "period_key": e.period_key,
            "starts_on": e.starts_on,
            "ends_on": e.ends_on,
            "status": "open",
            "rule_version": e.rule_version,
            "rule": json_text(e.rule),
            "pool_minor": e.pool_minor,
            "reported_views": 0,
            "invalid_views": 0,
            "reports": 0,
        },
    )


def _period_closed(e: ProgramPeriod.Closed, b: ProjectionBatch) -> None:
    b.update(
        "periods",
        {"period_id": _ref(e)},
        set_={
            "status": "closed",
            "total_qualified_views": e.total_qualified_views,
            "pool_minor": e.pool_minor,
            "distributed_minor": e.distributed_minor,
            "returned_minor": e.returned_minor,
            "scaled_from_minor": e.scaled_from_minor,
            "creators": e.creators,
            "capped": e.capped,
            "closed_at": e.effective_at,
        },
    )


def _creator_enrolled(e: Creator.Enrolled | Creator.Imported, b: ProjectionBatch) -> None:
    """``Imported`` (a bulk enrolment's record) also carries the payout account and KYC/tax
    status that ``Enrolled`` starts without."""
    account = getattr(e, "payout_account", None)
    b.insert(
        "creators",
        {
            "creator_id": e.originator_id.hex,
            "creator_ref": e.creator_ref,
            "display_name": e.display_name,
            "country": e.country,
            "payout_provider": getattr(e, "payout_provider", None),
            "payout_account": account,
            "account_status": getattr(e, "account_status", "none"),
            "kyc_status": getattr(e, "kyc_status", "pending"),
            "tax_status": getattr(e, "tax_status", "missing"),
            "enrolled_at": e.effective_at,
            "payout_account_linked_at": None if account is None else e.effective_at,
        },
    )


def _creator_key(e: Any) -> dict[str, Any]:
    return {"creator_id": e.originator_id.hex}


def _claim_submitted(e: ReimbursementClaim.Submitted, b: ProjectionBatch) -> None:
    for item_id, description, amount, receipt in e.items:
        b.insert(
            "claim_items",
            {
                "claim_id": _ref(e),
                "claim_key": e.claim_key,
                "item_id": item_id,
                "creator_id": e.creator_id.hex,
                "currency": e.currency,
                "description": description,
                "receipt_ref": receipt,
                "claimed_minor": amount,
                "status": "pending",
                "approved_minor": 0,
                "reason": "",
                "submitted_at": e.effective_at,
                "decided_at": None,
            },
        )


def _agreement_agreed(e: ExclusivityAgreement.Agreed, b: ProjectionBatch) -> None:
    b.insert(
        "agreements",
        {
            "agreement_id": _ref(e),
            "agreement_key": e.agreement_key,
            "creator_id": e.creator_id.hex,
            "fund_id": e.fund_id,
            "currency": e.currency,
            "total_minor": e.total_minor,
            "credited_minor": 0,
            "starts_on": e.starts_on,
            "ends_on": e.ends_on,
            "schedule": e.schedule,
            "vesting": e.vesting,
            "status": "active",
        },
    )


def _payout_requested(e: Payout.Requested, b: ProjectionBatch) -> None:
    b.insert(
        "payouts",
        {
            "payout_id": _ref(e),
            "run_id": e.run_id,
            "creator_id": e.creator_id.hex,
            "currency": e.currency,
            "amount_minor": e.amount_minor,
            "destination": e.destination,
            "status": "requested",
            "transfer_id": None,
            "failure": None,
            "reversed_minor": 0,
            "requested_at": e.effective_at,
            "updated_at": e.effective_at,
        },
    )


#: Event -> how it changes the ``entities`` read model.
ENTITY_HANDLERS: dict[type, Handler] = {
    CreatorFund.Created: _fund_created,
    ViewProgram.Created: _program_created,
    ViewProgram.RuleChanged: _rule_changed,
    ProgramPeriod.Opened: _period_opened,
    ProgramPeriod.UsageReported: lambda e, b: b.update(
        "periods",
        {"period_id": _ref(e)},
        add={"reported_views": sum(r[2] for r in e.rows), "reports": 1},
    ),
    ProgramPeriod.InvalidTrafficDeducted: lambda e, b: b.update(
        "periods",
        {"period_id": _ref(e)},
        add={"invalid_views": sum(r[2] for r in e.rows), "reports": 1},
    ),
    ProgramPeriod.Closed: _period_closed,
    Creator.Enrolled: _creator_enrolled,
    Creator.Imported: _creator_enrolled,
    Creator.PayoutAccountLinked: lambda e, b: b.update(
        "creators",
        _creator_key(e),
        set_={
            "payout_provider": e.provider,
            "payout_account": e.account_ref,
            "account_status": e.status,
            "payout_account_linked_at": e.effective_at,
        },
    ),
    Creator.PayoutAccountStatusChanged: lambda e, b: b.update(
        "creators", _creator_key(e), set_={"account_status": e.status}
    ),
    Creator.KycStatusChanged: lambda e, b: b.update(
        "creators", _creator_key(e), set_={"kyc_status": e.kyc_status, "tax_status": e.tax_status}
    ),
    Creator.ContractSigned: lambda e, b: b.insert(
        "creator_contracts",
        {
            "creator_id": e.originator_id.hex,
            "contract_id": e.contract_id,
            "kind": e.kind,
            "signed_on": e.signed_on,
        },
    ),
    Creator.HoldPlaced: lambda e, b: b.insert(
        "creator_holds",
        {
            "creator_id": e.originator_id.hex,
            "hold_id": e.hold_id,
            "kind": e.kind,
            "reason": e.reason,
            "placed_at": e.effective_at,
        },
    ),
    Creator.HoldReleased: lambda e, b: b.delete(
        "creator_holds", {"creator_id": e.originator_id.hex, "hold_id": e.hold_id}
    ),
    AccountBook.AccrualHoldPlaced: lambda e, b: b.insert(
        "creator_holds",
        {
            "creator_id": e.creator_id,
            "hold_id": e.hold_id,
            "kind": "accrual",
            "reason": e.reason,
            "placed_at": e.effective_at,
        },
    ),
    AccountBook.AccrualHoldReleased: lambda e, b: b.delete(
        "creator_holds", {"creator_id": e.creator_id, "hold_id": e.hold_id}
    ),
    ExclusivityAgreement.Agreed: _agreement_agreed,
    ExclusivityAgreement.InstalmentCredited: lambda e, b: b.update(
        "agreements", {"agreement_id": _ref(e)}, add={"credited_minor": e.amount_minor}
    ),
    ExclusivityAgreement.Breached: lambda e, b: b.update(
        "agreements",
        {"agreement_id": _ref(e)},
        set_={
            "status": "breached",
            "ended_on": e.breached_on,
            "forfeited_minor": e.forfeited_minor,
            "clawback_minor": e.clawback_minor,
        },
    ),
    ExclusivityAgreement.Terminated: lambda e, b: b.update(
        "agreements",
        {"agreement_id": _ref(e)},
        set_={
            "status": "terminated",
            "ended_on": e.terminated_on,
            "forfeited_minor": e.cancelled_minor,
            "clawback_minor": 0,
        },
    ),
    ReimbursementClaim.Submitted: _claim_submitted,
    ReimbursementClaim.ItemApproved: lambda e, b: b.update(
        "claim_items",
        {"claim_id": _ref(e), "item_id": e.item_id},
        set_={
            "status": "approved",
            "approved_minor": e.amount_minor,
            "reason": e.note,
            "decided_at": e.effective_at,
        },
    ),
    ReimbursementClaim.ItemRejected: lambda e, b: b.update(
        "claim_items",
        {"claim_id": _ref(e), "item_id": e.item_id},
        set_={
            "status": "rejected",
            "approved_minor": 0,
            "reason": e.reason,
            "decided_at": e.effective_at,
        },
    ),
}

#: Event -> how it changes the ``payouts`` read model.
PAYOUT_HANDLERS: dict[type, Handler] = {
    Payout.Requested: _payout_requested,
    Payout.Paid: lambda e, b: b.update(
        "payouts",
        {"payout_id": _ref(e)},
        set_={"status": "paid", "transfer_id": e.transfer_id, "updated_at": e.effective_at},
    ),
    Payout.Failed: lambda e, b: b.update(
        "payouts",
        {"payout_id": _ref(e)},
        set_={"status": "failed", "failure": f"{e.code}: {e.reason}", "updated_at": e.effective_at},
    ),
    Payout.Reversed: lambda e, b: b.update(
        "payouts",
        {"payout_id": _ref(e)},
        set_={"updated_at": e.effective_at, **({"status": "reversed"} if e.fully_reversed else {})},
        add={"reversed_minor": e.amount_minor},
    ),
}


def project_journal(event: Any, notification_id: int, batch: ProjectionBatch) -> None:
    """Add ``event``'s journal entry and postings, if it moves money, to ``batch``."""
    entry = journal_entry(event)
    if entry is None:
        return
    effective_on = entry.effective_at.date()
    batch.entries.append(
        (
            notification_id,
            entry.kind,
            event.originator_id,  # a UUID (the library's events), as the binary COPY needs
            event.originator_version,
            entry.effective_at,
            effective_on,
            event.timestamp,
            entry.description,
            issued_by(event).get("actor"),
        )
    )
    append = batch.postings.append
    for seq, p in enumerate(entry.postings):
        detail = json_text(p.detail) if p.detail else None
        append(
            (
                notification_id,
                seq,
                p.account.kind,
                p.account.owner,
                p.currency,
                p.amount_minor,
                effective_on,
                detail,
            )
        )


def project_entities(event: Any, _notification_id: int, batch: ProjectionBatch) -> None:
    """Add what ``event`` changes in the entity tables to ``batch``."""
    handler = ENTITY_HANDLERS.get(type(event))
    if handler is not None:
        handler(event, batch)


def project_payouts(event: Any, _notification_id: int, batch: ProjectionBatch) -> None:
    """Add what ``event`` changes in the payouts table to ``batch``."""
    handler = PAYOUT_HANDLERS.get(type(event))
    if handler is not None:
        handler(event, batch)


#: Read model -> its projection.
PROJECTIONS: dict[str, Projection] = {
    "journal": project_journal,
    "entities": project_entities,
    "payouts": project_payouts,
    "audit": project_audit,
}
