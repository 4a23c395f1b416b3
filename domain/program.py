"""Per-view programs: the rule (pool share or rate per 1,000 views), its versions, and the
index of the program's periods.

A rule is a plain dict so it can be stored in events and versioned:

* ``{"kind": "pool_share", "pool_minor": P, "creator_cap_minor": C | None}`` — each period's
  pool (default ``P``) is shared by qualified views, no creator above ``C``.
* ``{"kind": "rate_per_mille", "rate_micros_per_mille": R, "creator_cap_minor": C | None,
  "period_cap_minor": B | None}`` — ``R`` millionths of a minor unit per 1,000 qualified views,
  at most ``C`` per creator, everyone scaled down pro rata when the period total passes ``B``.

A rule change takes effect for periods opened after it; an open period keeps the rule version
it was opened with.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.business_time import check_day
from creator_ledger.domain.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from creator_ledger.domain.ids import stable_id
from creator_ledger.domain.money import check_amount, check_currency
from creator_ledger.domain.text import check_key, check_name

RULE_KINDS = ("pool_share", "rate_per_mille")
_RULE_FIELDS = {
    "pool_share": {"kind", "pool_minor", "creator_cap_minor"},
    "rate_per_mille": {"kind", "rate_micros_per_mille", "creator_cap_minor", "period_cap_minor"},
}


def check_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """Validate a rule dict and return it normalised (optional caps present, ``None`` if unset)."""
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        msg = f"unknown rule kind {kind!r}: accepted are {', '.join(RULE_KINDS)}"
        raise InvalidInputError(msg, kind=repr(kind))
    unknown = set(rule) - _RULE_FIELDS[kind]
    if unknown:
        msg = f"{kind} rule does not take {sorted(unknown)}; it takes {sorted(_RULE_FIELDS[kind])}"
        raise InvalidInputError(msg, fields=sorted(unknown))
    out: dict[str, Any] = {"kind": kind, "creator_cap_minor": rule.get("creator_cap_minor")}
    if kind == "pool_share":
        out["pool_minor"] = check_amount(rule.get("pool_minor"), field="pool_minor")
    else:
        out["rate_micros_per_mille"] = check_amount(
            rule.get("rate_micros_per_mille"), field="rate_micros_per_mille"
        )
        out["period_cap_minor"] = rule.get("period_cap_minor")
        if out["period_cap_minor"] is not None:
            check_amount(out["period_cap_minor"], field="period_cap_minor")
    if out["creator_cap_minor"] is not None:
        check_amount(out["creator_cap_minor"], field="creator_cap_minor")
    return out


class ViewProgram(Aggregate):
    """A program that pays creators for views, out of one fund, in one currency."""

    TOPIC = "creator-ledger/ViewProgram"

    class Created(Aggregate.Created):
        TOPIC = "creator-ledger/ViewProgram.Created"
        program_key: str
        name: str
        fund_id: UUID
        currency: str
        rule: dict[str, Any]
        effective_at: datetime

    class RuleChanged(Aggregate.Event):
        TOPIC = "creator-ledger/ViewProgram.RuleChanged"
        rule_version: int
        rule: dict[str, Any]
        effective_at: datetime

    class PeriodOpened(Aggregate.Event):
        TOPIC = "creator-ledger/ViewProgram.PeriodOpened"
        period_key: str
        starts_on: date
        ends_on: date
        effective_at: datetime

    class PeriodClosed(Aggregate.Event):
        TOPIC = "creator-ledger/ViewProgram.PeriodClosed"
        period_key: str
        effective_at: datetime

    @staticmethod
    def create_id(program_key: str) -> UUID:
        return stable_id("program", program_key)

    @event(Created)
    def __init__(
        self,
        program_key: str,
        name: str,
        fund_id: UUID,
        currency: str,
        rule: dict[str, Any],
        effective_at: datetime,
    ) -> None:
        self.program_key = program_key
        self.name = name
        self.fund_id = fund_id
        self.currency = currency
        self.rules: list[dict[str, Any]] = [rule]  # index = version - 1
        #: period key -> [starts_on, ends_on, "open" | "closed"]
        self.periods: dict[str, list[Any]] = {}

    @classmethod
    def start(
        cls,
        *,
        program_key: str,
        name: str,
        fund_id: UUID,
        currency: str,
        rule: dict[str, Any],
        effective_at: datetime,
    ) -> ViewProgram:
        check_key(program_key, field="program_key")
        check_name(name, field="name")
        check_currency(currency)
        return cls(
            program_key=program_key,
            name=name,
            fund_id=fund_id,
            currency=currency,
            rule=check_rule(rule),
            effective_at=effective_at,
        )

    @property
    def rule_version(self) -> int:
        return len(self.rules)

    @property
    def rule(self) -> dict[str, Any]:
        return self.rules[-1]

    def period_status(self, period_key: str) -> str:
        try:
            return str(self.periods[period_key][2])
        except KeyError:
            msg = f"program {self.program_key!r} has no period {period_key!r}"
            raise NotFoundError(msg, program=self.program_key, period=period_key) from None

    def next_open_period(self, after: str) -> str | None:
        """The earliest open period that starts after period ``after`` started."""
        start = self.periods[after][0]
        candidates = sorted(
            (p[0], key) for key, p in self.periods.items() if p[2] == "open" and p[0] > start
        )
        return candidates[0][1] if candidates else None

    def period_budget(self, pool_minor: int | None = None) -> int:
        """What a new period commits from the fund: a pool-share period's pool (``pool_minor``,
        or the rule's), a rate period's cap (0 when uncapped: it commits what it pays when it
        closes)."""
        rule = self.rule
        if rule["kind"] == "pool_share":
            return int(rule["pool_minor"] if pool_minor is None else pool_minor)
        if pool_minor is not None:
            msg = "pool_minor is for pool_share programs; a rate program's budget is its period cap"
            raise InvalidInputError(msg)
        return int(rule.get("period_cap_minor") or 0)

    def change_rule(self, rule: dict[str, Any], *, effective_at: datetime) -> int:
        rule = check_rule(rule)
        if rule["kind"] != self.rule["kind"]:
            msg = f"a program keeps its rule kind ({self.rule['kind']}); start a new program"
            raise InvalidInputError(msg, kind=rule["kind"])
        self._rule_changed(rule_version=self.rule_version + 1, rule=rule, effective_at=effective_at)
        return self.rule_version

    def open_period(
        self, period_key: str, *, starts_on: date, ends_on: date, effective_at: datetime
    ) -> None:
        check_key(period_key, field="period_key")
        check_day(starts_on, field="starts_on")
        check_day(ends_on, field="ends_on")
        if period_key in self.periods:
            msg = f"period {period_key!r} of program {self.program_key!r} exists already"
            raise AlreadyExistsError(msg, period=period_key)
        if ends_on < starts_on:
            msg = f"period {period_key!r} ends ({ends_on}) before it starts ({starts_on})"
            raise InvalidInputError(msg, period=period_key)
        for key, (s, e, _) in self.periods.items():
            if s <= ends_on and starts_on <= e:
                msg = f"period {period_key!r} overlaps period {key!r} ({s}..{e})"
                raise InvalidInputError(msg, period=period_key, overlaps=key)
        self._period_opened(
            period_key=period_key, starts_on=starts_on, ends_on=ends_on, effective_at=effective_at
        )

    def mark_closed(self, period_key: str, *, effective_at: datetime) -> None:
        if self.period_status(period_key) != "open":
            msg = f"period {period_key!r} of program {self.program_key!r} is closed already"
            raise InvalidStateError(msg, period=period_key)
        self._period_closed(period_key=period_key, effective_at=effective_at)

    @event(RuleChanged)
    def _rule_changed(
        self, rule_version: int, rule: dict[str, Any], effective_at: datetime
    ) -> None:
        self.rules.append(rule)

    @event(PeriodOpened)
    def _period_opened(
        self, period_key: str, starts_on: date, ends_on: date, effective_at: datetime
    ) -> None:
        self.periods[period_key] = [starts_on, ends_on, "open"]

    @event(PeriodClosed)
    def _period_closed(self, period_key: str, effective_at: datetime) -> None:
        self.periods[period_key][2] = "closed"
