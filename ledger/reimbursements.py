"""Reimbursement claims: submit with receipts, approve or reject each item."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import (
    AlreadyExistsError,
    CurrencyMismatchError,
    NotEligibleError,
)
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.results import ClaimItemDecision, Done
from creator_ledger.ledger.validation import (
    Actor,
    Currency,
    Description,
    Key,
    PositiveMinor,
    Reason,
    Text,
    arguments,
    command,
)

#: ``(item_id, description, amount_minor, receipt_ref)``
ClaimItem = tuple[Key, Description, PositiveMinor, Key]


def check_budget_currency(creator: Creator, creator_ref: str, currency: str) -> None:
    """Refuse a claim in a currency the creator has no reimbursement budget in: it could never
    be approved."""
    budgets = sorted(c for c, (budget, _) in creator.reimbursement_budget.items() if budget)
    if currency in budgets:
        return
    if not budgets:
        msg = (
            f"creator {creator_ref!r} has no reimbursement budget: a claim can only be approved"
            " within one (sign a contract with reimbursement_budget_minor first)"
        )
        raise NotEligibleError(msg, creator_ref=creator_ref, currency=currency)
    msg = (
        f"creator {creator_ref!r} has a reimbursement budget in {', '.join(budgets)}, not in"
        f" {currency}: claim in {' or '.join(budgets)}"
    )
    raise CurrencyMismatchError(msg, creator_ref=creator_ref, currency=currency, budgets=budgets)


class Reimbursements:
    """Reimbursement claims: submit with receipts, approve or reject each item."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    @command
    def submit_claim(
        self,
        *,
        claim_key: Key,
        creator_ref: Key,
        currency: Currency,
        items: Sequence[ClaimItem],
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Claim production costs, item by item with receipt references.  Only creators who
        signed an NDA or production contract can claim."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            if self.aggregates.exists(ReimbursementClaim.create_id(claim_key)):
                raise AlreadyExistsError(f"claim {claim_key!r} exists already")
            creator = self.aggregates.creator(creator_ref)
            if not creator.can_be_reimbursed():
                msg = (
                    f"creator {creator_ref!r} has not signed an NDA or production contract:"
                    " production costs are reimbursed only under one"
                )
                raise NotEligibleError(msg, creator_ref=creator_ref)
            check_budget_currency(creator, creator_ref, currency)
            claim = ReimbursementClaim.submit(
                claim_key=claim_key,
                creator_id=creator.id,
                currency=currency,
                items=[list(i) for i in items],
                effective_at=self.runner.at(effective_at),
            )
            return [claim], Done(id=str(claim.id))

        return self.runner.run("submit_claim", idempotency_key, args, Done, work, actor=actor)

    @command
    def approve_claim_item(
        self,
        *,
        claim_key: Key,
        item_id: Key,
        amount_minor: PositiveMinor | None = None,
        note: Text = "",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> ClaimItemDecision:
        """Approve an item (for the claimed amount, or less with a note): it becomes payable.
        Refused beyond the creator's reimbursement budget."""
        args = arguments(locals())

        def work() -> tuple[list[Any], ClaimItemDecision]:
            at = self.runner.at(effective_at)
            claim = self.aggregates.claim(claim_key)
            self.aggregates.prefetch(self.aggregates.creator_ids(claim.creator_id))
            creator = self.aggregates.creator_by_id(claim.creator_id)
            amount = claim.approve(item_id, amount_minor=amount_minor, note=note, effective_at=at)
            creator.use_reimbursement_budget(
                claim.id, item_id, claim.currency, amount, effective_at=at
            )
            book = self.aggregates.book(creator.id, creator_ref=creator.creator_ref)
            book.credit_reimbursement(
                claim_id=claim.id,
                claim_key=claim.claim_key,
                item_id=item_id,
                creator_id=creator.id.hex,
                currency=claim.currency,
                amount_minor=amount,
                effective_at=at,
            )
            decision = ClaimItemDecision(
                claim_key=claim_key,
                item_id=item_id,
                status="approved",
                approved_minor=amount,
                reason=note,
            )
            return [claim, creator, book], decision

        return self.runner.run(
            "approve_claim_item",
            idempotency_key,
            args,
            ClaimItemDecision,
            work,
            actor=actor,
            preload=lambda: self.aggregates.claim_ids(claim_key),
            in_memory=True,  # reads the claim, the creator and the book, and changes all three
        )

    @command
    def reject_claim_item(
        self,
        *,
        claim_key: Key,
        item_id: Key,
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> ClaimItemDecision:
        args = arguments(locals())

        def work() -> tuple[list[Any], ClaimItemDecision]:
            claim = self.aggregates.claim(claim_key)
            claim.reject(item_id, reason=reason, effective_at=self.runner.at(effective_at))
            decision = ClaimItemDecision(
                claim_key=claim_key,
                item_id=item_id,
                status="rejected",
                approved_minor=0,
                reason=reason,
            )
            return [claim], decision

        return self.runner.run(
            "reject_claim_item",
            idempotency_key,
            args,
            ClaimItemDecision,
            work,
            actor=actor,
            preload=lambda: [ReimbursementClaim.create_id(claim_key)],
            in_memory=True,  # reads the claim only, and changes it
        )
