"""One period of a per-view program: usage, invalid-traffic deductions, estimate and close.

Usage arrives as reports (a batch of ``[creator_id, content_id, views]`` rows — one fact per
report, however many rows).  Qualified views are reported views minus invalid traffic, per
creator and content; a creator's period figure is the sum over their content, and money is
rounded once on that sum (see :mod:`domain.allocation`).  While the period is open, figures are
estimates; closing it fixes the final earnings, which are credited to creators' accounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.allocation import (
    MICROS_PER_MINOR,
    VIEWS_PER_MILLE,
    Split,
    split_at_rate,
    split_pool,
)
from creator_ledger.domain.errors import AlreadyExistsError, InvalidInputError, InvalidStateError
from creator_ledger.domain.ids import book_shard_hex, stable_id
from creator_ledger.domain.money import check_sum_in_range
from creator_ledger.domain.text import check_key, check_reason

#: At most this many rows in one usage report or adjustment (split bigger files).
MAX_ROWS_PER_REPORT = 250_000
MAX_VIEWS_PER_ROW = 10**12


def check_unique_rows(rows: Iterable[Sequence[Any]], *, what: str = "usage") -> None:
    """Refuse a report that names the same (creator, content) twice, naming the first repeat:
    rows are never summed silently (a repeated row is as likely a resent line as more views)."""
    seen: dict[tuple[Any, Any], int] = {}
    for i, row in enumerate(rows):
        key = (row[0], row[1]) if len(row) == 3 else None
        if key is None:
            continue
        first = seen.setdefault(key, i)
        if first != i:
            msg = (
                f"{what} row {i} repeats creator {key[0]!r} content {key[1]!r} (first in row"
                f" {first}): a report has one row per creator and content; add the views up"
                " before sending"
            )
            raise InvalidInputError(msg, row=i, first_row=first)


def check_usage_rows(rows: Iterable[Sequence[Any]], *, what: str = "usage") -> list[list[Any]]:
    """Rows ``[creator_id_hex, content_id, views]`` with views a non-negative int, each
    (creator, content) once."""
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        if len(out) >= MAX_ROWS_PER_REPORT:
            msg = f"a {what} report takes at most {MAX_ROWS_PER_REPORT} rows; split it"
            raise InvalidInputError(msg, rows=i + 1)
        if len(row) != 3:
            msg = f"{what} row {i} must be [creator_id, content_id, views], got {row!r}"
            raise InvalidInputError(msg, row=i)
        creator, content, views = row
        check_key(creator, field=f"{what} row {i} creator_id")
        check_key(content, field=f"{what} row {i} content_id")
        if (
            isinstance(views, bool)
            or not isinstance(views, int)
            or not 0 <= views <= MAX_VIEWS_PER_ROW
        ):
            msg = (
                f"{what} row {i}: views must be an integer from 0 to {MAX_VIEWS_PER_ROW},"
                f" got {views!r}"
            )
            raise InvalidInputError(msg, row=i, views=repr(views))
        out.append([creator, content, views])
    check_unique_rows(out, what=what)
    return out


def lines_by_book(split: Split, views: dict[str, int]) -> dict[int, list[list[Any]]]:
    """A closed period's earnings as account-book lines, grouped by book:
    ``[creator_id, qualified_views, amount_minor, capped]``, creators in id order."""
    out: dict[int, list[list[Any]]] = defaultdict(list)
    for creator in sorted(split.amounts):
        out[book_shard_hex(creator)].append(
            [creator, views[creator], split.amounts[creator], creator in split.capped]
        )
    return dict(out)


class ProgramPeriod(Aggregate):
    """The open-then-closed life of one program period."""

    TOPIC = "creator-ledger/ProgramPeriod"

    class Opened(Aggregate.Created):
        TOPIC = "creator-ledger/ProgramPeriod.Opened"
        program_id: UUID
        program_key: str
        period_key: str
        starts_on: date
        ends_on: date
        fund_id: UUID
        currency: str
        rule_version: int
        rule: dict[str, Any]
        pool_minor: int  # pool share: the pool; rate: the period cap or 0 when uncapped
        commitment_id: str
        effective_at: datetime

    class UsageReported(Aggregate.Event):
        TOPIC = "creator-ledger/ProgramPeriod.UsageReported"
        report_id: str
        rows: list[list[Any]]
        late_from: str | None
        effective_at: datetime

    class InvalidTrafficDeducted(Aggregate.Event):
        TOPIC = "creator-ledger/ProgramPeriod.InvalidTrafficDeducted"
        adjustment_id: str
        rows: list[list[Any]]
        reason: str
        effective_at: datetime

    class Closed(Aggregate.Event):
        TOPIC = "creator-ledger/ProgramPeriod.Closed"
        total_qualified_views: int
        pool_minor: int
        distributed_minor: int
        returned_minor: int
        scaled_from_minor: int | None
        creators: int
        capped: int
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Opened`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/ProgramPeriod.Created"

    @staticmethod
    def create_id(program_id: UUID, period_key: str) -> UUID:
        return stable_id("period", program_id, period_key)

    @event(Opened)
    def __init__(
        self,
        program_id: UUID,
        program_key: str,
        period_key: str,
        starts_on: date,
        ends_on: date,
        fund_id: UUID,
        currency: str,
        rule_version: int,
        rule: dict[str, Any],
        pool_minor: int,
        commitment_id: str,
        effective_at: datetime,
    ) -> None:
        self.program_id = program_id
        self.program_key = program_key
        self.period_key = period_key
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.fund_id = fund_id
        self.currency = currency
        self.rule_version = rule_version
        self.rule = rule
        self.pool_minor = pool_minor
        self.commitment_id = commitment_id
        #: creator -> content -> [reported_views, invalid_views]
        self.usage: dict[str, dict[str, list[int]]] = {}
        self.report_ids: dict[str, int] = {}  # report/adjustment id -> rows
        self.closed = False
        #: Views reported so far (missing from a snapshot taken before it was kept: recomputed).
        self.reported_views_total = 0

    @property
    def salt(self) -> str:
        """The tie-break salt: stable per program period."""
        return f"{self.program_id}/{self.period_key}"

    # -- queries -------------------------------------------------------------------------

    def reported_views(self) -> int:
        """Every view reported in the period so far (before invalid traffic is deducted)."""
        total = getattr(self, "reported_views_total", None)
        if total is None:
            total = sum(r for contents in self.usage.values() for r, _ in contents.values())
            self.reported_views_total = total
        return total

    def qualified_views(self) -> dict[str, int]:
        """Per creator: reported minus invalid views, summed over content (0s left out)."""
        out: dict[str, int] = {}
        for creator, contents in self.usage.items():
            total = 0
            for reported, invalid in contents.values():
                total += reported - invalid
            if total > 0:
                out[creator] = total
        return out

    def allocate(self, views: dict[str, int] | None = None) -> Split:
        """The split of this period on the usage so far (an estimate while open)."""
        views = self.qualified_views() if views is None else views
        cap = self.rule.get("creator_cap_minor")
        if self.rule["kind"] == "pool_share":
            return split_pool(self.pool_minor, views, salt=self.salt, cap_minor=cap)
        return split_at_rate(
            views,
            rate_micros_per_mille=self.rule["rate_micros_per_mille"],
            salt=self.salt,
            creator_cap_minor=cap,
            period_cap_minor=self.rule.get("period_cap_minor"),
        )

    # -- commands ------------------------------------------------------------------------

    def report_usage(
        self,
        report_id: str,
        rows: list[list[Any]],
        *,
        effective_at: datetime,
        late_from: str | None = None,
    ) -> None:
        self._check_open()
        self._check_new_report(report_id)
        self._check_views_in_range(sum(row[2] for row in rows))
        self._usage_reported(
            report_id=report_id, rows=rows, late_from=late_from, effective_at=effective_at
        )

    def deduct_invalid_traffic(
        self, adjustment_id: str, rows: list[list[Any]], *, reason: str, effective_at: datetime
    ) -> None:
        self._check_open()
        self._check_new_report(adjustment_id)
        check_reason(reason, field="reason")
        pending: dict[tuple[str, str], int] = {}
        for i, (creator, content, views) in enumerate(rows):
            reported, invalid = self.usage.get(creator, {}).get(content, [0, 0])
            already = pending.get((creator, content), 0)
            if invalid + already + views > reported:
                msg = (
                    f"adjustment row {i}: cannot deduct {views} invalid views from creator "
                    f"{creator} content {content!r}: only {reported - invalid - already} "
                    "qualified views are reported"
                )
                raise InvalidInputError(msg, row=i, creator_id=creator, content_id=content)
            pending[(creator, content)] = already + views
        self._invalid_deducted(
            adjustment_id=adjustment_id, rows=rows, reason=reason, effective_at=effective_at
        )

    def close(self, *, effective_at: datetime) -> tuple[Split, dict[str, int]]:
        """Fix the final split of the period; returns it with each creator's qualified views
        (the caller credits the creators)."""
        self._check_open()
        views = self.qualified_views()
        split = self.allocate(views)
        self._closed(
            total_qualified_views=sum(views.values()),
            pool_minor=split.pool_minor,
            distributed_minor=split.distributed_minor,
            returned_minor=split.returned_minor,
            scaled_from_minor=split.scaled_from_minor,
            creators=sum(1 for a in split.amounts.values() if a > 0),
            capped=len(split.capped),
            effective_at=effective_at,
        )
        return split, views

    def _check_views_in_range(self, added: int) -> None:
        """Refuse a report that would take the period's total views, or (at a rate) their
        total amount before any cap, beyond ``bigint``: both are kept and shown."""
        what = f"the views reported in period {self.period_key!r} of {self.program_key!r}"
        total = check_sum_in_range(self.reported_views(), added, what=what, period=self.period_key)
        if self.rule["kind"] == "rate_per_mille":
            rate = int(self.rule["rate_micros_per_mille"])
            at_rate = (total * rate) // (VIEWS_PER_MILLE * MICROS_PER_MINOR)
            what = f"the earnings at the rate of period {self.period_key!r} of {self.program_key!r}"
            check_sum_in_range(0, at_rate, what=what, period=self.period_key)

    def _check_open(self) -> None:
        if self.closed:
            msg = f"period {self.period_key!r} of program {self.program_key!r} is closed"
            raise InvalidStateError(msg, period=self.period_key)

    def _check_new_report(self, report_id: str) -> None:
        check_key(report_id, field="report_id")
        if report_id in self.report_ids:
            msg = f"report {report_id!r} was recorded already in period {self.period_key!r}"
            raise AlreadyExistsError(msg, report_id=report_id)

    # -- events --------------------------------------------------------------------------

    @event(UsageReported)
    def _usage_reported(
        self, report_id: str, rows: list[list[Any]], late_from: str | None, effective_at: datetime
    ) -> None:
        before = self.reported_views()
        usage = self.usage
        for creator, content, views in rows:
            contents = usage.get(creator)
            if contents is None:
                contents = usage[creator] = {}
            cell = contents.get(content)
            if cell is None:
                contents[content] = [views, 0]
            else:
                cell[0] += views
        self.report_ids[report_id] = len(rows)
        self.reported_views_total = before + sum(row[2] for row in rows)

    @event(InvalidTrafficDeducted)
    def _invalid_deducted(
        self, adjustment_id: str, rows: list[list[Any]], reason: str, effective_at: datetime
    ) -> None:
        for creator, content, views in rows:
            self.usage[creator][content][1] += views
        self.report_ids[adjustment_id] = len(rows)

    @event(Closed)
    def _closed(
        self,
        total_qualified_views: int,
        pool_minor: int,
        distributed_minor: int,
        returned_minor: int,
        scaled_from_minor: int | None,
        creators: int,
        capped: int,
        effective_at: datetime,
    ) -> None:
        self.closed = True
