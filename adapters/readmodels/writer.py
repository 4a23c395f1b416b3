"""Writing a projection batch's rows: entity changes, journal entries, postings with their
running balances, and the balances.

Running balances: every posting row stores ``balance_after``, the account's balance after it
in business-time order (``effective_on``, then recording order), so a balance *as of* a date is
one index lookup.  Postings that arrive in order (the usual case) are computed from the current
balance; a back-dated posting makes the rows after it be recomputed.

PostgreSQL writes set-based (``COPY`` into a temporary table, then one statement per shape);
SQLite row by row.  The caller (:class:`~.store.ReadModels`) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from creator_ledger.adapters.readmodels.batch import (
    TABLE_KEYS,
    AuditRows,
    Change,
    PostingRow,
    ProjectionBatch,
)
from creator_ledger.adapters.sql import Cursor, Database, as_date

#: PostgreSQL applies a group of at least this many rows with COPY and one statement.
BULK_MIN_ROWS = 50

_POSTING_COLUMNS = (
    "entry_id",
    "seq",
    "kind",
    "owner",
    "currency",
    "amount_minor",
    "effective_on",
    "balance_after",
    "detail",
)
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

AccountKey = tuple[str, str, str]  # (owner, kind, currency)
_ORDER = {"insert": 0, "update": 1, "delete": 2}


class RowWriter:
    """Writes the rows of projection batches (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        seen before (an execution spans many transactions) is extended."""
        cur.executemany(
            "INSERT INTO audit_entries (audit_id, first_position, last_position, recorded_at,"
            " last_recorded_at, actor, command, idempotency_key, run_id, events, result)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (audit_id) DO UPDATE SET last_position = excluded.last_position,"
            " last_recorded_at = excluded.last_recorded_at,"
            " events = audit_entries.events + excluded.events,"
            " run_id = COALESCE(audit_entries.run_id, excluded.run_id),"
            " result = COALESCE(audit_entries.result, excluded.result)",
            [
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
            ],
        )
        cur.executemany(
            "INSERT INTO audit_effects (audit_id, kind, events) VALUES (%s, %s, %s)"
            " ON CONFLICT (audit_id, kind) DO UPDATE"
            " SET events = audit_effects.events + excluded.events",
            [(a, k, n) for (a, k), n in audit.effects.items()],
        )
        links = sorted(audit.creators)
        if self.db.dialect == "postgres" and len(links) >= BULK_MIN_ROWS:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS batch_audit_creators"
                " (creator_id text, audit_id text) ON COMMIT DELETE ROWS"
            )
            self.db.copy_rows(cur, "batch_audit_creators", ("creator_id", "audit_id"), links)
            cur.execute(
                "INSERT INTO audit_creators (creator_id, audit_id)"
                " SELECT creator_id, audit_id FROM batch_audit_creators"
                " ON CONFLICT DO NOTHING"
            )
        elif links:
            cur.executemany(
                "INSERT INTO audit_creators (creator_id, audit_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                links,
            )

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
                    self.db.copy_rows(cur, table, columns, rows)
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
        if self.db.dialect == "postgres":
            self._write_postings_set_based(cur, postings)
        else:
            self._write_postings_row_by_row(cur, postings)

    def _write_postings_set_based(self, cur: Cursor, postings: list[PostingRow]) -> None:
        """PostgreSQL: ``COPY`` the batch, then running balances and balances in three
        statements (window functions), whatever the batch size."""
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_postings (entry_id bigint, seq integer,"
            ' kind text, owner text, currency text COLLATE "C", amount_minor bigint,'
            " effective_on date, detail text) ON COMMIT DELETE ROWS"
        )
        self.db.copy_rows(
            cur,
            "batch_postings",
            (
                "entry_id",
                "seq",
                "kind",
                "owner",
                "currency",
                "amount_minor",
                "effective_on",
                "detail",
            ),
            postings,
        )
        cur.execute("ANALYZE batch_postings")  # a temporary table has no statistics otherwise
        # Accounts whose batch reaches back before their latest posting: recomputed below.
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_backdated (owner text, kind text,"
            ' currency text COLLATE "C") ON COMMIT DELETE ROWS'
        )
        cur.execute(
            "INSERT INTO batch_backdated SELECT DISTINCT p.owner, p.kind, p.currency"
            " FROM batch_postings p JOIN balances b"
            " ON b.owner = p.owner AND b.kind = p.kind AND b.currency = p.currency"
            " WHERE p.effective_on < b.last_effective_on"
        )
        backdated = cur.rowcount
        cur.execute(
            "INSERT INTO postings (entry_id, seq, kind, owner, currency, amount_minor,"
            " effective_on, balance_after, detail)"
            " SELECT p.entry_id, p.seq, p.kind, p.owner, p.currency, p.amount_minor,"
            " p.effective_on, COALESCE(b.balance_minor, 0) + SUM(p.amount_minor) OVER ("
            "  PARTITION BY p.owner, p.kind, p.currency"
            "  ORDER BY p.effective_on, p.entry_id, p.seq ROWS UNBOUNDED PRECEDING),"
            " p.detail"
            " FROM batch_postings p LEFT JOIN balances b"
            " ON b.owner = p.owner AND b.kind = p.kind AND b.currency = p.currency"
        )
        if backdated:  # rare: only then are earlier rows of those accounts recomputed
            cur.execute(
                "UPDATE postings x SET balance_after = r.running FROM ("
                " SELECT q.entry_id, q.seq, SUM(q.amount_minor) OVER ("
                "  PARTITION BY q.owner, q.kind, q.currency"
                "  ORDER BY q.effective_on, q.entry_id, q.seq ROWS UNBOUNDED PRECEDING) AS running"
                " FROM postings q JOIN batch_backdated d"
                " ON q.owner = d.owner AND q.kind = d.kind AND q.currency = d.currency) r"
                " WHERE x.entry_id = r.entry_id AND x.seq = r.seq AND x.balance_after <> r.running"
            )
        # Existing accounts are updated in place (HOT updates: see migration 0003), then the
        # accounts seen for the first time are inserted.
        cur.execute(
            "UPDATE balances b SET balance_minor = b.balance_minor + a.total,"
            " last_effective_on = GREATEST(b.last_effective_on, a.last)"
            " FROM (SELECT kind, owner, currency, SUM(amount_minor) AS total,"
            "  MAX(effective_on) AS last FROM batch_postings GROUP BY kind, owner, currency) a"
            " WHERE b.owner = a.owner AND b.kind = a.kind AND b.currency = a.currency"
        )
        cur.execute(
            "INSERT INTO balances (kind, owner, currency, balance_minor, last_effective_on)"
            " SELECT kind, owner, currency, SUM(amount_minor), MAX(effective_on)"
            " FROM batch_postings p WHERE NOT EXISTS (SELECT 1 FROM balances b"
            "  WHERE b.owner = p.owner AND b.kind = p.kind AND b.currency = p.currency)"
            " GROUP BY kind, owner, currency"
        )

    def _current_balances(
        self, cur: Cursor, keys: Sequence[AccountKey]
    ) -> dict[AccountKey, tuple[int, date]]:
        """SQLite: (balance, last effective date) of each of ``keys`` that has a balance."""
        out: dict[AccountKey, tuple[int, date]] = {}
        for k in keys:  # one primary-key lookup each: SQLite runs in-process
            cur.execute(
                "SELECT balance_minor, last_effective_on FROM balances"
                " WHERE owner = %s AND kind = %s AND currency = %s",
                k,
            )
            row = cur.fetchone()
            if row is not None:
                out[k] = (int(row[0]), as_date(row[1]))
        return out

    def _write_postings_row_by_row(self, cur: Cursor, postings: list[PostingRow]) -> None:
        """SQLite: running balances computed in memory from the current balances."""
        keys = list(dict.fromkeys((p[3], p[2], p[4]) for p in postings))
        current = self._current_balances(cur, keys)
        backdated: dict[AccountKey, date] = {}
        rows: list[tuple[Any, ...]] = []
        for entry_id, seq, kind, owner, currency, amount, effective_on, detail in postings:
            key = (owner, kind, currency)
            balance, last = current.get(key, (0, effective_on))
            if key in backdated or effective_on < last:
                backdated[key] = min(backdated.get(key, effective_on), effective_on)
                current[key] = (balance + amount, max(last, effective_on))
                after = 0  # recomputed below
            else:
                after = balance + amount
                current[key] = (after, effective_on)
            rows.append((entry_id, seq, kind, owner, currency, amount, effective_on, after, detail))
        self.db.copy_rows(cur, "postings", _POSTING_COLUMNS, rows)
        for key, since in backdated.items():
            self._recompute_running(cur, key, since)
        upserts = [(k[1], k[0], k[2], bal, last) for k, (bal, last) in current.items()]
        cur.executemany(
            "INSERT INTO balances (kind, owner, currency, balance_minor, last_effective_on)"
            " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (owner, kind, currency) DO UPDATE"
            " SET balance_minor = excluded.balance_minor,"
            " last_effective_on = excluded.last_effective_on",
            upserts,
        )

    def _recompute_running(self, cur: Cursor, key: AccountKey, since: date) -> None:
        """Recompute ``balance_after`` of an account's postings from ``since`` on."""
        owner, kind, currency = key
        cur.execute(
            "SELECT balance_after FROM postings WHERE owner = %s AND kind = %s AND currency = %s"
            " AND effective_on < %s ORDER BY effective_on DESC, entry_id DESC, seq DESC LIMIT 1",
            (owner, kind, currency, since),
        )
        row = cur.fetchone()
        running = int(row[0]) if row else 0
        cur.execute(
            "SELECT entry_id, seq, amount_minor FROM postings WHERE owner = %s AND kind = %s"
            " AND currency = %s AND effective_on >= %s ORDER BY effective_on, entry_id, seq",
            (owner, kind, currency, since),
        )
        updates = []
        for entry_id, seq, amount in cur.fetchall():
            running += int(amount)
            updates.append((running, entry_id, seq))
        cur.executemany(
            "UPDATE postings SET balance_after = %s WHERE entry_id = %s AND seq = %s", updates
        )
