"""Database errors become the ledger's own, at the adapters' boundary: an operator reads one line
that says where the ledger looked and what to do, never a driver's traceback or a password.

* :class:`~domain.errors.DatabaseUnavailableError`: the server cannot be reached, refused the
  connection, or did not answer within the connect timeout (the pool's ``PoolTimeout`` too).
* :class:`~domain.errors.NotMigratedError`: the server answered, but the database does not
  exist, or lacks the ledger's tables or some of its migrations: run ``creator-ledger migrate``.

:func:`translate` reads an exception and the exceptions it was raised from (the event-sourcing
library wraps psycopg's errors in its own, ``raise ... from``), so it needs no import of the
library.  :func:`probe_postgres` is the fail-fast check a ledger makes when it opens.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
import psycopg.errors
import psycopg_pool

from creator_ledger.domain.errors import DatabaseUnavailableError, LedgerError, NotMigratedError

__all__ = ["MIGRATIONS_TABLE", "DatabaseAddress", "probe_postgres", "translate"]

#: Where ``creator-ledger migrate`` (yoyo-migrations) records what it applied.
MIGRATIONS_TABLE = "_yoyo_migration"
_MIGRATE = "run `creator-ledger migrate`"
#: libpq's words when the database itself is missing (a connection error has no SQLSTATE).
_NO_DATABASE = re.compile(r'database "[^"]*" does not exist')
#: SQLSTATEs meaning "the schema is not there": undefined table, object, function, column,
#: schema.
_NOT_MIGRATED = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedObject,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.InvalidSchemaName,
)


@dataclass(frozen=True)
class DatabaseAddress:
    """Where the ledger's database is, as an operator names it; the password is kept only to
    mask it, should a driver ever repeat it."""

    kind: Literal["postgres", "sqlite", "memory"]
    host: str = ""
    port: str = ""
    database: str = ""
    user: str = ""
    schema: str = ""
    password: str = field(default="", repr=False)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"the SQLite file {self.database}"
        if self.kind == "memory":
            return "the in-memory store"
        where = f"PostgreSQL at {self.host}:{self.port}, database {self.database!r}"
        if self.schema and self.schema != "public":
            where += f", schema {self.schema!r}"
        return where + (f" (user {self.user})" if self.user else "")

    def fields(self) -> dict[str, str]:
        return {"host": self.host, "port": self.port, "database": self.database}

    def mask(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (or during), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _reason(exc: BaseException, address: DatabaseAddress) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
    return address.mask(text)


def translate(exc: BaseException, address: DatabaseAddress) -> LedgerError | None:  # noqa: PLR0911 - one return per kind of failure
    """The ledger's error for a database failure ``exc`` (or one it was raised from), or None
    when it is not one."""
    for e in _chain(exc):
        if isinstance(e, LedgerError):
            return e
        if isinstance(e, psycopg.errors.InvalidCatalogName) or (
            isinstance(e, psycopg.OperationalError) and _NO_DATABASE.search(str(e))
        ):
            msg = (
                f"the database {address.database!r} does not exist on {address.host}:"
                f"{address.port}: create it, then {_MIGRATE}"
            )
            return NotMigratedError(msg, **address.fields(), pending=["all"])
        if isinstance(e, _NOT_MIGRATED):
            msg = f"{address.describe()} is not migrated ({_reason(e, address)}): {_MIGRATE}"
            return NotMigratedError(msg, **address.fields())
        if isinstance(e, psycopg_pool.PoolTimeout):
            msg = (
                f"cannot reach {address.describe()}: no connection within the connect timeout"
                " (LEDGER_CONNECT_TIMEOUT_S)"
            )
            return DatabaseUnavailableError(msg, **address.fields())
        if isinstance(e, psycopg.OperationalError):
            msg = f"cannot reach {address.describe()}: {_reason(e, address)}"
            return DatabaseUnavailableError(msg, **address.fields())
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
            msg = f"cannot open {address.describe()}: {_reason(e, address)}"
            return DatabaseUnavailableError(msg, **address.fields())
        if isinstance(e, OSError) and address.kind == "sqlite" and e.filename is not None:
            msg = f"cannot open {address.describe()}: {e.strerror or type(e).__name__}"
            return DatabaseUnavailableError(msg, **address.fields())
    return None


def probe_postgres(
    conninfo: str,
    options: Mapping[str, Any],
    address: DatabaseAddress,
    *,
    migrations: Sequence[str],
) -> None:
    """Connect once (within libpq's ``connect_timeout`` in ``options``) and check that every
    one of ``migrations`` was applied; raises :class:`DatabaseUnavailableError` or
    :class:`NotMigratedError` saying which, and what to do."""
    try:
        with psycopg.connect(conninfo, autocommit=True, **options) as conn:
            rows = conn.execute(f"SELECT migration_id FROM {MIGRATIONS_TABLE}").fetchall()
    except psycopg.errors.UndefinedTable:
        msg = f"{address.describe()} has no ledger tables: {_MIGRATE}"
        raise NotMigratedError(msg, **address.fields(), pending=list(migrations)) from None
    except psycopg.Error as e:
        translated = translate(e, address)
        if translated is None:
            raise
        raise translated from None
    applied = {str(r[0]) for r in rows}
    pending = [m for m in migrations if m not in applied]
    if pending:
        msg = (
            f"{address.describe()} lacks {len(pending)} migration(s) ({', '.join(pending)}):"
            f" {_MIGRATE}"
        )
        raise NotMigratedError(msg, **address.fields(), pending=pending)
