"""``creator-ledger migrate``: apply the SQL in ``migrations/`` to PostgreSQL, idempotently.

Uses yoyo-migrations: each file is applied once, in a transaction, and recorded (with its hash)
in ``_yoyo_migration``; a lock table keeps two runs from applying the same migration at once.
"""

from __future__ import annotations

from importlib import resources

from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from creator_ledger.ledger.settings import Settings


def _yoyo_url(settings: Settings) -> str:
    p = settings.postgres_parts()
    auth = p["user"] + (f":{p['password']}" if p["password"] else "")
    return f"postgresql+psycopg://{auth}@{p['host']}:{p['port']}/{p['dbname']}"


def _migrations(folder: str) -> MigrationList:
    # ``migrations/`` is a package so its SQL ships with the wheel; its __init__.py is not one.
    return MigrationList([m for m in read_migrations(folder) if m.id != "__init__"])


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the ids applied now (empty when up to date)."""
    if not settings.is_postgres:
        return []  # the embedded SQLite store creates its schema itself
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
    backend = get_backend(_yoyo_url(settings))
    try:
        with resources.as_file(resources.files("creator_ledger.migrations")) as folder:
            migrations = _migrations(str(folder))
            return [m.id for m in migrations if backend.is_applied(m)]
    finally:
        backend.connection.close()
