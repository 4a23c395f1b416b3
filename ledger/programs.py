"""Per-view programs: rules, periods, usage, invalid traffic, estimates, and the period close."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from creator_ledger.domain.allocation import Split
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import AlreadyExistsError, InvalidStateError, NotFoundError
from creator_ledger.domain.ids import book_shard
from creator_ledger.domain.period import (
    ProgramPeriod,
    check_unique_rows,
    check_usage_rows,
    lines_by_book,
)
from creator_ledger.domain.program import ViewProgram
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.gc_pause import gc_paused
from creator_ledger.ledger.results import (
    Done,
    PeriodEstimate,
    PeriodFigures,
    SplitLine,
    UsageRecorded,
)
from creator_ledger.ledger.validation import (
    Actor,
    Day,
    InputModel,
    Key,
    Name,
    NonNegativeMinor,
    PositiveMinor,
    Reason,
    arguments,
    command,
)


class PoolShareRule(InputModel):
    """A fixed pool per period, shared by qualified views."""

    kind: Literal["pool_share"] = "pool_share"
    pool_minor: PositiveMinor
    creator_cap_minor: PositiveMinor | None = None


class RatePerMilleRule(InputModel):
    """A fixed rate per 1,000 qualified views, in millionths of a minor unit."""

    kind: Literal["rate_per_mille"] = "rate_per_mille"
    rate_micros_per_mille: PositiveMinor
    creator_cap_minor: PositiveMinor | None = None
    period_cap_minor: PositiveMinor | None = None


Rule = Annotated[PoolShareRule | RatePerMilleRule, Field(discriminator="kind")]
#: ``(creator_ref, content_id, views)``
UsageRow = tuple[Key, Key, int]


def _figures(
    period: ProgramPeriod, split: Split, status: str, views: dict[str, int] | None = None
) -> PeriodFigures:
    """The figures of a split; ``views``: the period's qualified views, if known already."""
    views = period.qualified_views() if views is None else views
    return PeriodFigures(
        program_key=period.program_key,
        period_key=period.period_key,
        status=status,
        currency=period.currency,
        rule_version=period.rule_version,
        pool_minor=split.pool_minor,
        total_qualified_views=sum(views.values()),
        distributed_minor=split.distributed_minor,
        returned_minor=split.returned_minor,
        scaled_from_minor=split.scaled_from_minor,
        creators=sum(1 for a in split.amounts.values() if a > 0),
        capped=len(split.capped),
    )


class Programs:
    """Per-view programs: rules, periods, usage, invalid traffic, estimates, the period close."""

    def __init__(self, aggregates: Aggregates, runner: CommandRunner) -> None:
        self.aggregates = aggregates
        self.runner = runner

    @command
    def create_program(
        self,
        *,
        program_key: Key,
        name: Name,
        fund_key: Key,
        rule: Rule,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """A per-view program paid from ``fund_key``, in the fund's currency."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            if self.aggregates.exists(ViewProgram.create_id(program_key)):
                raise AlreadyExistsError(f"program {program_key!r} exists already")
            fund = self.aggregates.fund(fund_key)
            program = ViewProgram.start(
                program_key=program_key,
                name=name,
                fund_id=fund.id,
                currency=fund.currency,
                rule=rule.model_dump(),
                effective_at=self.runner.at(effective_at),
            )
            return [program], Done(id=str(program.id))

        return self.runner.run("create_program", idempotency_key, args, Done, work, actor=actor)

    @command
    def change_program_rule(
        self,
        *,
        program_key: Key,
        rule: Rule,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """A new rule version, used by periods opened from now on."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            program = self.aggregates.program(program_key)
            version = program.change_rule(
                rule.model_dump(), effective_at=self.runner.at(effective_at)
            )
            return [program], Done(id=f"{program.id}/v{version}")

        return self.runner.run(
            "change_program_rule", idempotency_key, args, Done, work, actor=actor
        )

    @command
    def open_period(
        self,
        *,
        program_key: Key,
        period_key: Key,
        starts_on: Day,
        ends_on: Day,
        pool_minor: NonNegativeMinor | None = None,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Open a period and commit its budget from the fund: the pool (``pool_minor`` or the
        rule's), or a rate program's period cap.  Refused if the fund cannot cover it."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            at = self.runner.at(effective_at)
            program = self.aggregates.program(program_key)
            fund = self.aggregates.fund_by_id(program.fund_id)
            rule = program.rule
            budget = program.period_budget(pool_minor)
            program.open_period(period_key, starts_on=starts_on, ends_on=ends_on, effective_at=at)
            commitment_id = f"program/{program_key}/{period_key}"
            fund.commit(
                commitment_id, budget, purpose=f"{program_key} period {period_key}", effective_at=at
            )
            period = ProgramPeriod(
                program_id=program.id,
                program_key=program_key,
                period_key=period_key,
                starts_on=starts_on,
                ends_on=ends_on,
                fund_id=fund.id,
                currency=program.currency,
                rule_version=program.rule_version,
                rule=rule,
                pool_minor=budget,
                commitment_id=commitment_id,
                effective_at=at,
            )
            return [program, fund, period], Done(id=str(period.id))

        return self.runner.run("open_period", idempotency_key, args, Done, work, actor=actor)

    def _creator_ids(self, rows: Sequence[UsageRow]) -> dict[str, str]:
        """creator_ref -> creator id (hex); unknown creators are refused, naming them."""
        refs = {row[0] for row in rows}
        ids = {ref: Creator.create_id(ref) for ref in refs}
        books = self.aggregates.books(book_shard(cid) for cid in ids.values())
        unknown = sorted(
            ref
            for ref, cid in ids.items()
            if book_shard(cid) not in books or not books[book_shard(cid)].has_account(cid.hex)
        )
        if unknown:
            shown = ", ".join(repr(r) for r in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise NotFoundError(f"unknown creator {shown}{more}", creator_refs=unknown[:100])
        return {ref: cid.hex for ref, cid in ids.items()}

    def _rows(self, rows: Sequence[UsageRow], what: str) -> list[list[Any]]:
        check_unique_rows(rows, what=what)
        ids = self._creator_ids(rows)
        return check_usage_rows(([ids[r], c, v] for r, c, v in rows), what=what)

    def _usage_period(self, program: ViewProgram, period_key: str) -> ProgramPeriod:
        """The period usage for ``period_key`` counts in: that period while it is open, else
        the program's next open period.  The period's own state decides, not the program's
        index of periods, which may have been read just before a concurrent close (so late
        usage is never refused as "closed" under that race)."""
        key: str | None = period_key
        for _ in range(len(program.periods) + 1):
            assert key is not None
            if program.period_status(key) == "open":
                period = self.aggregates.period(program, key)
                if not period.closed:
                    return period
            key = program.next_open_period(key)
            if key is None:
                break
        msg = (
            f"period {period_key!r} is closed and program {program.program_key!r} has no"
            " later open period to count this late usage in; open one first"
        )
        raise InvalidStateError(msg, period=period_key)

    @command
    def report_usage(
        self,
        *,
        program_key: Key,
        period_key: Key,
        report_id: Key,
        rows: Sequence[UsageRow],
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> UsageRecorded:
        """Record a usage report: rows of ``(creator_ref, content_id, views)``.  Usage for a
        period that has closed counts in the program's next open period."""
        args = arguments(locals())

        def work() -> tuple[list[Any], UsageRecorded]:
            at = self.runner.at(effective_at)
            program = self.aggregates.program(program_key)
            period = self._usage_period(program, period_key)
            data = self._rows(rows, "usage")
            late_from = None if period.period_key == period_key else period_key
            period.report_usage(report_id, data, effective_at=at, late_from=late_from)
            return [period], UsageRecorded(
                program_key=program_key,
                period_key=period_key,
                report_id=report_id,
                rows=len(data),
                recorded_in_period=period.period_key,
                late_from_period=late_from,
            )

        return self.runner.run(
            "report_usage", idempotency_key, args, UsageRecorded, work, actor=actor
        )

    @command
    def deduct_invalid_traffic(
        self,
        *,
        program_key: Key,
        period_key: Key,
        adjustment_id: Key,
        rows: Sequence[UsageRow],
        reason: Reason,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> Done:
        """Remove invalid views (bots, fraud) from an open period, per creator and content."""
        args = arguments(locals())

        def work() -> tuple[list[Any], Done]:
            program = self.aggregates.program(program_key)
            period = self.aggregates.period(program, period_key)
            period.deduct_invalid_traffic(
                adjustment_id,
                self._rows(rows, "adjustment"),
                reason=reason,
                effective_at=self.runner.at(effective_at),
            )
            return [period], Done(id=str(period.id))

        return self.runner.run(
            "deduct_invalid_traffic", idempotency_key, args, Done, work, actor=actor
        )

    @command
    def estimate_period(self, *, program_key: Key, period_key: Key) -> PeriodEstimate:
        """What the period would pay if it closed now (writes nothing)."""
        program = self.aggregates.program(program_key)
        period = self.aggregates.period(program, period_key)
        views = period.qualified_views()
        split = period.allocate(views)
        status = "final" if period.closed else "estimate"
        lines = [
            SplitLine(
                creator_id=c, qualified_views=views[c], amount_minor=a, capped=c in split.capped
            )
            for c, a in sorted(split.amounts.items())
        ]
        return PeriodEstimate(figures=_figures(period, split, status, views), lines=lines)

    @gc_paused()
    @command
    def close_period(
        self,
        *,
        program_key: Key,
        period_key: Key,
        effective_at: datetime | None = None,
        idempotency_key: Key,
        actor: Actor,
    ) -> PeriodFigures:
        """Close a period: fix final earnings, credit every creator (one event per account
        book), spend the fund's commitment and return what nobody could take."""
        args = arguments(locals())

        def work() -> tuple[list[Any], PeriodFigures]:
            at = self.runner.at(effective_at)
            program = self.aggregates.program(program_key)
            period = self.aggregates.period(program, period_key)
            fund = self.aggregates.fund_by_id(period.fund_id)
            split, views = period.close(effective_at=at)
            program.mark_closed(period_key, effective_at=at)
            fund.settle(
                period.commitment_id,
                split.distributed_minor,
                reference=f"{program_key}/{period_key}",
                effective_at=at,
            )
            lines_by_shard = lines_by_book(split, views)
            books = self.aggregates.books(lines_by_shard)
            for shard, lines in lines_by_shard.items():
                books[shard].credit_view_earnings(
                    program_id=program.id,
                    period_id=period.id,
                    period_key=period_key,
                    fund_id=fund.id,
                    currency=period.currency,
                    lines=lines,
                    effective_at=at,
                )
            touched: list[Any] = [period, program, fund, *books.values()]
            return touched, _figures(period, split, "final", views)

        return self.runner.run(
            "close_period", idempotency_key, args, PeriodFigures, work, actor=actor
        )


__all__ = ["PoolShareRule", "Programs", "RatePerMilleRule"]
