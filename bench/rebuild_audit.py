"""The W5 limit's audit rows: every decoded event folded into the row of the command that wrote
it, as ``ledger/audit_projection.py`` folds them (one row per actor, command and idempotency
key; the kinds of events it wrote; the creators its events name)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bench.rebuild_journal import Event, dt

#: Event kinds (``<Aggregate>.<Event>``) whose list fields name creators: field -> the index
#: of the creator id in each of its rows (``None``: the field is a list of creator ids).
_NAMED_IN: dict[str, tuple[tuple[str, int | None], ...]] = {
    "AccountBook.AccountsOpened": (("creator_ids", None),),
    "AccountBook.ViewEarningsCredited": (("lines", 0),),
    "AccountBook.PayoutsRequested": (("lines", 1),),
    "PayoutRun.Proposed": (("lines", 1), ("excluded", 1), ("offsets", 1)),
}


def _creators(kind: str, ev: Event) -> set[str]:
    if kind.startswith("Creator."):
        return {ev.oid.hex}
    e = ev.e
    found: set[str] = set()
    creator = e.get("creator_id")
    if isinstance(creator, dict):  # a UUID, as the library stores it
        found.add(creator["_data_"])
    elif isinstance(creator, str):
        found.add(creator)
    for field, index in _NAMED_IN.get(kind, ()):
        if index is None:
            found.update(e[field])
        else:
            found.update(row[index] for row in e[field])
    return found


def _run(kind: str, e: dict[str, Any], command: str, key: str) -> str | None:
    run_id = e.get("run_id")
    if isinstance(run_id, str):
        return run_id
    if command == "execute" and key.startswith("run:"):
        return key.removeprefix("run:")
    if kind == "CommandRecord.Recorded":
        named = e["result"].get("run_id")
        return named if isinstance(named, str) else None
    return None


class AuditFold:
    """``audit_entries`` rows by audit id, ``audit_effects`` counts and ``audit_creators``
    links, in notification order."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.effects: dict[tuple[str, str], int] = {}
        self.creators: set[tuple[str, str]] = set()
        self._ids: dict[tuple[str, str, str], str] = {}

    def add(self, kind: str, ev: Event) -> None:
        e = ev.e
        meta = e.get("issued") or {}
        actor = meta.get("actor")
        command, key = meta.get("command", ""), meta.get("idempotency_key", "")
        if actor is None:  # written before actors were recorded: a row of its own
            audit_id, actor, command = f"event-{ev.nid}", "unknown", "unknown"
        else:
            ident = (key, command, actor)
            audit_id = self._ids.get(ident)  # type: ignore[assignment]
            if audit_id is None:
                text = f"{key}\x00{command}\x00{actor}"
                audit_id = self._ids[ident] = hashlib.sha256(text.encode()).hexdigest()[:32]
        at = dt(e["timestamp"])
        run_id = _run(kind, e, command, key)
        row = self.entries.get(audit_id)
        if row is None:
            row = self.entries[audit_id] = {
                "audit_id": audit_id,
                "first_position": ev.nid,
                "recorded_at": at,
                "last_recorded_at": at,
                "actor": actor,
                "command": command,
                "idempotency_key": key,
                "run_id": run_id,
                "events": 0,
                "result": None,
            }
        row["last_position"] = ev.nid
        row["last_recorded_at"] = max(row["last_recorded_at"], at)
        row["events"] += 1
        if row["run_id"] is None:
            row["run_id"] = run_id
        if row["result"] is None and kind == "CommandRecord.Recorded":
            row["result"] = json.dumps(e["result"], sort_keys=True)
        effect = (audit_id, kind)
        self.effects[effect] = self.effects.get(effect, 0) + 1
        for creator in _creators(kind, ev):
            self.creators.add((creator, audit_id))
