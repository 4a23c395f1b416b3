"""Dates and business times the ledger cannot keep or compute with are refused with a clear
error, and nothing is written: years 1 and 9999 (a time-zone shift or a day added overflows
Python's calendar there), a breach before the term starts, a statement that ends before it
starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.domain.errors import InvalidInputError
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund, pool_program

PLUS5 = timezone(timedelta(hours=5))
MINUS5 = timezone(timedelta(hours=-5))
ODD_TIMES = [
    datetime(1, 1, 1, 1, tzinfo=PLUS5),  # before year 1 in UTC: OverflowError before
    datetime(9999, 12, 31, 22, tzinfo=MINUS5),  # after 9999 in UTC
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, tzinfo=UTC),
    datetime(1899, 12, 31, 23, tzinfo=UTC),
]


@pytest.fixture
def ready(cl: CreatorLedger) -> CreatorLedger:
    fund(cl)
    creators(cl, 1)
    pool_program(cl)
    cl.agree_exclusivity(
        agreement_key="x",
        creator_ref="c0",
        fund_key="fund",
        total_minor=1_000,
        starts_on=date(2026, 3, 1),
        ends_on=date(2027, 3, 1),
        schedule="upfront",
        idempotency_key="x",
        actor=ACTOR,
    )
    return cl


def refused(cl: CreatorLedger, call: Callable[[], Any], match: str) -> None:
    before = event_count(cl)
    with pytest.raises(InvalidInputError, match=match):
        call()
    assert event_count(cl) == before


@pytest.mark.parametrize("when", ODD_TIMES, ids=str)
def test_effective_at_outside_the_business_calendar_is_refused(
    ready: CreatorLedger, when: datetime
) -> None:
    refused(
        ready,
        lambda: ready.top_up_fund(
            fund_key="fund", amount_minor=1, effective_at=when, idempotency_key="k", actor=ACTOR
        ),
        "effective_at .* is outside the range the ledger accepts: business dates from 1900-01-01",
    )
    refused(
        ready,
        lambda: ready.enrol_creator(
            creator_ref="n",
            display_name="N",
            country="US",
            effective_at=when,
            idempotency_key="k",
            actor=ACTOR,
        ),
        "effective_at",
    )


def test_the_edges_of_the_business_calendar_are_accepted(ready: CreatorLedger) -> None:
    for n, when in enumerate(
        [datetime(1900, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, 23, 59, tzinfo=UTC)]
    ):
        ready.top_up_fund(
            fund_key="fund", amount_minor=1, effective_at=when, idempotency_key=f"t{n}", actor=ACTOR
        )
    assert ready.trial_balance().balanced
    assert ready.reconcile_internal().clean


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31), date(1899, 12, 31)], ids=str)
def test_dates_outside_the_business_calendar_are_refused(ready: CreatorLedger, day: date) -> None:
    refused(
        ready,
        lambda: ready.open_period(
            program_key="pool",
            period_key="odd",
            starts_on=day,
            ends_on=day,
            idempotency_key="k",
            actor=ACTOR,
        ),
        "starts_on .* is outside the range",
    )
    refused(
        ready,
        lambda: ready.agree_exclusivity(
            agreement_key="y",
            creator_ref="c0",
            fund_key="fund",
            total_minor=10,
            starts_on=DAY,
            ends_on=day,
            schedule="upfront",
            idempotency_key="k",
            actor=ACTOR,
        ),
        "ends_on",
    )
    refused(
        ready,
        lambda: ready.sign_contract(
            creator_ref="c0",
            contract_id="c",
            kind="nda",
            signed_on=day,
            idempotency_key="k",
            actor=ACTOR,
        ),
        "signed_on",
    )
    with pytest.raises(InvalidInputError, match="since"):
        ready.statement("c0", since=day, until=date(9998, 12, 31))
    with pytest.raises(InvalidInputError, match="as_of"):
        ready.balances("c0", as_of=day)


def test_a_monthly_schedule_that_would_fall_due_beyond_the_calendar_is_refused(
    ready: CreatorLedger,
) -> None:
    refused(
        ready,
        lambda: ready.agree_exclusivity(
            agreement_key="late",
            creator_ref="c0",
            fund_key="fund",
            total_minor=120,
            starts_on=date(9998, 6, 1),
            ends_on=date(9998, 12, 31),
            schedule="monthly",
            instalments=12,
            idempotency_key="k",
            actor=ACTOR,
        ),
        "would fall due after 9998-12-31",
    )


@pytest.mark.parametrize("end", ["breach_exclusivity", "terminate_exclusivity"])
def test_an_agreement_cannot_end_before_its_term_starts(ready: CreatorLedger, end: str) -> None:
    refused(
        ready,
        lambda: getattr(ready, end)(
            agreement_key="x",
            on=date(2026, 2, 28),
            reason="too early",
            idempotency_key="k",
            actor=ACTOR,
        ),
        r"dated 2026-02-28 is before its term starts \(2026-03-01\)",
    )
    assert ready.agreement("x").status == "active"


def test_a_statement_that_ends_before_it_starts_is_refused(ready: CreatorLedger) -> None:
    with pytest.raises(InvalidInputError, match=r"since \(2026-02-01\) must not be after"):
        ready.statement("c0", since=date(2026, 2, 1), until=date(2026, 1, 31))
    s = ready.statement("c0", since=DAY, until=DAY)  # a one-day statement is fine
    assert s.since == s.until == DAY
