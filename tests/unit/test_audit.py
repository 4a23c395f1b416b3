"""Who did what: the audit trail lists every command with its actor, time, idempotency key and
effect, for a creator, a payout run or a time window, paged with a cursor; statements, the
journal export and a run's status show the actor too.  On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creator_ledger import CreatorLedger, InvalidInputError
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.payout_run import PayoutRun
from creator_ledger.ledger.commands import issued
from tests.scenario import ACTOR, APPROVER, DAY, PROPOSER, creators, fund, pay
from tests.unit.test_payouts import earn

EXECUTOR = "svc:payout-runner"


def test_a_run_s_audit_trail_names_its_proposer_approver_and_executor(cl: CreatorLedger) -> None:
    fund(cl)
    creators(cl, 3, payout_ready=True)
    earn(cl, {"c0": 5_000, "c1": 6_000, "c2": 7_000})
    result = pay(cl, InMemoryProvider(), actor=EXECUTOR)
    page = cl.audit(run_id=result.run_id)
    assert [(e.command, e.actor) for e in page.entries] == [
        ("propose_payout_run", PROPOSER),
        ("approve_payout_run", APPROVER),
        ("execute", EXECUTOR),
    ]
    proposal, approval, execution = page.entries
    assert proposal.idempotency_key.startswith("propose/")
    assert proposal.result is not None
    assert proposal.result["payouts"] == 3
    assert "run_id=" in proposal.effect
    assert execution.idempotency_key == f"run:{result.run_id}"
    assert execution.events["Payout.Requested"] == 3
    assert execution.events["Payout.Paid"] == 3
    assert "Payout.Paid x3" in execution.effect
    assert proposal.recorded_at <= approval.recorded_at <= execution.recorded_at
    assert page.next_cursor is None
    status = cl.payout_status(result.run_id)
    assert status.run is not None
    assert (status.run.proposed_by, status.run.approved_by, status.executed_by) == (
        PROPOSER,
        [APPROVER],
        [EXECUTOR],
    )


def test_a_creator_s_audit_trail_lists_the_commands_that_concern_them_page_by_page(
    cl: CreatorLedger,
) -> None:
    fund(cl)
    creators(cl, 2, payout_ready=True)
    cl.place_hold(
        creator_ref="c1",
        hold_id="h",
        kind="payout",
        reason="review",
        idempotency_key="hold-c1",
        actor="op:risk@example.com",
    )
    earn(cl, {"c0": 5_000, "c1": 6_000})
    pay(cl, InMemoryProvider(), actor=EXECUTOR)
    commands = []
    cursor = None
    for _ in range(20):
        page = cl.audit(creator_ref="c0", cursor=cursor, limit=2)
        assert len(page.entries) <= 2
        commands += [(e.command, e.actor) for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert commands == [
        ("enrol_creators", ACTOR),
        ("link_payout_account", ACTOR),
        ("set_kyc_status", ACTOR),
        ("close_period", ACTOR),
        ("propose_payout_run", PROPOSER),
        ("execute", EXECUTOR),
    ]
    held = [e.command for e in cl.audit(creator_ref="c1").entries]
    assert "place_hold" in held
    assert "place_hold" not in [c for c, _ in commands]
    positions = [e.position for e in cl.audit(limit=1_000).entries]
    assert positions == sorted(positions)


def test_the_audit_trail_of_a_time_window(cl: CreatorLedger) -> None:
    fund(cl)
    now = datetime.now(UTC)
    everything = cl.audit(since=now - timedelta(hours=1), until=now + timedelta(hours=1))
    assert [e.command for e in everything.entries] == ["create_fund"]
    assert cl.audit(until=now - timedelta(hours=1)).entries == []
    assert [e.command for e in cl.audit(since=now.date(), until=now.date()).entries] == [
        "create_fund"
    ]
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        cl.audit(since=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(InvalidInputError):
        cl.audit(cursor="not-a-cursor")


def test_the_audit_trail_is_the_same_after_a_rebuild(cl: CreatorLedger) -> None:
    fund(cl)
    creators(cl, 2, payout_ready=True)
    earn(cl, {"c0": 5_000})
    pay(cl, InMemoryProvider())
    before = cl.audit(limit=1_000)
    cl.rebuild_read_models(only="audit")
    assert cl.audit(limit=1_000) == before


def test_statement_lines_and_the_journal_export_show_who_issued_them(cl: CreatorLedger) -> None:
    fund(cl)
    creators(cl, 1, payout_ready=True)
    earn(cl, {"c0": 5_000})
    pay(cl, InMemoryProvider(), actor=EXECUTOR)
    lines = cl.statement("c0", since=DAY, until=DAY + timedelta(days=400)).lines
    assert {(ln.kind, ln.actor) for ln in lines} == {
        ("ViewEarningsCredited", ACTOR),
        ("PayoutsRequested", EXECUTOR),
    }
    journal = cl.journal_lines()
    assert {ln.actor for ln in journal if ln.entry_kind == "Paid"} == {EXECUTOR}
    assert all(ln.actor for ln in journal)


def test_a_run_recorded_before_proposals_is_still_read_and_finished(cl: CreatorLedger) -> None:
    """``PayoutRun.Started`` (what an execution recorded before runs were proposed) decodes into
    a run that is executing; executing it finishes what it left and requests nothing new."""
    run_id = "usd-now-0123456789abcdef"
    started = PayoutRun.Started(
        originator_id=PayoutRun.create_id(run_id),
        originator_version=1,
        timestamp=datetime.now(UTC),
        originator_topic=PayoutRun.TOPIC,
        run_id=run_id,
        plan_hash="h",
        currency="USD",
        lines=0,
        total_minor=0,
        batch_size=10,
        effective_at=datetime.now(UTC),
    )
    run = started.mutate(None)
    run._pending_events.append(started)  # as the earlier version recorded it
    cl.parts.aggregates.save(run, meta=issued(ACTOR, "execute", f"run:{run_id}"))
    cl.parts.store.forget([run.id])
    loaded = cl.parts.aggregates.run(run_id)
    assert loaded is not None
    assert (loaded.status, loaded.legacy, loaded.lines, loaded.batch_size) == (
        "executing",
        True,
        [],
        10,
    )
    result = cl.execute(run_id, InMemoryProvider(), actor=ACTOR)
    assert (result.requested, result.complete) == (0, True)
    finished = cl.parts.aggregates.run(run_id)
    assert finished is not None
    assert finished.finished
