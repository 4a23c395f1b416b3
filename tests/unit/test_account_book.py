"""The account book is the write model that keeps payouts from overdrawing a creator, also when
two writers race (optimistic concurrency on the book's version)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid5

import pytest

from creator_ledger.adapters.eventstore import EventStore, WriteConflictError
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.domain.errors import InsufficientBalanceError
from creator_ledger.domain.ids import NAMESPACE

AT = datetime(2026, 1, 1, tzinfo=UTC)
CREATOR = "a" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    events = EventStore(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.sqlite")},
        aggregates=AGGREGATES,
        snapshot_intervals=SNAPSHOT_INTERVALS,
    )
    yield events
    events.close()


def funded_book(store: EventStore, amount: int) -> AccountBook:
    book = AccountBook(shard=1, effective_at=AT)
    book.open_accounts([CREATOR], effective_at=AT)
    book.credit_reimbursement(
        claim_id=uuid5(NAMESPACE, "c"),
        claim_key="c",
        item_id="i",
        creator_id=CREATOR,
        currency="USD",
        amount_minor=amount,
        effective_at=AT,
    )
    store.save(book)
    return book


def test_a_payout_larger_than_payable_is_refused_and_nothing_changes() -> None:
    book = AccountBook(shard=1, effective_at=AT)
    book.open_accounts([CREATOR], effective_at=AT)
    version = book.version
    with pytest.raises(InsufficientBalanceError, match="overdraw"):
        book.request_payouts(
            run_id="r", currency="USD", lines=[[uuid5(NAMESPACE, "p"), CREATOR, 1]], effective_at=AT
        )
    assert book.version == version
    assert book.balance(CREATOR, "USD") == (0, 0, 0)


def book(store: EventStore) -> AccountBook:
    loaded = store.get(AccountBook.create_id(1))
    assert isinstance(loaded, AccountBook)
    return loaded


def test_two_writers_racing_for_one_balance_cannot_both_take_it(store: EventStore) -> None:
    funded_book(store, 1_000)
    one = book(store)
    two = book(store)
    assert one is not two
    one.request_payouts(
        run_id="r1",
        currency="USD",
        lines=[[uuid5(NAMESPACE, "p1"), CREATOR, 1_000]],
        effective_at=AT,
    )
    two.request_payouts(
        run_id="r2",
        currency="USD",
        lines=[[uuid5(NAMESPACE, "p2"), CREATOR, 1_000]],
        effective_at=AT,
    )
    store.save(one)
    with pytest.raises(WriteConflictError):
        store.save(two)  # both read the same version: the second write loses
    reloaded = book(store)
    with pytest.raises(InsufficientBalanceError):
        reloaded.request_payouts(
            run_id="r2",
            currency="USD",
            lines=[[uuid5(NAMESPACE, "p2"), CREATOR, 1_000]],
            effective_at=AT,
        )
    assert reloaded.balance(CREATOR, "USD") == (0, 0, 0)
