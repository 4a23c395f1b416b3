"""Shared fixtures: a fresh ledger on SQLite (a temporary file) and on PostgreSQL (a database
cloned from a migrated template, per test).

With ``CI=true`` an unreachable PostgreSQL fails the tests that need it, loudly; elsewhere they
are skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.ledger.migrate import migrate

PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_counter = itertools.count()


def pg_url(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


def pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        f"dbname=postgres host={PG_HOST} port={PG_PORT} user={PG_USER}",
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database to clone; created once per test session (per xdist worker)."""
    try:
        admin = pg_admin()
    except psycopg.OperationalError as e:
        if IN_CI:
            pytest.fail(f"PostgreSQL is unreachable at {PG_HOST}:{PG_PORT} and CI=true: {e}")
        pytest.skip(f"PostgreSQL is unreachable at {PG_HOST}:{PG_PORT}: {e}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"cl_test_tpl_{worker}_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate(Settings(database_url=pg_url(name)))
    yield name
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test; dropped afterwards."""
    name = f"{pg_template}_{next(_counter)}"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_url(name)
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Clock:
    """A deterministic clock: every reading moves it forward by one second."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, 12, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def open_ledger(database_url: str) -> Iterator[Callable[[], CreatorLedger]]:
    """Open (more) ledgers on the test's database; all closed at the end."""
    opened: list[CreatorLedger] = []

    def _open() -> CreatorLedger:
        cl = CreatorLedger.open(Settings(database_url=database_url), clock=Clock())
        opened.append(cl)
        return cl

    yield _open
    for cl in opened:
        cl.close()


@pytest.fixture
def cl(open_ledger: Callable[[], CreatorLedger]) -> CreatorLedger:
    """A fresh ledger, on SQLite and on PostgreSQL."""
    return open_ledger()


def event_count(cl: CreatorLedger) -> int:
    return cl.events_recorded()
