"""Exclusivity agreements: agree (committing the fund), credit instalments and milestones,
breach (forfeit + clawback) and good-leaver termination.  The money rules are the domain's
(:mod:`creator_ledger.domain.bonus`); this module loads, validates and saves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from creator_ledger.domain import bonus as rules
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import AlreadyExistsError
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.results import AgreementFigures
from creator_ledger.ledger.validation import (
    Actor,
    Day,
    Key,
    PositiveMinor,
    Reason,
    arguments,
    command,
)

#: What a change to an agreement does, given the agreement, its fund and the creator's book;
#: it returns extra figures for the result.
Change = Callable[[ExclusivityAgreement, CreatorFund, AccountBook], dict[str, int] | None]


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


class Exclusivity:
    """Exclusivity agreements (see the module docstring)."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    @command
    def agree_exclusivity(
        self,
        *,
        agreement_key: Key,
        creator_ref: Key,
        fund_key: Key,
        total_minor: PositiveMinor,
        starts_on: Day,
        ends_on: Day,
        schedule: Literal["upfront", "monthly", "milestones"],
        instalments: int = 1,
        milestones: Sequence[tuple[Key, PositiveMinor]] | None = None,
        vesting: Literal["linear", "cliff"] = "linear",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> AgreementFigures:
        """Agree an exclusivity deal: the total is committed from the fund (refused if it cannot
        cover it); instalments already due (an upfront payment) are credited at once."""
        args = arguments(locals())

        def work() -> tuple[list[Any], AgreementFigures]:
            at = self.runner.at(effective_at)
            if self.aggregates.exists(ExclusivityAgreement.create_id(agreement_key)):
                raise AlreadyExistsError(f"agreement {agreement_key!r} exists already")
            creator_id = Creator.create_id(creator_ref)
            book = self.aggregates.book(creator_id, creator_ref=creator_ref)
            fund = self.aggregates.fund(fund_key)
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
            rules.credit_instalments(agreement, fund, book, due, on=at.date(), effective_at=at)
            return [agreement, fund, book], agreement_figures(agreement, creator_ref)

        return self.runner.run(
            "agree_exclusivity", idempotency_key, args, AgreementFigures, work, actor=actor
        )

    def _change(
        self,
        actor: str,
        name: str,
        idempotency_key: str,
        args: dict[str, Any],
        agreement_key: str,
        change: Change,
    ) -> AgreementFigures:
        def work() -> tuple[list[Any], AgreementFigures]:
            agreement = self.aggregates.agreement(agreement_key)
            creator = self.aggregates.creator_by_id(agreement.creator_id)
            fund = self.aggregates.fund_by_id(agreement.fund_id)
            book = self.aggregates.book(agreement.creator_id, creator_ref=creator.creator_ref)
            extra = change(agreement, fund, book) or {}
            return [agreement, fund, book], agreement_figures(
                agreement, creator.creator_ref, **extra
            )

        return self.runner.run(name, idempotency_key, args, AgreementFigures, work, actor=actor)

    @command
    def credit_due_instalments(
        self,
        *,
        agreement_key: Key,
        on: Day,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> AgreementFigures:
        """Credit every scheduled instalment due by ``on`` (run daily; a no-op when none is)."""
        args = arguments(locals())
        at = self.runner.at(effective_at)

        def change(a: ExclusivityAgreement, f: CreatorFund, b: AccountBook) -> None:
            due = [i for i, _ in a.due_instalments(on)]
            rules.credit_instalments(a, f, b, due, on=on, effective_at=at)

        return self._change(
            actor, "credit_due_instalments", idempotency_key, args, agreement_key, change
        )

    @command
    def reach_milestone(
        self,
        *,
        agreement_key: Key,
        milestone_id: Key,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> AgreementFigures:
        args = arguments(locals())
        at = self.runner.at(effective_at)

        def change(a: ExclusivityAgreement, f: CreatorFund, b: AccountBook) -> None:
            rules.credit_instalments(a, f, b, [milestone_id], on=at.date(), effective_at=at)

        return self._change(actor, "reach_milestone", idempotency_key, args, agreement_key, change)

    @command
    def breach_exclusivity(
        self,
        *,
        agreement_key: Key,
        on: Day,
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> AgreementFigures:
        """End the deal for breach: uncredited instalments are forfeited (back to the fund), and
        the credited-but-unvested part is clawed back pro rata (payable first, then held; what
        was already paid out becomes a receivable)."""
        args = arguments(locals())
        at = self.runner.at(effective_at)

        def change(a: ExclusivityAgreement, f: CreatorFund, b: AccountBook) -> dict[str, int]:
            c = rules.breach(a, f, b, on=on, reason=reason, effective_at=at)
            return {
                "forfeited_minor": c.forfeited_minor,
                "clawback_minor": c.clawback_minor,
                "clawback_from_payable_minor": c.from_payable_minor,
                "clawback_from_held_minor": c.from_held_minor,
                "clawback_to_receivable_minor": c.to_receivable_minor,
            }

        return self._change(
            actor, "breach_exclusivity", idempotency_key, args, agreement_key, change
        )

    @command
    def terminate_exclusivity(
        self,
        *,
        agreement_key: Key,
        on: Day,
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> AgreementFigures:
        """Good-leaver termination: no clawback; what is not yet credited is cancelled."""
        args = arguments(locals())
        at = self.runner.at(effective_at)

        def change(a: ExclusivityAgreement, f: CreatorFund, _b: AccountBook) -> dict[str, int]:
            cancelled = rules.terminate(a, f, on=on, reason=reason, effective_at=at)
            return {"forfeited_minor": cancelled}

        return self._change(
            actor, "terminate_exclusivity", idempotency_key, args, agreement_key, change
        )

    @command
    def agreement(self, agreement_key: Key) -> AgreementFigures:
        a = self.aggregates.agreement(agreement_key)
        return agreement_figures(a, self.aggregates.creator_by_id(a.creator_id).creator_ref)
