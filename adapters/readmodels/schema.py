"""The read-model schema, from one source for both databases: the SQL files in ``migrations/``.

PostgreSQL gets them from ``creator-ledger migrate`` (yoyo-migrations, which records what it
applied).  SQLite gets every read-model migration, in order, from :func:`migrate_sqlite` when a
ledger is opened: the same statements (split the way yoyo splits them), with the
PostgreSQL-only parts translated, and a ``schema_migrations`` table recording what this file
has applied — so a SQLite file made by an older version gets the newer migrations too.

What SQLite cannot follow is translated or left out on purpose, and anything else fails loudly
(:class:`UntranslatableStatementError`), so a new migration cannot silently skip SQLite:

* ``uuid`` and ``timestamptz`` columns are ``text``; ``COLLATE "C"`` is ``COLLATE BINARY``;
  ``char_length`` is ``length``; index ``INCLUDE (...)`` columns are dropped (SQLite indexes
  cover no extra columns);
* ``ALTER TABLE ... SET (fillfactor ...)`` (storage tuning) is left out;
* ``ALTER TABLE ... ALTER COLUMN ... TYPE`` is left out: SQLite's column types are affinities
  (``char(3)`` and ``text`` are both TEXT, and SQLite never pads);
* ``ALTER TABLE ... ADD CONSTRAINT ... CHECK`` is left out: SQLite cannot add a constraint to
  an existing table (the values come from the domain's validated codes either way);
* ``ALTER TABLE ... ADD COLUMN``, ``DROP COLUMN`` and ``RENAME`` are applied one action per
  statement, as SQLite requires.

The event store's migrations (``0001``, ``0007``) are not read-model migrations: SQLite's event
store is created by the eventsourcing library, its seals by the event store adapter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources

import sqlparse

from creator_ledger.adapters.sql import Cursor, SqliteDatabase

#: Migrations that belong to the event store, not the read models (SQLite does not get them).
EVENT_STORE_MIGRATIONS = frozenset(
    {
        "0001_event_store",
        "0006_append_events",
        "0007_tamper_evidence",
        "0011_load_aggregates",
        "0012_faster_event_seals",
    }
)

#: Each read model: its own tracking position, and the tables it writes.  A batch moves every
#: read model it covers in the same transaction as their rows.
READ_MODELS: dict[str, tuple[str, ...]] = {
    "journal": ("journal_entries", "postings", "balances"),
    "entities": (
        "funds",
        "programs",
        "periods",
        "creators",
        "creator_holds",
        "creator_contracts",
        "agreements",
        "claim_items",
    ),
    "payouts": ("payouts",),
    "audit": ("audit_entries", "audit_effects", "audit_creators"),
}
READ_MODEL_TABLES = tuple(t for tables in READ_MODELS.values() for t in tables)
#: table -> the read model that writes it
TABLE_READ_MODEL = {t: name for name, tables in READ_MODELS.items() for t in tables}

SQLITE_MIGRATIONS_TABLE = "schema_migrations"


class UntranslatableStatementError(Exception):
    """A read-model migration has a statement SQLite cannot follow: translate it here."""


def migration_ids() -> list[str]:
    """Every migration in ``migrations/``, in the order they apply (yoyo's: by file name)."""
    folder = resources.files("creator_ledger.migrations")
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def read_model_migration_ids() -> list[str]:
    return [m for m in migration_ids() if m not in EVENT_STORE_MIGRATIONS]


def migration_text(migration_id: str) -> str:
    path = resources.files("creator_ledger.migrations").joinpath(f"{migration_id}.sql")
    return path.read_text(encoding="utf-8")


def statements(sql: str) -> list[str]:
    """The statements of a migration, split as yoyo splits them, without comments."""
    out = []
    for raw in sqlparse.split(sql):
        text = sqlparse.format(raw, strip_comments=True).strip().rstrip(";").strip()
        if text:
            out.append(text)
    return out


# -- PostgreSQL -> SQLite -----------------------------------------------------------------------

_ALTER_TABLE = re.compile(r"ALTER\s+TABLE\s+(?:ONLY\s+)?(\w+)\s+(.*)", re.IGNORECASE | re.DOTALL)
_PASS_THROUGH = re.compile(
    r"(CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)|DROP\s+(TABLE|INDEX)|INSERT|UPDATE|DELETE|ANALYZE)\b",
    re.IGNORECASE,
)


def _types(sql: str) -> str:
    sql = re.sub(r"\bINCLUDE\s*\([^)]*\)", "", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\b(uuid|timestamptz)\b", "text", sql)
    sql = re.sub(r'\bCOLLATE\s+"C"', "COLLATE BINARY", sql, flags=re.IGNORECASE)
    return re.sub(r"\bchar_length\s*\(", "length(", sql, flags=re.IGNORECASE).strip()


def _split_actions(actions: str) -> list[str]:
    """``ALTER TABLE`` actions, split at the commas outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(actions):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(actions[start:i].strip())
            start = i + 1
    out.append(actions[start:].strip())
    return [a for a in out if a]


def _alter_table(statement: str) -> list[str]:
    match = _ALTER_TABLE.fullmatch(statement)
    assert match is not None
    table, actions = match.groups()
    out = []
    for action in _split_actions(actions):
        words = action.upper().replace("(", " ( ").split()
        if words[:2] == ["SET", "("]:
            continue  # storage parameters (fillfactor): PostgreSQL tuning
        if words[:2] == ["ALTER", "COLUMN"] and (
            words[3:4] == ["TYPE"] or words[3:6] == ["SET", "DATA", "TYPE"]
        ):
            continue  # SQLite's types are affinities; char(n) and text are both TEXT
        if words[:2] == ["ADD", "CONSTRAINT"] and words[3:4] == ["CHECK"]:
            continue  # SQLite cannot add a constraint to an existing table
        if words[0] == "ADD" and words[1] not in {"CONSTRAINT", "CHECK", "PRIMARY", "UNIQUE"}:
            out.append(f"ALTER TABLE {table} {_types(action)}")  # ADD [COLUMN] name type
            continue
        if words[0] == "RENAME" or words[:2] == ["DROP", "COLUMN"]:
            out.append(f"ALTER TABLE {table} {action}")  # SQLite does these (one per statement)
            continue
        msg = f"SQLite cannot follow ALTER TABLE {table} {action!r}: translate it in schema.py"
        raise UntranslatableStatementError(msg)
    return out


def sqlite_statements(sql: str) -> list[str]:
    """A read-model migration's statements, translated for SQLite (see the module doc)."""
    out: list[str] = []
    for statement in statements(sql):
        if _ALTER_TABLE.fullmatch(statement):
            out.extend(_alter_table(statement))
        elif _PASS_THROUGH.match(statement):
            out.append(_types(statement))
        else:
            msg = f"SQLite cannot follow {statement[:80]!r}: translate it in schema.py"
            raise UntranslatableStatementError(msg)
    return out


# -- applying to a SQLite file ------------------------------------------------------------------


def _has_table(cur: Cursor, name: str) -> bool:
    cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", (name,))
    return cur.fetchone() is not None


def sqlite_applied(db: SqliteDatabase) -> list[str]:
    """The read-model migrations this SQLite file has applied."""
    rows = db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s",
        (SQLITE_MIGRATIONS_TABLE,),
    )
    if not rows:
        return []
    return [str(r[0]) for r in db.query(f"SELECT id FROM {SQLITE_MIGRATIONS_TABLE} ORDER BY id")]


def migrate_sqlite(db: SqliteDatabase, *, upto: str | None = None) -> list[str]:
    """Apply the read-model migrations this SQLite file lacks, in order, each in one
    transaction with its record in ``schema_migrations``; returns the ids applied now.

    A file made before ``schema_migrations`` existed has exactly the first read-model
    migration's tables (it was applied, idempotently, on every open): it is recorded as
    applied and the later ones follow.  ``upto`` stops after that migration (for tests)."""
    pending = read_model_migration_ids()
    if upto is not None:
        assert upto in pending, upto
        pending = pending[: pending.index(upto) + 1]
    done: list[str] = []
    for migration_id in pending:
        with db.transaction() as cur:  # BEGIN IMMEDIATE: one process migrates at a time
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {SQLITE_MIGRATIONS_TABLE}"
                " (id text PRIMARY KEY, applied_at text NOT NULL)"
            )
            cur.execute(f"SELECT id FROM {SQLITE_MIGRATIONS_TABLE}")
            applied = {str(r[0]) for r in cur.fetchall()}
            if not applied and _has_table(cur, "projection_tracking"):
                first = read_model_migration_ids()[0]
                _record(cur, first)
                applied.add(first)
            if migration_id in applied:
                continue
            for statement in sqlite_statements(migration_text(migration_id)):
                cur.execute(statement)
            _record(cur, migration_id)
            done.append(migration_id)
    return done


def _record(cur: Cursor, migration_id: str) -> None:
    cur.execute(
        f"INSERT INTO {SQLITE_MIGRATIONS_TABLE} (id, applied_at) VALUES (%s, %s)",
        (migration_id, datetime.now(UTC).isoformat()),
    )
