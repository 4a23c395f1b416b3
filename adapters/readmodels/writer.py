"""Writing a projection batch's rows: entity changes, journal entries, postings with their
running balances and the balances (:mod:`.postings`), and the audit trail.

PostgreSQL writes entity changes set-based (``COPY``, into a temporary table where rows are
updated or deleted, then one statement per shape); SQLite row by row.  The caller
(:class:`~.store.ReadModels`) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from creator_ledger.adapters.readmodels.batch import (
    TABLE_KEYS,
    AuditRows,
    Change,
    PostingRow,
    ProjectionBatch,
)
from creator_ledger.adapters.readmodels.postings import (
    AccountKey,
    copy_balances,
    packed,
    unpacked,
    write_postings,
    write_postings_set_based,
)
from creator_ledger.adapters.sql import Cursor, Database

#: PostgreSQL applies a group of at least this many rows with COPY and one statement.
BULK_MIN_ROWS = 50

_ENTRY_COLUMNS = (
    "entry_id",
    "kind",
    "originator_id",
    "originator_version",
    "effective_at",
    "effective_on",
    "recorded_at",
    "description",
    "actor",
)

_AUDIT_COLUMNS = (
    "audit_id",
    "first_position",
    "last_position",
    "recorded_at",
    "last_recorded_at",
    "actor",
    "command",
    "idempotency_key",
    "run_id",
    "events",
    "result",
)
_EFFECT_COLUMNS = ("audit_id", "kind", "events")


@dataclass(frozen=True)
class _Upsert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET ...`` of ``columns`` of ``table``, from
    parameters or from a table of the same columns."""

    table: str
    columns: tuple[str, ...]
    key: str
    update: str

    def _insert(self) -> str:
        return f"INSERT INTO {self.table} ({', '.join(self.columns)})"

    def _conflict(self) -> str:
        return f" ON CONFLICT ({self.key}) DO UPDATE SET {self.update}"

    def values(self) -> str:
        marks = ", ".join(["%s"] * len(self.columns))
        return f"{self._insert()} VALUES ({marks}){self._conflict()}"

    def from_table(self, source: str) -> str:
        columns = ", ".join(self.columns)
        return f"{self._insert()} SELECT {columns} FROM {source}{self._conflict()}"


_AUDIT_ENTRY_UPSERT = _Upsert(
    "audit_entries",
    _AUDIT_COLUMNS,
    "audit_id",
    "last_position = excluded.last_position, last_recorded_at = excluded.last_recorded_at,"
    " events = audit_entries.events + excluded.events,"
    " run_id = COALESCE(audit_entries.run_id, excluded.run_id),"
    " result = COALESCE(audit_entries.result, excluded.result)",
)
_AUDIT_EFFECT_UPSERT = _Upsert(
    "audit_effects",
    _EFFECT_COLUMNS,
    "audit_id, kind",
    "events = audit_effects.events + excluded.events",
)

_ORDER = {"insert": 0, "update": 1, "delete": 2}
_UUID_OID, _TEXT_OID, _BPCHAR_OID = 2950, 25, 1042


def _as_uuid(value: Any) -> Any:
    return UUID(value) if isinstance(value, str) else value


class RowWriter:
    """Writes the rows of projection batches (see the module docstring)."""

    def __init__(self, db: Database, *, set_based_postings: bool = False) -> None:
        self.db = db
        #: PostgreSQL: write postings the earlier, set-based way (for comparisons).
        self.set_based_postings = set_based_postings
        self._types: dict[str, dict[str, int]] = {}
        #: The balances a rebuild carries between batches (see :meth:`replacing`).
        self._carried: dict[AccountKey, tuple[int, date]] | None = None

    def write(self, cur: Cursor, batch: ProjectionBatch) -> None:
        """Write every row of ``batch`` inside the caller's transaction."""
        if batch.entries:
            self.db.copy_rows(cur, "journal_entries", _ENTRY_COLUMNS, batch.entries)
        if batch.postings:
            self.write_postings(cur, batch.postings)
        for table, rows in batch.changes.items():
            self.write_changes(cur, table, list(rows.values()))
        if batch.audit:
            self.write_audit(cur, batch.audit)

    # -- the audit trail ------------------------------------------------------------------------

    def write_audit(self, cur: Cursor, audit: AuditRows) -> None:
        """Upsert the batch's audit rows: a command seen for the first time is inserted, one
        seen before (an execution spans many transactions) is extended.

        PostgreSQL copies the rows of the commands seen for the first time straight in
        (binary ``COPY``: a rebuild's audit trail is almost all of them) and upserts the few
        others, in one statement per table when there are many of them; no write is ever an
        ``executemany`` of unbounded size (psycopg runs those in pipeline mode, which issue 9
        saw hang under large writes)."""
        seen = self._audit_ids_seen(cur, list(audit.entries))
        entries = [
            (
                e.audit_id,
                e.first_position,
                e.last_position,
                e.recorded_at,
                e.last_recorded_at,
                e.actor,
                e.command,
                e.idempotency_key,
                e.run_id,
                e.events,
                e.result,
            )
            for e in audit.entries.values()
        ]
        effects = [(a, k, n) for (a, k), n in audit.effects.items()]
        if self.db.dialect == "postgres":
            fresh = [e for e in entries if e[0] not in seen]
            self._copy_binary(cur, "audit_entries", _AUDIT_COLUMNS, fresh)
            self._upsert(cur, _AUDIT_ENTRY_UPSERT, [e for e in entries if e[0] in seen])
            self._copy_binary(
                cur, "audit_effects", _EFFECT_COLUMNS, [f for f in effects if f[0] not in seen]
            )
            self._upsert(cur, _AUDIT_EFFECT_UPSERT, [f for f in effects if f[0] in seen])
        else:
            cur.executemany(_AUDIT_ENTRY_UPSERT.values(), entries)
            cur.executemany(_AUDIT_EFFECT_UPSERT.values(), effects)
        # A command seen for the first time has no creator links yet: its links are copied
        # straight in; those of a command seen before may be there already.
        fresh_links = [link for link in audit.creators if link[1] not in seen]
        again = sorted(link for link in audit.creators if link[1] in seen)
        if self.db.dialect == "postgres":
            self.db.copy_rows(
                cur,
                "audit_creators",
                ("creator_id", "audit_id"),
                fresh_links,
                types=("text", "text"),
            )
        else:
            again += fresh_links
        if self.db.dialect == "postgres" and len(again) >= BULK_MIN_ROWS:
            cur.execute(
                "INSERT INTO audit_creators (creator_id, audit_id)"
                f" SELECT * FROM unnest({unpacked('text')}, {unpacked('text')})"
                " ON CONFLICT DO NOTHING",
                (packed(c for c, _ in again), packed(a for _, a in again)),
            )
        elif again:
            cur.executemany(
                "INSERT INTO audit_creators (creator_id, audit_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                again,
            )

    def _upsert(self, cur: Cursor, upsert: _Upsert, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL: ``rows`` upserted one by one when few, else copied into a temporary
        table and upserted from it in one statement."""
        if len(rows) < BULK_MIN_ROWS:
            if rows:
                cur.executemany(upsert.values(), rows)
            return
        temp = f"batch_{upsert.table}"
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT * FROM {upsert.table} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {temp}")
        self._copy_binary(cur, upsert.table, upsert.columns, rows, into=temp)
        cur.execute(upsert.from_table(temp))

    def _audit_ids_seen(self, cur: Cursor, audit_ids: list[str]) -> set[str]:
        """Those of ``audit_ids`` that have a row already (a batch names a few commands)."""
        seen: set[str] = set()
        for start in range(0, len(audit_ids), 500):
            chunk = audit_ids[start : start + 500]
            marks = ",".join(["%s"] * len(chunk))
            cur.execute(f"SELECT audit_id FROM audit_entries WHERE audit_id IN ({marks})", chunk)
            seen.update(str(r[0]) for r in cur.fetchall())
        return seen

    # -- entity tables --------------------------------------------------------------------------

    def write_changes(self, cur: Cursor, table: str, changes: list[Change]) -> None:
        """Write a table's net row changes: inserts, then updates, then deletes, each group of
        the same shape in one go (``COPY`` and one statement on PostgreSQL when large)."""
        keys = TABLE_KEYS[table]
        groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Change]] = {}
        for c in changes:
            shape = (c.kind, tuple(sorted(c.values)), tuple(sorted(c.add)))
            groups.setdefault(shape, []).append(c)
        for (kind, columns, added), group in sorted(groups.items(), key=lambda g: _ORDER[g[0][0]]):
            bulk = self.db.dialect == "postgres" and len(group) >= BULK_MIN_ROWS
            if kind == "insert":
                rows = [tuple(c.values[col] for col in columns) for c in group]
                if bulk:
                    self._copy_binary(cur, table, columns, rows)
                else:
                    marks = ",".join(["%s"] * len(columns))
                    cur.executemany(
                        f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows
                    )
                continue
            sets = [col for col in columns if col not in keys]
            rows = [
                tuple(c.values[col] for col in sets)
                + tuple(c.add[a] for a in added)
                + tuple(c.values[k] for k in keys)
                for c in group
            ]
            if bulk:
                self._bulk_change(cur, table, kind, keys, sets, added, rows)
            elif kind == "update":
                assignments = [f"{col} = %s" for col in sets] + [f"{a} = {a} + %s" for a in added]
                where = " AND ".join(f"{k} = %s" for k in keys)
                cur.executemany(f"UPDATE {table} SET {', '.join(assignments)} WHERE {where}", rows)
            else:
                where = " AND ".join(f"{k} = %s" for k in keys)
                cur.executemany(f"DELETE FROM {table} WHERE {where}", rows)

    def _copy_binary(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        *,
        into: str | None = None,
    ) -> None:
        """PostgreSQL: binary ``COPY`` of new rows of ``table`` (into the table ``into`` of
        the same columns, if given) (the server parses no text: ~2x a text ``COPY`` of rows
        with timestamps), ids given as text converted to ``UUID``s where the column is a
        ``uuid``."""
        if not rows:
            return
        types = self._column_types(cur, table)
        oids = [types[c] for c in columns]
        uuids = [i for i, oid in enumerate(oids) if oid == _UUID_OID]
        if uuids:
            rows = [
                tuple(_as_uuid(v) if i in uuids else v for i, v in enumerate(row)) for row in rows
            ]
        self.db.copy_rows(cur, into or table, columns, rows, types=oids)

    def _column_types(self, cur: Cursor, table: str) -> dict[str, int]:
        """Column -> type oid of ``table`` (read once; ``char(n)`` copied as ``text``)."""
        types = self._types.get(table)
        if types is None:
            cur.execute(
                "SELECT attname, atttypid::int FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            )
            types = self._types[table] = {
                str(n): _TEXT_OID if int(t) == _BPCHAR_OID else int(t) for n, t in cur.fetchall()
            }
        return types

    def _bulk_change(
        self,
        cur: Cursor,
        table: str,
        kind: str,
        keys: tuple[str, ...],
        sets: list[str],
        added: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """PostgreSQL: many updates or deletes of one shape via a temporary table."""
        temp = f"batch_{table}"
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT * FROM {table} WITH NO DATA")
        cur.execute(f"TRUNCATE {temp}")
        self.db.copy_rows(cur, temp, [*sets, *added, *keys], rows)
        cur.execute(f"ANALYZE {temp}")
        match = " AND ".join(f"x.{k} = t.{k}" for k in keys)
        if kind == "update":
            assignments = [f"{c} = t.{c}" for c in sets] + [f"{a} = x.{a} + t.{a}" for a in added]
            cur.execute(
                f"UPDATE {table} x SET {', '.join(assignments)} FROM {temp} t WHERE {match}"
            )
        else:
            cur.execute(f"DELETE FROM {table} x USING {temp} t WHERE {match}")

    # -- postings and balances ------------------------------------------------------------------

    def write_postings(self, cur: Cursor, postings: list[PostingRow]) -> None:
        """Postings with their running balances, and the balances (:mod:`.postings`)."""
        if self.set_based_postings and self.db.dialect == "postgres":
            write_postings_set_based(self.db, cur, postings)
        else:
            write_postings(self.db, cur, postings, self._carried)

    @contextmanager
    def replacing(self, cur: Cursor) -> Iterator[None]:
        """PostgreSQL, around a rebuild's batches into emptied tables (:meth:`ReadModels.replace`):
        the accounts' balances are carried in memory from batch to batch (no read and no update
        of ``balances`` per batch) and copied into the table once, at the end."""
        assert self.db.dialect == "postgres"
        assert self._carried is None, "one rebuild at a time"
        self._carried = {}
        try:
            yield
            copy_balances(self.db, cur, self._carried)
        finally:
            self._carried = None
