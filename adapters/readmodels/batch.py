"""A projection batch: the rows a contiguous run of events adds to the read models.

The projector (``ledger.projections``) fills one; :class:`~.store.ReadModels` writes it, and
moves the tracking position of every read model it covers, in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

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

#: The text of a read model's JSON column (a posting's detail, a program's rule, a command's
#: result): ``json.dumps(value, sort_keys=True)``, with its encoder made once (``dumps`` with
#: options builds a new one per call: ~40% of the cost of a posting's one-key detail).
json_text = json.JSONEncoder(sort_keys=True).encode

#: (entry_id, seq, kind, owner, currency, amount_minor, effective_on, detail): the shape
#: ``COPY`` writes, so kept a plain tuple.
PostingRow = tuple[int, int, str, str, str, int, date, str | None]


@dataclass(slots=True)
class Change:
    """The net change of one row in a batch: insert, update (set and add), or delete."""

    kind: str  # "insert" | "update" | "delete"
    values: dict[str, Any] = field(default_factory=dict)  # insert: the row; update: set
    add: dict[str, int] = field(default_factory=dict)  # update: increments


@dataclass(slots=True)
class AuditChange:
    """What a batch adds to one audit row (one command: see ``audit_entries``); folded per row
    within a batch, then upserted (the first batch that sees the command inserts it, later
    ones extend it)."""

    audit_id: str
    first_position: int
    last_position: int
    recorded_at: datetime
    last_recorded_at: datetime
    actor: str
    command: str
    idempotency_key: str
    run_id: str | None
    events: int = 0
    result: str | None = None  # JSON


@dataclass(slots=True)
class AuditRows:
    """The audit read model's part of a batch."""

    entries: dict[str, AuditChange] = field(default_factory=dict)
    #: (audit id, event kind) -> events of that kind
    effects: dict[tuple[str, str], int] = field(default_factory=dict)
    #: audit id -> the creators (ids, 32 hex digits) its events in this batch name (a set per
    #: command: adding a creator is one hash of a string already hashed, not a new tuple)
    creators: dict[str, set[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def add(
        self,
        audit_id: str,
        position: int,
        recorded_at: datetime,
        actor: str,
        command: str,
        idempotency_key: str,
        run_id: str | None,
        kind: str,
        result: str | None,
        creators: Collection[str],
    ) -> None:
        """One event of the command ``audit_id`` (events arrive in notification order), naming
        ``creators``.  Called for every event of a rebuild: positional, and lean."""
        entry = self.entries.get(audit_id)
        if entry is None:
            entry = self.entries[audit_id] = AuditChange(
                audit_id,
                position,
                position,
                recorded_at,
                recorded_at,
                actor,
                command,
                idempotency_key,
                run_id,
            )
        entry.last_position = position
        entry.last_recorded_at = max(entry.last_recorded_at, recorded_at)
        entry.events += 1
        if not entry.run_id:
            entry.run_id = run_id
        if not entry.result:
            entry.result = result
        key = (audit_id, kind)
        effects = self.effects
        effects[key] = effects.get(key, 0) + 1
        if creators:
            named = self.creators.get(audit_id)
            if named is None:
                named = self.creators[audit_id] = set()
            named.update(creators)

    def links(self) -> list[tuple[str, str]]:
        """``(creator id, audit id)`` of every creator the batch's commands name."""
        return [(c, a) for a, named in self.creators.items() for c in named]


@dataclass(slots=True)
class ProjectionBatch:
    """Rows derived from a contiguous run of events, ending at ``last_notification_id``.

    ``positions`` holds, for every read model the batch covers, the position it was computed
    from: the batch carries the rows of the events after that position, and applying it moves
    that read model from there to ``last_notification_id`` (compare-and-set).

    Entity changes are folded per row as they arrive (an update after an insert becomes part
    of the insert; later values win; increments add up), so a batch writes each row once and
    the writes group well, whatever order the events came in.
    """

    last_notification_id: int
    positions: dict[str, int] = field(default_factory=dict)
    #: (entry_id, kind, originator_id, originator_version, effective_at, effective_on,
    #:  recorded_at, description, actor)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[PostingRow] = field(default_factory=list)
    changes: dict[str, dict[tuple[Any, ...], Change]] = field(default_factory=dict)
    audit: AuditRows = field(default_factory=AuditRows)

    def _rows(self, table: str) -> dict[tuple[Any, ...], Change]:
        rows = self.changes.get(table)
        if rows is None:
            rows = self.changes[table] = {}
        return rows

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """A new row of ``table``.  The batch keeps ``row`` itself (later changes of the row in
        the batch are folded into it): pass a dict of your own, as the projections do."""
        key = tuple(row[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        previous = rows.get(key)
        assert previous is None or previous.kind == "delete", (table, key)
        rows[key] = Change("insert", row)

    def update(
        self,
        table: str,
        key: dict[str, Any],
        *,
        set_: dict[str, Any] | None = None,
        add: dict[str, int] | None = None,
    ) -> None:
        """Set and add to columns of the row ``key`` names (the batch keeps ``key`` itself, as
        :meth:`insert` keeps its row)."""
        ident = tuple(key[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        change = rows.get(ident)
        if change is None:
            change = rows[ident] = Change("update", key)
        assert change.kind != "delete", (table, ident)
        values = change.values
        if set_:
            values.update(set_)
        if add:
            for column, amount in add.items():
                if change.kind == "insert" or column in values:
                    values[column] = values.get(column, 0) + amount
                else:
                    change.add[column] = change.add.get(column, 0) + amount

    def delete(self, table: str, key: dict[str, Any]) -> None:
        ident = tuple(key[k] for k in TABLE_KEYS[table])
        rows = self._rows(table)
        change = rows.get(ident)
        if change is not None and change.kind == "insert":
            del rows[ident]  # inserted and deleted within the batch: nothing to write
        else:
            rows[ident] = Change("delete", dict(key))
