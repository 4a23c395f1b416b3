"""The journal for the general ledger: pages of whole entries with a cursor that misses
nothing, filters, creator refs and event ids, and per-period totals with stable line ids."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

import pytest

from creator_ledger import CreatorLedger, InvalidInputError, NotFoundError
from creator_ledger.ledger.journal import JournalExportLine
from tests import scenario


def ledger_with_two_months(cl: CreatorLedger) -> list[str]:
    scenario.fund(cl)
    refs = scenario.creators(cl, 3)
    days = scenario.pool_program(cl, days=2)
    for d in days:
        scenario.usage(cl, "pool", d, [(r, "v", 100 * (i + 1)) for i, r in enumerate(refs)])
        scenario.close(cl, "pool", d)
    feb = date(2026, 2, 3)
    scenario.open_day(cl, "pool", feb)
    scenario.usage(cl, "pool", feb.isoformat(), [(refs[0], "v", 500)])
    scenario.close(cl, "pool", feb.isoformat())
    return refs


def by_entry(lines: list[JournalExportLine]) -> dict[int, list[JournalExportLine]]:
    out: dict[int, list[JournalExportLine]] = defaultdict(list)
    for ln in lines:
        out[ln.entry_id].append(ln)
    return out


def test_pages_hold_whole_entries_and_the_cursor_walks_every_entry_once(
    cl: CreatorLedger,
) -> None:
    ledger_with_two_months(cl)
    everything = cl.journal(limit=100_000)
    assert everything.next_cursor is None
    whole = by_entry(everything.lines)
    assert len(whole) > 4

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = cl.journal(after=cursor, limit=2)
        pages += 1
        assert page.format == "creator-ledger/journal/v1"
        entries = by_entry(page.lines)
        assert page.entries == len(entries) <= 2
        for entry_id, lines in entries.items():
            assert lines == whole[entry_id]  # every posting of the entry, never half of one
            per_currency: dict[str, int] = defaultdict(int)
            for ln in lines:
                per_currency[ln.currency] += ln.amount_minor
            assert set(per_currency.values()) == {0}  # so every page balances
        seen.extend(entries)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert cursor == str(page.lines[-1].entry_id)
    assert seen == sorted(whole)
    assert pages == (len(whole) + 1) // 2


def test_an_entry_recorded_after_a_cursor_is_on_the_next_page_even_if_backdated(
    cl: CreatorLedger,
) -> None:
    refs = ledger_with_two_months(cl)
    last = cl.journal(limit=100_000)
    cursor = str(last.lines[-1].entry_id)
    assert cl.journal(after=cursor).lines == []
    december = date(2025, 12, 30)  # business time before every entry so far
    scenario.open_day(cl, "pool", december)
    scenario.usage(cl, "pool", december.isoformat(), [(refs[1], "v", 700)])
    scenario.close(cl, "pool", december.isoformat())
    later = cl.journal(after=cursor)
    assert later.lines, "the backdated entry recorded later comes after the cursor"
    assert all(ln.entry_id > int(cursor) for ln in later.lines)
    assert min(ln.effective_on for ln in later.lines) < min(ln.effective_on for ln in last.lines)


def test_lines_name_the_creator_by_ref_and_the_event_they_came_from(cl: CreatorLedger) -> None:
    refs = ledger_with_two_months(cl)
    lines = cl.journal().lines
    creator_lines = [ln for ln in lines if ln.account_kind.startswith("creator:")]
    assert {ln.creator_ref for ln in creator_lines} == set(refs)
    assert all(ln.creator_ref is None for ln in lines if not ln.account_kind.startswith("creator:"))
    for ln in lines:
        aggregate, version = ln.event_id.split("/")
        assert len(aggregate) == 36  # "<uuid>/<version>"
        assert int(version) >= 1
        assert ln.line_id.startswith(f"L{ln.entry_id}-")
        assert ln.recorded_at is not None
        assert ln.recorded_at.tzinfo is not None
    assert len({ln.line_id for ln in lines}) == len(lines)


def test_filters_choose_whole_entries_by_business_date_kind_creator_and_recording_time(
    cl: CreatorLedger,
) -> None:
    refs = ledger_with_two_months(cl)
    january = cl.journal(since=date(2026, 1, 1), until=date(2026, 1, 31)).lines
    assert january
    assert all(ln.effective_on.month == 1 for ln in january)
    february = cl.journal(since=date(2026, 2, 1)).lines
    assert february
    assert all(ln.effective_on.month == 2 for ln in february)

    payable = cl.journal(account_kind="creator:payable").lines
    for lines in by_entry(payable).values():
        assert any(ln.account_kind == "creator:payable" for ln in lines)
        assert sum(ln.amount_minor for ln in lines) == 0  # still whole entries

    mine = cl.journal(creator_ref=refs[0]).lines
    for lines in by_entry(mine).values():
        assert any(ln.creator_ref == refs[0] for ln in lines)
    theirs = by_entry(cl.journal(creator_ref=refs[2]).lines)
    for lines in theirs.values():
        assert any(ln.creator_ref == refs[2] for ln in lines)
    only_mine = {  # February's earnings went to refs[0] alone
        ln.entry_id for ln in mine if ln.effective_on.month == 2 and ln.creator_ref == refs[0]
    }
    assert only_mine
    assert not only_mine & theirs.keys()

    assert cl.journal(recorded_since=datetime(2999, 1, 1, tzinfo=UTC)).lines == []
    assert cl.journal(recorded_since=datetime(2000, 1, 1, tzinfo=UTC)).lines == cl.journal().lines


def test_bad_filters_are_refused_saying_what_is_accepted(cl: CreatorLedger) -> None:
    ledger_with_two_months(cl)
    with pytest.raises(InvalidInputError, match="unknown account kind"):
        cl.journal(account_kind="creator:nope")
    with pytest.raises(NotFoundError, match="unknown creator"):
        cl.journal(creator_ref="nobody")
    with pytest.raises(InvalidInputError, match="until must not be before since"):
        cl.journal(since=date(2026, 2, 1), until=date(2026, 1, 1))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        cl.journal(recorded_since=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(InvalidInputError):
        cl.journal(after="twelve")
    with pytest.raises(InvalidInputError):
        cl.journal(limit=0)


def test_the_summary_totals_each_period_and_account_kind_with_stable_line_ids(
    cl: CreatorLedger,
) -> None:
    ledger_with_two_months(cl)
    summary = cl.journal_summary(period="month")
    assert summary.format == "creator-ledger/journal-summary/v1"
    ids = [ln.line_id for ln in summary.lines]
    assert "2026-01/creator:payable/USD" in ids
    assert "2026-02/creator:payable/USD" in ids
    assert len(ids) == len(set(ids))
    assert summary.net_by_currency == {"USD": 0}
    per_period: dict[str, int] = defaultdict(int)
    for ln in summary.lines:
        assert ln.line_id == f"{ln.period}/{ln.account_kind}/{ln.currency}"
        assert ln.net_minor == ln.debit_minor - ln.credit_minor
        per_period[ln.period] += ln.net_minor
    assert set(per_period.values()) == {0}  # every period balances

    lines = cl.journal(limit=100_000).lines
    payable_jan = sum(
        ln.amount_minor
        for ln in lines
        if ln.account_kind == "creator:payable" and ln.effective_on.month == 1
    )
    [jan] = [ln for ln in summary.lines if ln.line_id == "2026-01/creator:payable/USD"]
    assert jan.net_minor == payable_jan
    assert cl.journal_summary(period="month") == summary  # the same ledger, the same ids

    quarters = cl.journal_summary(period="quarter")
    assert {ln.period for ln in quarters.lines} == {"2026-Q1"}
    days = cl.journal_summary(period="day", since=date(2026, 1, 2), until=date(2026, 1, 2))
    assert {ln.period for ln in days.lines} == {"2026-01-02"}
