"""The audit trail's rows written batch by batch are the rows of the commands' events, whether a
command is seen for the first time (PostgreSQL: copied straight in) or extended by a later
batch (an execution spans many transactions: upserted one by one when few, from a temporary
table in one statement when many), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.readmodels import ProjectionBatch, ReadModels
from creator_ledger.adapters.readmodels.writer import BULK_MIN_ROWS
from tests.conftest import Clock

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
KINDS = ("Payout.Requested", "Payout.Paid", "Payout.Failed")


def _event(n: int, command: int) -> dict[str, Any]:
    """The ``n``-th event (notification id ``n``), of the ``command``-th command."""
    return {
        "audit_id": f"cmd-{command}",
        "position": n,
        "recorded_at": T0 + timedelta(seconds=n),
        "actor": f"op:{command % 3}",
        "command": "execute",
        "idempotency_key": f"key-{command}",
        "run_id": f"run-{command}" if n % 4 == 0 else None,
        "kind": KINDS[n % len(KINDS)],
        "result": '{"paid": 1}' if n % 5 == 0 else None,
        "creators": {f"c{n % 7}", f"c{command}"},
    }


def _history(commands: int) -> list[list[dict[str, Any]]]:
    """Three batches of events: every command has events in the first batch and half of them
    go on in the second and third (so a later batch extends ``commands // 2`` commands), and
    new commands start in the second."""
    batches: list[list[dict[str, Any]]] = [[], [], []]
    n = 0
    for b, live in enumerate(
        (range(commands), range(commands // 2 + commands), range(commands // 2))
    ):
        for command in live:
            for _ in range(2):
                n += 1
                batches[b].append(_event(n, command))
    return batches


def _oracle(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    entries: dict[str, list[Any]] = {}
    effects: dict[tuple[str, str], int] = {}
    creators: set[tuple[str, str]] = set()
    for e in events:
        a = e["audit_id"]
        row = entries.setdefault(
            a,
            [
                a,
                e["position"],
                0,
                e["recorded_at"],
                e["recorded_at"],
                e["actor"],
                e["command"],
                e["idempotency_key"],
                None,
                0,
                None,
            ],
        )
        row[2] = e["position"]
        row[4] = max(row[4], e["recorded_at"])
        row[8] = row[8] or e["run_id"]
        row[9] += 1
        row[10] = row[10] or e["result"]
        effects[(a, e["kind"])] = effects.get((a, e["kind"]), 0) + 1
        creators.update((c, a) for c in e["creators"])
    return (
        sorted(tuple(r) for r in entries.values()),
        sorted((a, k, n) for (a, k), n in effects.items()),
        sorted(creators),
    )


def _batches(history: list[list[dict[str, Any]]], *, from_zero: bool) -> list[ProjectionBatch]:
    batches, last = [], 0
    for events in history:
        batch = ProjectionBatch(
            last_notification_id=events[-1]["position"],
            positions={"audit": 0 if from_zero else last},
        )
        for e in events:
            batch.audit.add(**e)
        batches.append(batch)
        last = batch.last_notification_id
    return batches


@pytest.mark.parametrize("commands", [BULK_MIN_ROWS // 4, 3 * BULK_MIN_ROWS])
def test_audit_rows_extended_across_batches_are_the_rows_of_all_the_events(
    open_ledger: Callable[[], CreatorLedger], commands: int
) -> None:
    rm = open_ledger().parts.projector.read_models
    rm.reset("audit")
    history = _history(commands)
    for batch in _batches(history, from_zero=False):
        rm.apply(batch)
    _check(rm, history, commands)


@pytest.mark.postgres
@pytest.mark.parametrize("commands", [BULK_MIN_ROWS // 4, 3 * BULK_MIN_ROWS])
def test_a_rebuild_of_the_audit_trail_writes_the_same_rows(pg_database: str, commands: int) -> None:
    """A PostgreSQL rebuild (``replace``: the keys dropped for the load, so a link written twice
    would fail as the keys are built again; a command seen in an earlier batch gets only the
    links it did not have yet): the rows of all the events."""
    with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
        rm = cl.parts.projector.read_models
        history = _history(commands)
        rm.replace("audit", iter(_batches(history, from_zero=True)))
        _check(rm, history, commands)


def _check(rm: ReadModels, history: list[list[dict[str, Any]]], commands: int) -> None:
    entries = rm.db.query(
        "SELECT audit_id, first_position, last_position, recorded_at, last_recorded_at, actor,"
        " command, idempotency_key, run_id, events, result FROM audit_entries ORDER BY 1"
    )
    effects = rm.db.query("SELECT audit_id, kind, events FROM audit_effects ORDER BY 1, 2")
    creators = rm.db.query("SELECT creator_id, audit_id FROM audit_creators ORDER BY 1, 2")
    expected = _oracle([e for events in history for e in events])

    def stamped(r: Any) -> tuple[Any, ...]:  # SQLite keeps times as text
        return tuple(
            datetime.fromisoformat(v).astimezone(UTC) if i in (3, 4) and isinstance(v, str) else v
            for i, v in enumerate(r)
        )

    assert sorted(stamped(r) for r in entries) == expected[0]
    assert sorted(tuple(r) for r in effects) == expected[1]
    assert sorted(tuple(r) for r in creators) == expected[2]
    assert len(expected[0]) == commands + commands // 2
