"""The audit trail's queries: every command with its actor, time, idempotency key and effect,
for a creator, a payout run or a time window, in the order the commands were recorded, paged
by position (a cursor: the position of the last row of the page before)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from creator_ledger.adapters.readmodels.rows import AuditRow
from creator_ledger.adapters.sql import Database, as_datetime

#: Rows per page, at most.
MAX_AUDIT_PAGE = 1_000


class AuditQueries:
    """Queries of the ``audit`` read model (mixed into :class:`~.store.ReadModels`)."""

    db: Database

    def audit(
        self,
        *,
        creator_id: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditRow]:
        """Commands after position ``after`` that name ``creator_id`` (their events do), that
        belong to ``run_id``, and whose first event was recorded in ``[since, until)``; at most
        ``limit``, in recording order."""
        assert 1 <= limit <= MAX_AUDIT_PAGE + 1, limit  # a page, and one to see if more follow
        joins, where = "", ["a.first_position > %s"]
        params: list[Any] = [after]
        if creator_id is not None:
            joins = " JOIN audit_creators c ON c.audit_id = a.audit_id AND c.creator_id = %s"
            params.insert(0, creator_id)
        if run_id is not None:
            where.append("a.run_id = %s")
            params.append(run_id)
        if since is not None:
            where.append("a.recorded_at >= %s")
            params.append(since)
        if until is not None:
            where.append("a.recorded_at < %s")
            params.append(until)
        rows = self.db.query(
            "SELECT a.audit_id, a.first_position, a.last_position, a.recorded_at,"
            " a.last_recorded_at, a.actor, a.command, a.idempotency_key, a.run_id, a.events,"
            f" a.result FROM audit_entries a{joins} WHERE {' AND '.join(where)}"
            " ORDER BY a.first_position LIMIT %s",
            (*params, limit),
        )
        effects = self._effects([str(r[0]) for r in rows])
        return [
            AuditRow(
                position=int(first),
                last_position=int(last),
                recorded_at=as_datetime(at),
                last_recorded_at=as_datetime(last_at),
                actor=actor,
                command=command,
                idempotency_key=key,
                run_id=run,
                events=int(events),
                result=_json(result),
                effects=effects.get(str(audit_id), {}),
            )
            for audit_id, first, last, at, last_at, actor, command, key, run, events, result in rows
        ]

    def run_actors(self, run_id: str, command: str) -> list[str]:
        """Who issued ``command`` for payout run ``run_id``, in the order they first did."""
        rows = self.db.query(
            "SELECT actor FROM audit_entries WHERE run_id = %s AND command = %s"
            " ORDER BY first_position",
            (run_id, command),
        )
        return list(dict.fromkeys(str(r[0]) for r in rows))

    def _effects(self, audit_ids: list[str]) -> dict[str, dict[str, int]]:
        if not audit_ids:
            return {}
        marks = ",".join(["%s"] * len(audit_ids))
        out: dict[str, dict[str, int]] = {}
        for audit_id, kind, events in self.db.query(
            f"SELECT audit_id, kind, events FROM audit_effects WHERE audit_id IN ({marks})"
            " ORDER BY audit_id, kind",
            audit_ids,
        ):
            out.setdefault(str(audit_id), {})[str(kind)] = int(events)
        return out


def _json(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
