"""Every command records who issued it: an actor is required, checked, and stored on every
event the command writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from creator_ledger import CreatorLedger, InvalidInputError
from creator_ledger.adapters.eventstore import issued_by
from creator_ledger.ledger.bootstrap import memory_provider
from tests.conftest import event_count
from tests.scenario import ACTOR, at, creators, fund, pool_program, release, usage

COMMANDS = [
    ("create_fund", {"fund_key": "g", "name": "G", "currency": "USD", "budget_minor": 10}),
    ("top_up_fund", {"fund_key": "fund", "amount_minor": 10}),
    ("enrol_creator", {"creator_ref": "new", "display_name": "N", "country": "US"}),
    ("enrol_creators", {"creators": [("new2", "N", "US")]}),
    ("place_hold", {"creator_ref": "c0", "hold_id": "h", "kind": "payout", "reason": "r"}),
    ("close_period", {"program_key": "pool", "period_key": "2026-01-01"}),
]


@pytest.mark.parametrize(("name", "args"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_command_without_an_actor_is_refused_saying_how_to_give_one(
    cl: CreatorLedger, name: str, args: dict[str, object]
) -> None:
    fund(cl)
    creators(cl, 2)
    pool_program(cl)
    written = event_count(cl)
    with pytest.raises(InvalidInputError, match="--actor or LEDGER_ACTOR") as refused:
        getattr(cl, name)(**args, idempotency_key="k")
    assert "got nothing" in str(refused.value)
    assert event_count(cl) == written


@pytest.mark.parametrize(
    "actor", ["", "alice", "op:", "Op:alice", "op:al ice", "op:a\x00b", "op:" + "a" * 300, 7]
)
def test_an_actor_that_names_nobody_is_refused(cl: CreatorLedger, actor: object) -> None:
    written = event_count(cl)
    with pytest.raises(InvalidInputError, match="kind:name"):
        cl.create_fund(
            fund_key="f",
            name="F",
            currency="USD",
            budget_minor=10,
            idempotency_key="k",
            actor=actor,  # type: ignore[arg-type]
        )
    assert event_count(cl) == written


def test_every_event_a_command_writes_records_its_actor_command_and_key(cl: CreatorLedger) -> None:
    fund(cl)
    refs = creators(cl, 3)
    [period] = pool_program(cl)
    usage(cl, "pool", period, [(r, "v", 1) for r in refs])
    start = event_count(cl) + 1
    cl.close_period(
        program_key="pool",
        period_key=period,
        effective_at=datetime(2026, 1, 2, tzinfo=UTC),
        idempotency_key="close-it",
        actor="op:closer@example.com",
    )
    written = [e for _, e in cl.parts.store.notifications(start, 1_000)]
    assert len(written) > 3  # period, program, fund, books, the command record
    assert {tuple(sorted(issued_by(e).items())) for e in written} == {
        (
            ("actor", "op:closer@example.com"),
            ("command", "close_period"),
            ("idempotency_key", "close-it"),
        )
    }


def test_a_payout_execution_records_who_executed_it(cl: CreatorLedger) -> None:
    fund(cl)
    refs = creators(cl, 2, payout_ready=True)
    [period] = pool_program(cl, pool_minor=100_000)
    usage(cl, "pool", period, [(r, "v", 1) for r in refs])
    cl.close_period(
        program_key="pool", period_key=period, effective_at=at(), idempotency_key="c", actor=ACTOR
    )
    plan = release(cl)
    start = event_count(cl) + 1
    cl.execute(plan.run_id, memory_provider(), actor="op:payer@example.com")
    written = [e for _, e in cl.parts.store.notifications(start, 1_000)]
    assert written
    assert {issued_by(e)["actor"] for e in written} == {"op:payer@example.com"}
    assert {issued_by(e)["idempotency_key"] for e in written} == {f"run:{plan.run_id}"}
