"""SQLite follows the read-model migrations statement by statement: what it cannot follow is
translated, left out on purpose, or refused loudly."""

from __future__ import annotations

import pytest

from creator_ledger.adapters.readmodels.schema import (
    UntranslatableStatementError,
    migration_ids,
    migration_text,
    read_model_migration_ids,
    sqlite_statements,
)


def test_every_migration_but_the_event_store_is_a_read_model_migration_in_order() -> None:
    ids = migration_ids()
    assert ids == sorted(ids)
    assert ids[0] == "0001_event_store"
    # The event store's (PostgreSQL only): its tables, the append and load functions, the
    # seals.
    event_store = {
        "0001_event_store",
        "0006_append_events",
        "0007_tamper_evidence",
        "0011_load_aggregates",
        "0012_faster_event_seals",
    }
    assert event_store <= set(ids)
    assert read_model_migration_ids() == [i for i in ids if i not in event_store]


def test_every_read_model_migration_translates_for_sqlite() -> None:
    for migration_id in read_model_migration_ids():
        for statement in sqlite_statements(migration_text(migration_id)):
            assert "INCLUDE" not in statement
            assert "timestamptz" not in statement
            assert "uuid" not in statement


def test_postgres_only_clauses_are_translated_or_left_out() -> None:
    sql = """
        CREATE TABLE t (id uuid PRIMARY KEY, at timestamptz, code text COLLATE "C"
            CHECK (char_length(code) = 3));  -- a comment; with a semicolon
        CREATE INDEX t_at ON t (at) INCLUDE (id);
        ALTER TABLE t SET (fillfactor = 70);
        ALTER TABLE t ALTER COLUMN code TYPE text COLLATE "C",
            ADD CONSTRAINT t_code CHECK (char_length(code) = 3),
            ADD COLUMN extra uuid;
        DROP INDEX t_at;
    """
    assert sqlite_statements(sql) == [
        "CREATE TABLE t (id text PRIMARY KEY, at text, code text COLLATE BINARY\n"
        "            CHECK (length(code) = 3))",
        "CREATE INDEX t_at ON t (at)",
        "ALTER TABLE t ADD COLUMN extra text",
        "DROP INDEX t_at",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
        "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
        "CREATE TRIGGER g BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
    ],
)
def test_a_statement_sqlite_cannot_follow_is_refused_loudly(statement: str) -> None:
    with pytest.raises(UntranslatableStatementError, match=r"translate it in schema\.py"):
        sqlite_statements(statement)
