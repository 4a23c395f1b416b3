"""``creator-ledger migrate``: apply the SQL in ``migrations/`` to PostgreSQL, idempotently.

Uses yoyo-migrations: each file is applied once, in a transaction, and recorded (with its hash)
in ``_yoyo_migration``; a lock table keeps two runs from applying the same migration at once.

Everything lands in the schema ``LEDGER_POSTGRES_SCHEMA`` (created if missing; default
``public``): yoyo's connection puts it first on the search path, so the migrations' unqualified
names, and yoyo's own tables, are created there and nowhere else.  The URL's options
(``sslmode``, ...) and the connect timeout apply to that connection too.

With an application role (``migrate --app-role NAME``, ``LEDGER_APP_ROLE``), the owner then
grants that role exactly what the ledger needs, and nothing else (:func:`grant_app_role`):
``USAGE`` on the schema; on the event store what
:data:`~creator_ledger.adapters.eventstore.APP_ROLE_GRANTS` says (read the events, append them
only through ``ledger_append_events``, write snapshots); reading the migration records; and
full DML on the read models and their tracking positions only (:data:`APP_READ_WRITE_TABLES`).
The role cannot change, delete or truncate a stored event, disable or drop a trigger, replace
a table, or create anything in the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import psycopg.errors
import psycopg.sql
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from creator_ledger.adapters import database_errors
from creator_ledger.adapters.eventstore import APP_ROLE_GRANTS
from creator_ledger.adapters.readmodels.schema import READ_MODEL_TABLES
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.bootstrap import database_address
from creator_ledger.ledger.settings import Settings

#: What ``migrate --app-role`` grants on the ledger's tables besides the event store's
#: (``APP_ROLE_GRANTS``): the one place that says what the application may write.  Every table
#: the migrations create is in exactly one of these lists, or in the event store's grants
#: (``tests/integration/test_app_role.py`` checks it), so a new table is a decision.
#: Read only: the migration records (a ledger checks them when it opens).
APP_READ_ONLY_TABLES: tuple[str, ...] = ("_yoyo_migration",)
#: SELECT, INSERT, UPDATE, DELETE: the read models and their tracking positions (derived from
#: the events, rebuilt by ``projections rebuild``).
APP_READ_WRITE_TABLES: tuple[str, ...] = ("projection_tracking", *READ_MODEL_TABLES)
#: Nothing: yoyo-migrations' own bookkeeping, for ``migrate`` (the owner) alone.
OWNER_ONLY_TABLES: tuple[str, ...] = ("_yoyo_log", "_yoyo_version", "yoyo_lock")


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
    except psycopg.errors.InsufficientPrivilege as e:
        user = settings.postgres_parts()["user"]
        reason = (str(e).strip().splitlines() or [""])[0]
        msg = (
            f"the role {user!r} may not change the ledger's schema ({reason}): run migrate as"
            " the owner role (the application role only reads and appends)"
        )
        raise InvalidInputError(msg, role=user) from None
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


def grant_app_role(settings: Settings, role: str) -> list[str]:
    """As the owner (the migrating role), give ``role`` exactly what the application needs on
    the ledger's schema, and take back anything else it had there (see the module docstring);
    returns the statements run.  Refuses a role that does not exist, is a superuser, is the
    owner, or is a member of the owner (it would hold the owner's rights)."""
    if not settings.is_postgres:
        raise InvalidInputError("--app-role is for PostgreSQL: SQLite has no roles")
    ident = psycopg.sql.Identifier
    schema = ident(settings.postgres_schema)
    to = ident(role)
    statements = [
        psycopg.sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema),
        psycopg.sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, to),
        psycopg.sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, to),
        psycopg.sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, to),
        psycopg.sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(schema, to),
        psycopg.sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, to),
    ]
    grants = [("TABLE", t, "SELECT") for t in APP_READ_ONLY_TABLES]
    grants += [("TABLE", t, "SELECT, INSERT, UPDATE, DELETE") for t in APP_READ_WRITE_TABLES]
    for kind, name, privileges in [*APP_ROLE_GRANTS, *grants]:
        statements.append(
            psycopg.sql.SQL("GRANT {} ON {} {}.{} TO {}").format(
                psycopg.sql.SQL(privileges),
                psycopg.sql.SQL(kind),
                schema,
                psycopg.sql.SQL(name) if kind == "FUNCTION" else ident(name),
                to,
            )
        )
    options: dict[str, Any] = settings.postgres_options()
    options.setdefault("connect_timeout", str(settings.connect_timeout_whole_s))
    with (
        _translated(settings),
        psycopg.connect(settings.postgres_conninfo(), **options) as conn,
        conn.transaction(),
    ):
        _check_app_role(conn, role)
        shown = []
        for statement in statements:
            conn.execute(statement)
            shown.append(statement.as_string(conn))
    return shown


def _check_app_role(conn: psycopg.Connection[Any], role: str) -> None:
    row = conn.execute(
        "SELECT r.rolsuper, r.rolname = current_user, pg_has_role(r.oid, current_user, 'MEMBER')"
        " FROM pg_roles r WHERE r.rolname = %s",
        (role,),
    ).fetchone()
    if row is None:
        msg = (
            f"the application role {role!r} does not exist: create it first"
            f" (CREATE ROLE {role} LOGIN PASSWORD '...'), then run migrate --app-role again"
        )
        raise InvalidInputError(msg, role=role)
    superuser, is_owner, member = row
    if superuser or is_owner or member:
        why = (
            "is a superuser"
            if superuser
            else "is the owner running migrate"
            if is_owner
            else "is a member of the owner running migrate"
        )
        msg = (
            f"the application role {role!r} {why}: it would keep every right on the stored"
            " events; give the application a role of its own (CREATE ROLE ... LOGIN)"
        )
        raise InvalidInputError(msg, role=role)
