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


def background_writes(server: str) -> dict[str, int]:
    """The server's checkpointer and background writer counters (``pg_stat_bgwriter``):
    checkpoints completed, and buffers written by checkpoints, by the background writer and by
    backends themselves."""
    with psycopg.connect(f"{server}/postgres") as conn:
        row = conn.execute(
            "SELECT checkpoints_timed + checkpoints_req, buffers_checkpoint, buffers_clean,"
            " buffers_backend FROM pg_stat_bgwriter"
        ).fetchone()
    assert row is not None
    names = ("checkpoints", "buffers_checkpoint", "buffers_clean", "buffers_backend")
    return dict(zip(names, (int(v) for v in row), strict=True))


def writes_since(server: str, before: dict[str, int]) -> dict[str, int]:
    """What the server wrote in the background since ``before`` (:func:`background_writes`):
    a timed step during which a checkpoint completed paid for its writes.  (A checkpoint's
    counters move when it ends: one still running as the step ends is not counted.)"""
    now = background_writes(server)
    return {k: now[k] - before[k] for k in now}


def drop_database(server: str, dbname: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
