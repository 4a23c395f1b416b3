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
from collections.abc import Collection
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from creator_ledger.adapters.eventstore import issued_by
from creator_ledger.adapters.readmodels import ProjectionBatch, json_text
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.payout_run import PayoutRun


class _Kind(NamedTuple):
    """What the audit projection needs to know of an event class (found once per class)."""

    name: str  # e.g. Payout.Paid
    of_creator: bool  # an event of the creator aggregate: it names its creator
    record: bool  # a command record: it carries the command's result
    #: its list fields that name creators: (field, index of the creator id in each of its
    #: rows, or ``None`` when the field is a list of ids)
    lists: tuple[tuple[str, int | None], ...]


_KINDS: dict[type, _Kind] = {}


def _kind(cls: type) -> _Kind:
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = _Kind(
            cls.__qualname__,
            issubclass(cls, Creator.Event),
            issubclass(cls, CommandRecord.Recorded),
            _lists_naming_creators(cls),
        )
    return kind


def _lists_naming_creators(cls: type) -> tuple[tuple[str, int | None], ...]:
    if issubclass(cls, AccountBook.AccountsOpened):
        return (("creator_ids", None),)
    if issubclass(cls, AccountBook.ViewEarningsCredited):
        return (("lines", 0),)
    if issubclass(cls, AccountBook.PayoutsRequested):
        return (("lines", 1),)
    if issubclass(cls, PayoutRun.Proposed):
        return (("lines", 1), ("excluded", 1), ("offsets", 1))
    return ()


def _creators_named(event: Any, kind: _Kind) -> Collection[str]:
    """The creators (ids, 32 hex digits) an event names."""
    if kind.of_creator:
        return (event.originator_id.hex,)
    creator = getattr(event, "creator_id", None)
    if not kind.lists:  # most events: one creator, or none
        if isinstance(creator, UUID):
            return (creator.hex,)
        return (creator,) if isinstance(creator, str) else ()
    found: set[str] = set()
    if isinstance(creator, UUID):
        found.add(creator.hex)
    elif isinstance(creator, str):
        found.add(creator)
    for field, index in kind.lists:
        if index is None:
            found.update(getattr(event, field))
        else:
            found.update(row[index] for row in getattr(event, field))
    return found


def _run_named(event: Any, kind: _Kind, command: str, key: str) -> str | None:
    run_id = getattr(event, "run_id", None)
    if isinstance(run_id, str):
        return run_id
    if command == "execute" and key.startswith("run:"):
        return key.removeprefix("run:")
    if kind.record:
        named = event.result.get("run_id")
        return named if isinstance(named, str) else None
    return None


@lru_cache(maxsize=4_096)  # a command writes many events (a close: hundreds, a rebuild: all)
def _audit_id(key: str, command: str, actor: str) -> str:
    return hashlib.sha256(f"{key}\x00{command}\x00{actor}".encode()).hexdigest()[:32]


def project_audit(event: Any, notification_id: int, batch: ProjectionBatch) -> None:
    """Fold ``event`` into the audit row of the command that wrote it."""
    meta = issued_by(event)
    actor = meta.get("actor")
    command = meta.get("command", "")
    key = meta.get("idempotency_key", "")
    if actor is None:  # written before actors were recorded: an entry of its own
        audit_id, actor, command = f"event-{notification_id}", "unknown", "unknown"
    else:
        audit_id = _audit_id(key, command, actor)
    kind = _kind(type(event))
    batch.audit.add(
        audit_id,
        notification_id,
        event.timestamp,
        actor,
        command,
        key,
        _run_named(event, kind, command, key),
        kind.name,
        json_text(event.result) if kind.record else None,
        _creators_named(event, kind),
    )
