"""The read models as a whole: their schema, a tracking position per read model, applying
projection batches exactly once, and (inherited) their queries.

Each read model (:data:`~.schema.READ_MODELS`: ``journal``, ``entities``, ``payouts``) has its
own row in ``projection_tracking``: the last event it has applied.  ``apply`` writes a batch and
moves the position of every read model the batch covers in one transaction, each
compare-and-set on the position the batch was computed from, so a batch is applied exactly once
even with two projectors racing or a crash half-way through — and no crash can leave one read
model ahead of another within a batch.  ``reset`` forgets one, several or all read models, so
one can be rebuilt without touching the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from creator_ledger.adapters.readmodels.audit import AuditQueries
from creator_ledger.adapters.readmodels.batch import ProjectionBatch
from creator_ledger.adapters.readmodels.journal_queries import JournalQueries
from creator_ledger.adapters.readmodels.queries import ReadModelQueries
from creator_ledger.adapters.readmodels.schema import READ_MODELS, TABLE_READ_MODEL, migrate_sqlite
from creator_ledger.adapters.readmodels.writer import RowWriter
from creator_ledger.adapters.sql import Cursor, Database, SqliteDatabase
from creator_ledger.domain.errors import InvalidInputError

#: Every read model, in the order their positions are claimed.
READ_MODEL_NAMES = tuple(READ_MODELS)


class StaleProjectionError(Exception):
    """Another projector moved a position first; nothing was written."""


def read_model_names(only: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """The read models ``only`` names (one name, several, or ``None`` for all), in
    :data:`READ_MODEL_NAMES` order; an unknown name is refused."""
    if only is None:
        return READ_MODEL_NAMES
    wanted = {only} if isinstance(only, str) else set(only)
    unknown = sorted(wanted - set(READ_MODEL_NAMES))
    if unknown or not wanted:
        msg = f"unknown read model(s) {unknown}; expected some of {list(READ_MODEL_NAMES)}"
        raise InvalidInputError(msg, read_models=unknown)
    return tuple(n for n in READ_MODEL_NAMES if n in wanted)


#: Read-model tables that keep their keys through a rebuild: the audit trail's commands and
#: effects are upserted (``ON CONFLICT``) when a later batch extends a command.
KEYED_DURING_REBUILD = frozenset({"audit_entries", "audit_effects"})


class ReadModels(ReadModelQueries, JournalQueries, AuditQueries):
    """Writes projection batches with their tracking positions, and answers the queries."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.writer = RowWriter(db)

    # -- schema and positions -------------------------------------------------------------------

    def create_schema(self) -> list[str]:
        """SQLite only: apply the read-model migrations this file lacks (PostgreSQL's schema is
        applied by ``creator-ledger migrate``); returns the ids applied now."""
        assert isinstance(self.db, SqliteDatabase)
        return migrate_sqlite(self.db)

    def positions(self) -> dict[str, int]:
        """Read model -> the last event it has applied (0: none)."""
        found = dict(self.db.query("SELECT name, notification_id FROM projection_tracking"))
        return {name: int(found.get(name, 0)) for name in READ_MODEL_NAMES}

    def positions_and_pending(
        self, names: Iterable[str], events_table: str | None
    ) -> tuple[dict[str, int], bool]:
        """:meth:`positions`, and whether an event recorded after the lowest of ``names``'
        positions exists, in one query when the events table is in the read models' database
        (``events_table``, qualified: PostgreSQL); elsewhere pending is assumed (the caller
        reads the events to find out).  A read model with no position row is at 0."""
        if events_table is None:
            return self.positions(), True
        wanted = list(read_model_names(names))
        rows = self.db.query(
            "SELECT name, notification_id FROM projection_tracking UNION ALL"
            f" (SELECT NULL, e.notification_id FROM {events_table} e"
            " WHERE e.notification_id > (SELECT CASE WHEN count(*) = %s"
            " THEN min(t.notification_id) ELSE 0 END"
            " FROM projection_tracking t WHERE t.name = ANY(%s))"
            " ORDER BY e.notification_id LIMIT 1)",
            (len(wanted), wanted),
        )
        found = {name: int(n) for name, n in rows if name is not None}
        pending = any(name is None for name, _ in rows)
        return {name: found.get(name, 0) for name in READ_MODEL_NAMES}, pending

    def position(self, name: str | None = None) -> int:
        """The last event read model ``name`` has applied; without a name, the last event
        every read model has applied (the lowest position)."""
        positions = self.positions()
        if name is None:
            return min(positions.values())
        return positions[read_model_names(name)[0]]

    def reset(self, only: str | Iterable[str] | None = None) -> None:
        """Forget everything projected into the read models ``only`` names (default: all),
        rows and position, in one transaction; the others are not touched."""
        names = read_model_names(only)
        with self.db.transaction() as cur:
            for name in names:
                for table in READ_MODELS[name]:
                    cur.execute(f"DELETE FROM {table}")
            marks = ",".join(["%s"] * len(names))
            cur.execute(f"DELETE FROM projection_tracking WHERE name IN ({marks})", names)

    # -- writing --------------------------------------------------------------------------------

    def replace(self, only: str | Iterable[str] | None, batches: Iterable[ProjectionBatch]) -> int:
        """PostgreSQL: forget the read models ``only`` names and write ``batches`` (the rows of
        every event from the first, in order) in their place, all in one transaction; returns
        the position they are at after it.

        Their tables are emptied (``TRUNCATE``), their indexes and keys (primary keys and
        unique constraints, except those of :data:`KEYED_DURING_REBUILD`, which the writer's
        upserts need) dropped before the load and built after it from their own definitions,
        the keys first (when the tables' owner rebuilds; the application role deletes the rows
        and keeps them; :meth:`RowWriter.replacing` writes the same rows either way), and
        their positions moved to the last batch's.  Until it commits, the tables are locked:
        queries of them wait rather than see a half-built read model, and a projector racing
        it finds its positions moved (:class:`StaleProjectionError`) and starts again."""
        assert self.db.dialect == "postgres", "SQLite rebuilds batch by batch"
        names = read_model_names(only)
        tables = [t for name in names for t in READ_MODELS[name]]
        last = 0
        with self.db.transaction() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")  # derived rows: see ``apply``
            marks = ",".join(["%s"] * len(names))
            cur.execute(
                "SELECT name FROM projection_tracking"
                f" WHERE name IN ({marks}) ORDER BY name FOR UPDATE",
                names,
            )
            # Only the tables' owner may TRUNCATE them and drop their indexes; the
            # application role (``migrate --app-role``) empties them row by row and keeps the
            # indexes: the same rows, more slowly.
            cur.execute(
                "SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE'))"
                " FROM pg_class c WHERE c.oid = ANY(%s::regclass[])",
                (tables,),
            )
            row = cur.fetchone()
            owner = bool(row and row[0])
            if owner:
                cur.execute(f"TRUNCATE {', '.join(tables)}")
            else:
                for table in tables:
                    cur.execute(f"DELETE FROM {table}")
            cur.execute(f"DELETE FROM projection_tracking WHERE name IN ({marks})", names)
            indexes: list[tuple[str, str]] = []
            keys: list[tuple[str, str, str]] = []
            if owner:
                cur.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
                    " FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS"
                    " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
                    " ORDER BY 1",
                    (tables,),
                )
                indexes = [(str(n), str(d)) for n, d in cur.fetchall()]
                keyed = [t for t in tables if t not in KEYED_DURING_REBUILD]
                cur.execute(
                    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
                    " FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[])"
                    " AND c.contype IN ('p', 'u') ORDER BY 1, 2",
                    (keyed,),
                )
                keys = [(str(t), str(n), str(d)) for t, n, d in cur.fetchall()]
            for index, _ in indexes:
                cur.execute(f"DROP INDEX {index}")
            for table, name, _ in keys:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            with self.writer.replacing(cur):
                for batch in batches:
                    self.writer.write(cur, batch)
                    last = batch.last_notification_id
            # The keys first: a rebuild that wrote a row twice fails here, and rolls back.
            for table, name, definition in keys:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for _, definition in indexes:
                cur.execute(definition)
            if last:
                cur.executemany(
                    "INSERT INTO projection_tracking (name, notification_id) VALUES (%s, %s)",
                    [(name, last) for name in names],
                )
        return last

    def apply(self, batch: ProjectionBatch) -> None:
        """Write ``batch`` and move each read model it covers from the position in
        ``batch.positions`` to ``batch.last_notification_id``, in one transaction; raises
        :class:`StaleProjectionError` (nothing written) if any of them had moved."""
        last = batch.last_notification_id
        assert batch.positions, "a batch covers at least one read model"
        assert all(0 <= p < last for p in batch.positions.values()), batch.positions
        assert all(TABLE_READ_MODEL[t] in batch.positions for t in batch.changes), (
            "a batch writes only the tables of the read models it covers"
        )
        assert "journal" in batch.positions or not (batch.entries or batch.postings)
        assert "audit" in batch.positions or not batch.audit
        with self.db.transaction() as cur:
            if self.db.dialect == "postgres":
                # Read models are derived: a batch lost in a crash is lost with its tracking
                # positions (same transaction) and applied again from the events, so it need
                # not wait for its commit to reach the disk.
                cur.execute("SET LOCAL synchronous_commit = off")
            self._claim_positions(cur, batch.positions, last)
            self.writer.write(cur, batch)

    def _claim_positions(self, cur: Cursor, expected: dict[str, int], new: int) -> None:
        """Compare-and-set: move each read model in ``expected`` from its expected position to
        ``new``, or raise :class:`StaleProjectionError` if any is elsewhere."""
        names = [n for n in READ_MODEL_NAMES if n in expected]  # one lock order for everyone
        marks = ",".join(["%s"] * len(names))
        lock = " ORDER BY name FOR UPDATE" if self.db.dialect == "postgres" else ""
        cur.execute(
            f"SELECT name, notification_id FROM projection_tracking WHERE name IN ({marks}){lock}",
            names,
        )
        current = {str(n): int(p) for n, p in cur.fetchall()}
        for name in names:
            if current.get(name, 0) != expected[name]:
                msg = f"read model {name} is at {current.get(name, 0)}, not {expected[name]}"
                raise StaleProjectionError(msg)
        by_position: dict[int, list[str]] = {}
        for name in names:
            if name in current:
                by_position.setdefault(expected[name], []).append(name)
            else:
                cur.execute(
                    "INSERT INTO projection_tracking (name, notification_id) VALUES (%s, %s)"
                    " ON CONFLICT (name) DO NOTHING",
                    (name, new),
                )
                if cur.rowcount != 1:
                    raise StaleProjectionError(f"read model {name} started under us")
        for position, group in by_position.items():
            marks = ",".join(["%s"] * len(group))
            cur.execute(
                "UPDATE projection_tracking SET notification_id = %s"
                f" WHERE notification_id = %s AND name IN ({marks})",
                (new, position, *group),
            )
            if cur.rowcount != len(group):
                raise StaleProjectionError(f"read model(s) {group} moved under us")
