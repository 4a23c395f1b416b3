"""Both PostgreSQL pools (the event store's and the read models') hand out the connection
returned last: one thread's commands stay on one warm backend instead of going round the pool
(``adapters.sql.most_recent_first``; issue 9, W2)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.sql import PostgresDatabase, most_recent_first
from tests import scenario
from tests.conftest import Clock

pytestmark = pytest.mark.postgres


def _backend(pool: ConnectionPool[Any]) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = row[0] if isinstance(row, tuple) else row["pg_backend_pid"]
        return int(pid)


def _check_most_recent_first(pool: ConnectionPool[Any]) -> None:
    pool.wait(timeout=10)  # every connection of its minimum size open and idle
    assert pool.get_stats()["pool_available"] >= 2, "the check needs two idle connections"
    first = _backend(pool)
    assert {_backend(pool) for _ in range(20)} == {first}  # not round the pool
    # Two at once still get two connections; the one returned last is the next one out.
    a, b = pool.getconn(), pool.getconn()
    pids = {c.info.backend_pid: c for c in (a, b)}
    assert len(pids) == 2
    pool.putconn(a)
    pool.putconn(b)
    assert _backend(pool) == b.info.backend_pid
    # A connection closed under the pool is replaced, as before.
    c = pool.getconn()
    closed = c.info.backend_pid
    c.close()
    pool.putconn(c)
    assert _backend(pool) != closed


def test_the_event_stores_pool_hands_out_its_last_returned_connection(pg_database: str) -> None:
    with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
        scenario.fund(cl)
        pool = cl.parts.store.application.recorder.datastore.pool  # type: ignore[attr-defined]
        _check_most_recent_first(pool)


def test_the_read_models_pool_hands_out_its_last_returned_connection(pg_database: str) -> None:
    db = PostgresDatabase(pg_database, min_size=3, max_size=4)
    try:
        _check_most_recent_first(db.pool)
    finally:
        db.close()


def test_threads_sharing_a_most_recent_first_pool_get_distinct_connections(
    pg_database: str,
) -> None:
    """The pool's bookkeeping is unchanged: under contention every thread gets a connection of
    its own, none is lost, and the pool ends with all of them idle."""
    db = PostgresDatabase(pg_database, min_size=2, max_size=4)
    try:
        pool = db.pool
        seen: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def work() -> None:
            with pool.connection() as conn:
                barrier.wait(timeout=10)  # four held at once
                pid = conn.info.backend_pid
                with lock:
                    seen.append(pid)
            for _ in range(25):
                _backend(pool)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(set(seen)) == 4
        stats = pool.get_stats()
        assert stats["pool_size"] == stats["pool_available"] <= 4
    finally:
        db.close()


def test_a_pool_that_keeps_idle_connections_otherwise_is_left_as_it_is(
    pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(pg_database, min_size=1)
    try:
        assert most_recent_first(pool) is True
        assert most_recent_first(pool) is True  # twice is once
        pool._pool = list(pool._pool)  # type: ignore[assignment]  # some other future layout
        assert most_recent_first(pool) is False
        assert "left first-in, first-out" in caplog.text
        pool._pool = deque(pool._pool)
    finally:
        pool.close()
