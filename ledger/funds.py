"""Creator funds: create, top up, and the fund's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creator_ledger.domain.errors import AlreadyExistsError
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.results import FundFigures
from creator_ledger.ledger.validation import (
    Actor,
    Currency,
    Key,
    Name,
    PositiveMinor,
    Text,
    arguments,
    command,
)


def fund_figures(fund: CreatorFund) -> FundFigures:
    return FundFigures(
        fund_key=fund.fund_key,
        fund_id=str(fund.id),
        name=fund.name,
        currency=fund.currency,
        budget_minor=fund.budget_minor,
        committed_minor=fund.committed_minor,
        spent_minor=fund.spent_minor,
        available_minor=fund.available_minor,
    )


class Funds:
    """Creator funds: create, top up, and the fund's figures (from the write model)."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    @command
    def create_fund(
        self,
        *,
        fund_key: Key,
        name: Name,
        currency: Currency,
        budget_minor: PositiveMinor,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> FundFigures:
        """Create a creator fund with a budget (e.g. US$200M = 20,000,000,000 USD minor units).
        Refused when the money that can reach creators in ``currency`` (every fund's budget and
        every reimbursement budget) would pass ``bigint``."""
        args = arguments(locals())

        def work() -> tuple[list[Any], FundFigures]:
            at = self.runner.at(effective_at)
            if self.aggregates.exists(CreatorFund.create_id(fund_key)):
                raise AlreadyExistsError(f"fund {fund_key!r} exists already", fund_key=fund_key)
            fund = CreatorFund.open(
                fund_key=fund_key,
                name=name,
                currency=currency,
                budget_minor=budget_minor,
                effective_at=at,
            )
            supply = self.aggregates.supply(currency, effective_at=at)
            supply.increase(budget_minor, source="fund_budget", reference=fund_key, effective_at=at)
            return [fund, supply], fund_figures(fund)

        return self.runner.run("create_fund", idempotency_key, args, FundFigures, work, actor=actor)

    @command
    def top_up_fund(
        self,
        *,
        fund_key: Key,
        amount_minor: PositiveMinor,
        reference: Text = "",
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> FundFigures:
        """Add to a fund's budget; refused when the money that can reach creators in the fund's
        currency would pass ``bigint`` (see :mod:`creator_ledger.domain.supply`)."""
        args = arguments(locals())

        def work() -> tuple[list[Any], FundFigures]:
            at = self.runner.at(effective_at)
            fund = self.aggregates.fund(fund_key)
            fund.top_up(amount_minor, reference=reference, effective_at=at)
            supply = self.aggregates.supply(fund.currency, effective_at=at)
            supply.increase(amount_minor, source="fund_budget", reference=fund_key, effective_at=at)
            return [fund, supply], fund_figures(fund)

        return self.runner.run("top_up_fund", idempotency_key, args, FundFigures, work, actor=actor)

    @command
    def fund(self, fund_key: Key) -> FundFigures:
        """A fund's budget, committed (outstanding), spent and available, from the write model."""
        return fund_figures(self.aggregates.fund(fund_key))
