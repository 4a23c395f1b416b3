"""Statements tell the truth about exclusivity bonuses: vesting stops on the day an agreement
ended, what was credited is vested or clawed back and the rest forfeited, and ``until`` counts
its last day."""

from __future__ import annotations

from datetime import date

from creator_ledger import CreatorLedger
from creator_ledger.ledger.results import VestingLine
from tests.scenario import ACTOR, DAY, creators, fund

YEAR_END = date(2027, 1, 1)  # a one-year term from DAY: 365 days


def agree(cl: CreatorLedger, total: int, schedule: str, instalments: int = 1) -> None:
    cl.agree_exclusivity(
        agreement_key="deal",
        creator_ref="c0",
        fund_key="fund",
        total_minor=total,
        starts_on=DAY,
        ends_on=YEAR_END,
        schedule=schedule,  # type: ignore[arg-type]
        instalments=instalments,
        idempotency_key="deal",
        actor=ACTOR,
    )


def line(cl: CreatorLedger, until: date) -> VestingLine:
    [bonus] = cl.statement("c0", since=DAY, until=until).bonuses
    return bonus


def test_a_breached_deal_shows_what_was_credited_as_vested_or_clawed_back(
    cl: CreatorLedger,
) -> None:
    fund(cl, budget_minor=100_000_000)
    creators(cl, 1)
    agree(cl, 25_000_000, "upfront")  # US$250,000 upfront
    breach = cl.breach_exclusivity(
        agreement_key="deal",
        on=date(2026, 4, 11),
        reason="posted elsewhere",
        idempotency_key="b",
        actor=ACTOR,
    )
    vested_at_breach = 25_000_000 * 100 // 365  # Jan 1 .. Apr 10: the breach day does not vest
    assert breach.clawback_minor == 25_000_000 - vested_at_breach
    for until in (date(2026, 4, 11), date(2026, 12, 31), date(2030, 1, 1)):
        b = line(cl, until)
        assert (b.status, b.vested_minor) == ("breached", vested_at_breach), until
        assert b.vested_minor + b.clawback_minor == b.credited_minor == 25_000_000
        assert b.vested_minor + b.clawback_minor + b.forfeited_minor == b.total_minor
    before = line(cl, date(2026, 4, 10))  # the day before the breach: as it stood then
    assert (before.status, before.vested_minor) == ("active", vested_at_breach)
    assert (before.clawback_minor, before.forfeited_minor) == (None, None)


def test_a_good_leaver_shows_what_was_paid_as_vested_and_the_rest_forfeited(
    cl: CreatorLedger,
) -> None:
    fund(cl, budget_minor=100_000_000)
    creators(cl, 1)
    agree(cl, 12_000_000, "monthly", instalments=12)  # US$120,000, US$10,000 a month
    cl.credit_due_instalments(
        agreement_key="deal", on=date(2026, 2, 1), idempotency_key="due", actor=ACTOR
    )
    cl.terminate_exclusivity(
        agreement_key="deal",
        on=date(2026, 6, 30),
        reason="amicable",
        idempotency_key="t",
        actor=ACTOR,
    )
    for until in (date(2026, 6, 30), date(2026, 12, 31)):
        b = line(cl, until)
        assert (b.status, b.credited_minor, b.vested_minor) == ("terminated", 2_000_000, 2_000_000)
        assert (b.clawback_minor, b.forfeited_minor) == (0, 10_000_000)
        assert b.vested_minor + b.clawback_minor + b.forfeited_minor == b.total_minor


def test_until_counts_its_last_day_in_the_vesting_of_a_running_deal(cl: CreatorLedger) -> None:
    fund(cl)
    creators(cl, 1)
    agree(cl, 365_000, "upfront")
    assert line(cl, DAY).vested_minor == 1_000  # the first day, over by the end of `until`
    assert line(cl, date(2026, 4, 10)).vested_minor == 100_000
    assert line(cl, date(2026, 12, 31)).vested_minor == 365_000  # the term's last day
    b = line(cl, date(2026, 12, 30))
    assert (b.status, b.vested_minor, b.clawback_minor) == ("active", 364_000, None)
