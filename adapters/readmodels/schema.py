"""The read-model schema: PostgreSQL's comes from ``migrations/``; SQLite's is derived from the
same file, so the two cannot drift apart."""

from __future__ import annotations

import re
from importlib import resources

READ_MODEL_MIGRATION = "0002_read_models.sql"

READ_MODEL_TABLES = (
    "journal_entries",
    "postings",
    "balances",
    "funds",
    "programs",
    "periods",
    "creators",
    "creator_holds",
    "creator_contracts",
    "agreements",
    "claim_items",
    "payouts",
)


def migration_text(name: str) -> str:
    return resources.files("creator_ledger.migrations").joinpath(name).read_text(encoding="utf-8")


def sqlite_read_model_schema() -> str:
    """The read-model DDL for SQLite (types mapped, PostgreSQL-only clauses dropped)."""
    sql = migration_text(READ_MODEL_MIGRATION)
    sql = re.sub(r"\bINCLUDE \([^)]*\)", "", sql)
    sql = re.sub(r"\b(uuid|timestamptz)\b", "text", sql)
    sql = sql.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ")
    return sql.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ")
