"""The read models' storage: one transaction per batch of events, with the tracking position,
and (inherited from :mod:`.queries`) the queries.

The projector (``ledger.projections``) turns events into a :class:`ProjectionBatch`; this module
writes it.  ``apply`` checks and moves the tracking position in the same transaction as the
rows (compare-and-set on the expected position), so a batch is applied exactly once even with
two projectors racing or a crash half-way through.

Running balances: every posting row stores ``balance_after``, the account's balance after it
in business-time order (``effective_on``, then recording order), so a balance *as of* a date is
one index lookup.  Postings that arrive in order (the usual case) are computed in memory from
the current balance; a back-dated posting makes the rows after it be recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from creator_ledger.adapters.readmodels.queries import BATCH_QUERY_CHUNK, ReadModelQueries
from creator_ledger.adapters.readmodels.schema import READ_MODEL_TABLES, migrate_sqlite
from creator_ledger.adapters.sql import Cursor, Database, SqliteDatabase, as_date


class StaleProjectionError(Exception):
    """Another projector moved the position first; nothing was written."""


#: Entity tables the projector writes, and the columns that identify a row.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "funds": ("fund_id",),
    "programs": ("program_id",),
    "periods": ("period_id",),
    "creators": ("creator_id",),
    "creator_holds": ("creator_id", "hold_id"),
    "creator_contracts": ("creator_id", "contract_id"),
    "agreements": ("agreement_id",),
    "claim_items": ("claim_id", "item_id"),
    "payouts": ("payout_id",),
}
#: PostgreSQL applies a group of at least this many rows with COPY and one statement.
BULK_MIN_ROWS = 50

#: (entry_id, seq, kind, owner, currency, amount_minor, effective_on, detail)
PostingRow = tuple[int, int, str, str, str, int, date, str | None]


@dataclass(slots=True)
class _Change:
    """The net change of one row in a batch: insert, update (set and add), or delete."""

    kind: str  # "insert" | "update" | "delete"
    values: dict[str, Any] = field(default_factory=dict)  # insert: the row; update: set
    add: dict[str, int] = field(default_factory=dict)  # update: increments


@dataclass(slots=True)
class ProjectionBatch:
    """Rows derived from a contiguous run of events, ending at ``last_notification_id``.

    Entity changes are folded per row as they arrive (an update after an insert becomes part
    of the insert; later values win; increments add up), so a batch writes each row once and
    the writes group well, whatever order the events came in.
    """

    last_notification_id: int
    #: (entry_id, kind, originator_id, originator_version, effective_at, effective_on,
    #:  recorded_at, description)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[PostingRow] = field(default_factory=list)
    changes: dict[str, dict[tuple[Any, ...], _Change]] = field(default_factory=dict)

    def _rows(self, table: str) -> dict[tuple[Any, ...], _Change]:
        rows = self.changes.get(table)
        if rows is None:
            rows = self.changes[table] = {}
        return rows

    def insert(self, table: str, row: dict[str, Any]) -> None:
        key = tuple(row[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        previous = rows.get(key)
        assert previous is None or previous.kind == "delete", (table, key)
        rows[key] = _Change("insert", dict(row))

    def update(
        self,
        table: str,
        key: dict[str, Any],
        *,
        set_: dict[str, Any] | None = None,
        add: dict[str, int] | None = None,
    ) -> None:
        ident = tuple(key[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        change = rows.get(ident)
        if change is None:
            change = rows[ident] = _Change("update", dict(key))
        assert change.kind != "delete", (table, ident)
        change.values.update(set_ or {})
        for column, amount in (add or {}).items():
            if change.kind == "insert" or column in change.values:
                change.values[column] = change.values.get(column, 0) + amount
            else:
                change.add[column] = change.add.get(column, 0) + amount

    def delete(self, table: str, key: dict[str, Any]) -> None:
        ident = tuple(key[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        change = rows.get(ident)
        if change is not None and change.kind == "insert":
            del rows[ident]  # inserted and deleted within the batch: nothing to write
        else:
            rows[ident] = _Change("delete", dict(key))


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
)

AccountKey = tuple[str, str, str]  # (owner, kind, currency)
_ORDER = {"insert": 0, "update": 1, "delete": 2}


class ReadModels(ReadModelQueries):
    """Writes projection batches, and answers the queries (:class:`ReadModelQueries`)."""

    def __init__(self, db: Database, *, name: str = "ledger") -> None:
        super().__init__(db)
        self.name = name

    # -- schema and position ------------------------------------------------------------

    def create_schema(self) -> list[str]:
        """SQLite only: apply the read-model migrations this file lacks (PostgreSQL's schema is
        applied by ``creator-ledger migrate``); returns the ids applied now."""
        assert isinstance(self.db, SqliteDatabase)
        return migrate_sqlite(self.db)

    def position(self) -> int:
        rows = self.db.query(
            "SELECT notification_id FROM projection_tracking WHERE name = %s", (self.name,)
        )
        return int(rows[0][0]) if rows else 0

    def reset(self) -> None:
        """Forget everything projected (for a rebuild), in one transaction."""
        with self.db.transaction() as cur:
            for table in READ_MODEL_TABLES:
                cur.execute(f"DELETE FROM {table}")
            cur.execute("DELETE FROM projection_tracking WHERE name = %s", (self.name,))

    # -- writing ------------------------------------------------------------------------

    def apply(self, batch: ProjectionBatch, *, expected_position: int) -> None:
        """Write ``batch`` and move the position from ``expected_position`` to its end."""
        assert batch.last_notification_id > expected_position
        with self.db.transaction() as cur:
            if self.db.dialect == "postgres":
                # Read models are derived: a batch lost in a crash is lost with its tracking
                # position (same transaction) and applied again from the events, so it need not
                # wait for its commit to reach the disk.
                cur.execute("SET LOCAL synchronous_commit = off")
            self._claim_position(cur, expected_position, batch.last_notification_id)
            if batch.entries:
                self.db.copy_rows(cur, "journal_entries", _ENTRY_COLUMNS, batch.entries)
            if batch.postings:
                self._write_postings(cur, batch.postings)
            for table, rows in batch.changes.items():
                self._write_changes(cur, table, list(rows.values()))

    def _write_changes(self, cur: Cursor, table: str, changes: list[_Change]) -> None:
        """Write a table's net row changes: inserts, then updates, then deletes, each group of
        the same shape in one go (``COPY`` and one statement on PostgreSQL when large)."""
        keys = TABLE_KEYS[table]
        groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[_Change]] = {}
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

    def _claim_position(self, cur: Cursor, expected: int, new: int) -> None:
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        cur.execute(
            f"SELECT notification_id FROM projection_tracking WHERE name = %s{lock}", (self.name,)
        )
        row = cur.fetchone()
        current = int(row[0]) if row else 0
        if current != expected:
            msg = f"projection {self.name} is at {current}, not {expected}"
            raise StaleProjectionError(msg)
        if row is None:
            cur.execute(
                "INSERT INTO projection_tracking (name, notification_id) VALUES (%s, %s)",
                (self.name, new),
            )
        else:
            cur.execute(
                "UPDATE projection_tracking SET notification_id = %s"
                " WHERE name = %s AND notification_id = %s",
                (new, self.name, expected),
            )
            if cur.rowcount != 1:
                raise StaleProjectionError(f"projection {self.name} moved under us")

    def _current_balances(
        self, cur: Cursor, keys: Sequence[AccountKey]
    ) -> dict[AccountKey, tuple[int, date]]:
        out: dict[AccountKey, tuple[int, date]] = {}
        for start in range(0, len(keys), BATCH_QUERY_CHUNK):
            chunk = keys[start : start + BATCH_QUERY_CHUNK]
            if self.db.dialect == "postgres":
                cur.execute(
                    "SELECT b.owner, b.kind, b.currency, b.balance_minor, b.last_effective_on"
                    " FROM balances b JOIN unnest(%s::text[], %s::text[], %s::text[])"
                    " AS k(owner, kind, currency)"
                    " ON b.owner = k.owner AND b.kind = k.kind AND b.currency = k.currency",
                    ([k[0] for k in chunk], [k[1] for k in chunk], [k[2] for k in chunk]),
                )
                rows = cur.fetchall()
            else:
                rows = []
                for k in chunk:
                    cur.execute(
                        "SELECT owner, kind, currency, balance_minor, last_effective_on"
                        " FROM balances WHERE owner = %s AND kind = %s AND currency = %s",
                        k,
                    )
                    rows.extend(cur.fetchall())
            for owner, kind, currency, balance, last in rows:
                out[(owner, kind, currency)] = (int(balance), as_date(last))
        return out

    def _write_postings(self, cur: Cursor, postings: list[PostingRow]) -> None:
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
