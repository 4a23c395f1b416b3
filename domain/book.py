"""Account books: the write model of creators' balances.

Creators are spread over :data:`~domain.ids.BOOK_SHARDS` books by a hash of their id.  Every
movement of a creator's money is an event on the creator's book, saved in the same transaction
as the business event that caused it, and each of these events posts one journal entry
(:mod:`domain.posting`).  A book knows, exactly and without lag, each of its creators'
``payable``, ``held`` and ``receivable`` balances per currency, so a debit (a payout request, a
receivable offset, a clawback) is checked against the balance it takes from, and concurrent
debits are serialised by the book's version (optimistic concurrency): **a payout never
overdraws a creator**.

Sharding keeps batch work coarse: closing a period for 100,000 creators writes one event per
book touched (at most 256), not one per creator.

Balances in a book are kept as people read them: what the platform owes (payable, held) and
what the creator owes (receivable), all non-negative.  The book is also the one owner of
accrual holds (they decide where earnings go); the creator aggregate keeps payout holds.

This module passes ~400 lines for a reason: it is one aggregate, the write model of every
creator balance, with its thirteen explicit event classes (declared, so they can be upcast)
and their apply methods; splitting it would split the one place that decides a balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InsufficientBalanceError,
    InvalidStateError,
    NotFoundError,
)
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import BIGINT_MAX, check_sum_in_range, format_minor

PAYABLE, HELD, RECEIVABLE = 0, 1, 2


class AccountBook(Aggregate):
    """The accounts of the creators in one shard."""

    TOPIC = "creator-ledger/AccountBook"

    class Opened(Aggregate.Created):
        TOPIC = "creator-ledger/AccountBook.Opened"
        shard: int
        effective_at: datetime

    class AccountsOpened(Aggregate.Event):
        """Accounts for newly enrolled creators (one event per book per enrolment batch)."""

        TOPIC = "creator-ledger/AccountBook.AccountsOpened"

        creator_ids: list[str]
        effective_at: datetime

    class ViewEarningsCredited(Aggregate.Event):
        """Final earnings of a program period for this book's creators.

        ``lines``: ``[creator_id, qualified_views, amount_minor, to_held (0|1), capped (0|1)]``.
        """

        TOPIC = "creator-ledger/AccountBook.ViewEarningsCredited"

        program_id: UUID
        period_id: UUID
        period_key: str
        fund_id: UUID
        currency: str
        lines: list[list[Any]]
        effective_at: datetime

    class BonusCredited(Aggregate.Event):
        TOPIC = "creator-ledger/AccountBook.BonusCredited"
        agreement_id: UUID
        agreement_key: str
        instalment_id: str
        fund_id: UUID
        creator_id: str
        currency: str
        amount_minor: int
        to_held: bool
        effective_at: datetime

    class ReimbursementCredited(Aggregate.Event):
        TOPIC = "creator-ledger/AccountBook.ReimbursementCredited"
        claim_id: UUID
        claim_key: str
        item_id: str
        creator_id: str
        currency: str
        amount_minor: int
        to_held: bool
        effective_at: datetime

    class BonusClawedBack(Aggregate.Event):
        TOPIC = "creator-ledger/AccountBook.BonusClawedBack"
        agreement_id: UUID
        agreement_key: str
        fund_id: UUID
        creator_id: str
        currency: str
        from_payable_minor: int
        from_held_minor: int
        to_receivable_minor: int
        effective_at: datetime

    class AccrualHoldPlaced(Aggregate.Event):
        """An accrual hold: until it is released, what the creator earns is credited to held.
        The book is the one owner of accrual holds (the creator aggregate keeps payout holds)."""

        TOPIC = "creator-ledger/AccountBook.AccrualHoldPlaced"
        creator_id: str
        hold_id: str
        reason: str
        effective_at: datetime

    class AccrualHoldReleased(Aggregate.Event):
        """``released``: ``[currency, amount_minor]`` moved held -> payable (last hold only)."""

        TOPIC = "creator-ledger/AccountBook.AccrualHoldReleased"

        creator_id: str
        hold_id: str
        reason: str
        released: list[list[Any]]
        effective_at: datetime

    class ReceivableOffset(Aggregate.Event):
        TOPIC = "creator-ledger/AccountBook.ReceivableOffset"
        creator_id: str
        currency: str
        amount_minor: int
        reference: str
        effective_at: datetime

    class PayoutsRequested(Aggregate.Event):
        """``lines``: ``[payout_id, creator_id, amount_minor]``; payable -> in transit."""

        TOPIC = "creator-ledger/AccountBook.PayoutsRequested"

        run_id: str
        currency: str
        lines: list[list[Any]]
        effective_at: datetime

    class PayoutReturned(Aggregate.Event):
        """A payout failed or was cancelled: in transit -> payable."""

        TOPIC = "creator-ledger/AccountBook.PayoutReturned"

        payout_id: UUID
        creator_id: str
        currency: str
        amount_minor: int
        reason: str
        effective_at: datetime

    class TransferReversed(Aggregate.Event):
        """The provider reversed a paid transfer: cash comes back, the creator is owed it again
        (``to_receivable_minor`` of it instead settles what the creator owed the platform)."""

        TOPIC = "creator-ledger/AccountBook.TransferReversed"

        payout_id: UUID
        creator_id: str
        currency: str
        to_payable_minor: int
        to_receivable_minor: int
        reason: str
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Opened`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/AccountBook.Created"

    @staticmethod
    def create_id(shard: int) -> UUID:
        return stable_id("book", shard)

    @event(Opened)
    def __init__(self, shard: int, effective_at: datetime) -> None:
        self.shard = shard
        #: creator -> currency -> [payable, held, receivable]
        self.accounts: dict[str, dict[str, list[int]]] = {}
        #: creator -> active accrual hold id -> its reason
        self.accrual_holds: dict[str, dict[str, str]] = {}

    # -- queries -------------------------------------------------------------------------

    def has_account(self, creator_id: str) -> bool:
        return creator_id in self.accounts

    def balances(self, creator_id: str) -> dict[str, tuple[int, int, int]]:
        """currency -> (payable, held, receivable)."""
        acct = self._account(creator_id)
        return {c: (b[0], b[1], b[2]) for c, b in acct.items()}

    def balance(self, creator_id: str, currency: str) -> tuple[int, int, int]:
        b = self._account(creator_id).get(currency, [0, 0, 0])
        return b[0], b[1], b[2]

    def accrual_held(self, creator_id: str) -> bool:
        return bool(self.accrual_holds.get(creator_id))

    def accrual_hold_reasons(self, creator_id: str) -> dict[str, str]:
        """The creator's active accrual holds: hold id -> reason."""
        return dict(self.accrual_holds.get(creator_id, {}))

    def _check_credit(self, creator_id: str, currency: str, to_held: bool, amount: int) -> None:
        """Refuse a credit that would take a creator's balance beyond ``bigint`` (the money
        supply keeps it from happening; this says so where the balance is kept)."""
        balance = self.balance(creator_id, currency)[HELD if to_held else PAYABLE]
        what = f"the {'held' if to_held else 'payable'} {currency} balance of creator {creator_id}"
        check_sum_in_range(balance, amount, what=what, creator_id=creator_id)

    def _account(self, creator_id: str) -> dict[str, list[int]]:
        try:
            return self.accounts[creator_id]
        except KeyError:
            msg = f"creator {creator_id} has no account (not enrolled)"
            raise NotFoundError(msg, creator_id=creator_id) from None

    # -- commands ------------------------------------------------------------------------

    def open_accounts(self, creator_ids: list[str], *, effective_at: datetime) -> None:
        assert creator_ids
        assert not any(c in self.accounts for c in creator_ids), creator_ids
        assert len(set(creator_ids)) == len(creator_ids)
        self._accounts_opened(creator_ids=creator_ids, effective_at=effective_at)

    def credit_view_earnings(
        self,
        *,
        program_id: UUID,
        period_id: UUID,
        period_key: str,
        fund_id: UUID,
        currency: str,
        lines: list[list[Any]],
        effective_at: datetime,
    ) -> None:
        """``lines``: ``[creator_id, qualified_views, amount_minor, capped]``; holds decide
        payable vs held here, on this book's exact state."""
        unknown = [line[0] for line in lines if line[0] not in self.accounts]
        if unknown:
            msg = f"creator {unknown[0]} has no account (not enrolled)"
            raise NotFoundError(msg, creator_id=unknown[0])
        held, accounts = self.accrual_holds, self.accounts
        out: list[list[Any]] = []
        # One pass over what may be 100,000 lines: the range check of _check_credit, inline;
        # it is called (and says which balance) only for a line that fails it.
        for c, views, amount, capped in lines:
            to_held = 1 if held.get(c) else 0
            cell = accounts[c].get(currency)
            before = 0 if cell is None else cell[HELD if to_held else PAYABLE]
            if not -BIGINT_MAX - 1 <= before + amount <= BIGINT_MAX:
                self._check_credit(c, currency, bool(to_held), amount)
            out.append([c, views, amount, to_held, int(capped)])
        self._view_earnings_credited(
            program_id=program_id,
            period_id=period_id,
            period_key=period_key,
            fund_id=fund_id,
            currency=currency,
            lines=out,
            effective_at=effective_at,
        )

    def credit_bonus(
        self,
        *,
        agreement_id: UUID,
        agreement_key: str,
        instalment_id: str,
        fund_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        effective_at: datetime,
    ) -> None:
        self._check_credit(creator_id, currency, self.accrual_held(creator_id), amount_minor)
        self._bonus_credited(
            agreement_id=agreement_id,
            agreement_key=agreement_key,
            instalment_id=instalment_id,
            fund_id=fund_id,
            creator_id=creator_id,
            currency=currency,
            amount_minor=amount_minor,
            to_held=self.accrual_held(creator_id),
            effective_at=effective_at,
        )

    def credit_reimbursement(
        self,
        *,
        claim_id: UUID,
        claim_key: str,
        item_id: str,
        creator_id: str,
        currency: str,
        amount_minor: int,
        effective_at: datetime,
    ) -> None:
        self._check_credit(creator_id, currency, self.accrual_held(creator_id), amount_minor)
        self._reimbursement_credited(
            claim_id=claim_id,
            claim_key=claim_key,
            item_id=item_id,
            creator_id=creator_id,
            currency=currency,
            amount_minor=amount_minor,
            to_held=self.accrual_held(creator_id),
            effective_at=effective_at,
        )

    def claw_back_bonus(
        self,
        *,
        agreement_id: UUID,
        agreement_key: str,
        fund_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        effective_at: datetime,
    ) -> tuple[int, int, int]:
        """Take ``amount_minor`` back: from payable first, then held; what the creator has
        already been paid out becomes a receivable.  Returns (from_payable, from_held,
        to_receivable)."""
        payable, held, _ = self.balance(creator_id, currency)
        from_payable = min(payable, amount_minor)
        from_held = min(held, amount_minor - from_payable)
        to_receivable = amount_minor - from_payable - from_held
        self._clawed_back(
            agreement_id=agreement_id,
            agreement_key=agreement_key,
            fund_id=fund_id,
            creator_id=creator_id,
            currency=currency,
            from_payable_minor=from_payable,
            from_held_minor=from_held,
            to_receivable_minor=to_receivable,
            effective_at=effective_at,
        )
        return from_payable, from_held, to_receivable

    def place_accrual_hold(
        self, creator_id: str, hold_id: str, *, reason: str, effective_at: datetime
    ) -> None:
        self._account(creator_id)
        if hold_id in self.accrual_holds.get(creator_id, {}):
            raise AlreadyExistsError(f"hold {hold_id!r} exists already", hold_id=hold_id)
        self._accrual_hold_placed(
            creator_id=creator_id, hold_id=hold_id, reason=reason, effective_at=effective_at
        )

    def release_accrual_hold(
        self, creator_id: str, hold_id: str, *, reason: str, effective_at: datetime
    ) -> None:
        holds = self.accrual_holds.get(creator_id, {})
        if hold_id not in holds:
            msg = f"creator {creator_id} has no accrual hold {hold_id!r} in its book"
            raise InvalidStateError(msg, creator_id=creator_id, hold_id=hold_id)
        released: list[list[Any]] = []
        if len(holds) == 1:
            released = [
                [c, b[HELD]] for c, b in sorted(self._account(creator_id).items()) if b[HELD]
            ]
        self._accrual_hold_released(
            creator_id=creator_id,
            hold_id=hold_id,
            reason=reason,
            released=released,
            effective_at=effective_at,
        )

    def offset_receivable(
        self,
        creator_id: str,
        currency: str,
        amount_minor: int,
        *,
        reference: str,
        effective_at: datetime,
    ) -> None:
        payable, _, receivable = self.balance(creator_id, currency)
        if not 0 < amount_minor <= min(payable, receivable):
            msg = (
                f"cannot offset {format_minor(amount_minor, currency)} for creator {creator_id}:"
                f" payable {format_minor(payable, currency)},"
                f" receivable {format_minor(receivable, currency)}"
            )
            raise InsufficientBalanceError(msg, creator_id=creator_id, amount_minor=amount_minor)
        self._receivable_offset(
            creator_id=creator_id,
            currency=currency,
            amount_minor=amount_minor,
            reference=reference,
            effective_at=effective_at,
        )

    def request_payouts(
        self, *, run_id: str, currency: str, lines: Sequence[Sequence[Any]], effective_at: datetime
    ) -> None:
        """Move each line's amount payable -> in transit; refuses the whole batch if any line
        would overdraw its creator (nothing is written)."""
        wanted: dict[str, int] = {}
        for _, creator, amount in lines:
            assert amount > 0
            wanted[creator] = wanted.get(creator, 0) + amount
        for creator, amount in wanted.items():
            payable = self.balance(creator, currency)[PAYABLE]
            if amount > payable:
                msg = (
                    f"payout of {format_minor(amount, currency)} would overdraw creator"
                    f" {creator}: payable is {format_minor(payable, currency)}"
                )
                raise InsufficientBalanceError(
                    msg, creator_id=creator, amount_minor=amount, payable_minor=payable
                )
        self._payouts_requested(
            run_id=run_id,
            currency=currency,
            lines=[[str(p), c, a] for p, c, a in lines],
            effective_at=effective_at,
        )

    def return_payout(
        self,
        *,
        payout_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self._account(creator_id)
        self._payout_returned(
            payout_id=payout_id,
            creator_id=creator_id,
            currency=currency,
            amount_minor=amount_minor,
            reason=reason,
            effective_at=effective_at,
        )

    def credit_reversal(
        self,
        *,
        payout_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> tuple[int, int]:
        """A paid transfer came back: first settle what the creator owes, the rest is payable
        again.  Returns (to_payable, to_receivable)."""
        receivable = self.balance(creator_id, currency)[RECEIVABLE]
        to_receivable = min(receivable, amount_minor)
        self._transfer_reversed(
            payout_id=payout_id,
            creator_id=creator_id,
            currency=currency,
            to_payable_minor=amount_minor - to_receivable,
            to_receivable_minor=to_receivable,
            reason=reason,
            effective_at=effective_at,
        )
        return amount_minor - to_receivable, to_receivable

    # -- events --------------------------------------------------------------------------

    def _cell(self, creator_id: str, currency: str) -> list[int]:
        acct = self.accounts[creator_id]
        cell = acct.get(currency)
        if cell is None:
            cell = acct[currency] = [0, 0, 0]
        return cell

    @event(AccountsOpened)
    def _accounts_opened(self, creator_ids: list[str], effective_at: datetime) -> None:
        for creator_id in creator_ids:
            self.accounts[creator_id] = {}

    @event(ViewEarningsCredited)
    def _view_earnings_credited(
        self,
        program_id: UUID,
        period_id: UUID,
        period_key: str,
        fund_id: UUID,
        currency: str,
        lines: list[list[Any]],
        effective_at: datetime,
    ) -> None:
        for creator, _views, amount, to_held, _capped in lines:
            self._cell(creator, currency)[HELD if to_held else PAYABLE] += amount

    @event(BonusCredited)
    def _bonus_credited(
        self,
        agreement_id: UUID,
        agreement_key: str,
        instalment_id: str,
        fund_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        to_held: bool,
        effective_at: datetime,
    ) -> None:
        self._cell(creator_id, currency)[HELD if to_held else PAYABLE] += amount_minor

    @event(ReimbursementCredited)
    def _reimbursement_credited(
        self,
        claim_id: UUID,
        claim_key: str,
        item_id: str,
        creator_id: str,
        currency: str,
        amount_minor: int,
        to_held: bool,
        effective_at: datetime,
    ) -> None:
        self._cell(creator_id, currency)[HELD if to_held else PAYABLE] += amount_minor

    @event(BonusClawedBack)
    def _clawed_back(
        self,
        agreement_id: UUID,
        agreement_key: str,
        fund_id: UUID,
        creator_id: str,
        currency: str,
        from_payable_minor: int,
        from_held_minor: int,
        to_receivable_minor: int,
        effective_at: datetime,
    ) -> None:
        cell = self._cell(creator_id, currency)
        cell[PAYABLE] -= from_payable_minor
        cell[HELD] -= from_held_minor
        cell[RECEIVABLE] += to_receivable_minor

    @event(AccrualHoldPlaced)
    def _accrual_hold_placed(
        self, creator_id: str, hold_id: str, reason: str, effective_at: datetime
    ) -> None:
        self.accrual_holds.setdefault(creator_id, {})[hold_id] = reason

    @event(AccrualHoldReleased)
    def _accrual_hold_released(
        self,
        creator_id: str,
        hold_id: str,
        reason: str,
        released: list[list[Any]],
        effective_at: datetime,
    ) -> None:
        holds = self.accrual_holds[creator_id]
        del holds[hold_id]
        if not holds:
            del self.accrual_holds[creator_id]
        for currency, amount in released:
            cell = self._cell(creator_id, currency)
            cell[HELD] -= amount
            cell[PAYABLE] += amount

    @event(ReceivableOffset)
    def _receivable_offset(
        self,
        creator_id: str,
        currency: str,
        amount_minor: int,
        reference: str,
        effective_at: datetime,
    ) -> None:
        cell = self._cell(creator_id, currency)
        cell[PAYABLE] -= amount_minor
        cell[RECEIVABLE] -= amount_minor

    @event(PayoutsRequested)
    def _payouts_requested(
        self, run_id: str, currency: str, lines: list[list[Any]], effective_at: datetime
    ) -> None:
        for _payout, creator, amount in lines:
            self._cell(creator, currency)[PAYABLE] -= amount

    @event(PayoutReturned)
    def _payout_returned(
        self,
        payout_id: UUID,
        creator_id: str,
        currency: str,
        amount_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self._cell(creator_id, currency)[PAYABLE] += amount_minor

    @event(TransferReversed)
    def _transfer_reversed(
        self,
        payout_id: UUID,
        creator_id: str,
        currency: str,
        to_payable_minor: int,
        to_receivable_minor: int,
        reason: str,
        effective_at: datetime,
    ) -> None:
        cell = self._cell(creator_id, currency)
        cell[PAYABLE] += to_payable_minor
        cell[RECEIVABLE] -= to_receivable_minor
