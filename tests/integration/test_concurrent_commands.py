"""Commands racing each other: each ledger object stands for a process of its own (its own
connections), on SQLite and PostgreSQL.  A lost optimistic-concurrency race is decided again
on fresh state, never surfaced as a raw store error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from creator_ledger import CreatorLedger
from creator_ledger.domain.ids import BOOK_SHARDS
from tests.scenario import ACTOR, DAY, creators, fund, open_day, pool_program

WRITERS = 4


def run_at_once(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads; each result, or the exception it raised."""
    results: list[Any] = [None] * len(jobs)

    def go(i: int, job: Callable[[], Any]) -> None:
        try:
            results[i] = job()
        except Exception as e:  # noqa: BLE001 - the test inspects whatever was raised
            results[i] = e

    threads = [threading.Thread(target=go, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_concurrent_bulk_enrolments_with_overlapping_creators_all_succeed(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    ledgers = [open_ledger() for _ in range(WRITERS)]
    # Every writer reads its account books before any of them writes: a guaranteed race.
    barrier = threading.Barrier(WRITERS, timeout=60)
    for cl in ledgers:
        books = cl.parts.aggregates.books
        first = [True]

        def read_then_wait(shards: Any, books: Any = books, first: list[bool] = first) -> Any:
            loaded = books(shards)
            if first[0]:
                first[0] = False
                barrier.wait()
            return loaded

        cl.parts.aggregates.books = read_then_wait  # type: ignore[method-assign]
    batches = [[f"c{n}" for n in range(i * 10, i * 10 + 40)] for i in range(WRITERS)]
    results = run_at_once(
        *[
            lambda cl=cl, refs=refs, i=i: cl.enrol_creators(
                creators=[(r, r.upper(), "US") for r in refs],
                idempotency_key=f"enrol-{i}",
                actor=ACTOR,
            )
            for i, (cl, refs) in enumerate(zip(ledgers, batches, strict=True))
        ]
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    unique = {r for refs in batches for r in refs}
    assert sum(r.enrolled for r in results) == len(unique)
    assert sum(r.enrolled + r.already_enrolled for r in results) == sum(map(len, batches))
    cl = ledgers[0]
    books = cl.parts.aggregates.books(range(BOOK_SHARDS))
    accounts = [c for b in books.values() for c in b.accounts]
    assert len(accounts) == len(unique) == len(set(accounts))
    assert all(cl.balances(r).creator_ref == r for r in unique)
    assert cl.reconcile_internal().clean


def test_late_usage_counts_in_the_next_period_while_its_period_is_being_closed(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    reporter, closer = open_ledger(), open_ledger()
    fund(reporter)
    creators(reporter, 1)
    [first] = pool_program(reporter)
    second = open_day(reporter, "pool", DAY.replace(day=2))
    # The reporter reads the program (the period still open), then the period is closed by
    # another process before the reporter reads the period itself.
    period = reporter.parts.aggregates.period
    closed = [False]

    def close_first(program: Any, key: str) -> Any:
        if not closed[0]:
            closed[0] = True
            closer.close_period(
                program_key="pool", period_key=first, idempotency_key="close", actor=ACTOR
            )
        return period(program, key)

    reporter.parts.aggregates.period = close_first  # type: ignore[method-assign]
    result = reporter.report_usage(
        program_key="pool",
        period_key=first,
        report_id="late",
        rows=[("c0", "v", 7)],
        idempotency_key="late",
        actor=ACTOR,
    )
    assert closed[0]
    assert (result.recorded_in_period, result.late_from_period) == (second, first)
    estimate = reporter.estimate_period(program_key="pool", period_key=second)
    assert estimate.figures.total_qualified_views == 7


def test_late_usage_saved_after_its_period_closed_is_decided_again(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    reporter, closer = open_ledger(), open_ledger()
    fund(reporter)
    creators(reporter, 1)
    [first] = pool_program(reporter)
    second = open_day(reporter, "pool", DAY.replace(day=2))
    # The reporter has decided on the open period; the close is saved before its report.
    save = reporter.parts.aggregates.save
    closed = [False]

    def close_then_save(*aggregates: Any, meta: Any) -> None:
        if not closed[0]:
            closed[0] = True
            closer.close_period(
                program_key="pool", period_key=first, idempotency_key="close", actor=ACTOR
            )
        save(*aggregates, meta=meta)

    reporter.parts.aggregates.save = close_then_save  # type: ignore[method-assign]
    result = reporter.report_usage(
        program_key="pool",
        period_key=first,
        report_id="late",
        rows=[("c0", "v", 7)],
        idempotency_key="late",
        actor=ACTOR,
    )
    assert (result.recorded_in_period, result.late_from_period) == (second, first)
    closed_figures = reporter.estimate_period(program_key="pool", period_key=first).figures
    assert closed_figures.total_qualified_views == 0
    assert reporter.reconcile_internal().clean
