"""Reimbursement claims: production costs claimed item by item, with receipts.

Each item is approved (possibly for less than claimed) or rejected, with a reason.  Only
creators with a signed NDA or production contract can claim, and approvals are bounded by the
creator's reimbursement budget (:class:`domain.creator.Creator`).  Approval makes the approved
amount payable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.errors import InvalidInputError, InvalidStateError, NotFoundError
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import check_amount, check_currency
from creator_ledger.domain.text import check_key, check_reason, check_text

MAX_ITEMS = 500


def check_items(items: list[list[Any]]) -> list[list[Any]]:
    """Items ``[item_id, description, amount_minor, receipt_ref]``."""
    if not items:
        raise InvalidInputError("a claim needs at least one item")
    if len(items) > MAX_ITEMS:
        raise InvalidInputError(f"a claim takes at most {MAX_ITEMS} items", items=len(items))
    out = []
    for i, item in enumerate(items):
        if len(item) != 4:
            msg = f"item {i} must be [item_id, description, amount_minor, receipt_ref]"
            raise InvalidInputError(msg, item=i)
        item_id, description, amount, receipt = item
        check_key(item_id, field=f"item {i} item_id")
        check_text(description, field=f"item {item_id} description", multiline=True)
        check_key(receipt, field=f"item {item_id} receipt_ref (a receipt reference is required)")
        check_amount(amount, field=f"item {item_id} amount_minor")
        out.append([item_id, description, amount, receipt])
    if len({it[0] for it in out}) != len(out):
        raise InvalidInputError("item ids must be unique within a claim")
    return out


class ReimbursementClaim(Aggregate):
    TOPIC = "creator-ledger/ReimbursementClaim"

    class Submitted(Aggregate.Created):
        TOPIC = "creator-ledger/ReimbursementClaim.Submitted"
        claim_key: str
        creator_id: UUID
        currency: str
        items: list[list[Any]]
        effective_at: datetime

    class ItemApproved(Aggregate.Event):
        TOPIC = "creator-ledger/ReimbursementClaim.ItemApproved"
        item_id: str
        amount_minor: int
        note: str
        effective_at: datetime

    class ItemRejected(Aggregate.Event):
        TOPIC = "creator-ledger/ReimbursementClaim.ItemRejected"
        item_id: str
        reason: str
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Submitted`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/ReimbursementClaim.Created"

    @staticmethod
    def create_id(claim_key: str) -> UUID:
        return stable_id("claim", claim_key)

    @event(Submitted)
    def __init__(
        self,
        claim_key: str,
        creator_id: UUID,
        currency: str,
        items: list[list[Any]],
        effective_at: datetime,
    ) -> None:
        self.claim_key = claim_key
        self.creator_id = creator_id
        self.currency = currency
        #: item id -> [description, claimed_minor, receipt_ref, status, approved_minor, reason]
        self.items: dict[str, list[Any]] = {i: [d, a, r, "pending", 0, ""] for i, d, a, r in items}

    @classmethod
    def submit(
        cls,
        *,
        claim_key: str,
        creator_id: UUID,
        currency: str,
        items: list[list[Any]],
        effective_at: datetime,
    ) -> ReimbursementClaim:
        check_key(claim_key, field="claim_key")
        check_currency(currency)
        return cls(
            claim_key=claim_key,
            creator_id=creator_id,
            currency=currency,
            items=check_items(items),
            effective_at=effective_at,
        )

    def _pending_item(self, item_id: str) -> list[Any]:
        try:
            item = self.items[item_id]
        except KeyError:
            msg = f"claim {self.claim_key!r} has no item {item_id!r}"
            raise NotFoundError(msg, item_id=item_id) from None
        if item[3] != "pending":
            msg = f"item {item_id!r} of claim {self.claim_key!r} is {item[3]} already"
            raise InvalidStateError(msg, item_id=item_id, status=item[3])
        return item

    def approve(
        self,
        item_id: str,
        *,
        amount_minor: int | None = None,
        note: str = "",
        effective_at: datetime,
    ) -> int:
        """Approve an item, for the claimed amount or less; returns the approved amount."""
        item = self._pending_item(item_id)
        check_text(note, field="note")
        amount = item[1] if amount_minor is None else amount_minor
        check_amount(amount)
        if amount > item[1]:
            msg = f"cannot approve {amount} for item {item_id!r}: {item[1]} was claimed"
            raise InvalidInputError(msg, item_id=item_id)
        if amount < item[1] and not note.strip():
            raise InvalidInputError("approving less than claimed needs a note saying why")
        self._approved(item_id=item_id, amount_minor=amount, note=note, effective_at=effective_at)
        return int(amount)

    def reject(self, item_id: str, *, reason: str, effective_at: datetime) -> None:
        self._pending_item(item_id)
        check_reason(reason, field="reason")
        self._rejected(item_id=item_id, reason=reason, effective_at=effective_at)

    @event(ItemApproved)
    def _approved(self, item_id: str, amount_minor: int, note: str, effective_at: datetime) -> None:
        item = self.items[item_id]
        item[3], item[4], item[5] = "approved", amount_minor, note

    @event(ItemRejected)
    def _rejected(self, item_id: str, reason: str, effective_at: datetime) -> None:
        item = self.items[item_id]
        item[3], item[5] = "rejected", reason
