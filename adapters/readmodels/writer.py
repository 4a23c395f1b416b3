"""Writing a projection batch's rows: entity changes, journal entries, postings with their
running balances and the balances (:mod:`.postings`), and the audit trail (:mod:`.audit_writer`).

PostgreSQL writes entity changes set-based (``COPY``, into a temporary table where rows are
updated or deleted, then one statement per shape); SQLite row by row.  The caller
(:class:`~.store.ReadModels`) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from operator import itemgetter
from typing import Any
from uuid import UUID

from creator_ledger.adapters.readmodels.audit_writer import BULK_MIN_ROWS, AuditWriter
from creator_ledger.adapters.readmodels.batch import (
    TABLE_KEYS,
    Change,
    PostingRow,
    ProjectionBatch,
)
from creator_ledger.adapters.readmodels.postings import (
    AccountKey,
    copy_balances,
    write_postings,
    write_postings_set_based,
)
from creator_ledger.adapters.sql import Cursor, Database, empty_temp_table_like

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
#: Their types, for a binary ``COPY`` (the rows come from
#: :func:`~creator_ledger.ledger.projection_handlers.project_journal` in these types; a text
#: ``COPY`` of them was ~8% of a rebuild's CPU).
_ENTRY_TYPES = (
    "int8",
    "text",
    "uuid",
    "int8",
    "timestamptz",
    "date",
    "timestamptz",
    "text",
    "text",
)

_ORDER = {"insert": 0, "update": 1, "delete": 2}
_UUID_OID, _TEXT_OID, _BPCHAR_OID = 2950, 25, 1042


def _as_uuid(value: Any) -> Any:
    return UUID(value) if isinstance(value, str) else value


def _with_uuids(row: Sequence[Any], at: list[int]) -> list[Any]:
    """``row`` with the ids at the indexes ``at`` given as text converted to ``UUID``s."""
    out = list(row)
    for i in at:
        out[i] = _as_uuid(out[i])
    return out


def _getter(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function from a row's dict to its values of ``columns``, as a tuple."""
    if len(columns) == 1:
        (column,) = columns
        return lambda values: (values[column],)
    return itemgetter(*columns)


class RowWriter:
    """Writes the rows of projection batches (see the module docstring)."""

    def __init__(self, db: Database, *, set_based_postings: bool = False) -> None:
        self.db = db
        #: PostgreSQL: write postings the earlier, set-based way (for comparisons).
        self.set_based_postings = set_based_postings
        self._types: dict[str, dict[str, int]] = {}
        #: The balances a rebuild carries between batches (see :meth:`replacing`).
        self._carried: dict[AccountKey, tuple[int, date]] | None = None
        self.audit = AuditWriter(db, self._copy_binary)

    def write(self, cur: Cursor, batch: ProjectionBatch) -> None:
        """Write every row of ``batch`` inside the caller's transaction."""
        if batch.entries:
            self.db.copy_rows(
                cur, "journal_entries", _ENTRY_COLUMNS, batch.entries, types=_ENTRY_TYPES
            )
        if batch.postings:
            self.write_postings(cur, batch.postings)
        for table, rows in batch.changes.items():
            self.write_changes(cur, table, list(rows.values()))
        if batch.audit:
            self.audit.write(cur, batch.audit)

    # -- entity tables --------------------------------------------------------------------------

    def write_changes(self, cur: Cursor, table: str, changes: list[Change]) -> None:
        """Write a table's net row changes: inserts, then updates, then deletes, each group of
        the same shape in one go (``COPY`` and one statement on PostgreSQL when large)."""
        keys = TABLE_KEYS[table]
        groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Change]] = {}
        #: a row's columns in the order they were set -> in sorted order (one shape per set)
        canonical: dict[tuple[str, ...], tuple[str, ...]] = {}

        def sorted_once(names: tuple[str, ...]) -> tuple[str, ...]:
            found = canonical.get(names)
            if found is None:
                found = canonical[names] = tuple(sorted(names))
            return found

        for c in changes:
            shape = (c.kind, sorted_once(tuple(c.values)), sorted_once(tuple(c.add)))
            groups.setdefault(shape, []).append(c)
        for (kind, columns, added), group in sorted(groups.items(), key=lambda g: _ORDER[g[0][0]]):
            bulk = self.db.dialect == "postgres" and (
                len(group) >= BULK_MIN_ROWS or (self._carried is not None and kind != "insert")
            )
            if kind == "insert":
                row_of = _getter(columns)
                rows = [row_of(c.values) for c in group]
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
        rows: Sequence[Sequence[Any]],
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
            rows = [_with_uuids(row, uuids) for row in rows]
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
        temp = empty_temp_table_like(cur, table)
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
        """PostgreSQL, around a rebuild's batches into emptied tables (:meth:`ReadModels.replace`,
        whose tables may have no keys during the load):

        * the accounts' balances are carried in memory from batch to batch (no read and no
          update of ``balances`` per batch) and copied into the table once, at the end;
        * the audit trail is written as :meth:`AuditWriter.rebuilding` says;
        * updates and deletes are applied set-based, however few (one join, not a lookup per
          row: a table may have no key to look rows up by)."""
        assert self.db.dialect == "postgres"
        assert self._carried is None, "one rebuild at a time"
        carried = self._carried = {}
        try:
            with self.audit.rebuilding():
                yield
            copy_balances(self.db, cur, carried)
        finally:
            self._carried = None
