"""The creator: enrolment, payout account, KYC and tax status, contracts, holds.

Holds carry a reason.  The creator keeps its **payout** holds, which block payouts (the balance
stays payable and is left out of payout runs).  **Accrual** holds, which credit everything the
creator earns to ``creator:held`` instead of ``creator:payable`` until the last one is released,
are money rules: their one owner is the creator's account book (:mod:`domain.book`).

The money side of a creator (its balances) lives in that account book, saved in the same
transaction as the business event that moves it.

This module passes ~400 lines for a reason: it is one aggregate with its eleven declared event
classes (explicit topics, so they can be upcast), the checks of every command and the apply
methods; splitting it would split the one place that decides a creator's state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.business_time import check_day
from creator_ledger.domain.country import check_country
from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InsufficientBudgetError,
    InvalidInputError,
    InvalidStateError,
    NotEligibleError,
    NotFoundError,
)
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import (
    check_amount,
    check_currency,
    check_sum_in_range,
    format_minor,
)
from creator_ledger.domain.text import check_key, check_name, check_reason, check_text

ACCOUNT_STATUSES = ("pending", "active", "restricted", "disabled")
KYC_STATUSES = ("pending", "verified", "rejected")
TAX_STATUSES = ("missing", "submitted", "verified")
CONTRACT_KINDS = ("nda", "production", "exclusivity")
HOLD_KINDS = ("payout", "accrual")
#: Contracts under which production costs can be reimbursed.
REIMBURSABLE_CONTRACTS = ("nda", "production")


def _check_choice(value: str, accepted: tuple[str, ...], what: str) -> str:
    if value not in accepted:
        msg = f"unknown {what} {value!r}: accepted are {', '.join(accepted)}"
        raise InvalidInputError(msg, **{what.replace(" ", "_"): value})
    return value


class Creator(Aggregate):
    """A creator enrolled on the platform."""

    TOPIC = "creator-ledger/Creator"

    class Enrolled(Aggregate.Created):
        TOPIC = "creator-ledger/Creator.Enrolled"
        creator_ref: str
        display_name: str
        country: str
        effective_at: datetime

    class Imported(Aggregate.Created):
        """A creator moved onto the ledger from another system (a bulk enrolment's record), in
        one event: what ``Enrolled``, then ``PayoutAccountLinked`` (when ``payout_account`` is
        given) and ``KycStatusChanged`` (reason ``import``) would record, at one time.  A bulk
        enrolment writes one event per creator instead of three."""

        TOPIC = "creator-ledger/Creator.Imported"
        creator_ref: str
        display_name: str
        country: str
        payout_provider: str | None
        payout_account: str | None
        account_status: str
        kyc_status: str
        tax_status: str
        effective_at: datetime

        def apply(self, aggregate: Any) -> None:
            if self.payout_account is not None:
                aggregate.payout_provider = self.payout_provider
                aggregate.payout_account = self.payout_account
                aggregate.account_status = self.account_status
            aggregate.kyc_status = self.kyc_status
            aggregate.tax_status = self.tax_status

    class PayoutAccountLinked(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.PayoutAccountLinked"
        provider: str
        account_ref: str
        status: str
        effective_at: datetime

    class PayoutAccountStatusChanged(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.PayoutAccountStatusChanged"
        status: str
        reason: str
        effective_at: datetime

    class KycStatusChanged(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.KycStatusChanged"
        kyc_status: str
        tax_status: str
        reason: str
        effective_at: datetime

    class ContractSigned(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.ContractSigned"
        contract_id: str
        kind: str
        signed_on: date
        reimbursement_currency: str | None
        reimbursement_budget_minor: int
        effective_at: datetime

    class HoldPlaced(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.HoldPlaced"
        hold_id: str
        kind: str
        reason: str
        effective_at: datetime

    class HoldReleased(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.HoldReleased"
        hold_id: str
        reason: str
        effective_at: datetime

    class ReimbursementBudgetUsed(Aggregate.Event):
        TOPIC = "creator-ledger/Creator.ReimbursementBudgetUsed"
        claim_id: UUID
        item_id: str
        currency: str
        amount_minor: int
        effective_at: datetime

    class BankPayoutReported(Aggregate.Event):
        """The provider reported a payout from the creator's connected account to their bank."""

        TOPIC = "creator-ledger/Creator.BankPayoutReported"

        provider_payout_id: str
        status: str  # "paid" | "failed"
        currency: str
        amount_minor: int
        failure: str
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Enrolled`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/Creator.Created"

    @staticmethod
    def create_id(creator_ref: str) -> UUID:
        return stable_id("creator", creator_ref)

    @event(Enrolled)
    def __init__(
        self, creator_ref: str, display_name: str, country: str, effective_at: datetime
    ) -> None:
        self.creator_ref = creator_ref
        self.display_name = display_name
        self.country = country
        self.enrolled_at = effective_at
        self.payout_provider: str | None = None
        self.payout_account: str | None = None
        self.account_status = "none"
        self.kyc_status = "pending"
        self.tax_status = "missing"
        #: contract id -> [kind, signed_on]
        self.contracts: dict[str, list[Any]] = {}
        #: hold id -> [kind, reason]
        self.holds: dict[str, list[str]] = {}
        #: currency -> [budget_minor, used_minor]
        self.reimbursement_budget: dict[str, list[int]] = {}
        #: [provider payout id, status, failure] of the last bank payout reported
        self.last_bank_payout: list[str] | None = None

    @classmethod
    def enrol(
        cls, *, creator_ref: str, display_name: str, country: str, effective_at: datetime
    ) -> Creator:
        check_key(creator_ref, field="creator_ref")
        check_name(display_name, field="display_name")
        check_country(country)
        return cls(
            creator_ref=creator_ref,
            display_name=display_name,
            country=country,
            effective_at=effective_at,
        )

    @classmethod
    def imported(
        cls,
        *,
        creator_ref: str,
        display_name: str,
        country: str,
        payout_account: str | None,
        account_status: str,
        kyc_status: str,
        tax_status: str,
        effective_at: datetime,
        provider: str = "stripe",
        creator_id: UUID | None = None,
    ) -> Creator:
        """A creator enrolled with their payout account and KYC/tax status, as one
        :class:`Imported` event (the same checks as :meth:`enrol`, :meth:`link_payout_account`
        and :meth:`set_kyc_status`).

        For a bulk enrolment of many thousands, where each microsecond here counts:
        ``creator_id`` is ``create_id(creator_ref)`` when the caller has it already, and the
        event is built as the library's ``Aggregate._create`` builds it, without its per-call
        checks of the class's topic and of the id's type (both fixed here)."""
        linked = payout_account is not None
        check_key(creator_ref, field="creator_ref")
        check_name(display_name, field="display_name")
        check_country(country)
        if linked:
            check_key(payout_account, field="account_ref")
            check_key(provider, field="provider")
            _check_choice(account_status, ACCOUNT_STATUSES, "account status")
        _check_choice(kyc_status, KYC_STATUSES, "kyc status")
        _check_choice(tax_status, TAX_STATUSES, "tax status")
        event_class: Any = cls.Imported  # a dataclass made by the library's metaclass
        imported = event_class(
            originator_topic=cls.TOPIC,  # the library's get_topic(cls): the explicit topic
            originator_id=creator_id or cls.create_id(creator_ref),
            originator_version=cls.INITIAL_VERSION,
            timestamp=cls.Imported.create_timestamp(),
            creator_ref=creator_ref,
            display_name=display_name,
            country=country,
            payout_provider=provider if linked else None,
            payout_account=payout_account,
            account_status=account_status if linked else "none",
            kyc_status=kyc_status,
            tax_status=tax_status,
            effective_at=effective_at,
        )
        creator = imported.mutate(None)
        assert isinstance(creator, Creator)
        creator.pending_events.append(imported)
        return creator

    # -- queries -------------------------------------------------------------------------

    def can_be_reimbursed(self) -> bool:
        return any(kind in REIMBURSABLE_CONTRACTS for kind, _ in self.contracts.values())

    def reimbursement_available_minor(self, currency: str) -> int:
        budget, used = self.reimbursement_budget.get(currency, [0, 0])
        return budget - used

    # -- commands ------------------------------------------------------------------------

    def link_payout_account(
        self, *, provider: str, account_ref: str, status: str, effective_at: datetime
    ) -> None:
        check_key(account_ref, field="account_ref")
        check_key(provider, field="provider")
        _check_choice(status, ACCOUNT_STATUSES, "account status")
        self._account_linked(
            provider=provider, account_ref=account_ref, status=status, effective_at=effective_at
        )

    def set_payout_account_status(
        self, status: str, *, reason: str, effective_at: datetime
    ) -> None:
        _check_choice(status, ACCOUNT_STATUSES, "account status")
        check_text(reason, field="reason")
        if self.payout_account is None:
            msg = f"creator {self.creator_ref!r} has no payout account linked"
            raise InvalidStateError(msg, creator_ref=self.creator_ref)
        self._account_status_changed(status=status, reason=reason, effective_at=effective_at)

    def set_kyc_status(
        self, *, kyc_status: str, tax_status: str, reason: str, effective_at: datetime
    ) -> None:
        _check_choice(kyc_status, KYC_STATUSES, "kyc status")
        _check_choice(tax_status, TAX_STATUSES, "tax status")
        check_text(reason, field="reason")
        self._kyc_changed(
            kyc_status=kyc_status, tax_status=tax_status, reason=reason, effective_at=effective_at
        )

    def sign_contract(
        self,
        contract_id: str,
        *,
        kind: str,
        signed_on: date,
        reimbursement_currency: str | None = None,
        reimbursement_budget_minor: int = 0,
        effective_at: datetime,
    ) -> None:
        check_key(contract_id, field="contract_id")
        check_day(signed_on, field="signed_on")
        _check_choice(kind, CONTRACT_KINDS, "contract kind")
        if contract_id in self.contracts:
            msg = f"contract {contract_id!r} is signed already"
            raise AlreadyExistsError(msg, contract_id=contract_id)
        if reimbursement_budget_minor:
            check_amount(reimbursement_budget_minor, field="reimbursement_budget_minor")
            if kind not in REIMBURSABLE_CONTRACTS:
                msg = f"a {kind} contract carries no reimbursement budget (only nda, production)"
                raise InvalidInputError(msg, kind=kind)
            if reimbursement_currency is None:
                raise InvalidInputError("a reimbursement budget needs a currency")
            check_currency(reimbursement_currency)
            check_sum_in_range(
                self.reimbursement_budget.get(reimbursement_currency, [0, 0])[0],
                reimbursement_budget_minor,
                what=f"the {reimbursement_currency} reimbursement budget of {self.creator_ref!r}",
                creator_ref=self.creator_ref,
            )
        self._contract_signed(
            contract_id=contract_id,
            kind=kind,
            signed_on=signed_on,
            reimbursement_currency=reimbursement_currency,
            reimbursement_budget_minor=reimbursement_budget_minor,
            effective_at=effective_at,
        )

    def place_hold(self, hold_id: str, *, reason: str, effective_at: datetime) -> None:
        """Place a payout hold (accrual holds are the account book's)."""
        check_key(hold_id, field="hold_id")
        check_reason(reason, field="reason")
        if hold_id in self.holds:
            raise AlreadyExistsError(f"hold {hold_id!r} exists already", hold_id=hold_id)
        self._hold_placed(hold_id=hold_id, kind="payout", reason=reason, effective_at=effective_at)

    def release_hold(self, hold_id: str, *, reason: str, effective_at: datetime) -> None:
        """Release a payout hold."""
        check_text(reason, field="reason")
        if hold_id not in self.holds:
            msg = f"creator {self.creator_ref!r} has no hold {hold_id!r}"
            raise NotFoundError(msg, hold_id=hold_id)
        self._hold_released(hold_id=hold_id, reason=reason, effective_at=effective_at)

    def use_reimbursement_budget(
        self,
        claim_id: UUID,
        item_id: str,
        currency: str,
        amount_minor: int,
        *,
        effective_at: datetime,
    ) -> None:
        if not self.can_be_reimbursed():
            msg = (
                f"creator {self.creator_ref!r} has not signed an NDA or production contract:"
                " production costs are reimbursed only under one"
            )
            raise NotEligibleError(msg, creator_ref=self.creator_ref)
        available = self.reimbursement_available_minor(currency)
        if amount_minor > available:
            msg = (
                f"approving {format_minor(amount_minor, currency)} would exceed the reimbursement"
                f" budget of creator {self.creator_ref!r}: {format_minor(available, currency)}"
                " is left"
            )
            raise InsufficientBudgetError(
                msg,
                creator_ref=self.creator_ref,
                amount_minor=amount_minor,
                available_minor=available,
            )
        self._budget_used(
            claim_id=claim_id,
            item_id=item_id,
            currency=currency,
            amount_minor=amount_minor,
            effective_at=effective_at,
        )

    def report_bank_payout(
        self,
        *,
        provider_payout_id: str,
        status: str,
        currency: str,
        amount_minor: int,
        failure: str,
        effective_at: datetime,
    ) -> None:
        _check_choice(status, ("paid", "failed"), "bank payout status")
        self._bank_payout_reported(
            provider_payout_id=provider_payout_id,
            status=status,
            currency=currency,
            amount_minor=amount_minor,
            failure=failure,
            effective_at=effective_at,
        )

    # -- events --------------------------------------------------------------------------

    @event(BankPayoutReported)
    def _bank_payout_reported(
        self,
        provider_payout_id: str,
        status: str,
        currency: str,
        amount_minor: int,
        failure: str,
        effective_at: datetime,
    ) -> None:
        self.last_bank_payout = [provider_payout_id, status, failure]

    @event(PayoutAccountLinked)
    def _account_linked(
        self, provider: str, account_ref: str, status: str, effective_at: datetime
    ) -> None:
        self.payout_provider = provider
        self.payout_account = account_ref
        self.account_status = status

    @event(PayoutAccountStatusChanged)
    def _account_status_changed(self, status: str, reason: str, effective_at: datetime) -> None:
        self.account_status = status

    @event(KycStatusChanged)
    def _kyc_changed(
        self, kyc_status: str, tax_status: str, reason: str, effective_at: datetime
    ) -> None:
        self.kyc_status = kyc_status
        self.tax_status = tax_status

    @event(ContractSigned)
    def _contract_signed(
        self,
        contract_id: str,
        kind: str,
        signed_on: date,
        reimbursement_currency: str | None,
        reimbursement_budget_minor: int,
        effective_at: datetime,
    ) -> None:
        self.contracts[contract_id] = [kind, signed_on]
        if reimbursement_currency is not None and reimbursement_budget_minor:
            budget = self.reimbursement_budget.setdefault(reimbursement_currency, [0, 0])
            budget[0] += reimbursement_budget_minor

    @event(HoldPlaced)
    def _hold_placed(self, hold_id: str, kind: str, reason: str, effective_at: datetime) -> None:
        self.holds[hold_id] = [kind, reason]

    @event(HoldReleased)
    def _hold_released(self, hold_id: str, reason: str, effective_at: datetime) -> None:
        del self.holds[hold_id]

    @event(ReimbursementBudgetUsed)
    def _budget_used(
        self, claim_id: UUID, item_id: str, currency: str, amount_minor: int, effective_at: datetime
    ) -> None:
        self.reimbursement_budget.setdefault(currency, [0, 0])[1] += amount_minor
