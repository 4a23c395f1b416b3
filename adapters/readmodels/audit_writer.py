"""Writing the audit trail's rows (``audit_entries``, ``audit_effects``, ``audit_creators``):
a command seen for the first time is inserted, one seen before (an execution spans many
transactions) is extended.

PostgreSQL copies the rows of the commands seen for the first time straight in (binary
``COPY``: a rebuild's audit trail is almost all of them) and upserts the few others, in one
statement per table when there are many; no write is an ``executemany`` of unbounded size
(psycopg runs those in pipeline mode, which issue 9 saw hang under large writes).  SQLite
upserts row by row.  During a rebuild (:meth:`AuditWriter.rebuilding`) the commands written so
far and the creators linked to each are known in memory, so that only the links not written
yet are copied (the table may have no key during the load).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from creator_ledger.adapters.readmodels.batch import AuditRows
from creator_ledger.adapters.readmodels.postings import packed, unpacked
from creator_ledger.adapters.sql import Cursor, Database, empty_temp_table_like

#: PostgreSQL applies a group of at least this many rows with COPY and one statement.
BULK_MIN_ROWS = 50


class CopyBinary(Protocol):
    """Binary ``COPY`` of rows of a table's columns (into ``into``, a table like it)."""

    def __call__(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        into: str | None = None,
    ) -> None: ...


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
_LINK_TYPES = ("text", "text")


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


@dataclass
class _Rebuild:
    #: the audit ids of the commands written so far
    commands: set[str] = field(default_factory=set)
    #: audit id -> the creators linked to it so far
    links: dict[str, set[str]] = field(default_factory=dict)


class AuditWriter:
    """Writes the audit part of projection batches (see the module docstring)."""

    def __init__(self, db: Database, copy: CopyBinary) -> None:
        self.db = db
        self._copy = copy
        self._rebuild: _Rebuild | None = None

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """PostgreSQL, around a rebuild's batches: see the module docstring."""
        assert self._rebuild is None, "one rebuild at a time"
        self._rebuild = _Rebuild()
        try:
            yield
        finally:
            self._rebuild = None

    def write(self, cur: Cursor, audit: AuditRows) -> None:
        """Upsert the batch's audit rows: a command seen for the first time is inserted, one
        seen before (an execution spans many transactions) is extended.

        PostgreSQL copies the rows of the commands seen for the first time straight in
        (binary ``COPY``: a rebuild's audit trail is almost all of them) and upserts the few
        others, in one statement per table when there are many of them; no write is ever an
        ``executemany`` of unbounded size (psycopg runs those in pipeline mode, which issue 9
        saw hang under large writes)."""
        rebuild = self._rebuild
        if rebuild is None:
            seen = self._audit_ids_seen(cur, list(audit.entries))
        else:
            seen = rebuild.commands.intersection(audit.entries)
            rebuild.commands.update(audit.entries)
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
            self._copy(cur, "audit_entries", _AUDIT_COLUMNS, fresh)
            self._upsert(cur, _AUDIT_ENTRY_UPSERT, [e for e in entries if e[0] in seen])
            self._copy(
                cur, "audit_effects", _EFFECT_COLUMNS, [f for f in effects if f[0] not in seen]
            )
            self._upsert(cur, _AUDIT_EFFECT_UPSERT, [f for f in effects if f[0] in seen])
        else:
            cur.executemany(_AUDIT_ENTRY_UPSERT.values(), entries)
            cur.executemany(_AUDIT_EFFECT_UPSERT.values(), effects)
        # A command seen for the first time has no creator links yet: its links are copied
        # straight in; those of a command seen before may be there already.
        if rebuild is not None:
            # The links written so far are known: only the new ones are copied (the table may
            # have no key during the load, so nothing may be written twice).
            written = rebuild.links
            links: list[tuple[str, str]] = []
            for audit_id, named in audit.creators.items():
                done = written.get(audit_id)
                if done is None:
                    written[audit_id] = named
                    links.extend((c, audit_id) for c in named)
                else:
                    new = named - done
                    done |= new
                    links.extend((c, audit_id) for c in new)
            self.db.copy_rows(
                cur, "audit_creators", ("creator_id", "audit_id"), links, types=_LINK_TYPES
            )
            return
        every = audit.links()
        fresh_links = [link for link in every if link[1] not in seen]
        again = [link for link in every if link[1] in seen]
        if self.db.dialect == "postgres":
            self.db.copy_rows(
                cur, "audit_creators", ("creator_id", "audit_id"), fresh_links, types=_LINK_TYPES
            )
        else:
            again += fresh_links
        again.sort()
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
        temp = empty_temp_table_like(cur, upsert.table)
        self._copy(cur, upsert.table, upsert.columns, rows, into=temp)
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
