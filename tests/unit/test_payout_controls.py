"""Payout controls, on SQLite and PostgreSQL: runs are proposed, approved by someone else (four
eyes) and only then paid, and only what the ledger re-derives; run and line limits; the
new-account wait; the tax gate; plan files are views; as-of plans never pay twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from creator_ledger import (
    ApprovalRefusedError,
    CreatorLedger,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    RunNotApprovedError,
    Settings,
    StalePlanError,
)
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.ledger.plan import PayoutPlan
from tests.conftest import Clock, event_count
from tests.scenario import ACTOR, APPROVER, PROPOSER, at, creators, fund, pay, release
from tests.unit.test_payouts import balances, earn

OTHER = "op:second-approver@example.com"
Open = Callable[..., tuple[CreatorLedger, Clock]]


@pytest.fixture
def open_with(database_url: str) -> Iterator[Open]:
    """Open a ledger on the test's database with these settings; returns it and its clock."""
    opened: list[CreatorLedger] = []

    def _open(**settings: Any) -> tuple[CreatorLedger, Clock]:
        clock = Clock()
        cl = CreatorLedger.open(Settings(database_url=database_url, **settings), clock=clock)
        opened.append(cl)
        return cl, clock

    yield _open
    for cl in opened:
        cl.close()


def ready(cl: CreatorLedger, n: int = 4) -> list[str]:
    fund(cl)
    return creators(cl, n, payout_ready=True)


def propose(cl: CreatorLedger, key: str = "p", **plan: Any) -> str:
    return cl.propose(currency="USD", idempotency_key=key, actor=PROPOSER, **plan).run_id


# -- four eyes ----------------------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_run(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 7_000})
    run = propose(cl)
    written = event_count(cl)
    with pytest.raises(ApprovalRefusedError, match="cannot approve it too") as refused:
        cl.approve(run, idempotency_key="a", actor=PROPOSER)
    assert refused.value.fields["rule"] == "own_run"
    assert event_count(cl) == written
    assert cl.payout_run(run).status == "proposed"


def test_an_unapproved_run_is_not_paid(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 7_000})
    run = propose(cl)
    provider = InMemoryProvider()
    written = event_count(cl)
    with pytest.raises(RunNotApprovedError, match="approve it first"):
        cl.execute(run, provider, actor=ACTOR)
    with pytest.raises(RunNotApprovedError):  # its plan file changes nothing
        cl.execute(cl.run_plan(run), provider, actor=ACTOR)
    assert event_count(cl) == written
    assert provider.transfers() == []
    assert balances(cl, "c0") == (5_000, 0, 0)
    with pytest.raises(NotFoundError, match="propose one first"):  # nor a plan never proposed
        cl.execute(cl.plan(currency="USD", threshold_minor=1).run_id, provider, actor=ACTOR)


def test_a_run_changed_after_approval_is_refused_and_proposed_again(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 7_000})
    plan = release(cl)
    cl.set_kyc_status(
        creator_ref="c1",
        kyc_status="pending",
        tax_status="verified",
        idempotency_key="kyc-again",
        actor=ACTOR,
    )
    provider = InMemoryProvider()
    written = event_count(cl)
    with pytest.raises(StalePlanError, match="propose again") as stale:
        cl.execute(plan.run_id, provider, actor=ACTOR)
    assert "1 payout line(s) differ" in stale.value.message
    assert event_count(cl) == written
    assert provider.transfers() == []
    again = propose(cl, "p2")
    assert again != plan.run_id
    assert [x.creator_ref for x in cl.run_plan(again).lines] == ["c0"]


def test_a_run_whose_inputs_changed_before_approval_cannot_be_approved(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000})
    run = propose(cl)
    earn(cl, {"c0": 1_000}, day=date(2026, 1, 2))
    with pytest.raises(StalePlanError, match="propose again"):
        cl.approve(run, idempotency_key="a", actor=APPROVER)


def test_two_distinct_approvers_are_needed_above_the_threshold(open_with: Open) -> None:
    cl, _ = open_with(payout_approvers_above={"USD": (10_000, 2)})
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 4_000})
    small = propose(cl)  # 9,000: one approver is enough
    assert cl.payout_run(small).approvals_needed == 1
    assert cl.approve(small, idempotency_key="s", actor=APPROVER).status == "approved"
    cl.reject(small, reason="the big one instead", idempotency_key="r", actor=APPROVER)
    earn(cl, {"c0": 3_000}, day=date(2026, 1, 2))
    big = propose(cl, "p2")  # 12,000: two
    summary = cl.approve(big, idempotency_key="a1", actor=APPROVER)
    assert (summary.status, summary.approvals_needed, summary.approvals_missing) == (
        "proposed",
        2,
        1,
    )
    provider = InMemoryProvider()
    with pytest.raises(RunNotApprovedError, match="needs 2 approval"):
        cl.execute(big, provider, actor=ACTOR)
    with pytest.raises(ApprovalRefusedError, match="counts once"):
        cl.approve(big, idempotency_key="a1-again", actor=APPROVER)
    assert provider.transfers() == []
    done = cl.approve(big, idempotency_key="a2", actor=OTHER)
    assert (done.status, done.approved_by) == ("approved", [APPROVER, OTHER])
    result = cl.execute(big, provider, actor=ACTOR)
    assert (result.paid, result.paid_minor) == (2, 12_000)


def test_raising_the_policy_after_a_proposal_asks_for_more_approvals(open_with: Open) -> None:
    cl, _ = open_with()
    ready(cl)
    earn(cl, {"c0": 5_000})
    plan = release(cl)  # one approval, as the settings asked then
    stricter, _ = open_with(payout_approvers=2)
    with pytest.raises(RunNotApprovedError, match="needs 2"):
        stricter.execute(plan.run_id, InMemoryProvider(), actor=ACTOR)
    # Lowering it never releases a run with fewer approvals than it was proposed under.
    other = propose(stricter, "p-strict", threshold_minor=1)
    lenient, _ = open_with(payout_approvers=0)
    assert lenient.approve(other, idempotency_key="a", actor=APPROVER).approvals_missing == 1
    with pytest.raises(RunNotApprovedError, match="needs 2"):
        lenient.execute(other, InMemoryProvider(), actor=ACTOR)


def test_with_no_approver_needed_a_proposed_run_is_executable(open_with: Open) -> None:
    cl, _ = open_with(payout_approvers=0)
    ready(cl)
    earn(cl, {"c0": 5_000})
    run = propose(cl)
    assert cl.payout_run(run).status == "approved"
    assert cl.execute(run, InMemoryProvider(), actor=ACTOR).paid == 1


def test_proposing_the_same_plan_twice_is_one_run_and_a_rejected_plan_gets_a_new_id(
    cl: CreatorLedger,
) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000})
    first = propose(cl, "p1")
    written = event_count(cl)
    assert cl.propose(currency="USD", idempotency_key="p2", actor=OTHER).run_id == first
    assert event_count(cl) == written + 1  # the second command's record, no second run
    assert cl.payout_run(first).proposed_by == PROPOSER
    cl.reject(first, reason="check c0 first", idempotency_key="r", actor=APPROVER)
    with pytest.raises(InvalidStateError, match="only a proposed run can be approved"):
        cl.approve(first, idempotency_key="a", actor=APPROVER)
    with pytest.raises(InvalidStateError, match="was rejected"):
        cl.execute(first, InMemoryProvider(), actor=ACTOR)
    again = propose(cl, "p3")
    assert again == f"{first}-r2"
    cl.approve(again, idempotency_key="a2", actor=APPROVER)
    assert cl.execute(again, InMemoryProvider(), actor=ACTOR).paid == 1


def test_a_run_that_has_started_paying_cannot_be_rejected(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000})
    result = pay(cl, InMemoryProvider())
    with pytest.raises(InvalidStateError, match="has not started paying"):
        cl.reject(result.run_id, reason="too late", idempotency_key="r", actor=APPROVER)


def test_a_run_that_pays_nobody_executes_and_finishes(cl: CreatorLedger) -> None:
    ready(cl)
    cl.enrol_creator(
        creator_ref="noacct", display_name="N", country="US", idempotency_key="n", actor=ACTOR
    )
    earn(cl, {"noacct": 5_000})
    plan = release(cl)
    assert (plan.lines, plan.offsets) == ([], [])
    result = cl.execute(plan.run_id, InMemoryProvider(), actor=ACTOR)
    assert (result.planned, result.requested, result.paid, result.complete) == (0, 0, 0, True)
    assert cl.payout_status(plan.run_id).run.status == "finished"  # type: ignore[union-attr]


# -- limits ---------------------------------------------------------------------------------------


def test_a_run_over_the_run_limit_cannot_be_approved_nor_paid(open_with: Open) -> None:
    cl, _ = open_with(payout_run_limits={"USD": 10_000})
    ready(cl)
    earn(cl, {"c0": 6_000, "c1": 6_000})
    run = propose(cl)
    with pytest.raises(ApprovalRefusedError, match="over the run limit") as refused:
        cl.approve(run, idempotency_key="a", actor=APPROVER)
    assert refused.value.fields["rule"] == "run_limit"
    unguarded, _ = open_with(payout_run_limits={"USD": 10_000}, payout_approvers=0)
    with pytest.raises(ApprovalRefusedError, match="over the run limit"):
        unguarded.execute(
            propose(unguarded, "p0", threshold_minor=1), InMemoryProvider(), actor=ACTOR
        )


def test_a_creator_over_the_line_limit_is_left_out_and_stays_payable(open_with: Open) -> None:
    cl, _ = open_with(payout_line_limits={"USD": 5_000})
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 5_001})
    plan = release(cl)
    assert [x.creator_ref for x in plan.lines] == ["c0"]
    [left_out] = plan.excluded
    assert (left_out.creator_ref, left_out.reasons) == ("c1", ["over_line_limit"])
    assert "over the line limit of 50.00 USD" in left_out.detail
    cl.execute(plan.run_id, InMemoryProvider(), actor=ACTOR)
    assert balances(cl, "c1") == (5_001, 0, 0)
    assert balances(cl, "c0") == (0, 0, 0)


def test_a_first_payout_to_a_new_account_waits_and_an_account_paid_before_does_not(
    open_with: Open,
) -> None:
    cl, clock = open_with(new_account_hold_days=3)
    ready(cl, 2)  # accounts linked at DAY 12:00; the clock is there too
    earn(cl, {"c0": 5_000})
    [waiting] = cl.plan(currency="USD").excluded
    assert waiting.reasons == ["payout_account_changed_recently"]
    assert "waits until 2026-01-04 12:00 UTC" in waiting.detail
    clock.now += timedelta(days=3)
    provider = InMemoryProvider()
    assert pay(cl, provider).paid == 1
    # A change to another account waits again ...
    earn(cl, {"c0": 4_000}, day=date(2026, 1, 5))
    cl.link_payout_account(
        creator_ref="c0",
        account_ref="acct_new",
        status="active",
        effective_at=clock.now,
        idempotency_key="relink",
        actor=ACTOR,
    )
    assert cl.plan(currency="USD").excluded[0].reasons == ["payout_account_changed_recently"]
    # ... but linking back the account the creator was paid to before does not.
    cl.link_payout_account(
        creator_ref="c0",
        account_ref="acct_c00000",
        status="active",
        effective_at=clock.now,
        idempotency_key="relink-back",
        actor=ACTOR,
    )
    assert [x.creator_ref for x in cl.plan(currency="USD").lines] == ["c0"]


def test_missing_or_unverified_tax_information_leaves_the_creator_out(cl: CreatorLedger) -> None:
    ready(cl, 3)
    earn(cl, {"c0": 5_000, "c1": 5_000, "c2": 5_000})
    for ref, tax in (("c1", "missing"), ("c2", "submitted")):
        cl.set_kyc_status(
            creator_ref=ref,
            kyc_status="verified",
            tax_status=tax,
            idempotency_key=f"tax/{ref}",
            actor=ACTOR,
        )
    plan = cl.plan(currency="USD")
    assert [x.creator_ref for x in plan.lines] == ["c0"]
    assert {x.creator_ref: (x.reasons, x.detail) for x in plan.excluded} == {
        "c1": (["tax_info_missing"], "tax information is missing"),
        "c2": (["tax_info_missing"], "tax information is submitted"),
    }


# -- plan files are views -------------------------------------------------------------------------


def _edited(plan: PayoutPlan, cl: CreatorLedger, edit: str) -> PayoutPlan:
    """``plan`` with one edit an attacker could make, sealed again (its hash recomputed)."""
    body = plan.model_dump()
    lines = body["lines"]
    if edit == "destination":
        lines[0]["destination"] = "acct_attacker"
    elif edit == "excluded_creator_moved_in":
        x = body["excluded"].pop(0)
        lines.append(
            {
                "creator_ref": x["creator_ref"],
                "creator_id": x["creator_id"],
                "destination": "acct_attacker",
                "payable_minor": x["payable_minor"],
                "offset_minor": 0,
                "amount_minor": x["payable_minor"],
            }
        )
        body["total_minor"] += x["payable_minor"]
    elif edit == "amount_raised":
        lines[0]["amount_minor"] = lines[0]["payable_minor"] = lines[0]["amount_minor"] * 10
    elif edit == "creator_swapped":
        held = cl.balances("c3")
        lines[0]["creator_ref"], lines[0]["creator_id"] = "c3", held.creator_id
    elif edit == "new_run_id":
        body["run_id"] = body["run_id"][:-4] + "beef"
    return PayoutPlan.model_validate(body).sealed()


@pytest.mark.parametrize(
    "edit",
    [
        "destination",
        "excluded_creator_moved_in",
        "amount_raised",
        "creator_swapped",
        "new_run_id",
    ],
)
def test_an_edited_and_resealed_plan_file_is_refused_and_nothing_is_paid(
    cl: CreatorLedger, edit: str
) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000, "c1": 7_000, "c2": 3_000, "c3": 2_000})
    cl.place_hold(
        creator_ref="c2",
        hold_id="h",
        kind="payout",
        reason="review",
        idempotency_key="h",
        actor=ACTOR,
    )
    cl.set_kyc_status(
        creator_ref="c3",
        kyc_status="pending",
        tax_status="verified",
        idempotency_key="k",
        actor=ACTOR,
    )
    plan = release(cl)
    provider = InMemoryProvider()
    if edit == "new_run_id":
        cl.execute(plan, provider, actor=ACTOR)  # the run was paid already ...
        paid = len(provider.transfers())
    else:
        paid = 0
    forged = _edited(plan, cl, edit)
    forged.verify()  # the content hash agrees: the file alone cannot tell
    written = event_count(cl)
    with pytest.raises((InvalidInputError, NotFoundError)) as refused:
        cl.execute(forged, provider, actor=ACTOR)
    assert "differs from the run recorded" in refused.value.message or (
        "has been proposed" in refused.value.message
    )
    assert event_count(cl) == written
    assert len(provider.transfers()) == paid  # ... and is not paid again


def test_the_plan_file_of_a_run_executes_it(cl: CreatorLedger) -> None:
    ready(cl)
    earn(cl, {"c0": 5_000})
    plan = release(cl)
    assert cl.execute(plan, InMemoryProvider(), actor=ACTOR).paid == 1


# -- as-of plans ----------------------------------------------------------------------------------


def test_a_plan_as_of_a_date_pays_at_most_what_was_payable_then_less_what_was_paid_since(
    open_with: Open,
) -> None:
    cl, clock = open_with()
    ready(cl, 2)
    earn(cl, {"c0": 100_000}, day=date(2026, 1, 10))
    earn(cl, {"c0": 100_000}, day=date(2026, 2, 10))
    clock.now = at(date(2026, 2, 20))  # planned and paid in February, as of Jan 15
    provider = InMemoryProvider()
    first = pay(cl, provider, as_of=date(2026, 1, 15))
    assert first.paid_minor == 100_000
    # An unrelated change: a new plan as of the same date, which pays nothing more.
    cl.set_kyc_status(
        creator_ref="c1",
        kyc_status="pending",
        tax_status="verified",
        idempotency_key="k",
        actor=ACTOR,
    )
    again = cl.plan(currency="USD", as_of=date(2026, 1, 15))
    assert again.lines == []
    assert sum(t.amount_minor for t in provider.transfers()) == 100_000
    assert balances(cl, "c0") == (100_000, 0, 0)  # February's earnings are still owed
    assert [x.amount_minor for x in cl.plan(currency="USD", as_of=date(2026, 2, 28)).lines] == [
        100_000
    ]


def test_a_failed_payout_gives_its_amount_back_to_an_as_of_plan(open_with: Open) -> None:
    cl, clock = open_with()
    ready(cl, 1)
    earn(cl, {"c0": 100_000}, day=date(2026, 1, 10))
    clock.now = at(date(2026, 2, 20))
    provider = InMemoryProvider()
    provider.reject_destination("acct_c00000")
    assert pay(cl, provider, as_of=date(2026, 1, 15)).failed == 1
    plan = cl.plan(currency="USD", as_of=date(2026, 1, 15))
    assert [x.amount_minor for x in plan.lines] == [100_000]
