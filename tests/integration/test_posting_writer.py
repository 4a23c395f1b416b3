"""PostgreSQL: postings written straight into their table by binary ``COPY`` (running balances
computed in Python) are the very rows the earlier set-based path wrote (temporary table and a
window-function ``INSERT ... SELECT``), for large batches, for accounts that already have a
balance, and for back-dated postings in a batch and across batches."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.readmodels import PostingRow, ProjectionBatch, ReadModels

pytestmark = pytest.mark.postgres

DAY = date(2026, 3, 1)
ACCOUNTS = 400


@pytest.fixture
def database_url(pg_database: str) -> str:  # PostgreSQL only
    return pg_database


def _batches() -> list[ProjectionBatch]:
    """Three batches of several thousand postings over ``ACCOUNTS`` creator accounts and one
    expense account: mostly in business-time order, some days back (in the batch and before
    it), some accounts new in each batch."""
    rng = random.Random(9)
    batches, entry, last = [], 0, 0
    for b in range(3):
        batch = ProjectionBatch(last_notification_id=0, positions={"journal": last})
        for d in range(5):
            for _ in range(700):
                entry += 1
                creator = f"c{rng.randrange(ACCOUNTS // 2 + b * ACCOUNTS // 4)}"
                back = rng.random() < 0.03
                on = DAY + timedelta(days=b * 5 + d - (rng.randrange(1, 8) if back else 0))
                amount = rng.randrange(1, 10_000)
                rows: list[PostingRow] = [
                    (entry, 0, "creator:payable", creator, "USD", -amount, on, None),
                    (entry, 1, "expense:fund", "f", "USD", amount, on, '{"x": 1}'),
                ]
                batch.postings += rows
        batch.last_notification_id = last = entry
        batches.append(batch)
    return batches


def _apply_all(rm: ReadModels, *, set_based: bool) -> tuple[list[Any], list[Any]]:
    rm.reset("journal")
    rm.writer.set_based_postings = set_based
    try:
        for batch in _batches():
            rm.apply(batch)
    finally:
        rm.writer.set_based_postings = False
    postings = rm.db.query("SELECT * FROM postings ORDER BY entry_id, seq")
    balances = rm.db.query("SELECT * FROM balances ORDER BY owner, kind, currency")
    return postings, balances


def _oracle(postings: list[Any]) -> dict[tuple[int, int], int]:
    """Running balance of each posting, summed in business-time order from scratch."""
    out: dict[tuple[int, int], int] = {}
    running: dict[tuple[str, str, str], int] = {}
    ordered = sorted(postings, key=lambda r: (r[3], r[2], r[4], r[6], r[0], r[1]))
    for entry_id, seq, kind, owner, currency, amount, *_ in ordered:
        key = (owner, kind, currency)
        running[key] = running.get(key, 0) + amount
        out[(entry_id, seq)] = running[key]
    return out


def test_copy_path_writes_the_rows_the_set_based_path_writes(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    rm = open_ledger().parts.projector.read_models
    direct = _apply_all(rm, set_based=False)
    set_based = _apply_all(rm, set_based=True)
    assert len(direct[0]) == 3 * 5 * 700 * 2
    assert direct == set_based
    postings, balances = direct
    assert {(r[0], r[1]): r[7] for r in postings} == _oracle(postings)
    latest: dict[tuple[str, str, str], date] = {}
    backdated = 0  # postings earlier than their account's latest before them
    for r in postings:
        key = (r[2], r[3], r[4])
        backdated += r[6] < latest.get(key, r[6])
        latest[key] = max(latest.get(key, r[6]), r[6])
    assert backdated > 100
    totals: dict[tuple[str, str, str], int] = {}
    for r in postings:
        totals[(r[2], r[3], r[4])] = totals.get((r[2], r[3], r[4]), 0) + r[5]
    assert {(b[0], b[1], b[2]): b[3] for b in balances} == totals


def test_a_rebuild_carrying_balances_between_batches_writes_the_same_rows(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    """``ReadModels.replace`` (a rebuild) keeps the balances in memory from batch to batch and
    copies them once at the end: the same postings, running balances (back-dated ones across
    batches too) and balances as batches applied one by one."""
    rm = open_ledger().parts.projector.read_models
    applied = _apply_all(rm, set_based=False)
    batches = _batches()
    for batch in batches:
        batch.positions = {"journal": 0}
    assert rm.replace("journal", iter(batches)) == batches[-1].last_notification_id
    postings = rm.db.query("SELECT * FROM postings ORDER BY entry_id, seq")
    balances = rm.db.query("SELECT * FROM balances ORDER BY owner, kind, currency")
    assert (postings, balances) == applied
    assert {(r[0], r[1]): r[7] for r in postings} == _oracle(postings)
    assert rm.positions()["journal"] == batches[-1].last_notification_id


def test_a_rebuild_that_writes_a_row_twice_fails_on_its_key_and_changes_nothing(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    """The keys are dropped for a rebuild's load and added after it: a row written twice (a
    projection bug) fails there, and the rebuild rolls back."""
    rm = open_ledger().parts.projector.read_models
    applied = _apply_all(rm, set_based=False)
    batches = _batches()
    for batch in batches:
        batch.positions = {"journal": 0}
    batches[-1].postings.append(batches[0].postings[0])  # the same (entry_id, seq) again
    with pytest.raises(psycopg.errors.UniqueViolation, match="postings_pkey"):
        rm.replace("journal", iter(batches))
    postings = rm.db.query("SELECT * FROM postings ORDER BY entry_id, seq")
    balances = rm.db.query("SELECT * FROM balances ORDER BY owner, kind, currency")
    assert (postings, balances) == applied
