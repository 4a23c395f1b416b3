"""Exclusivity agreements: cash to post exclusively (or first) on the platform.

Schedules:

* ``upfront``: the whole total is credited when the agreement starts;
* ``monthly``: ``instalments`` equal parts (largest remainder, so they sum to the total), the
  n-th due ``n`` months after the start (the first on the start date);
* ``milestones``: named parts credited when each milestone is reached.

Vesting (see :mod:`domain.vesting`) is over the term, independent of the schedule.

Ending an agreement early:

* **breach**: instalments not yet credited are forfeited (their commitment returns to the
  fund), and the credited-but-unvested part is clawed back pro rata — from the creator's
  payable balance first, then held, and what was already paid out becomes a receivable,
  recovered from future earnings;
* **good-leaver termination**: no clawback; instalments not yet credited are cancelled.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.allocation import largest_remainder
from creator_ledger.domain.business_time import LAST_DAY, check_day
from creator_ledger.domain.errors import InvalidInputError, InvalidStateError, NotFoundError
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import check_amount, check_currency
from creator_ledger.domain.text import check_key, check_reason
from creator_ledger.domain.vesting import check_vesting_rule, unvested_paid_minor

SCHEDULES = ("upfront", "monthly", "milestones")
MAX_INSTALMENTS = 120


def add_months(d: date, months: int) -> date:
    """``d`` plus ``months`` calendar months, clamped to the month's last day."""
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError(d)  # pragma: no cover


def build_schedule(
    *,
    schedule: str,
    total_minor: int,
    starts_on: date,
    instalments: int = 1,
    milestones: list[list[Any]] | None = None,
) -> list[list[Any]]:
    """The instalments ``[instalment_id, due_on | None, amount_minor]`` of an agreement."""
    if schedule not in SCHEDULES:
        msg = f"unknown schedule {schedule!r}: accepted are {', '.join(SCHEDULES)}"
        raise InvalidInputError(msg, schedule=schedule)
    if schedule == "upfront":
        return [["upfront", starts_on, total_minor]]
    if schedule == "monthly":
        if not 1 <= instalments <= MAX_INSTALMENTS:
            msg = f"monthly instalments must be 1..{MAX_INSTALMENTS}, got {instalments}"
            raise InvalidInputError(msg, instalments=instalments)
        if total_minor < instalments:
            msg = (
                f"{instalments} monthly instalments need a total of at least {instalments}"
                f" minor units (one each), got {total_minor}"
            )
            raise InvalidInputError(msg, instalments=instalments, total_minor=total_minor)
        last_month = starts_on.year * 12 + starts_on.month - 1 + instalments - 1
        if last_month > LAST_DAY.year * 12 + LAST_DAY.month - 1:  # LAST_DAY ends its month
            msg = (
                f"{instalments} monthly instalments from {starts_on} would fall due after"
                f" {LAST_DAY}, the last business date the ledger accepts"
            )
            raise InvalidInputError(msg, instalments=instalments)
        keys = [f"month-{n + 1:03d}" for n in range(instalments)]
        parts = largest_remainder(total_minor, dict.fromkeys(keys, 1), salt="monthly")
        return [[k, add_months(starts_on, n), parts[k]] for n, k in enumerate(keys)]
    if not milestones:
        raise InvalidInputError("a milestones schedule needs milestones [[id, amount_minor], ...]")
    out: list[list[Any]] = []
    for m in milestones:
        if len(m) != 2:
            raise InvalidInputError(f"a milestone is [id, amount_minor], got {len(m)} values")
        check_key(m[0], field="milestone id")
        out.append([m[0], None, check_amount(m[1], field=f"milestone {m[0]} amount_minor")])
    if len({m[0] for m in out}) != len(out):
        raise InvalidInputError("milestone ids must be unique")
    if sum(m[2] for m in out) != total_minor:
        msg = f"milestone amounts sum to {sum(m[2] for m in out)}, not the total {total_minor}"
        raise InvalidInputError(msg)
    return out


class ExclusivityAgreement(Aggregate):
    """An exclusivity deal with one creator, funded by a commitment of a creator fund."""

    TOPIC = "creator-ledger/ExclusivityAgreement"

    class Agreed(Aggregate.Created):
        TOPIC = "creator-ledger/ExclusivityAgreement.Agreed"
        agreement_key: str
        creator_id: UUID
        fund_id: UUID
        commitment_id: str
        currency: str
        total_minor: int
        starts_on: date
        ends_on: date
        schedule: str
        instalments: list[list[Any]]
        vesting: str
        effective_at: datetime

    class InstalmentCredited(Aggregate.Event):
        TOPIC = "creator-ledger/ExclusivityAgreement.InstalmentCredited"
        instalment_id: str
        amount_minor: int
        effective_at: datetime

    class Breached(Aggregate.Event):
        TOPIC = "creator-ledger/ExclusivityAgreement.Breached"
        breached_on: date
        reason: str
        vested_minor: int
        forfeited_minor: int
        clawback_minor: int
        effective_at: datetime

    class Terminated(Aggregate.Event):
        TOPIC = "creator-ledger/ExclusivityAgreement.Terminated"
        terminated_on: date
        reason: str
        cancelled_minor: int
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Agreed`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/ExclusivityAgreement.Created"

    @staticmethod
    def create_id(agreement_key: str) -> UUID:
        return stable_id("exclusivity", agreement_key)

    @event(Agreed)
    def __init__(
        self,
        agreement_key: str,
        creator_id: UUID,
        fund_id: UUID,
        commitment_id: str,
        currency: str,
        total_minor: int,
        starts_on: date,
        ends_on: date,
        schedule: str,
        instalments: list[list[Any]],
        vesting: str,
        effective_at: datetime,
    ) -> None:
        self.agreement_key = agreement_key
        self.creator_id = creator_id
        self.fund_id = fund_id
        self.commitment_id = commitment_id
        self.currency = currency
        self.total_minor = total_minor
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.schedule = schedule
        #: instalment id -> [due_on | None, amount_minor, credited (bool)]
        self.instalments: dict[str, list[Any]] = {i: [d, a, False] for i, d, a in instalments}
        self.vesting = vesting
        self.credited_minor = 0
        self.status = "active"

    @classmethod
    def agree(
        cls,
        *,
        agreement_key: str,
        creator_id: UUID,
        fund_id: UUID,
        currency: str,
        total_minor: int,
        starts_on: date,
        ends_on: date,
        schedule: str,
        instalments: int = 1,
        milestones: list[list[Any]] | None = None,
        vesting: str = "linear",
        effective_at: datetime,
    ) -> ExclusivityAgreement:
        check_key(agreement_key, field="agreement_key")
        check_currency(currency)
        check_amount(total_minor, field="total_minor")
        check_vesting_rule(vesting)
        check_day(starts_on, field="starts_on")
        check_day(ends_on, field="ends_on")
        if ends_on <= starts_on:
            msg = f"the term must end after it starts ({starts_on} .. {ends_on})"
            raise InvalidInputError(msg)
        plan = build_schedule(
            schedule=schedule,
            total_minor=total_minor,
            starts_on=starts_on,
            instalments=instalments,
            milestones=milestones,
        )
        return cls(
            agreement_key=agreement_key,
            creator_id=creator_id,
            fund_id=fund_id,
            commitment_id=f"exclusivity/{agreement_key}",
            currency=currency,
            total_minor=total_minor,
            starts_on=starts_on,
            ends_on=ends_on,
            schedule=schedule,
            instalments=plan,
            vesting=vesting,
            effective_at=effective_at,
        )

    # -- queries -------------------------------------------------------------------------

    def due_instalments(self, on: date) -> list[tuple[str, int]]:
        """Scheduled instalments due by ``on`` and not yet credited (milestones excluded)."""
        if self.status != "active":
            return []
        return [
            (i, int(a))
            for i, (d, a, done) in sorted(self.instalments.items(), key=lambda kv: str(kv[1][0]))
            if not done and d is not None and d <= on
        ]

    @property
    def uncredited_minor(self) -> int:
        return self.total_minor - self.credited_minor

    # -- commands ------------------------------------------------------------------------

    def credit_instalment(self, instalment_id: str, *, on: date, effective_at: datetime) -> int:
        """Credit one instalment (a due scheduled one, or a milestone reached); returns it."""
        self._check_active()
        try:
            due_on, amount, done = self.instalments[instalment_id]
        except KeyError:
            msg = (
                f"agreement {self.agreement_key!r} has no instalment or milestone {instalment_id!r}"
            )
            raise NotFoundError(msg, instalment_id=instalment_id) from None
        if done:
            msg = f"instalment {instalment_id!r} of {self.agreement_key!r} is credited already"
            raise InvalidStateError(msg, instalment_id=instalment_id)
        if due_on is not None and due_on > on:
            msg = f"instalment {instalment_id!r} is due on {due_on}, not yet on {on}"
            raise InvalidStateError(msg, instalment_id=instalment_id)
        self._credited(instalment_id=instalment_id, amount_minor=amount, effective_at=effective_at)
        return int(amount)

    def breach(self, *, on: date, reason: str, effective_at: datetime) -> tuple[int, int]:
        """End the agreement for breach; returns (forfeited, clawback) in minor units."""
        self._check_active()
        check_reason(reason, field="reason")
        self._check_end_date(on, "breach")
        clawback = unvested_paid_minor(
            self.credited_minor,
            self.total_minor,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            on=on,
            rule=self.vesting,
        )
        forfeited = self.uncredited_minor
        self._breached(
            breached_on=on,
            reason=reason,
            vested_minor=self.credited_minor - clawback,
            forfeited_minor=forfeited,
            clawback_minor=clawback,
            effective_at=effective_at,
        )
        return forfeited, clawback

    def terminate(self, *, on: date, reason: str, effective_at: datetime) -> int:
        """Good-leaver termination: no clawback; returns what is cancelled."""
        self._check_active()
        check_reason(reason, field="reason")
        self._check_end_date(on, "termination")
        cancelled = self.uncredited_minor
        self._terminated(
            terminated_on=on, reason=reason, cancelled_minor=cancelled, effective_at=effective_at
        )
        return cancelled

    def _check_end_date(self, on: date, what: str) -> None:
        check_day(on, field="on")
        if on < self.starts_on:
            msg = (
                f"a {what} of {self.agreement_key!r} dated {on} is before its term starts"
                f" ({self.starts_on}): date it on or after the start"
            )
            raise InvalidInputError(msg, agreement=self.agreement_key, on=str(on))

    def _check_active(self) -> None:
        if self.status != "active":
            msg = f"agreement {self.agreement_key!r} is {self.status}"
            raise InvalidStateError(msg, agreement=self.agreement_key, status=self.status)

    # -- events --------------------------------------------------------------------------

    @event(InstalmentCredited)
    def _credited(self, instalment_id: str, amount_minor: int, effective_at: datetime) -> None:
        self.instalments[instalment_id][2] = True
        self.credited_minor += amount_minor

    @event(Breached)
    def _breached(
        self,
        breached_on: date,
        reason: str,
        vested_minor: int,
        forfeited_minor: int,
        clawback_minor: int,
        effective_at: datetime,
    ) -> None:
        self.status = "breached"

    @event(Terminated)
    def _terminated(
        self, terminated_on: date, reason: str, cancelled_minor: int, effective_at: datetime
    ) -> None:
        self.status = "terminated"
