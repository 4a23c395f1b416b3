"""``creator-ledger migrate``: apply the SQL in ``migrations/`` to PostgreSQL, idempotently.

Uses yoyo-migrations: each file is applied once, in a transaction, and recorded (with its hash)
in ``_yoyo_migration``; a lock table keeps two runs from applying the same migration at once.

Everything lands in the schema ``LEDGER_POSTGRES_SCHEMA`` (created if missing; default
``public``): yoyo's connection puts it first on the search path, so the migrations' unqualified
names, and yoyo's own tables, are created there and nowhere else.  The URL's options
(``sslmode``, ...) and the connect timeout apply to that connection too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import psycopg.sql
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from creator_ledger.adapters import database_errors
from creator_ledger.ledger.bootstrap import database_address
from creator_ledger.ledger.settings import Settings


def _yoyo_url(settings: Settings) -> str:
    p = settings.postgres_parts()
    auth = quote(p["user"], safe="") + (
        f":{quote(p['password'], safe='')}" if p["password"] else ""
    )
    args = settings.postgres_options()
    args["schema"] = settings.postgres_schema
    args.setdefault("connect_timeout", str(settings.connect_timeout_whole_s))
    return (
        f"postgresql+psycopg://{auth}@{p['host']}:{p['port']}/{quote(p['dbname'], safe='')}"
        f"?{urlencode(args)}"
    )


def _migrations(folder: str) -> MigrationList:
    # ``migrations/`` is a package so its SQL ships with the wheel; its __init__.py is not one.
    return MigrationList([m for m in read_migrations(folder) if m.id != "__init__"])


@contextmanager
def _translated(settings: Settings) -> Iterator[None]:
    """Database failures as the ledger's own errors: one line, the host, no password."""
    try:
        yield
    except Exception as e:
        translated = database_errors.translate(e, database_address(settings))
        if translated is None:
            raise
        raise translated from e


def create_schema(settings: Settings) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` the ledger's schema (the migrating role owns it)."""
    options: dict[str, Any] = settings.postgres_options()
    options.setdefault("connect_timeout", str(settings.connect_timeout_whole_s))
    with psycopg.connect(settings.postgres_conninfo(), autocommit=True, **options) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                psycopg.sql.Identifier(settings.postgres_schema)
            )
        )


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the ids applied now (empty when up to date)."""
    if not settings.is_postgres:
        return []  # the embedded SQLite store creates its schema itself
    with _translated(settings):
        create_schema(settings)
        backend = get_backend(_yoyo_url(settings))
        try:
            with resources.as_file(resources.files("creator_ledger.migrations")) as folder:
                migrations = _migrations(str(folder))
                with backend.lock():
                    pending = backend.to_apply(migrations)
                    backend.apply_migrations(pending)
        finally:
            backend.connection.close()
    return [m.id for m in pending]


def applied(settings: Settings) -> list[str]:
    if not settings.is_postgres:
        return []
    with _translated(settings):
        backend = get_backend(_yoyo_url(settings))
        try:
            with resources.as_file(resources.files("creator_ledger.migrations")) as folder:
                migrations = _migrations(str(folder))
                return [m.id for m in migrations if backend.is_applied(m)]
        finally:
            backend.connection.close()
