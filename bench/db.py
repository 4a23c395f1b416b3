"""The bench's own databases: created fresh (dropped first) and dropped when done."""

from __future__ import annotations

import psycopg
from psycopg import sql

from creator_ledger import Settings
from creator_ledger.ledger.migrate import migrate


def fresh_database(server: str, dbname: str) -> str:
    """Drop and create ``dbname`` on ``server``, apply the ledger's migrations; its URL."""
    drop_database(server, dbname)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = f"{server}/{dbname}"
    migrate(Settings(database_url=url))
    return url


def checkpoint(server: str) -> None:
    """Flush dirty buffers before a timed step, so it does not pay for the previous step's
    writes (needs a superuser, as the bench's default role is; skipped otherwise)."""
    try:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        return


def drop_database(server: str, dbname: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
