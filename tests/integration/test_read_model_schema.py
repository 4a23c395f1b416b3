"""One schema source for both databases: SQLite's read models come from the same migrations as
PostgreSQL's, and a SQLite file made earlier gets the migrations that came after it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.readmodels import READ_MODEL_NAMES
from creator_ledger.adapters.readmodels.schema import (
    READ_MODEL_TABLES,
    SQLITE_MIGRATIONS_TABLE,
    migrate_sqlite,
    read_model_migration_ids,
    sqlite_applied,
)
from creator_ledger.adapters.sql import SqliteDatabase
from tests.conftest import Clock
from tests.integration.test_projection import build_history, snapshot

#: Tables that are not read models: the event stores (PostgreSQL's from migration 0001,
#: SQLite's from the eventsourcing library), their seals (0007, and the event store adapter on
#: SQLite) and each database's migration records.
SEALS = {"ledger_event_seals", "ledger_snapshot_seals"}
NOT_READ_MODELS_PG = {"ledger_events", "ledger_snapshots", "yoyo_lock", *SEALS}
NOT_READ_MODELS_SQLITE = {"stored_events", "stored_snapshots", SQLITE_MIGRATIONS_TABLE, *SEALS}


def sqlite_schema(path: Path) -> tuple[dict[str, list[str]], set[str]]:
    """table -> its columns in order, and the names of the indexes the migrations made."""
    db = SqliteDatabase(path)
    try:
        names = [
            str(r[0])
            for r in db.query(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = {
            t: [str(c[1]) for c in db.query(f"PRAGMA table_info({t})")]
            for t in names
            if t not in NOT_READ_MODELS_SQLITE
        }
        indexes = {
            str(r[0])
            for r in db.query(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    finally:
        db.close()
    return tables, indexes


def postgres_schema(url: str) -> tuple[dict[str, list[str]], set[str]]:
    with psycopg.connect(url) as conn:
        tables: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ):
            if table not in NOT_READ_MODELS_PG and not table.startswith("_yoyo"):
                tables.setdefault(table, []).append(column)
        indexes = {
            str(name)
            for (name,) in conn.execute(
                "SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = 'public'"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
                " AND i.tablename NOT IN ('ledger_events', 'ledger_snapshots')"
                " AND i.tablename NOT LIKE '%%yoyo%%'"
            )
        }
    return tables, indexes


@pytest.mark.postgres
def test_a_sqlite_ledger_has_the_tables_and_columns_postgres_has_after_migrate(
    pg_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite"
    CreatorLedger.open(Settings(database_url=f"sqlite:///{path}")).close()
    sqlite_tables, sqlite_indexes = sqlite_schema(path)
    pg_tables, pg_indexes = postgres_schema(pg_database)  # the template ran ``migrate``
    assert sqlite_tables == pg_tables
    assert set(pg_tables) == {*READ_MODEL_TABLES, "projection_tracking"}
    assert sqlite_indexes == pg_indexes
    assert "balances_kind" not in sqlite_indexes  # dropped by 0003, on SQLite too


def test_a_sqlite_file_with_only_the_first_read_model_migration_gets_the_later_ones(
    tmp_path: Path,
) -> None:
    fresh, old = tmp_path / "fresh.sqlite", tmp_path / "old.sqlite"
    CreatorLedger.open(Settings(database_url=f"sqlite:///{fresh}")).close()
    first = read_model_migration_ids()[0]
    db = SqliteDatabase(old)
    assert migrate_sqlite(db, upto=first) == [first]
    assert sqlite_applied(db) == [first]
    assert "balances_kind" in sqlite_schema(old)[1]
    db.close()

    CreatorLedger.open(Settings(database_url=f"sqlite:///{old}")).close()
    db = SqliteDatabase(old)
    assert sqlite_applied(db) == read_model_migration_ids()
    db.close()
    assert sqlite_schema(old) == sqlite_schema(fresh)


def test_a_sqlite_file_from_before_schema_migrations_keeps_its_read_models(
    tmp_path: Path,
) -> None:
    """A file the previous version made: the first migration's tables, applied idempotently
    on every open without a record, and one tracking position ("ledger") for every read model.
    Opened now, it gets the later migrations, and each read model starts from that position:
    nothing is projected twice — except what a migration rebuilds on purpose (0010 forgets the
    entities read model, whose creators gain a column derived from the events) and the audit
    read model, new in 0010, which is built from the first event."""
    path = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{path}"
    with CreatorLedger.open(Settings(database_url=url), clock=Clock()) as cl:
        build_history(cl)
        cl.catch_up()
        expected = snapshot(cl)
        events = cl.events_recorded()
    db = SqliteDatabase(path)
    with db.transaction() as cur:  # make it look as the previous version left it
        cur.execute(f"DROP TABLE {SQLITE_MIGRATIONS_TABLE}")
        cur.execute("CREATE INDEX balances_kind ON balances (kind, currency)")
        cur.execute("ALTER TABLE journal_entries DROP COLUMN actor")  # added by 0010
        cur.execute("ALTER TABLE creators DROP COLUMN payout_account_linked_at")
        for table in ("audit_entries", "audit_effects", "audit_creators"):
            cur.execute(f"DROP TABLE {table}")
        cur.execute("DELETE FROM projection_tracking")
        cur.execute(
            "INSERT INTO projection_tracking (name, notification_id) VALUES ('ledger', %s)",
            (events,),
        )
    db.close()

    with CreatorLedger.open(Settings(database_url=url), clock=Clock()) as cl:
        rm = cl.parts.projector.read_models
        rebuilt = {"entities", "audit"}
        assert rm.positions() == {n: 0 if n in rebuilt else events for n in READ_MODEL_NAMES}
        assert cl.parts.projector.pending(only=READ_MODEL_NAMES[0]) == 0
        cl.catch_up()
        assert rm.positions() == dict.fromkeys(READ_MODEL_NAMES, events)
        # The journal keeps its rows, recorded before actors were kept: no actor until it is
        # rebuilt.  Everything else is as a fresh projection makes it.
        got = snapshot(cl)
        assert {a for (a,) in rm.db.query("SELECT actor FROM journal_entries")} == {None}
        assert [replace(line, actor=None) for line in expected["journal"]] == got["journal"]
        del got["tables"]["journal_entries"], expected["tables"]["journal_entries"]
        del got["journal"], expected["journal"]
        assert got == expected
        assert cl.reconcile_internal().clean
    db = SqliteDatabase(path)
    assert sqlite_applied(db) == read_model_migration_ids()
    db.close()
    assert "balances_kind" not in sqlite_schema(path)[1]
