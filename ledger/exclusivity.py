"""Exclusivity agreements: agree (committing the fund), credit instalments and milestones,
breach (forfeit + clawback) and good-leaver termination."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import AlreadyExistsError
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.ledger.core import LedgerCore
from creator_ledger.ledger.results import AgreementFigures
from creator_ledger.ledger.validation import Key, PositiveMinor, Reason, arguments, command


def agreement_figures(a: ExclusivityAgreement, creator_ref: str, **extra: int) -> AgreementFigures:
    return AgreementFigures(
        agreement_key=a.agreement_key,
        agreement_id=str(a.id),
        creator_ref=creator_ref,
        currency=a.currency,
        total_minor=a.total_minor,
        credited_minor=a.credited_minor,
        status=a.status,
        starts_on=a.starts_on,
        ends_on=a.ends_on,
        **extra,
    )


class ExclusivityCommands(LedgerCore):
    def _agreement(self, agreement_key: str) -> ExclusivityAgreement:
        return self._get(
            ExclusivityAgreement,
            ExclusivityAgreement.create_id(agreement_key),
            what="agreement",
            key=agreement_key,
        )

    def _credit(
        self,
        agreement: ExclusivityAgreement,
        fund: CreatorFund,
        book: Any,
        instalment_ids: Sequence[str],
        *,
        on: date,
        at: datetime,
    ) -> None:
        for instalment_id in instalment_ids:
            amount = agreement.credit_instalment(instalment_id, on=on, effective_at=at)
            fund.spend(
                agreement.commitment_id,
                amount,
                reference=f"{agreement.agreement_key}/{instalment_id}",
                effective_at=at,
            )
            book.credit_bonus(
                agreement_id=agreement.id,
                agreement_key=agreement.agreement_key,
                instalment_id=instalment_id,
                fund_id=fund.id,
                creator_id=agreement.creator_id.hex,
                currency=agreement.currency,
                amount_minor=amount,
                effective_at=at,
            )

    @command
    def agree_exclusivity(
        self,
        *,
        agreement_key: Key,
        creator_ref: Key,
        fund_key: Key,
        total_minor: PositiveMinor,
        starts_on: date,
        ends_on: date,
        schedule: Literal["upfront", "monthly", "milestones"],
        instalments: int = 1,
        milestones: Sequence[tuple[Key, PositiveMinor]] | None = None,
        vesting: Literal["linear", "cliff"] = "linear",
        effective_at: datetime | None = None,
        idempotency_key: Key,
    ) -> AgreementFigures:
        """Agree an exclusivity deal: the total is committed from the fund (refused if it cannot
        cover it); instalments already due (an upfront payment) are credited at once."""
        args = arguments(locals())

        def work() -> tuple[list[Any], AgreementFigures]:
            at = self._at(effective_at)
            if self._exists(ExclusivityAgreement.create_id(agreement_key)):
                raise AlreadyExistsError(f"agreement {agreement_key!r} exists already")
            creator_id = Creator.create_id(creator_ref)
            book = self._book(creator_id, creator_ref=creator_ref)
            fund = self._get(
                CreatorFund, CreatorFund.create_id(fund_key), what="fund", key=fund_key
            )
            agreement = ExclusivityAgreement.agree(
                agreement_key=agreement_key,
                creator_id=creator_id,
                fund_id=fund.id,
                currency=fund.currency,
                total_minor=total_minor,
                starts_on=starts_on,
                ends_on=ends_on,
                schedule=schedule,
                instalments=instalments,
                milestones=[list(m) for m in milestones] if milestones else None,
                vesting=vesting,
                effective_at=at,
            )
            fund.commit(
                agreement.commitment_id,
                total_minor,
                purpose=f"exclusivity {agreement_key}",
                effective_at=at,
            )
            due = [i for i, _ in agreement.due_instalments(at.date())]
            self._credit(agreement, fund, book, due, on=at.date(), at=at)
            return [agreement, fund, book], agreement_figures(agreement, creator_ref)

        return self._execute("agree_exclusivity", idempotency_key, args, AgreementFigures, work)

    def _with_agreement(
        self,
        name: str,
        idempotency_key: str,
        args: dict[str, Any],
        agreement_key: str,
        change: Any,
    ) -> AgreementFigures:
        def work() -> tuple[list[Any], AgreementFigures]:
            agreement = self._agreement(agreement_key)
            creator = self._get(
                Creator, agreement.creator_id, what="creator", key=agreement.creator_id.hex
            )
            fund = self._get(
                CreatorFund, agreement.fund_id, what="fund", key=str(agreement.fund_id)
            )
            book = self._book(agreement.creator_id, creator_ref=creator.creator_ref)
            extra = change(agreement, fund, book) or {}
            return [agreement, fund, book], agreement_figures(
                agreement, creator.creator_ref, **extra
            )

        return self._execute(name, idempotency_key, args, AgreementFigures, work)

    @command
    def credit_due_instalments(
        self,
        *,
        agreement_key: Key,
        on: date,
        effective_at: datetime | None = None,
        idempotency_key: Key,
    ) -> AgreementFigures:
        """Credit every scheduled instalment due by ``on`` (run daily; a no-op when none is)."""
        args = arguments(locals())
        at = self._at(effective_at)
        return self._with_agreement(
            "credit_due_instalments",
            idempotency_key,
            args,
            agreement_key,
            lambda a, f, b: self._credit(
                a, f, b, [i for i, _ in a.due_instalments(on)], on=on, at=at
            ),
        )

    @command
    def reach_milestone(
        self,
        *,
        agreement_key: Key,
        milestone_id: Key,
        effective_at: datetime | None = None,
        idempotency_key: Key,
    ) -> AgreementFigures:
        args = arguments(locals())
        at = self._at(effective_at)
        return self._with_agreement(
            "reach_milestone",
            idempotency_key,
            args,
            agreement_key,
            lambda a, f, b: self._credit(a, f, b, [milestone_id], on=at.date(), at=at),
        )

    @command
    def breach_exclusivity(
        self,
        *,
        agreement_key: Key,
        on: date,
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
    ) -> AgreementFigures:
        """End the deal for breach: uncredited instalments are forfeited (back to the fund), and
        the credited-but-unvested part is clawed back pro rata (payable first, then held; what
        was already paid out becomes a receivable)."""
        args = arguments(locals())
        at = self._at(effective_at)

        def change(a: ExclusivityAgreement, fund: CreatorFund, book: Any) -> dict[str, int]:
            forfeited, clawback = a.breach(on=on, reason=reason, effective_at=at)
            fund.release(a.commitment_id, reason=f"{a.agreement_key} breached", effective_at=at)
            split = (0, 0, 0)
            if clawback:
                split = book.claw_back_bonus(
                    agreement_id=a.id,
                    agreement_key=a.agreement_key,
                    fund_id=fund.id,
                    creator_id=a.creator_id.hex,
                    currency=a.currency,
                    amount_minor=clawback,
                    effective_at=at,
                )
                fund.return_spend(
                    a.commitment_id, clawback, reason=f"{a.agreement_key} clawback", effective_at=at
                )
            return {
                "forfeited_minor": forfeited,
                "clawback_minor": clawback,
                "clawback_from_payable_minor": split[0],
                "clawback_from_held_minor": split[1],
                "clawback_to_receivable_minor": split[2],
            }

        return self._with_agreement(
            "breach_exclusivity", idempotency_key, args, agreement_key, change
        )

    @command
    def terminate_exclusivity(
        self,
        *,
        agreement_key: Key,
        on: date,
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
    ) -> AgreementFigures:
        """Good-leaver termination: no clawback; what is not yet credited is cancelled."""
        args = arguments(locals())
        at = self._at(effective_at)

        def change(a: ExclusivityAgreement, fund: CreatorFund, _book: Any) -> dict[str, int]:
            cancelled = a.terminate(on=on, reason=reason, effective_at=at)
            fund.release(a.commitment_id, reason=f"{a.agreement_key} terminated", effective_at=at)
            return {"forfeited_minor": cancelled}

        return self._with_agreement(
            "terminate_exclusivity", idempotency_key, args, agreement_key, change
        )

    @command
    def agreement(self, agreement_key: Key) -> AgreementFigures:
        a = self._agreement(agreement_key)
        creator = self._get(Creator, a.creator_id, what="creator", key=a.creator_id.hex)
        return agreement_figures(a, creator.creator_ref)
