"""Every journal entry sums to zero per currency, whatever the event's figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from creator_ledger.domain.accounts import JournalEntry
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.payout import Payout
from creator_ledger.domain.posting import journal_entry

AT = datetime(2026, 1, 1, tzinfo=UTC)
ids = st.uuids(version=4)
creators = st.uuids(version=4).map(lambda u: u.hex)
amounts = st.integers(min_value=0, max_value=10**15)
currencies = st.sampled_from(["USD", "EUR", "JPY", "BHD"])
common = {
    "originator_version": st.integers(min_value=2, max_value=10**6),
    "timestamp": st.just(AT),
    "effective_at": st.just(AT),
}


def event(cls: type, **fields: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.builds(cls, originator_id=ids, **common, **fields)


book_events = st.one_of(
    event(
        AccountBook.ViewEarningsCredited,
        program_id=ids,
        period_id=ids,
        period_key=st.just("d"),
        fund_id=ids,
        currency=currencies,
        lines=st.lists(
            st.tuples(creators, amounts, amounts, st.integers(0, 1), st.integers(0, 1)).map(list),
            max_size=30,
        ),
    ),
    event(
        AccountBook.BonusCredited,
        agreement_id=ids,
        agreement_key=st.just("x"),
        instalment_id=st.just("i"),
        fund_id=ids,
        creator_id=creators,
        currency=currencies,
        amount_minor=amounts,
        to_held=st.booleans(),
    ),
    event(
        AccountBook.BonusClawedBack,
        agreement_id=ids,
        agreement_key=st.just("x"),
        fund_id=ids,
        creator_id=creators,
        currency=currencies,
        from_payable_minor=amounts,
        from_held_minor=amounts,
        to_receivable_minor=amounts,
    ),
    event(
        AccountBook.AccrualHoldReleased,
        creator_id=creators,
        hold_id=st.just("h"),
        released=st.lists(st.tuples(currencies, amounts).map(list), max_size=4),
    ),
    event(
        AccountBook.PayoutsRequested,
        run_id=st.just("run"),
        currency=currencies,
        lines=st.lists(st.tuples(ids.map(str), creators, amounts).map(list), max_size=30),
    ),
    event(
        AccountBook.TransferReversed,
        payout_id=ids,
        creator_id=creators,
        currency=currencies,
        to_payable_minor=amounts,
        to_receivable_minor=amounts,
        reason=st.just("r"),
    ),
    event(
        AccountBook.ReceivableOffset,
        creator_id=creators,
        currency=currencies,
        amount_minor=amounts,
        reference=st.just("r"),
    ),
    event(
        AccountBook.PayoutReturned,
        payout_id=ids,
        creator_id=creators,
        currency=currencies,
        amount_minor=amounts,
        reason=st.just("r"),
    ),
    event(
        AccountBook.ReimbursementCredited,
        claim_id=ids,
        claim_key=st.just("k"),
        item_id=st.just("i"),
        creator_id=creators,
        currency=currencies,
        amount_minor=amounts,
        to_held=st.booleans(),
    ),
    event(
        CreatorFund.BudgetCommitted,
        currency=currencies,
        commitment_id=st.just("c"),
        purpose=st.just("p"),
        amount_minor=amounts,
    ),
    event(
        CreatorFund.CommitmentSpent,
        currency=currencies,
        commitment_id=st.just("c"),
        reference=st.just("r"),
        amount_minor=amounts,
    ),
    event(Payout.Paid, transfer_id=st.just("tr_1"), currency=currencies, amount_minor=amounts),
)


@given(book_events)
def test_every_journal_entry_sums_to_zero_per_currency(e: object) -> None:
    entry = journal_entry(e)
    if entry is None:
        return
    assert isinstance(entry, JournalEntry)
    sums: dict[str, int] = defaultdict(int)
    for p in entry.postings:
        sums[p.currency] += p.amount_minor
        assert p.amount_minor != 0 or len(entry.postings) > 1
    assert all(v == 0 for v in sums.values()), sums
