"""The read models' storage: one transaction per batch of events, with the tracking position,
and (inherited from :mod:`.queries`) the queries.

The projector (``ledger.projections``) turns events into a :class:`~.batch.ProjectionBatch`;
``apply`` writes it (:mod:`.writer`) and checks and moves the tracking position in the same
transaction (compare-and-set on the expected position), so a batch is applied exactly once even
with two projectors racing or a crash half-way through.
"""

from __future__ import annotations

from creator_ledger.adapters.readmodels.batch import ProjectionBatch
from creator_ledger.adapters.readmodels.queries import ReadModelQueries
from creator_ledger.adapters.readmodels.schema import READ_MODEL_TABLES, migrate_sqlite
from creator_ledger.adapters.readmodels.writer import RowWriter
from creator_ledger.adapters.sql import Cursor, Database, SqliteDatabase


class StaleProjectionError(Exception):
    """Another projector moved the position first; nothing was written."""


class ReadModels(ReadModelQueries):
    """Writes projection batches, and answers the queries (:class:`ReadModelQueries`)."""

    def __init__(self, db: Database, *, name: str = "ledger") -> None:
        super().__init__(db)
        self.name = name
        self.writer = RowWriter(db)

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
            self.writer.write(cur, batch)

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
