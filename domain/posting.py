"""Posting rules: every money event maps, through :func:`journal_entry`, to one journal entry
whose postings sum to zero per currency.  Events that move no money map to ``None``.

This is the only place that decides which accounts an event touches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from creator_ledger.domain.accounts import (
    CASH_PROVIDER,
    CREATOR_HELD,
    CREATOR_PAYABLE,
    CREATOR_RECEIVABLE,
    EXPENSE_CREATOR_FUND,
    EXPENSE_EXCLUSIVITY,
    EXPENSE_REIMBURSEMENTS,
    FUND_AVAILABLE,
    FUND_BUDGET,
    FUND_COMMITTED,
    FUND_SPENT,
    IN_TRANSIT,
    Account,
    JournalEntry,
    Posting,
    transfer,
)
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.payout import Payout


def _creator_account(creator_id: str, to_held: Any) -> Account:
    return Account(CREATOR_HELD if to_held else CREATOR_PAYABLE, creator_id)


def _fund(event: Any, debit: str, credit: str, description: str) -> JournalEntry | None:
    return _fund_amount(event, event.amount_minor, debit, credit, description)


def _fund_amount(
    event: Any, amount: int, debit: str, credit: str, description: str
) -> JournalEntry | None:
    if not amount:
        return None
    owner = event.originator_id.hex
    return JournalEntry(
        kind=type(event).__qualname__.rpartition(".")[2],
        effective_at=event.effective_at,
        description=description,
        postings=transfer(Account(debit, owner), Account(credit, owner), event.currency, amount),
    )


def _fund_created(e: CreatorFund.Created) -> JournalEntry | None:
    return _fund_amount(
        e, e.budget_minor, FUND_AVAILABLE, FUND_BUDGET, f"fund {e.fund_key} created"
    )


def _view_earnings(e: AccountBook.ViewEarningsCredited) -> JournalEntry | None:
    postings: list[Posting] = []
    total = 0
    # One line per creator; the statement explains each from this event (views, share, cap),
    # so the postings carry no detail of their own.
    currency = e.currency
    for creator, _views, amount, to_held, _capped in e.lines:
        if not amount:
            continue
        total += amount
        account = Account(CREATOR_HELD if to_held else CREATOR_PAYABLE, creator)
        postings.append(Posting(account, currency, -amount))
    if not total:
        return None
    postings.append(Posting(Account(EXPENSE_CREATOR_FUND, e.fund_id.hex), e.currency, total))
    return JournalEntry(
        kind="ViewEarningsCredited",
        effective_at=e.effective_at,
        description=f"view earnings, period {e.period_key}",
        postings=postings,
    )


def _simple(
    e: Any,
    debit: Account,
    credit: Account,
    amount: int,
    description: str,
    detail: dict[str, Any] | None = None,
) -> JournalEntry | None:
    if not amount:
        return None
    return JournalEntry(
        kind=type(e).__qualname__.rpartition(".")[2],
        effective_at=e.effective_at,
        description=description,
        postings=transfer(debit, credit, e.currency, amount, detail),
    )


def _bonus(e: AccountBook.BonusCredited) -> JournalEntry | None:
    return _simple(
        e,
        Account(EXPENSE_EXCLUSIVITY, e.fund_id.hex),
        _creator_account(e.creator_id, e.to_held),
        e.amount_minor,
        f"exclusivity bonus, instalment {e.instalment_id}",
        {"agreement": e.agreement_key, "instalment": e.instalment_id},
    )


def _reimbursement(e: AccountBook.ReimbursementCredited) -> JournalEntry | None:
    return _simple(
        e,
        Account(EXPENSE_REIMBURSEMENTS),
        _creator_account(e.creator_id, e.to_held),
        e.amount_minor,
        f"reimbursement, item {e.item_id}",
        {"claim": e.claim_key, "item": e.item_id},
    )


def _clawback(e: AccountBook.BonusClawedBack) -> JournalEntry | None:
    total = e.from_payable_minor + e.from_held_minor + e.to_receivable_minor
    if not total:
        return None
    detail = {"agreement": e.agreement_key}
    postings = [
        Posting(Account(kind, e.creator_id), e.currency, amount, detail)
        for kind, amount in (
            (CREATOR_PAYABLE, e.from_payable_minor),
            (CREATOR_HELD, e.from_held_minor),
            (CREATOR_RECEIVABLE, e.to_receivable_minor),
        )
        if amount
    ]
    postings.append(Posting(Account(EXPENSE_EXCLUSIVITY, e.fund_id.hex), e.currency, -total))
    return JournalEntry(
        kind="BonusClawedBack",
        effective_at=e.effective_at,
        description="exclusivity breached: unvested bonus clawed back",
        postings=postings,
    )


def _hold_released(e: AccountBook.AccrualHoldReleased) -> JournalEntry | None:
    postings: list[Posting] = []
    for currency, amount in e.released:
        postings.extend(
            transfer(
                Account(CREATOR_HELD, e.creator_id),
                Account(CREATOR_PAYABLE, e.creator_id),
                currency,
                amount,
                {"hold": e.hold_id},
            )
        )
    if not postings:
        return None
    return JournalEntry(
        kind="AccrualHoldReleased",
        effective_at=e.effective_at,
        description=f"accrual hold {e.hold_id} released: held -> payable",
        postings=postings,
    )


def _offset(e: AccountBook.ReceivableOffset) -> JournalEntry | None:
    return _simple(
        e,
        Account(CREATOR_PAYABLE, e.creator_id),
        Account(CREATOR_RECEIVABLE, e.creator_id),
        e.amount_minor,
        f"receivable recovered from earnings ({e.reference})",
    )


def _payouts_requested(e: AccountBook.PayoutsRequested) -> JournalEntry | None:
    postings = [
        Posting(Account(CREATOR_PAYABLE, creator), e.currency, amount, {"payout": payout_id})
        for payout_id, creator, amount in e.lines
    ]
    total = sum(p.amount_minor for p in postings)
    if not total:
        return None
    postings.append(Posting(Account(IN_TRANSIT), e.currency, -total))
    return JournalEntry(
        kind="PayoutsRequested",
        effective_at=e.effective_at,
        description=f"payouts requested, run {e.run_id}",
        postings=postings,
    )


def _payout_returned(e: AccountBook.PayoutReturned) -> JournalEntry | None:
    return _simple(
        e,
        Account(IN_TRANSIT),
        Account(CREATOR_PAYABLE, e.creator_id),
        e.amount_minor,
        f"payout failed: {e.reason}",
        {"payout": e.payout_id.hex},
    )


def _reversed(e: AccountBook.TransferReversed) -> JournalEntry | None:
    total = e.to_payable_minor + e.to_receivable_minor
    if not total:
        return None
    detail = {"payout": e.payout_id.hex}
    postings = [Posting(Account(CASH_PROVIDER), e.currency, total)]
    if e.to_payable_minor:
        postings.append(
            Posting(Account(CREATOR_PAYABLE, e.creator_id), e.currency, -e.to_payable_minor, detail)
        )
    if e.to_receivable_minor:
        postings.append(
            Posting(
                Account(CREATOR_RECEIVABLE, e.creator_id),
                e.currency,
                -e.to_receivable_minor,
                detail,
            )
        )
    return JournalEntry(
        kind="TransferReversed",
        effective_at=e.effective_at,
        description=f"transfer reversed: {e.reason}",
        postings=postings,
    )


def _payout_paid(e: Payout.Paid) -> JournalEntry | None:
    # The entry's originator is the payout: its postings need no detail of their own.
    return _simple(
        e,
        Account(IN_TRANSIT),
        Account(CASH_PROVIDER),
        e.amount_minor,
        f"payout paid, transfer {e.transfer_id}",
    )


_RULES: dict[type, Callable[[Any], JournalEntry | None]] = {
    CreatorFund.Created: _fund_created,
    CreatorFund.BudgetToppedUp: lambda e: _fund(
        e, FUND_AVAILABLE, FUND_BUDGET, f"budget top-up {e.reference}"
    ),
    CreatorFund.BudgetCommitted: lambda e: _fund(
        e, FUND_COMMITTED, FUND_AVAILABLE, f"committed to {e.purpose}"
    ),
    CreatorFund.CommitmentSpent: lambda e: _fund(
        e, FUND_SPENT, FUND_COMMITTED, f"spent: {e.reference}"
    ),
    CreatorFund.CommitmentReleased: lambda e: _fund(
        e, FUND_AVAILABLE, FUND_COMMITTED, f"released: {e.reason}"
    ),
    CreatorFund.SpendReturned: lambda e: _fund(
        e, FUND_AVAILABLE, FUND_SPENT, f"returned: {e.reason}"
    ),
    AccountBook.ViewEarningsCredited: _view_earnings,
    AccountBook.BonusCredited: _bonus,
    AccountBook.ReimbursementCredited: _reimbursement,
    AccountBook.BonusClawedBack: _clawback,
    AccountBook.AccrualHoldReleased: _hold_released,
    AccountBook.ReceivableOffset: _offset,
    AccountBook.PayoutsRequested: _payouts_requested,
    AccountBook.PayoutReturned: _payout_returned,
    AccountBook.TransferReversed: _reversed,
    Payout.Paid: _payout_paid,
}


def journal_entry(event: object) -> JournalEntry | None:
    """The journal entry an event posts, or ``None`` if it moves no money."""
    rule = _RULES.get(type(event))
    return rule(event) if rule is not None else None
