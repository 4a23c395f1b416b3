"""Creators: enrolment (one or in bulk), payout account, KYC/tax, contracts, holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from creator_ledger.domain.country import check_country
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import AlreadyExistsError, InvalidInputError
from creator_ledger.domain.ids import book_shard
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner, check_key, fingerprint, issued
from creator_ledger.ledger.enrolment import BulkEnrolment
from creator_ledger.ledger.gc_pause import gc_paused
from creator_ledger.ledger.results import CreatorRef, Done, EnrolledCreators
from creator_ledger.ledger.retry import retry_on_conflict
from creator_ledger.ledger.validation import (
    Actor,
    Currency,
    Day,
    InputModel,
    Key,
    Name,
    NonNegativeMinor,
    Reason,
    Text,
    arguments,
    command,
)

#: An ISO 3166-1 alpha-2 country code (``US``, ``GB``, ``DE``).
Country = Annotated[str, BeforeValidator(check_country)]
AccountStatus = Literal["pending", "active", "restricted", "disabled"]
#: Creators per transaction in a bulk enrolment.
ENROL_CHUNK = 2_000


class CreatorRecord(InputModel):
    """One creator in a bulk enrolment, optionally with their payout account and KYC status
    (as when a platform moves its creators onto the ledger)."""

    creator_ref: Key
    display_name: Name
    country: Country
    payout_account: Key | None = None
    account_status: AccountStatus = "pending"
    kyc_status: Literal["pending", "verified", "rejected"] = "pending"
    tax_status: Literal["missing", "submitted", "verified"] = "missing"


class Creators:
    """Creators: enrolment (one or in bulk), payout account, KYC and tax status, contracts,
    holds."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    @command
    def enrol_creator(
        self,
        *,
        creator_ref: Key,
        display_name: Name,
        country: Country,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> CreatorRef:
        """Enrol a creator; ``creator_ref`` is the platform's own id for them."""
        args = arguments(locals())

        def work() -> tuple[list[Any], CreatorRef]:
            at = self.runner.at(effective_at)
            creator_id = Creator.create_id(creator_ref)
            book = self.aggregates.book_or_new(book_shard(creator_id), effective_at=at)
            if book.has_account(creator_id.hex):
                msg = f"creator {creator_ref!r} is enrolled already"
                raise AlreadyExistsError(msg, creator_ref=creator_ref)
            creator = Creator.enrol(
                creator_ref=creator_ref, display_name=display_name, country=country, effective_at=at
            )
            book.open_accounts([creator_id.hex], effective_at=at)
            return [creator, book], CreatorRef(creator_ref=creator_ref, creator_id=creator_id.hex)

        return self.runner.run(
            "enrol_creator", idempotency_key, args, CreatorRef, work, actor=actor
        )

    @gc_paused()
    @command
    def enrol_creators(
        self,
        *,
        creators: Sequence[tuple[Key, Name, Country] | CreatorRecord],
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> EnrolledCreators:
        """Enrol many creators, each ``(creator_ref, display_name, country)`` or a
        :class:`CreatorRecord` (with a payout account and KYC status); those enrolled already
        are counted and left alone.  Written in transactions of :data:`ENROL_CHUNK` creators;
        re-running with the same key after an interruption finishes the job."""
        args = arguments(locals())
        incoming = [
            c
            if isinstance(c, CreatorRecord)
            else CreatorRecord(creator_ref=c[0], display_name=c[1], country=c[2])
            for c in creators
        ]
        refs = [c.creator_ref for c in incoming]
        if len(set(refs)) != len(refs):
            raise InvalidInputError("creator_ref appears more than once in the batch")
        check_key(idempotency_key)
        print_ = fingerprint("enrol_creators", args)
        previous = self.runner.previous(idempotency_key, "enrol_creators", print_, EnrolledCreators)
        if previous is not None:
            return previous
        at = self.runner.at(effective_at)
        meta = issued(actor, "enrol_creators", idempotency_key)
        # In book order: a book gets one AccountsOpened per enrolment (two where chunks meet),
        # not one per chunk: fewer events to write, shorter book histories to load later.
        ids = [(Creator.create_id(r.creator_ref), r) for r in incoming]
        todo = sorted(ids, key=lambda item: book_shard(item[0]))
        chunks = [todo[i : i + ENROL_CHUNK] for i in range(0, len(todo), ENROL_CHUNK)] or [[]]
        record_as = (idempotency_key, print_)
        job = BulkEnrolment(self.aggregates, self.runner, chunks, at, record_as, meta)
        # Creators enrolled by a concurrent run since this one read their books make a save
        # conflict: the job resumes at that chunk, decided again on fresh books, which count
        # them as enrolled.
        return retry_on_conflict(
            job.run, what="enrol_creators", progress=lambda: job.stored, command="enrol_creators"
        )

    def _creator_update(
        self,
        actor: str,
        name: str,
        idempotency_key: str,
        args: dict[str, Any],
        creator_ref: str,
        change: Any,
    ) -> Done:
        def work() -> tuple[list[Any], Done]:
            creator = self.aggregates.creator(creator_ref)
            change(creator)
            return [creator], Done(id=creator.id.hex)

        return self.runner.run(name, idempotency_key, args, Done, work, actor=actor)

    @command
    def link_payout_account(
        self,
        *,
        creator_ref: Key,
        account_ref: Key,
        provider: Key = "stripe",
        status: AccountStatus = "pending",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Link the creator's connected account at the payment provider (e.g. ``acct_...``)."""
        args = arguments(locals())
        at = self.runner.at(effective_at)
        return self._creator_update(
            actor,
            "link_payout_account",
            idempotency_key,
            args,
            creator_ref,
            lambda c: c.link_payout_account(
                provider=provider, account_ref=account_ref, status=status, effective_at=at
            ),
        )

    @command
    def set_payout_account_status(
        self,
        *,
        creator_ref: Key,
        status: AccountStatus,
        reason: Text = "",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        args = arguments(locals())
        at = self.runner.at(effective_at)
        return self._creator_update(
            actor,
            "set_payout_account_status",
            idempotency_key,
            args,
            creator_ref,
            lambda c: c.set_payout_account_status(status, reason=reason, effective_at=at),
        )

    @command
    def set_kyc_status(
        self,
        *,
        creator_ref: Key,
        kyc_status: Literal["pending", "verified", "rejected"],
        tax_status: Literal["missing", "submitted", "verified"],
        reason: Text = "",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        args = arguments(locals())
        at = self.runner.at(effective_at)
        return self._creator_update(
            actor,
            "set_kyc_status",
            idempotency_key,
            args,
            creator_ref,
            lambda c: c.set_kyc_status(
                kyc_status=kyc_status, tax_status=tax_status, reason=reason, effective_at=at
            ),
        )

    @command
    def sign_contract(
        self,
        *,
        creator_ref: Key,
        contract_id: Key,
        kind: Literal["nda", "production", "exclusivity"],
        signed_on: Day,
        reimbursement_currency: Currency | None = None,
        reimbursement_budget_minor: NonNegativeMinor = 0,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Record a signed contract; NDA and production contracts may carry a reimbursement
        budget for production costs (refused when the money that can reach creators in its
        currency would pass ``bigint``: see :mod:`creator_ledger.domain.supply`)."""
        args = arguments(locals())
        at = self.runner.at(effective_at)

        def work() -> tuple[list[Any], Done]:
            creator = self.aggregates.creator(creator_ref)
            creator.sign_contract(
                contract_id,
                kind=kind,
                signed_on=signed_on,
                reimbursement_currency=reimbursement_currency,
                reimbursement_budget_minor=reimbursement_budget_minor,
                effective_at=at,
            )
            if not reimbursement_budget_minor or reimbursement_currency is None:
                return [creator], Done(id=creator.id.hex)
            supply = self.aggregates.supply(reimbursement_currency, effective_at=at)
            supply.increase(
                reimbursement_budget_minor,
                source="reimbursement_budget",
                reference=f"{creator_ref}/{contract_id}",
                effective_at=at,
            )
            return [creator, supply], Done(id=creator.id.hex)

        return self.runner.run("sign_contract", idempotency_key, args, Done, work, actor=actor)

    @command
    def place_hold(
        self,
        *,
        creator_ref: Key,
        hold_id: Key,
        kind: Literal["payout", "accrual"],
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """A ``payout`` hold keeps the creator out of payout runs; an ``accrual`` hold credits
        everything they earn to ``held`` until it is released."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            at = self.runner.at(effective_at)
            creator = self.aggregates.creator(creator_ref)
            book = self.aggregates.book(creator.id, creator_ref=creator_ref)
            if hold_id in creator.holds or hold_id in book.accrual_hold_reasons(creator.id.hex):
                raise AlreadyExistsError(f"hold {hold_id!r} exists already", hold_id=hold_id)
            # Payout holds are the creator's; accrual holds, a money rule, the account book's.
            if kind == "payout":
                creator.place_hold(hold_id, reason=reason, effective_at=at)
                return [creator], Done(id=creator.id.hex)
            book.place_accrual_hold(creator.id.hex, hold_id, reason=reason, effective_at=at)
            return [book], Done(id=creator.id.hex)

        return self.runner.run("place_hold", idempotency_key, args, Done, work, actor=actor)

    @command
    def release_hold(
        self,
        *,
        creator_ref: Key,
        hold_id: Key,
        reason: Text = "",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Release a hold; releasing the last accrual hold moves held earnings to payable."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            at = self.runner.at(effective_at)
            creator = self.aggregates.creator(creator_ref)
            book = self.aggregates.book(creator.id, creator_ref=creator_ref)
            if hold_id in book.accrual_hold_reasons(creator.id.hex):
                book.release_accrual_hold(creator.id.hex, hold_id, reason=reason, effective_at=at)
                return [book], Done(id=creator.id.hex)
            creator.release_hold(hold_id, reason=reason, effective_at=at)
            return [creator], Done(id=creator.id.hex)

        return self.runner.run("release_hold", idempotency_key, args, Done, work, actor=actor)
