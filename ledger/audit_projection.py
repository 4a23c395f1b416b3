"""The ``audit`` read model's projection: every event folded into the row of the command that
wrote it.

A command is identified by the ``issued`` stamp the event store puts on every event (actor,
command, idempotency key): all events written under one key by one actor are one row, wherever
they fall in the notification log (an execution writes many transactions under
``run:<run id>``).  Each row keeps its first and last position and recording time, the payout
run it belongs to, how many events of each kind it wrote, its command record's first result,
and the creators its events name.  An event recorded before actors were kept is a row of its
own (actor ``unknown``).  The rows are a pure function of the events: a rebuild gives the same.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

from creator_ledger.adapters.eventstore import issued_by
from creator_ledger.adapters.readmodels import ProjectionBatch
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.payout_run import PayoutRun


def _creators_named(event: Any) -> set[str]:
    """The creators (ids, 32 hex digits) an event names."""
    if isinstance(event, Creator.Event):
        return {event.originator_id.hex}
    found: set[str] = set()
    creator = getattr(event, "creator_id", None)
    if isinstance(creator, UUID):
        found.add(creator.hex)
    elif isinstance(creator, str):
        found.add(creator)
    if isinstance(event, AccountBook.AccountsOpened):
        found.update(event.creator_ids)
    elif isinstance(event, AccountBook.ViewEarningsCredited):
        found.update(line[0] for line in event.lines)
    elif isinstance(event, AccountBook.PayoutsRequested):
        found.update(line[1] for line in event.lines)
    elif isinstance(event, PayoutRun.Proposed):
        found.update(line[1] for line in event.lines)
        found.update(x[1] for x in event.excluded)
        found.update(x[1] for x in event.offsets)
    return found


def _run_named(event: Any, command: str, key: str) -> str | None:
    run_id = getattr(event, "run_id", None)
    if isinstance(run_id, str):
        return run_id
    if command == "execute" and key.startswith("run:"):
        return key.removeprefix("run:")
    if isinstance(event, CommandRecord.Recorded):
        named = event.result.get("run_id")
        return named if isinstance(named, str) else None
    return None


def project_audit(event: Any, notification_id: int, batch: ProjectionBatch) -> None:
    """Fold ``event`` into the audit row of the command that wrote it."""
    meta = issued_by(event)
    actor = meta.get("actor")
    command = meta.get("command", "")
    key = meta.get("idempotency_key", "")
    if actor is None:  # written before actors were recorded: an entry of its own
        audit_id, actor, command = f"event-{notification_id}", "unknown", "unknown"
    else:
        audit_id = hashlib.sha256(f"{key}\x00{command}\x00{actor}".encode()).hexdigest()[:32]
    result = (
        json.dumps(event.result, sort_keys=True)
        if isinstance(event, CommandRecord.Recorded)
        else None
    )
    batch.audit.add(
        audit_id=audit_id,
        position=notification_id,
        recorded_at=event.timestamp,
        actor=actor,
        command=command,
        idempotency_key=key,
        run_id=_run_named(event, command, key),
        kind=type(event).__qualname__,
        result=result,
        creators=_creators_named(event),
    )
